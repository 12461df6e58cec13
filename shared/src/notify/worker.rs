//! The notify worker: takes a batch of SQS messages, delivers each notification at most
//! once per row, and reports the records to retry as partial batch failures.
//!
//! Retries travel through SQS itself: a transient failure puts the row back to QUEUED,
//! stretches the message's visibility timeout to the backoff delay, and reports the record
//! as failed so SQS hands it out again then. A message that keeps failing to be processed
//! at all (unparseable, database down) reaches the DLQ through the queue's redrive policy.

use std::time::Duration;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use chrono::Utc;
use rand::Rng;
use tracing::Instrument;
use uuid::Uuid;

use super::DeliveryOutcome;
use super::log::{self, Claim, ClaimedNotification};
use super::pace::Pace;
use crate::error::error_chain;
use crate::jobs::Job;
use crate::state::AppState;

/// What became of one SQS record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecordResult {
    /// Done with: delete the message.
    Done,
    /// Hand it out again, after `delay` when given (else the queue's visibility timeout).
    Retry { delay: Option<Duration> },
}

/// Processes one SQS batch; the answer lists the records SQS must deliver again.
pub async fn handle_sqs_event(state: &AppState, event: SqsEvent) -> SqsBatchResponse {
    let results = futures::future::join_all(event.records.iter().map(|record| {
        let span = tracing::info_span!(
            "notify_record",
            message_id = record.message_id.as_deref().unwrap_or_default()
        );
        process_record(state, record).instrument(span)
    }))
    .await;
    let mut response = SqsBatchResponse::default();
    let mut delays = Vec::new();
    for (record, result) in event.records.iter().zip(results) {
        if let RecordResult::Retry { delay } = result {
            if let (Some(delay), Some(handle)) = (delay, record.receipt_handle.as_deref()) {
                delays.push((handle, delay));
            }
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = record.message_id.clone().unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
    }
    postpone(state, &delays).await;
    response
}

async fn process_record(state: &AppState, record: &SqsMessage) -> RecordResult {
    let job = match record.body.as_deref().map(Job::from_body) {
        Some(Ok(job)) => job,
        Some(Err(error)) => {
            // Poison: it fails every time and reaches the DLQ through the redrive policy.
            tracing::error!(error = %error_chain(&error), "unusable message body; it will reach the DLQ");
            return RecordResult::Retry { delay: None };
        }
        None => {
            tracing::error!("message without a body; it will reach the DLQ");
            return RecordResult::Retry { delay: None };
        }
    };
    match job {
        Job::DeliverNotification {
            notification_log_id,
        } => match deliver(state, notification_log_id).await {
            Ok(result) => result,
            Err(error) => {
                tracing::warn!(
                    notification_log_id = %notification_log_id,
                    error = %error_chain(&error),
                    "delivery could not be processed; it will be retried"
                );
                RecordResult::Retry { delay: None }
            }
        },
    }
}

/// Delivers one notification, unless it is already sent, failed, or being sent.
async fn deliver(state: &AppState, id: Uuid) -> Result<RecordResult, sqlx::Error> {
    // The lease outlives the wait for a rate-limit slot and the provider call, so a live attempt is never taken over.
    let lease = state.config.provider_timeout * 2
        + state.config.notify_pace_max_wait
        + Duration::from_secs(30);
    let row = match log::claim(&state.db, id, lease).await? {
        Claim::Claimed(row) => row,
        Claim::Finished(status) => {
            tracing::info!(notification_log_id = %id, ?status, "already finished; not sent again");
            return Ok(RecordResult::Done);
        }
        Claim::InFlight => {
            tracing::info!(notification_log_id = %id, "another attempt is sending it");
            return Ok(RecordResult::Retry { delay: None });
        }
        Claim::Missing => {
            tracing::warn!(notification_log_id = %id, "notification no longer exists; dropped");
            return Ok(RecordResult::Done);
        }
    };
    match attempt(state, &row).await? {
        Attempt::Made(outcome) => record_outcome(state, &row, outcome).await,
        Attempt::Paced(delay) => {
            log::release(&state.db, row.id, delay).await?;
            tracing::info!(notification_log_id = %id, delay_s = delay.as_secs_f64(), "destination busy; paced");
            Ok(RecordResult::Retry { delay: Some(delay) })
        }
    }
}

/// What became of an attempt.
enum Attempt {
    /// The provider was asked (or the message cannot be sent at all).
    Made(DeliveryOutcome),
    /// The destination's next rate-limit slot is too far away; nothing was sent.
    Paced(Duration),
}

/// Builds the message, waits for the destination's rate-limit slot and hands the
/// message to the channel's provider.
async fn attempt(state: &AppState, row: &ClaimedNotification) -> Result<Attempt, sqlx::Error> {
    let permanent = |error: &str| {
        Attempt::Made(DeliveryOutcome::Permanent {
            error: error.to_owned(),
            provider_status: None,
        })
    };
    let Some(channel_id) = row.notification_channel_id else {
        return Ok(permanent("the notification channel was deleted"));
    };
    let mut conn = state.db.acquire().await?;
    let Some(channel) = super::channels::load(&mut conn, row.workspace_id, channel_id).await?
    else {
        return Ok(permanent("the notification channel was deleted"));
    };
    if !channel.enabled {
        return Ok(permanent("the notification channel is disabled"));
    }
    let alert = match (row.alert_id, &row.title) {
        (Some(alert_id), _) => {
            crate::alerts::find_alert(&mut conn, row.workspace_id, alert_id).await?
        }
        (None, Some(title)) => Some(super::standalone_alert(
            row.workspace_id,
            title,
            row.body.as_deref(),
            row.severity.unwrap_or(crate::alerts::Severity::Info),
        )),
        (None, None) => None,
    };
    let incident = match row.incident_id {
        Some(id) => crate::incidents::find_incident(&mut conn, row.workspace_id, id).await?,
        None => None,
    };
    let names = match &incident {
        Some(incident) => Some(
            sqlx::query!(
                "SELECT (SELECT name FROM service WHERE id = $1) AS service,
                        (SELECT name FROM team WHERE id = $2) AS team",
                incident.service_id,
                incident.team_id,
            )
            .fetch_one(&mut *conn)
            .await?,
        ),
        None => None,
    };
    drop(conn);
    let Some(alert) = alert else {
        return Ok(permanent(
            "the alert this notification is about no longer exists",
        ));
    };
    let mut message = super::Message {
        notification_id: row.id,
        event: row.event,
        alert: &alert,
        incident: incident.as_ref(),
        service: names.as_ref().and_then(|n| n.service.as_deref()),
        team: names.as_ref().and_then(|n| n.team.as_deref()),
        action_links: &[],
    };
    let provider = super::provider::provider(channel.provider);
    // Providers without buttons of their own carry magic links, issued for this
    // recipient on each attempt (a retry's links are new; the old ones still work).
    let rendered = super::render::render(&message);
    let links = match rendered.actionable_incident {
        Some(incident_id) if provider.carries_links() => {
            let actions = rendered.incident_actions();
            crate::actions::issue_links(state, incident_id, row.user_id, &actions).await?
        }
        _ => Vec::new(),
    };
    message.action_links = &links;
    let config = match channel.full_config(&state.cipher) {
        Ok(config) => {
            super::channels::addressed_to(channel.provider, config, row.destination.as_deref())
        }
        Err(error) => {
            // Logged by the error; the row says why without the details.
            let _ = axum::response::IntoResponse::into_response(error);
            return Ok(permanent("the channel's secrets cannot be opened"));
        }
    };
    let limits = super::pace::limits(channel.provider, &config);
    match super::pace::reserve(&state.db, &limits, state.config.notify_pace_max_wait).await? {
        Pace::Go { wait } => tokio::time::sleep(wait).await,
        Pace::Later { delay } => return Ok(Attempt::Paced(delay)),
    }
    Ok(Attempt::Made(provider.send(state, &config, &message).await))
}

async fn record_outcome(
    state: &AppState,
    row: &ClaimedNotification,
    outcome: DeliveryOutcome,
) -> Result<RecordResult, sqlx::Error> {
    let max_attempts = state.config.notify_max_attempts;
    match outcome {
        DeliveryOutcome::Sent {
            provider_status,
            provider_message_id,
        } => {
            log::mark_sent(
                &state.db,
                row.id,
                &provider_status,
                provider_message_id.as_deref(),
            )
            .await?;
            tracing::info!(notification_log_id = %row.id, attempt = row.attempt_count, provider_status, "notification sent");
            Ok(RecordResult::Done)
        }
        DeliveryOutcome::Transient {
            error,
            provider_status,
            ..
        } if row.attempt_count >= max_attempts => {
            let error = format!("{error} (gave up after {} attempts)", row.attempt_count);
            fail(state, row.id, &error, provider_status.as_deref()).await?;
            tracing::warn!(notification_log_id = %row.id, error, "notification failed");
            Ok(RecordResult::Done)
        }
        DeliveryOutcome::Transient {
            error,
            provider_status,
            retry_after,
        } => {
            let delay = backoff(state, row.attempt_count).max(retry_after.unwrap_or_default());
            let delay = delay.min(
                state
                    .config
                    .notify_retry_max
                    .max(retry_after.unwrap_or_default()),
            );
            let next = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
            log::mark_retry(&state.db, row.id, &error, provider_status.as_deref(), next).await?;
            tracing::info!(notification_log_id = %row.id, attempt = row.attempt_count, delay_s = delay.as_secs(), error, "notification will be retried");
            Ok(RecordResult::Retry { delay: Some(delay) })
        }
        DeliveryOutcome::Permanent {
            error,
            provider_status,
        } => {
            fail(state, row.id, &error, provider_status.as_deref()).await?;
            tracing::warn!(notification_log_id = %row.id, error, "notification failed permanently");
            Ok(RecordResult::Done)
        }
    }
}

/// Marks a row FAILED and, for a message to a person, queues their next channel tier when
/// that was the last hope of this one, in one transaction.
pub async fn fail(
    state: &AppState,
    id: Uuid,
    error: &str,
    provider_status: Option<&str>,
) -> Result<(), sqlx::Error> {
    let mut tx = state.db.begin().await?;
    log::mark_failed(&mut *tx, id, error, provider_status).await?;
    let next_tier = crate::escalation::after_failure(&mut tx, id).await?;
    let queued = super::queue_jobs(&mut tx, &next_tier).await?;
    tx.commit().await?;
    crate::outbox::dispatch(state, &queued.outbox_ids).await;
    Ok(())
}

/// Exponential backoff with jitter: half the doubled delay fixed, half random, so a burst
/// of failures does not come back at the same moment.
fn backoff(state: &AppState, attempt: i32) -> Duration {
    let exponent = u32::try_from(attempt.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
    let full = state
        .config
        .notify_retry_base
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(state.config.notify_retry_max);
    let half = full / 2;
    half + half.mul_f64(rand::rng().random::<f64>())
}

/// Keeps each message hidden for its delay before SQS hands it out again: one
/// `ChangeMessageVisibilityBatch` for the whole batch (SQS takes up to ten, a batch's size).
async fn postpone(state: &AppState, delays: &[(&str, Duration)]) {
    use aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry;
    for chunk in delays.chunks(10) {
        let entries: Vec<_> = chunk
            .iter()
            .enumerate()
            .filter_map(|(index, (handle, delay))| {
                // SQS allows at most 12 hours.
                let seconds = i32::try_from(delay.as_secs().min(43_200)).unwrap_or(43_200);
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(index.to_string())
                    .receipt_handle(*handle)
                    .visibility_timeout(seconds)
                    .build()
                    .ok()
            })
            .collect();
        let result = state
            .sqs
            .change_message_visibility_batch()
            .queue_url(&state.config.notifications_queue_url)
            .set_entries(Some(entries))
            .send()
            .await;
        match result {
            Ok(output) if !output.failed().is_empty() => {
                // The queue's own visibility timeout then decides when those are retried.
                tracing::warn!(
                    failed = output.failed().len(),
                    "could not set some retry delays"
                );
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), "could not set the retry delays");
            }
        }
    }
}
