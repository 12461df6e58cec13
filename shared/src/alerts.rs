//! Alerts: the normalized form every monitoring tool's payload becomes (seed 003).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

/// How bad an alert is (seed 003 `AlertSeverity`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(type_name = "alert_severity", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    Critical,
    High,
    Medium,
    Low,
    Info,
}

impl Severity {
    /// Every severity, most severe first.
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "CRITICAL",
            Severity::High => "HIGH",
            Severity::Medium => "MEDIUM",
            Severity::Low => "LOW",
            Severity::Info => "INFO",
        }
    }

    /// Parses a severity name, ignoring case.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name.trim()))
    }
}

/// Where an alert is in its life (seed 003 `AlertStatus`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[sqlx(type_name = "alert_status", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlertStatus {
    Open,
    Acknowledged,
    Resolved,
    Closed,
}

/// What an incoming event asks for an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertAction {
    /// Open it, or update the open alert with the same dedup key.
    Trigger,
    /// Acknowledge the open alert with the same dedup key.
    Acknowledge,
    /// Resolve the open alert with the same dedup key.
    Resolve,
}

/// An alert as parsed from a tool's payload, before it is stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NormalizedAlert {
    pub title: String,
    pub description: Option<String>,
    pub severity: Severity,
    /// The severity as the tool named it (a label, a priority), which the integration's
    /// `severity_mapping` can map to a different [`Severity`].
    pub tool_severity: Option<String>,
    /// The tool's id for the alert; repeats with the same key are the same alert.
    pub dedup_key: Option<String>,
    /// What groups it with other alerts into one incident; the dedup key when absent.
    pub group_key: Option<String>,
    /// What the event asks for.
    pub action: AlertAction,
    pub triggered_at: DateTime<Utc>,
    /// The tool's own fields, kept as sent.
    pub metadata: serde_json::Value,
}

impl NormalizedAlert {
    /// SHA-256 (hex) of what makes two alerts the same: everything but arrival time.
    pub fn fingerprint(&self, source: &str) -> String {
        use sha2::{Digest, Sha256};
        let canonical = serde_json::json!([
            source,
            self.action,
            self.title,
            self.description,
            self.severity.as_str(),
            self.dedup_key,
            self.group_key,
            self.metadata,
        ]);
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

/// An alert as stored.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Alert {
    pub id: Uuid,
    pub workspace_id: Uuid,
    /// The integration it came from; none for an alert a rule raised.
    pub integration_id: Option<Uuid>,
    pub incident_id: Option<Uuid>,
    pub service_id: Option<Uuid>,
    /// The rule and container that raised it, for a rule alert.
    pub rule_id: Option<Uuid>,
    pub container_id: Option<Uuid>,
    pub title: String,
    pub description: Option<String>,
    pub severity: Severity,
    pub status: AlertStatus,
    pub source: String,
    /// The tool's id for the alert: the dedup key.
    pub external_id: Option<String>,
    pub group_key: Option<String>,
    /// How many triggers it took in while open.
    pub occurrence_count: i32,
    pub triggered_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The tool's own fields.
    pub metadata: serde_json::Value,
}

/// Finds one of a workspace's alerts.
pub async fn find_alert(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    alert_id: Uuid,
) -> Result<Option<Alert>, sqlx::Error> {
    let filter = AlertFilter::default();
    Ok(
        list_alerts(conn, workspace_id, Some(alert_id), &filter, None, 1)
            .await?
            .pop(),
    )
}

/// What to list alerts by; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub status: Option<AlertStatus>,
    pub severity: Option<Severity>,
    pub service_id: Option<Uuid>,
    pub integration_id: Option<Uuid>,
    pub incident_id: Option<Uuid>,
    /// Triggered at or after.
    pub since: Option<DateTime<Utc>>,
    /// Triggered before.
    pub until: Option<DateTime<Utc>>,
}

/// A page of the workspace's alerts, newest first, after the alert `after`.
pub async fn list_alerts(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Option<Uuid>,
    filter: &AlertFilter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Alert>, sqlx::Error> {
    sqlx::query_as!(
        Alert,
        r#"SELECT id, workspace_id, integration_id, incident_id, service_id, rule_id, container_id,
                  title, description, severity AS "severity: Severity", status AS "status: AlertStatus",
                  source, external_id, group_key, occurrence_count, triggered_at, last_seen_at,
                  acknowledged_at, resolved_at, metadata
           FROM alert
           WHERE workspace_id = $1
             AND ($2::uuid IS NULL OR id = $2)
             AND ($3::alert_status IS NULL OR status = $3)
             AND ($4::alert_severity IS NULL OR severity = $4)
             AND ($5::uuid IS NULL OR service_id = $5)
             AND ($6::uuid IS NULL OR integration_id = $6)
             AND ($7::uuid IS NULL OR incident_id = $7)
             AND ($8::timestamptz IS NULL OR triggered_at >= $8)
             AND ($9::timestamptz IS NULL OR triggered_at < $9)
             AND ($10::uuid IS NULL OR (triggered_at, id) < (SELECT triggered_at, id FROM alert
                                                            WHERE id = $10 AND workspace_id = $1))
           ORDER BY triggered_at DESC, id DESC
           LIMIT $11"#,
        workspace_id,
        id,
        filter.status as Option<AlertStatus>,
        filter.severity as Option<Severity>,
        filter.service_id,
        filter.integration_id,
        filter.incident_id,
        filter.since,
        filter.until,
        after,
        limit,
    )
    .fetch_all(&mut *conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::Severity;

    #[test]
    fn severity_parses_any_case_and_refuses_unknown_names() {
        assert_eq!(Severity::parse("critical"), Some(Severity::Critical));
        assert_eq!(Severity::parse(" Info "), Some(Severity::Info));
        assert_eq!(Severity::parse("urgent"), None);
    }
}
