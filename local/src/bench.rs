//! `make bench`: measurements printed as ratios against a baseline measured in the same
//! run on the same machine and database, so the figures mean something on any machine.
//!
//! `ingest`: the real ingest router served over loopback HTTP, driven at N connections
//! with signed Alertmanager notifications (a share of them exact repeats of the
//! connection's previous request), against `pgbench` running durable single-row INSERT
//! transactions at N clients on the same database. Beside them, to show where the time
//! goes: `pgbench` inserting only the audit row every request writes, and the same
//! requests through the ingest pipeline called in process (no HTTP).
//!
//! A benchmark's report is its output, so printing is what it is for.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, header};
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

/// Runs the baselines and both ingest paths, and prints the comparison.
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

    sqlx::raw_sql(
        "DROP TABLE IF EXISTS bench_insert;
         CREATE TABLE bench_insert (id bigserial PRIMARY KEY, payload text NOT NULL,
                                    created_at timestamptz NOT NULL DEFAULT now());",
    )
    .execute(&state.db)
    .await?;
    let baseline = pgbench(
        &state,
        &options,
        "\\set n random(1, 1000000000)\nINSERT INTO bench_insert (payload) VALUES ('alert ' || :n);\n",
    )?;
    println!(
        "pgbench   single-row INSERT            {:>7.0} tx/s    p50 {:>6.2} ms   p99 {:>6.2} ms   ({} transactions)",
        baseline.per_second, baseline.p50_ms, baseline.p99_ms, baseline.count
    );

    let direct = Arc::new(BenchIntegration::create(&state).await?);
    let (pipeline, checks) = drive(&state, &options, &direct, &Arc::new(Via::Pipeline)).await?;
    print_ingest("ingest    pipeline, no HTTP", &pipeline, &checks);

    let served = Arc::new(BenchIntegration::create(&state).await?);
    let via = Arc::new(Via::http(&state, &served, options.connections).await?);
    let (ingest, checks) = drive(&state, &options, &served, &via).await?;
    print_ingest("ingest    signed Alertmanager, HTTP", &ingest, &checks);

    // Last, so that its rows are not in the tables the ingest runs read and analyze.
    let audited = BenchIntegration::create(&state).await?;
    let audit = pgbench(&state, &options, &audit_row_script(&audited)?)?;
    println!(
        "pgbench   audit row alone              {:>7.0} tx/s    p50 {:>6.2} ms   p99 {:>6.2} ms   ({} transactions; {:.2}× the single-row INSERT)",
        audit.per_second,
        audit.p50_ms,
        audit.p99_ms,
        audit.count,
        audit.per_second / baseline.per_second
    );

    let throughput = ingest.per_second / baseline.per_second;
    let p99 = ingest.p99_ms / baseline.p99_ms;
    println!(
        "ratio     throughput {throughput:.2}× pgbench (target ≥ 0.60: {})   p99 {p99:.2}× pgbench (target ≤ 2.00: {})",
        verdict(throughput >= 0.6),
        verdict(p99 <= 2.0)
    );
    println!(
        "          HTTP ingest is {:.2}× the pipeline without HTTP, {:.2}× the audit row alone",
        ingest.per_second / pipeline.per_second,
        ingest.per_second / audit.per_second
    );
    Ok(())
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

fn print_ingest(label: &str, measured: &Measured, checks: &Checks) {
    println!(
        "{label:<36} {:>7.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   ({} requests, {} repeats, {} alerts opened)",
        measured.per_second,
        measured.p50_ms,
        measured.p99_ms,
        measured.count,
        checks.repeats,
        checks.alerts
    );
}

/// What an ingest run checked besides its timings.
struct Checks {
    repeats: usize,
    alerts: i64,
}

/// An HMAC-verified Alertmanager integration in a workspace of its own, so that each run
/// starts with no alerts, incidents or deliveries to repeat.
struct BenchIntegration {
    workspace_id: uuid::Uuid,
    integration_id: uuid::Uuid,
    webhook_path: String,
    secret: String,
}

impl BenchIntegration {
    async fn create(state: &AppState) -> anyhow::Result<Self> {
        let workspace_id: uuid::Uuid =
            sqlx::query_scalar("INSERT INTO workspace (name) VALUES ('bench') RETURNING id")
                .fetch_one(&state.db)
                .await?;
        let mut conn = state.db.acquire().await?;
        let created = insert_integration(
            &mut conn,
            &state.cipher,
            workspace_id,
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
        Ok(Self {
            workspace_id,
            integration_id: created.integration.id,
            webhook_path: created.integration.webhook_path,
            secret: created.secret,
        })
    }
}

/// The headers a request carries, as the bench's HTTP client sends them.
fn request_headers(signature: &str, body: &str) -> anyhow::Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("x-webhook-signature", HeaderValue::from_str(signature)?);
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1"));
    Ok(headers)
}

/// How an ingest run delivers its requests.
enum Via {
    /// The ingest router served on loopback, through an HTTP client.
    Http {
        client: reqwest::Client,
        url: String,
    },
    /// `accept_webhook` called in process: verify, parse and the one transaction, without
    /// HTTP or the SQS send of new incidents' notification jobs.
    Pipeline,
}

impl Via {
    async fn http(
        state: &AppState,
        integration: &BenchIntegration,
        connections: usize,
    ) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let router = shared::ingest::router(state.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(connections)
            .build()?;
        Ok(Self::Http {
            client,
            url: format!("http://{addr}{}", integration.webhook_path),
        })
    }

    /// Sends one request and checks it was accepted.
    async fn send(
        &self,
        state: &AppState,
        integration: &BenchIntegration,
        body: &str,
        signature: &str,
    ) -> anyhow::Result<()> {
        match self {
            Self::Http { client, url } => {
                let response = client
                    .post(url)
                    .header("content-type", "application/json")
                    .header("x-webhook-signature", signature)
                    .body(body.to_owned())
                    .send()
                    .await?;
                let status = response.status();
                let _ = response.bytes().await?;
                anyhow::ensure!(status.as_u16() == 202, "ingest answered {status}");
            }
            Self::Pipeline => {
                let headers = request_headers(signature, body)?;
                shared::ingest::accept_webhook(
                    state,
                    &integration.integration_id.to_string(),
                    &headers,
                    Ok(Bytes::copy_from_slice(body.as_bytes())),
                )
                .await
                .map_err(|e| anyhow::anyhow!("ingest refused a request: {}", e.detail()))?;
            }
        }
        Ok(())
    }
}

/// Drives one ingest path at N connections, each a task of its own, and measures it.
async fn drive(
    state: &AppState,
    options: &IngestOptions,
    integration: &Arc<BenchIntegration>,
    via: &Arc<Via>,
) -> anyhow::Result<(Measured, Checks)> {
    let started = Instant::now();
    let measure_from = started + Duration::from_secs(options.warmup_seconds);
    let end = measure_from + Duration::from_secs(options.seconds);
    let mut connections = Vec::new();
    for worker in 0..options.connections {
        let (state, integration, via) = (state.clone(), integration.clone(), via.clone());
        let duplicate_share = options.duplicate_share;
        connections.push(tokio::spawn(async move {
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
                        let signature = hex::encode(sign_hmac(
                            "sha256",
                            &integration.secret,
                            None,
                            body.as_bytes(),
                        ));
                        (body, signature)
                    }
                };
                let sent = Instant::now();
                via.send(&state, &integration, &body, &signature).await?;
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
    for connection in connections {
        let (mut measured, connection_repeats) = connection.await??;
        latencies.append(&mut measured);
        repeats += connection_repeats;
    }
    let alerts = sqlx::query_scalar("SELECT count(*) FROM alert WHERE workspace_id = $1")
        .bind(integration.workspace_id)
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

/// The row SPEC §3 writes for every request, alone: one `webhook_delivery` insert per
/// transaction into the real table (its indexes, foreign keys and checks), carrying the
/// bench's Alertmanager notification as raw payload, its headers as ingest stores them and
/// an answer. Without the alert, incident and link rows, so a floor for any ingest that
/// records its requests.
fn audit_row_script(integration: &BenchIntegration) -> anyhow::Result<String> {
    let body = notification(0, 1);
    let headers = shared::ingest::delivery::sanitize_headers(&request_headers("0", &body)?);
    let answer = serde_json::json!({
        "status": "accepted", "delivery_id": uuid::Uuid::nil(),
        "alert_ids": [uuid::Uuid::nil()], "notifications_queued": 0,
    });
    let literal = |value: String| format!("'{}'", value.replace('\'', "''"));
    Ok(format!(
        "\\set n random(1, 1000000000)\n\
         INSERT INTO webhook_delivery (workspace_id, integration_id, content_fingerprint, \
         raw_payload, headers, status_code, response_body) VALUES ('{}', '{}', \
         md5(':n') || md5(':client_id'), {}, {}, 202, {});\n",
        integration.workspace_id,
        integration.integration_id,
        literal(body),
        literal(headers.to_string()),
        literal(answer.to_string()),
    ))
}

/// pgbench running `script` (one transaction each time) at N clients for the warm-up and
/// the measured seconds; latencies from its per-transaction log.
fn pgbench(state: &AppState, options: &IngestOptions, script: &str) -> anyhow::Result<Measured> {
    let dir =
        std::env::temp_dir().join(format!("tocsin-pgbench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("script.sql");
    std::fs::write(&file, script)?;
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
        .arg(&file)
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
