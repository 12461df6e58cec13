//! `notification_log` rows: claiming one for an attempt and recording how it went. Every
//! state change is a single conditional UPDATE, so concurrent workers cannot both send.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use super::{ChannelKind, DeliveryStatus, NotificationEvent};

/// A row this attempt owns until its lease runs out.
#[derive(Debug, Clone)]
pub struct ClaimedNotification {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub alert_id: Option<Uuid>,
    pub incident_id: Option<Uuid>,
    pub notification_channel_id: Option<Uuid>,
    pub channel: ChannelKind,
    /// What the message says happened.
    pub event: NotificationEvent,
    /// Attempts made, this one included.
    pub attempt_count: i32,
}

/// The result of trying to claim a row.
#[derive(Debug)]
pub enum Claim {
    /// This attempt owns the row and must send.
    Claimed(ClaimedNotification),
    /// Nothing left to do: the row is already SENT, DELIVERED or FAILED.
    Finished(DeliveryStatus),
    /// Another live attempt is sending it; try again later.
    InFlight,
    /// No such row (deleted with its workspace or alert).
    Missing,
}

/// Claims a QUEUED row, or a SENDING row whose previous attempt's lease expired
/// (that attempt died), for `lease`.
pub async fn claim(db: &PgPool, id: Uuid, lease: Duration) -> Result<Claim, sqlx::Error> {
    let claimed = sqlx::query_as!(
        ClaimedNotification,
        r#"UPDATE notification_log
           SET status = 'SENDING', attempt_count = attempt_count + 1, last_attempt_at = now(),
               locked_until = now() + make_interval(secs => $2), updated_at = now()
           WHERE id = $1
             AND (status = 'QUEUED' OR (status = 'SENDING' AND locked_until < now()))
           RETURNING id, workspace_id, alert_id, incident_id, notification_channel_id,
                     channel AS "channel: ChannelKind", event AS "event: NotificationEvent",
                     attempt_count"#,
        id,
        lease.as_secs_f64(),
    )
    .fetch_optional(db)
    .await?;
    if let Some(row) = claimed {
        return Ok(Claim::Claimed(row));
    }
    let status = sqlx::query_scalar!(
        r#"SELECT status AS "status: DeliveryStatus" FROM notification_log WHERE id = $1"#,
        id,
    )
    .fetch_optional(db)
    .await?;
    Ok(match status {
        None => Claim::Missing,
        Some(DeliveryStatus::Queued | DeliveryStatus::Sending) => Claim::InFlight,
        Some(done) => Claim::Finished(done),
    })
}

/// The provider accepted the message.
pub async fn mark_sent(
    db: &PgPool,
    id: Uuid,
    provider_status: &str,
    provider_message_id: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE notification_log
         SET status = 'SENT', sent_at = now(), provider_status = $2, provider_message_id = $3,
             error = NULL, next_attempt_at = NULL, locked_until = NULL, updated_at = now()
         WHERE id = $1 AND status = 'SENDING'",
        id,
        provider_status,
        provider_message_id,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The attempt failed but a later one may succeed: back to QUEUED until `next_attempt_at`.
pub async fn mark_retry(
    db: &PgPool,
    id: Uuid,
    error: &str,
    provider_status: Option<&str>,
    next_attempt_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE notification_log
         SET status = 'QUEUED', error = $2, provider_status = $3, next_attempt_at = $4,
             locked_until = NULL, updated_at = now()
         WHERE id = $1 AND status = 'SENDING'",
        id,
        error,
        provider_status,
        next_attempt_at,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The message will not be sent.
pub async fn mark_failed(
    db: &PgPool,
    id: Uuid,
    error: &str,
    provider_status: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE notification_log
         SET status = 'FAILED', failed_at = now(), error = $2, provider_status = $3,
             next_attempt_at = NULL, locked_until = NULL, updated_at = now()
         WHERE id = $1 AND status = 'SENDING'",
        id,
        error,
        provider_status,
    )
    .execute(db)
    .await?;
    Ok(())
}
