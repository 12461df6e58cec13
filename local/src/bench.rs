//! `make bench`: measurements printed as ratios against a baseline measured in the same
//! run on the same machine and database, so the figures mean something on any machine.
//!
//! `ingest`: the real ingest router served over loopback HTTP, driven at N connections
//! with signed Alertmanager notifications (a share of them exact repeats of the
//! connection's previous request), against `pgbench` running durable single-row INSERT
//! transactions at N clients on the same database.
//!
//! A benchmark's report is its output, so printing is what it is for.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::Rng;
use shared::AppState;
use shared::ingest::integrations::{NewIntegration, insert_integration};
use shared::ingest::verify::{Verification, sign_hmac};

/// What the ingest benchmark runs.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub connections: usize,
    pub seconds: u64,
    pub warmup_seconds: u64,
    /// Share of requests that repeat the connection's previous request exactly.
    pub duplicate_share: f64,
    /// The `pgbench` binary.
    pub pgbench: PathBuf,
}

/// Latencies in microseconds, and what they add up to.
#[derive(Debug, Clone)]
pub struct Measured {
    pub count: usize,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl Measured {
    /// Sorts `micros` (latencies over `seconds`) into counts, rate and percentiles.
    pub fn from_latencies(mut micros: Vec<u64>, seconds: f64) -> anyhow::Result<Self> {
        anyhow::ensure!(!micros.is_empty(), "nothing was measured");
        micros.sort_unstable();
        let at = |q: f64| {
            let index = ((micros.len() as f64 - 1.0) * q).round() as usize;
            micros[index] as f64 / 1000.0
        };
        Ok(Self {
            count: micros.len(),
            per_second: micros.len() as f64 / seconds,
            p50_ms: at(0.50),
            p99_ms: at(0.99),
        })
    }
}

/// Runs both sides and prints the comparison.
pub async fn ingest(state: AppState, options: IngestOptions) -> anyhow::Result<()> {
    let settings: (String, String, String) = sqlx::query_as(
        "SELECT current_setting('fsync'), current_setting('synchronous_commit'),
                current_setting('autovacuum')",
    )
    .fetch_one(&state.db)
    .await
    .context("connecting to the database")?;
    println!(
        "database: fsync={}, synchronous_commit={}, autovacuum={}; {} connections, {} s measured after {} s warm-up",
        settings.0,
        settings.1,
        settings.2,
        options.connections,
        options.seconds,
        options.warmup_seconds
    );

    let baseline = pgbench(&state, &options).await?;
    println!(
        "pgbench   single-row INSERT  {:>9.0} tx/s   p50 {:>7.2} ms   p99 {:>7.2} ms   ({} transactions)",
        baseline.per_second, baseline.p50_ms, baseline.p99_ms, baseline.count
    );

    let (ingest, checks) = drive_ingest(&state, &options).await?;
    println!(
        "ingest    signed Alertmanager {:>8.0} req/s  p50 {:>7.2} ms   p99 {:>7.2} ms   ({} requests, {} repeats, {} alerts opened)",
        ingest.per_second,
        ingest.p50_ms,
        ingest.p99_ms,
        ingest.count,
        checks.repeats,
        checks.alerts
    );
    let throughput = ingest.per_second / baseline.per_second;
    let p99 = ingest.p99_ms / baseline.p99_ms;
    println!(
        "ratio     throughput {throughput:.2}× pgbench (target ≥ 0.60: {})   p99 {p99:.2}× pgbench (target ≤ 2.00: {})",
        verdict(throughput >= 0.6),
        verdict(p99 <= 2.0)
    );
    Ok(())
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// What the ingest run checked besides its timings.
struct Checks {
    repeats: usize,
    alerts: i64,
}

async fn drive_ingest(
    state: &AppState,
    options: &IngestOptions,
) -> anyhow::Result<(Measured, Checks)> {
    let workspace: uuid::Uuid =
        sqlx::query_scalar("INSERT INTO workspace (name) VALUES ('bench') RETURNING id")
            .fetch_one(&state.db)
            .await?;
    let mut conn = state.db.acquire().await?;
    let created = insert_integration(
        &mut conn,
        &state.cipher,
        workspace,
        &NewIntegration {
            name: format!("bench-{}", uuid::Uuid::new_v4().simple()),
            kind: "alertmanager".to_owned(),
            verification: Some(Verification::Hmac),
            signature_header: None,
            signature_algorithm: None,
            signature_format: None,
            signature_prefix: None,
            signature_timestamp_header: None,
            signature_tolerance_seconds: None,
            deduplication_window_minutes: None,
            default_service_id: None,
            severity_mapping: None,
            secret: None,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("creating the integration: {}", e.detail()))?;
    drop(conn);
    let url = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let router = shared::ingest::router(state.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{addr}{}", created.integration.webhook_path)
    };
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.connections)
        .build()?;
    let secret = created.secret;

    let started = Instant::now();
    let measure_from = started + Duration::from_secs(options.warmup_seconds);
    let end = measure_from + Duration::from_secs(options.seconds);
    let mut workers = Vec::new();
    for worker in 0..options.connections {
        let (client, url, secret) = (client.clone(), url.clone(), secret.clone());
        let duplicate_share = options.duplicate_share;
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut repeats = 0;
            let mut previous: Option<(String, String)> = None;
            let mut sequence = 0u64;
            while Instant::now() < end {
                let repeat = previous.is_some() && rand::rng().random_bool(duplicate_share);
                let (body, signature) = match (&previous, repeat) {
                    (Some(previous), true) => previous.clone(),
                    _ => {
                        sequence += 1;
                        let body = notification(worker, sequence);
                        let signature =
                            hex::encode(sign_hmac("sha256", &secret, None, body.as_bytes()));
                        (body, signature)
                    }
                };
                let sent = Instant::now();
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-webhook-signature", &signature)
                    .body(body.clone())
                    .send()
                    .await?;
                let status = response.status();
                let _ = response.bytes().await?;
                anyhow::ensure!(status.as_u16() == 202, "ingest answered {status}");
                if sent >= measure_from {
                    latencies.push(sent.elapsed().as_micros() as u64);
                    repeats += usize::from(repeat);
                }
                previous = Some((body, signature));
            }
            anyhow::Ok((latencies, repeats))
        }));
    }
    // Halfway through the warm-up the tables hold thousands of rows and no statistics:
    // analyze them, as autovacuum does once a table has changed by 10% (a deployed database
    // runs it; this machine's may not). Planning on an empty table's guesses picks the
    // (integration_id, created_at) index for the repeat lookup and reads the whole window.
    tokio::time::sleep_until((started + Duration::from_secs(options.warmup_seconds) / 2).into())
        .await;
    sqlx::raw_sql("ANALYZE webhook_delivery, webhook_delivery_alert, alert, incident")
        .execute(&state.db)
        .await?;
    let mut latencies = Vec::new();
    let mut repeats = 0;
    for worker in workers {
        let (mut measured, worker_repeats) = worker.await??;
        latencies.append(&mut measured);
        repeats += worker_repeats;
    }
    let alerts = sqlx::query_scalar("SELECT count(*) FROM alert WHERE workspace_id = $1")
        .bind(workspace)
        .fetch_one(&state.db)
        .await?;
    Ok((
        Measured::from_latencies(latencies, options.seconds as f64)?,
        Checks { repeats, alerts },
    ))
}

/// One firing Alertmanager notification (webhook v4), unique per worker and sequence. Each
/// connection has four alert groups of its own: Alertmanager sends a group's notifications
/// one after another, so concurrent requests are for different groups (and incidents).
fn notification(worker: usize, sequence: u64) -> String {
    let fingerprint = format!("{worker:04x}{sequence:012x}");
    let group = worker as u64 * 4 + sequence % 4;
    serde_json::json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"HighLatency\", group=\"{group}\"}}"),
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "tocsin",
        "groupLabels": {"alertname": "HighLatency"},
        "commonLabels": {"alertname": "HighLatency", "severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "HighLatency", "instance": format!("api-{worker}-{sequence}:8080"),
                       "severity": "critical"},
            "annotations": {"summary": "p99 latency above 500 ms"},
            "startsAt": "2026-11-22T08:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph",
            "fingerprint": fingerprint,
        }],
    })
    .to_string()
}

/// pgbench with one single-row INSERT per transaction; latencies from its per-transaction
/// log.
async fn pgbench(state: &AppState, options: &IngestOptions) -> anyhow::Result<Measured> {
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS bench_insert;
         CREATE TABLE bench_insert (id bigserial PRIMARY KEY, payload text NOT NULL,
                                    created_at timestamptz NOT NULL DEFAULT now());",
    )
    .execute(&state.db)
    .await?;
    let dir =
        std::env::temp_dir().join(format!("tocsin-pgbench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let script = dir.join("insert.sql");
    std::fs::write(
        &script,
        "\\set n random(1, 1000000000)\nINSERT INTO bench_insert (payload) VALUES ('alert ' || :n);\n",
    )?;
    let url = {
        use secrecy::ExposeSecret;
        state.config.database_url.expose_secret().to_owned()
    };
    let seconds = options.seconds + options.warmup_seconds;
    let output = Command::new(&options.pgbench)
        .arg("--no-vacuum")
        .args(["--client", &options.connections.to_string()])
        .args(["--jobs", "2"])
        .args(["--time", &seconds.to_string()])
        .arg("--file")
        .arg(&script)
        .arg("--log")
        .arg(format!("--log-prefix={}", dir.join("log").display()))
        .arg(&url)
        .output()
        .with_context(|| format!("running {}", options.pgbench.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "pgbench failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let latencies = read_pgbench_logs(&dir, options.warmup_seconds)?;
    std::fs::remove_dir_all(&dir)?;
    Measured::from_latencies(latencies, options.seconds as f64)
}

/// The latencies (µs) of the transactions that started after the warm-up. Each log line is
/// `client transaction latency_us script epoch_s epoch_us`, the time being the end.
fn read_pgbench_logs(dir: &Path, warmup_seconds: u64) -> anyhow::Result<Vec<u64>> {
    let mut rows = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("log"))
        {
            continue;
        }
        for line in std::fs::read_to_string(&path)?.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [_, _, latency, _, seconds, micros, ..] = fields[..] else {
                continue;
            };
            let latency: u64 = latency.parse()?;
            let ended: u64 = seconds.parse::<u64>()? * 1_000_000 + micros.parse::<u64>()?;
            rows.push((ended - latency, latency));
        }
    }
    let first = rows
        .iter()
        .map(|(start, _)| *start)
        .min()
        .context("pgbench logged nothing")?;
    let measure_from = first + warmup_seconds * 1_000_000;
    Ok(rows
        .into_iter()
        .filter(|(start, _)| *start >= measure_from)
        .map(|(_, latency)| latency)
        .collect())
}
