//! The transactional outbox. A request writes its jobs into `outbox_message` in the same
//! transaction as the rows they act on; after commit it sends them to SQS and marks them
//! dispatched. If the process dies between the two, the outbox relay (a scheduled
//! function) finds the rows still undispatched and sends them. A job may therefore reach
//! SQS twice; every consumer is idempotent.

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use serde::Serialize;
use sqlx::PgConnection;

use crate::jobs::{Job, Queue};
use crate::state::AppState;

/// SQS takes at most ten messages per batch.
const SQS_BATCH: usize = 10;
/// Rows the relay claims per round.
const RELAY_ROUND: i64 = 100;
/// Rounds per relay invocation, so one run stays well inside its timeout.
const RELAY_MAX_ROUNDS: usize = 20;

/// Writes `jobs` to the outbox inside the caller's transaction; returns their outbox ids,
/// to hand to [`dispatch`] after commit.
pub async fn enqueue(conn: &mut PgConnection, jobs: &[Job]) -> Result<Vec<i64>, sqlx::Error> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let queues: Vec<String> = jobs.iter().map(|j| j.queue().as_str().to_owned()).collect();
    let bodies: Vec<serde_json::Value> = jobs.iter().map(Job::to_json).collect();
    sqlx::query_scalar!(
        r#"INSERT INTO outbox_message (queue, body)
           SELECT * FROM UNNEST($1::text[], $2::jsonb[])
           RETURNING id"#,
        &queues,
        &bodies,
    )
    .fetch_all(&mut *conn)
    .await
}

/// What one dispatch or relay run did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct DispatchReport {
    /// Messages SQS accepted.
    pub sent: usize,
    /// Messages that stay in the outbox for the relay to try again.
    pub failed: usize,
}

impl DispatchReport {
    fn add(&mut self, other: DispatchReport) {
        self.sent += other.sent;
        self.failed += other.failed;
    }
}

struct PendingMessage {
    id: i64,
    queue: String,
    body: serde_json::Value,
}

/// Sends the outbox rows `ids` that are still undispatched. Never fails the caller: a row
/// that could not be sent is recorded with its error and left to the relay.
pub async fn dispatch(state: &AppState, ids: &[i64]) -> DispatchReport {
    if ids.is_empty() {
        return DispatchReport::default();
    }
    let loaded = async {
        let mut conn = state.db.acquire().await?;
        let rows = sqlx::query_as!(
            PendingMessage,
            "SELECT id, queue, body FROM outbox_message WHERE id = ANY($1) AND dispatched_at IS NULL",
            ids,
        )
        .fetch_all(&mut *conn)
        .await?;
        Ok::<_, sqlx::Error>((conn, rows))
    }
    .await;
    match loaded {
        Ok((mut conn, rows)) => send_and_mark(state, &mut conn, rows).await,
        Err(error) => {
            tracing::warn!(error = %crate::error::error_chain(&error), "outbox rows could not be read; the relay will send them");
            DispatchReport {
                sent: 0,
                failed: ids.len(),
            }
        }
    }
}

/// Sends every undispatched row older than the configured grace period: what the
/// `outbox-relay` function does on each schedule tick. Concurrent relays skip each
/// other's rows.
pub async fn relay_pending(state: &AppState) -> Result<DispatchReport, sqlx::Error> {
    let mut report = DispatchReport::default();
    let grace = state.config.outbox_relay_grace.as_secs_f64();
    for _ in 0..RELAY_MAX_ROUNDS {
        let mut tx = state.db.begin().await?;
        let rows = sqlx::query_as!(
            PendingMessage,
            r#"SELECT id, queue, body FROM outbox_message
               WHERE dispatched_at IS NULL AND created_at <= now() - make_interval(secs => $1)
               ORDER BY id
               LIMIT $2
               FOR UPDATE SKIP LOCKED"#,
            grace,
            RELAY_ROUND,
        )
        .fetch_all(&mut *tx)
        .await?;
        let claimed = rows.len();
        let round = send_and_mark(state, &mut tx, rows).await;
        tx.commit().await?;
        let stalled = round.sent == 0;
        report.add(round);
        if (claimed as i64) < RELAY_ROUND || stalled {
            break;
        }
    }
    // Dispatched rows are kept a week for inspection, then dropped.
    sqlx::query!("DELETE FROM outbox_message WHERE dispatched_at < now() - interval '7 days'")
        .execute(&state.db)
        .await?;
    if report.sent > 0 || report.failed > 0 {
        tracing::info!(sent = report.sent, failed = report.failed, "outbox relayed");
    }
    Ok(report)
}

/// Sends `rows` and records, through `conn`, which were sent and why the others were not.
async fn send_and_mark(
    state: &AppState,
    conn: &mut PgConnection,
    rows: Vec<PendingMessage>,
) -> DispatchReport {
    let mut report = DispatchReport::default();
    let mut sent_ids = Vec::new();
    let mut failures: Vec<(i64, String)> = Vec::new();
    for row in &rows {
        if Queue::parse(&row.queue).is_none() {
            failures.push((row.id, format!("unknown queue {:?}", row.queue)));
        }
    }
    for queue in [Queue::Notifications] {
        let batch: Vec<&PendingMessage> =
            rows.iter().filter(|r| r.queue == queue.as_str()).collect();
        for chunk in batch.chunks(SQS_BATCH) {
            let (ok, failed) = send_batch(state, queue, chunk).await;
            sent_ids.extend(ok);
            failures.extend(failed);
        }
    }
    report.sent = sent_ids.len();
    report.failed = failures.len();
    if let Err(error) = mark(conn, &sent_ids, &failures).await {
        // SQS has the messages; the relay may send them again, which consumers tolerate.
        tracing::warn!(error = %crate::error::error_chain(&error), "dispatched outbox rows could not be marked");
    }
    report
}

async fn mark(
    conn: &mut PgConnection,
    sent_ids: &[i64],
    failures: &[(i64, String)],
) -> Result<(), sqlx::Error> {
    if !sent_ids.is_empty() {
        sqlx::query!(
            "UPDATE outbox_message SET dispatched_at = now(), attempts = attempts + 1, last_error = NULL
             WHERE id = ANY($1)",
            sent_ids,
        )
        .execute(&mut *conn)
        .await?;
    }
    if !failures.is_empty() {
        let (ids, errors): (Vec<i64>, Vec<String>) = failures.iter().cloned().unzip();
        sqlx::query!(
            r#"UPDATE outbox_message o SET attempts = o.attempts + 1, last_error = f.error
               FROM UNNEST($1::bigint[], $2::text[]) AS f(id, error)
               WHERE o.id = f.id"#,
            &ids,
            &errors,
        )
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Sends one SQS batch; returns the ids SQS accepted and the ones it did not, with why.
async fn send_batch(
    state: &AppState,
    queue: Queue,
    rows: &[&PendingMessage],
) -> (Vec<i64>, Vec<(i64, String)>) {
    let entries: Result<Vec<_>, _> = rows
        .iter()
        .map(|row| {
            SendMessageBatchRequestEntry::builder()
                .id(row.id.to_string())
                .message_body(row.body.to_string())
                .build()
        })
        .collect();
    let result = match entries {
        Ok(entries) => {
            state
                .sqs
                .send_message_batch()
                .queue_url(state.config.queue_url(queue))
                .set_entries(Some(entries))
                .send()
                .await
        }
        Err(error) => {
            let reason = error.to_string();
            return (
                Vec::new(),
                rows.iter().map(|r| (r.id, reason.clone())).collect(),
            );
        }
    };
    match result {
        Ok(output) => {
            let sent = output
                .successful()
                .iter()
                .filter_map(|s| s.id().parse().ok())
                .collect();
            let failed = output
                .failed()
                .iter()
                .filter_map(|f| {
                    let reason = format!("{}: {}", f.code(), f.message().unwrap_or_default());
                    Some((f.id().parse().ok()?, reason))
                })
                .collect();
            (sent, failed)
        }
        Err(error) => {
            let reason = crate::error::error_chain(&error);
            tracing::warn!(queue = queue.as_str(), error = %reason, "SQS send failed; the outbox relay will retry");
            (
                Vec::new(),
                rows.iter().map(|r| (r.id, reason.clone())).collect(),
            )
        }
    }
}

/// The `outbox-relay` function's handler: one relay pass per schedule tick.
pub async fn handle_schedule(
    state: &AppState,
    _event: aws_lambda_events::event::eventbridge::EventBridgeEvent<serde_json::Value>,
) -> Result<DispatchReport, sqlx::Error> {
    relay_pending(state).await
}
