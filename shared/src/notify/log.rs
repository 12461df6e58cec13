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
    /// For a message to a person: who, and their address on this channel.
    pub user_id: Option<Uuid>,
    pub destination: Option<String>,
    /// For a notice: what it says.
    pub title: Option<String>,
    pub body: Option<String>,
    pub severity: Option<crate::alerts::Severity>,
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
                     attempt_count, user_id, destination, title, body,
                     severity AS "severity: crate::alerts::Severity""#,
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

/// Gives a claimed row back without an attempt (its destination was busy): QUEUED again,
/// the attempt not counted.
pub async fn release(db: &PgPool, id: Uuid, delay: Duration) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE notification_log
         SET status = 'QUEUED', attempt_count = attempt_count - 1, locked_until = NULL,
             next_attempt_at = now() + make_interval(secs => $2), updated_at = now()
         WHERE id = $1 AND status = 'SENDING'",
        id,
        delay.as_secs_f64(),
    )
    .execute(db)
    .await?;
    Ok(())
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
    db: impl sqlx::PgExecutor<'_>,
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

/// What a provider's delivery report needs to know about a row.
#[derive(Debug, Clone)]
pub struct ReportedNotification {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub notification_channel_id: Option<Uuid>,
    pub channel: ChannelKind,
    pub status: DeliveryStatus,
    pub provider_message_id: Option<String>,
}

/// Finds a row a provider reports on.
pub async fn find_reported(
    db: &PgPool,
    id: Uuid,
) -> Result<Option<ReportedNotification>, sqlx::Error> {
    sqlx::query_as!(
        ReportedNotification,
        r#"SELECT id, workspace_id, notification_channel_id, channel AS "channel: ChannelKind",
                  status AS "status: DeliveryStatus", provider_message_id
           FROM notification_log WHERE id = $1"#,
        id,
    )
    .fetch_optional(db)
    .await
}

/// The provider confirmed the message reached the person: SENT → DELIVERED. False when the
/// row was not SENT (a repeated or late report changes nothing).
pub async fn mark_delivered(
    db: &PgPool,
    id: Uuid,
    provider_status: &str,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query!(
        "UPDATE notification_log
         SET status = 'DELIVERED', delivered_at = now(), provider_status = $2, updated_at = now()
         WHERE id = $1 AND status = 'SENT'",
        id,
        provider_status,
    )
    .execute(db)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// The provider reported that a message it accepted did not arrive: SENT → FAILED.
pub async fn mark_undelivered(
    db: impl sqlx::PgExecutor<'_>,
    id: Uuid,
    error: &str,
    provider_status: &str,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query!(
        "UPDATE notification_log
         SET status = 'FAILED', failed_at = now(), error = $2, provider_status = $3,
             updated_at = now()
         WHERE id = $1 AND status = 'SENT'",
        id,
        error,
        provider_status,
    )
    .execute(db)
    .await?;
    Ok(updated.rows_affected() == 1)
}
