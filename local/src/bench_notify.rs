//! `make bench` (notify): the whole local runner (its ingest routes, the outbox, the SQS
//! queue on the local AWS endpoint, the notify worker's pollers) against fake providers
//! on loopback.
//!
//! - latency: a burst of alerts, each a new incident, posted at once; for each, the time
//!   from sending the alert to the fake provider receiving its notification.
//! - pacing: notices to one destination whose fake provider allows 30 requests in any
//!   second and answers 429 beyond; the achieved rate against the allowed one, and the
//!   429s met.
//!
//! A benchmark's report is its output, so printing is what it is for.
#![allow(clippy::print_stdout)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Bytes;
use axum::http::StatusCode;
use shared::AppState;
use shared::notify::ChannelKind;
use shared::notify::channels::insert_channel;

use crate::bench::Measured;

/// What the notify benchmark runs.
#[derive(Debug, Clone)]
pub struct NotifyOptions {
    /// Alerts in the burst.
    pub alerts: usize,
    /// Connections posting them.
    pub connections: usize,
    /// Notices sent to the rate-limited provider.
    pub paced: usize,
    /// What the rate-limited provider allows per second.
    pub allowed_per_second: u32,
    /// Notify-worker pollers (Lambda starts with five concurrent batches).
    pub pollers: usize,
}

/// What a fake provider saw.
#[derive(Default)]
struct Seen {
    /// Arrival of each notification, by alert title.
    arrivals: HashMap<String, Instant>,
    /// Arrivals of accepted requests (the rate-limited provider).
    accepted: Vec<Instant>,
    /// Requests answered 429.
    refused: usize,
    /// Accepted arrivals in the last second.
    window: VecDeque<Instant>,
}

type Shared = Arc<Mutex<Seen>>;

/// Serves a fake provider on loopback; answers 204, or 429 beyond `limit` a second.
async fn fake_provider(seen: Shared, limit: Option<u32>) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |body: Bytes| {
            let seen = Arc::clone(&seen);
            async move {
                let now = Instant::now();
                let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(limit) = limit {
                    while seen
                        .window
                        .front()
                        .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
                    {
                        seen.window.pop_front();
                    }
                    if seen.window.len() >= limit as usize {
                        seen.refused += 1;
                        return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")]);
                    }
                    seen.window.push_back(now);
                    seen.accepted.push(now);
                }
                let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                if let Some(title) = body["alert"]["title"].as_str() {
                    seen.arrivals.entry(title.to_owned()).or_insert(now);
                }
                (StatusCode::NO_CONTENT, [("retry-after", "0")])
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(format!("http://{addr}/"))
}

/// Runs both measurements and prints them.
pub async fn notify(state: AppState, options: NotifyOptions) -> anyhow::Result<()> {
    let workspace: uuid::Uuid =
        sqlx::query_scalar("INSERT INTO workspace (name) VALUES ('bench notify') RETURNING id")
            .fetch_one(&state.db)
            .await
            .context("connecting to the database")?;
    let integration: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO integration (workspace_id, name, type) VALUES ($1, 'bench', 'generic') RETURNING id",
    )
    .bind(workspace)
    .fetch_one(&state.db)
    .await?;
    let latency_seen = Shared::default();
    let url = fake_provider(Arc::clone(&latency_seen), None).await?;
    let channel = add_channel(&state, workspace, serde_json::json!({"url": url})).await?;

    let running = crate::runner::start(
        state.clone(),
        crate::runner::Options {
            http_addr: "127.0.0.1:0".parse()?,
            sqs_wait_seconds: 1,
            relay_every: Duration::from_secs(3600),
            pollers: options.pollers,
        },
    )
    .await?;
    let ingest_url = format!(
        "http://{}/v1/integrations/{integration}/webhook",
        running.http_addr
    );
    println!(
        "notify: {} alerts at {} connections through the local runner ({} pollers), a webhook provider on loopback",
        options.alerts, options.connections, options.pollers
    );
    let sent = burst(&ingest_url, &options).await?;
    let latencies = wait_for(&latency_seen, &sent, Duration::from_secs(300)).await?;
    let measured = Measured::from_latencies(latencies, 1.0)?;
    println!(
        "latency   alert received → provider request   p50 {:>8.1} ms   p99 {:>8.1} ms   ({} notifications; target p99 ≤ 500 ms: {})",
        measured.p50_ms,
        measured.p99_ms,
        measured.count,
        verdict(measured.p99_ms <= 500.0)
    );

    // Pacing: the latency channel off, a rate-limited one on.
    sqlx::query("UPDATE notification_channel SET enabled = false WHERE id = $1")
        .bind(channel)
        .execute(&state.db)
        .await?;
    let paced_seen = Shared::default();
    let limited = fake_provider(Arc::clone(&paced_seen), Some(options.allowed_per_second)).await?;
    // Paced just under the provider's limit, so jitter never makes 31 in a second.
    let pace = f64::from(options.allowed_per_second) * 0.97;
    add_channel(
        &state,
        workspace,
        serde_json::json!({"url": limited, "max_per_second": pace}),
    )
    .await?;
    let mut tx = state.db.begin().await?;
    let mut outbox_ids = Vec::new();
    for n in 0..options.paced {
        let notice = shared::notify::Notice {
            title: format!("paced {n}"),
            body: None,
            severity: shared::notify::NoticeSeverity::Info,
        };
        let announced = shared::notify::send_notification(&mut tx, workspace, &notice)
            .await
            .map_err(|e| anyhow::anyhow!("queueing a notice: {}", e.detail()))?;
        outbox_ids.extend(announced.outbox_ids);
    }
    tx.commit().await?;
    shared::outbox::dispatch(&state, &outbox_ids).await;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let done = paced_seen.lock().map(|s| s.accepted.len()).unwrap_or(0);
        if done >= options.paced {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {done} of {} paced notices arrived",
            options.paced
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.stop();
    let seen = paced_seen.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    let (first, last) = (seen.accepted[0], seen.accepted[seen.accepted.len() - 1]);
    let achieved = (seen.accepted.len() - 1) as f64 / last.duration_since(first).as_secs_f64();
    let ratio = achieved / f64::from(options.allowed_per_second);
    println!(
        "pacing    {} notices to a provider allowing {}/s: {achieved:.1}/s achieved, {ratio:.2}× allowed (target ≥ 0.90: {}), {} × 429 (target 0: {})",
        options.paced,
        options.allowed_per_second,
        verdict(ratio >= 0.9),
        seen.refused,
        verdict(seen.refused == 0)
    );
    Ok(())
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

async fn add_channel(
    state: &AppState,
    workspace: uuid::Uuid,
    config: serde_json::Value,
) -> anyhow::Result<uuid::Uuid> {
    let mut conn = state.db.acquire().await?;
    insert_channel(
        &mut conn,
        &state.cipher,
        workspace,
        ChannelKind::Webhook,
        "bench",
        &config,
    )
    .await
    .map_err(|e| anyhow::anyhow!("creating the channel: {}", e.detail()))
}

/// Posts the alerts, each with its own dedup and group key (a new incident each), and
/// returns when each was sent.
async fn burst(url: &str, options: &NotifyOptions) -> anyhow::Result<HashMap<String, Instant>> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.connections)
        .build()?;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..options.connections {
        let (client, url, next) = (client.clone(), url.to_owned(), Arc::clone(&next));
        let total = options.alerts;
        workers.push(tokio::spawn(async move {
            let mut sent = Vec::new();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= total {
                    return anyhow::Ok(sent);
                }
                let title = format!("bench alert {n}");
                let body = serde_json::json!({
                    "title": title, "severity": "critical", "dedup_key": title, "group_key": title,
                });
                let at = Instant::now();
                let response = client.post(&url).json(&body).send().await?;
                anyhow::ensure!(
                    response.status().as_u16() == 202,
                    "ingest answered {}",
                    response.status()
                );
                sent.push((title, at));
            }
        }));
    }
    let mut sent = HashMap::new();
    for worker in workers {
        sent.extend(worker.await??);
    }
    Ok(sent)
}

/// Waits until every sent alert's notification arrived; their latencies in microseconds.
async fn wait_for(
    seen: &Shared,
    sent: &HashMap<String, Instant>,
    timeout: Duration,
) -> anyhow::Result<Vec<u64>> {
    let deadline = Instant::now() + timeout;
    loop {
        {
            let seen = seen.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
            if sent.keys().all(|title| seen.arrivals.contains_key(title)) {
                return Ok(sent
                    .iter()
                    .map(|(title, at)| {
                        seen.arrivals[title]
                            .saturating_duration_since(*at)
                            .as_micros() as u64
                    })
                    .collect());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "only {} of {} notifications arrived",
                seen.arrivals.len(),
                sent.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
