//! Notifications (seeds 000 and 001): a workspace's channels, one `notification_log` row
//! per message to one destination, and the worker that delivers them.

pub mod channels;
pub mod discord;
pub mod email;
pub mod http;
pub mod log;
pub mod ntfy;
pub mod pace;
pub mod provider;
pub mod render;
pub mod slack;
pub mod teams;
pub mod telegram;
pub mod twilio;
pub mod webhook;
pub mod worker;

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

/// The kind of destination (seed 001 `NotificationChannel`, with seed 000's providers).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(type_name = "channel_kind", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    Email,
    Sms,
    Push,
    Slack,
    Teams,
    Voice,
    Telegram,
    Discord,
    Webhook,
}

/// Where a message is on its way (seed 001 delivery status).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(type_name = "delivery_status", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeliveryStatus {
    /// Written, job on its way to the worker.
    Queued,
    /// A worker claimed it and is talking to the provider.
    Sending,
    /// The provider accepted it.
    Sent,
    /// The provider confirmed it reached the person.
    Delivered,
    /// It will not be sent: a permanent error, or every attempt failed.
    Failed,
}

/// What a notification says happened (`notification_event`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(type_name = "notification_event")]
pub enum NotificationEvent {
    #[sqlx(rename = "alert.triggered")]
    #[serde(rename = "alert.triggered")]
    AlertTriggered,
    #[sqlx(rename = "incident.triggered")]
    #[serde(rename = "incident.triggered")]
    IncidentTriggered,
    #[sqlx(rename = "incident.acknowledged")]
    #[serde(rename = "incident.acknowledged")]
    IncidentAcknowledged,
    #[sqlx(rename = "incident.resolved")]
    #[serde(rename = "incident.resolved")]
    IncidentResolved,
    /// A message of its own, not about an alert (seed 000 `sendNotification`).
    #[sqlx(rename = "notification")]
    #[serde(rename = "notification")]
    Notification,
}

/// How urgent a message of its own is (seed 000: info, warning, critical).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NoticeSeverity {
    Info,
    Warning,
    Critical,
}

impl NoticeSeverity {
    /// The alert severity it is shown and stored with.
    pub fn severity(self) -> crate::alerts::Severity {
        match self {
            Self::Info => crate::alerts::Severity::Info,
            Self::Warning => crate::alerts::Severity::Medium,
            Self::Critical => crate::alerts::Severity::Critical,
        }
    }
}

/// A message of its own for every enabled channel of a workspace (seed 000).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct Notice {
    /// 1 to 1024 characters.
    pub title: String,
    /// At most 10000 characters.
    pub body: Option<String>,
    pub severity: NoticeSeverity,
}

/// Seed 000 `sendNotification(workspace, message)`: one QUEUED row per enabled channel and
/// its job, in the caller's transaction; the caller dispatches the jobs after commit and
/// never waits for a provider.
pub async fn send_notification(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    notice: &Notice,
) -> Result<Announced, crate::error::ApiError> {
    let title = notice.title.trim();
    if title.is_empty() || title.chars().count() > 1024 {
        return Err(crate::error::ApiError::invalid_field(
            "title",
            "title must be 1 to 1024 characters",
        ));
    }
    let body = notice
        .body
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty());
    if body.is_some_and(|b| b.chars().count() > 10_000) {
        return Err(crate::error::ApiError::invalid_field(
            "body",
            "body must be at most 10000 characters",
        ));
    }
    let log_ids = sqlx::query_scalar!(
        r#"INSERT INTO notification_log (workspace_id, notification_channel_id, channel, event,
                                         title, body, severity)
           SELECT workspace_id, id, provider, 'notification', $2, $3, $4
           FROM notification_channel
           WHERE workspace_id = $1 AND enabled
           ORDER BY created_at, id
           RETURNING id"#,
        workspace_id,
        title,
        body,
        notice.severity.severity() as crate::alerts::Severity,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(queue_jobs(conn, &log_ids).await?)
}

/// Writes the delivery jobs of `log_ids` to the outbox.
pub async fn queue_jobs(
    conn: &mut PgConnection,
    log_ids: &[Uuid],
) -> Result<Announced, sqlx::Error> {
    let jobs: Vec<crate::jobs::Job> = log_ids
        .iter()
        .map(
            |&notification_log_id| crate::jobs::Job::DeliverNotification {
                notification_log_id,
            },
        )
        .collect();
    let outbox_ids = crate::outbox::enqueue(conn, &jobs).await?;
    Ok(Announced {
        notifications: log_ids.len(),
        outbox_ids,
    })
}

/// An alert that exists only to carry a message that is not about a stored alert (a
/// notice, a channel's test message) through the providers' rendering.
pub fn standalone_alert(
    workspace_id: Uuid,
    title: &str,
    description: Option<&str>,
    severity: crate::alerts::Severity,
) -> crate::alerts::Alert {
    let now = chrono::Utc::now();
    crate::alerts::Alert {
        id: Uuid::new_v4(),
        workspace_id,
        integration_id: None,
        incident_id: None,
        service_id: None,
        rule_id: None,
        container_id: None,
        title: title.to_owned(),
        description: description.map(str::to_owned),
        severity,
        status: crate::alerts::AlertStatus::Open,
        source: "tocsin".to_owned(),
        external_id: None,
        group_key: None,
        occurrence_count: 1,
        triggered_at: now,
        last_seen_at: now,
        acknowledged_at: None,
        resolved_at: None,
        metadata: serde_json::Value::Object(serde_json::Map::new()),
    }
}

/// Writes a QUEUED `notification_log` row about `event` for every enabled channel of the
/// workspace; returns their ids. Runs inside the caller's transaction.
pub async fn queue_incident_notifications(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    incident_id: Uuid,
    alert_id: Uuid,
    event: NotificationEvent,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"INSERT INTO notification_log (workspace_id, incident_id, alert_id, notification_channel_id,
                                         channel, event)
           SELECT workspace_id, $2, $3, id, provider, $4
           FROM notification_channel
           WHERE workspace_id = $1 AND enabled
           ORDER BY created_at, id
           RETURNING id"#,
        workspace_id,
        incident_id,
        alert_id,
        event as NotificationEvent,
    )
    .fetch_all(&mut *conn)
    .await
}

/// What announcing an incident's change wrote.
#[derive(Debug, Default)]
pub struct Announced {
    /// Notification log rows queued.
    pub notifications: usize,
    /// Their jobs in the outbox, to dispatch after commit.
    pub outbox_ids: Vec<i64>,
}

/// Announces `event` of an incident: through its escalation policy when it has one (see
/// [`crate::escalation`]), else on every enabled channel of the workspace. Writes the log
/// rows and their jobs in the caller's transaction.
pub async fn announce(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    incident_id: Uuid,
    alert_id: Uuid,
    event: NotificationEvent,
) -> Result<Announced, sqlx::Error> {
    let escalated = match event {
        NotificationEvent::IncidentTriggered => {
            crate::escalation::start(
                conn,
                workspace_id,
                incident_id,
                alert_id,
                chrono::Utc::now(),
            )
            .await?
        }
        _ => {
            crate::escalation::announce_change(conn, workspace_id, incident_id, alert_id, event)
                .await?
        }
    };
    let log_ids = match escalated {
        Some(ids) => ids,
        None => {
            queue_incident_notifications(conn, workspace_id, incident_id, alert_id, event).await?
        }
    };
    queue_jobs(conn, &log_ids).await
}

/// What a provider is asked to deliver.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// The notification's id; the same on every retry, so receivers can drop repeats.
    pub notification_id: Uuid,
    /// What happened.
    pub event: NotificationEvent,
    /// The alert that caused it.
    pub alert: &'a crate::alerts::Alert,
    /// The incident the alert belongs to.
    pub incident: Option<&'a crate::incidents::Incident>,
    /// The names of the incident's service and team, when it has them.
    pub service: Option<&'a str>,
    pub team: Option<&'a str>,
    /// (label, URL) of the magic links that act on the incident, for providers without
    /// buttons of their own (email, SMS, Teams, Discord, push).
    pub action_links: &'a [(String, String)],
}

impl Message<'_> {
    /// The action links as borrowed pairs.
    pub fn links(&self) -> Vec<(&str, &str)> {
        self.action_links
            .iter()
            .map(|(label, url)| (label.as_str(), url.as_str()))
            .collect()
    }
}

/// How one attempt to hand a message to a provider went.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryOutcome {
    /// The provider accepted the message.
    Sent {
        /// What the provider answered (for HTTP providers, the status line).
        provider_status: String,
        /// The provider's id for the message, when it gives one.
        provider_message_id: Option<String>,
    },
    /// A failure a later attempt may not meet: 5xx, 429, timeouts, connection errors.
    Transient {
        error: String,
        provider_status: Option<String>,
        /// The provider's own `Retry-After`, which the next attempt waits at least.
        retry_after: Option<std::time::Duration>,
    },
    /// A failure no retry will fix: bad configuration, 4xx such as an invalid token.
    Permanent {
        error: String,
        provider_status: Option<String>,
    },
}

impl DeliveryOutcome {
    /// The error of a failed attempt.
    pub fn error(&self) -> Option<String> {
        match self {
            Self::Sent { .. } => None,
            Self::Transient { error, .. } | Self::Permanent { error, .. } => Some(error.clone()),
        }
    }
}
