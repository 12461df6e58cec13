//! Container alert rules (seed 002): containers, their metric samples, rules and the
//! outgoing webhooks alert events are posted to.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::alerts::Severity;

/// What a container reported it was doing (`container_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "container_state", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum ContainerState {
    Running,
    Exited,
    Restarting,
}

/// What a rule watches (`alert_rule_condition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(
    type_name = "alert_rule_condition",
    rename_all = "SCREAMING_SNAKE_CASE"
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RuleCondition {
    ContainerDown,
    RestartLoop,
    CpuUsage,
    MemoryUsage,
}

/// A rule over container metrics.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AlertRule {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub name: String,
    pub condition: RuleCondition,
    /// Percent for CPU and memory, restarts for a restart loop.
    pub threshold: Option<f64>,
    /// Minutes the condition must hold.
    pub duration_minutes: i32,
    pub severity: Severity,
    /// Label selector; `{}` is every container.
    pub scope: serde_json::Value,
    pub enabled: bool,
}

/// The workspace's enabled rules.
pub async fn enabled_rules(
    conn: &mut PgConnection,
    workspace_id: Uuid,
) -> Result<Vec<AlertRule>, sqlx::Error> {
    sqlx::query_as!(
        AlertRule,
        r#"SELECT id, workspace_id, name, condition AS "condition: RuleCondition", threshold,
                  duration_minutes, severity AS "severity: Severity", scope, enabled
           FROM alert_rule WHERE workspace_id = $1 AND enabled ORDER BY name"#,
        workspace_id,
    )
    .fetch_all(&mut *conn)
    .await
}

/// A container that reports metrics.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Container {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub name: String,
    pub host: Option<String>,
    pub image: Option<String>,
    pub labels: serde_json::Value,
    pub last_state: Option<ContainerState>,
    pub last_reported_at: Option<DateTime<Utc>>,
}

/// One of the workspace's containers.
pub async fn find_container(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<Container>, sqlx::Error> {
    sqlx::query_as!(
        Container,
        r#"SELECT id, workspace_id, name, host, image, labels,
                  last_state AS "last_state: ContainerState", last_reported_at
           FROM container WHERE workspace_id = $1 AND id = $2"#,
        workspace_id,
        id,
    )
    .fetch_optional(&mut *conn)
    .await
}

/// Where alert and incident events are posted (seed 002 Webhook). The secret stays in the
/// database, encrypted.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OutgoingWebhook {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub url: String,
    pub is_active: bool,
    pub event_types: Vec<String>,
    pub consecutive_failures: i32,
    pub disabled_at: Option<DateTime<Utc>>,
}

/// The workspace's active outgoing webhooks.
pub async fn active_outgoing_webhooks(
    conn: &mut PgConnection,
    workspace_id: Uuid,
) -> Result<Vec<OutgoingWebhook>, sqlx::Error> {
    sqlx::query_as!(
        OutgoingWebhook,
        "SELECT id, workspace_id, url, is_active, event_types, consecutive_failures, disabled_at
         FROM outgoing_webhook WHERE workspace_id = $1 AND is_active ORDER BY created_at",
        workspace_id,
    )
    .fetch_all(&mut *conn)
    .await
}
