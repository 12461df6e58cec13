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
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub id: Uuid,
    pub workspace_id: Uuid,
    /// The integration it came from; none for an alert a rule raised.
    pub integration_id: Option<Uuid>,
    pub title: String,
    pub description: Option<String>,
    pub severity: Severity,
    pub status: AlertStatus,
    pub source: String,
    pub external_id: Option<String>,
    pub triggered_at: DateTime<Utc>,
    pub metadata: serde_json::Value,
}

/// Finds one of a workspace's alerts.
pub async fn find_alert(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    alert_id: Uuid,
) -> Result<Option<Alert>, sqlx::Error> {
    sqlx::query_as!(
        Alert,
        r#"SELECT id, workspace_id, integration_id, title, description,
                  severity AS "severity: Severity", status AS "status: AlertStatus",
                  source, external_id, triggered_at, metadata
           FROM alert WHERE workspace_id = $1 AND id = $2"#,
        workspace_id,
        alert_id,
    )
    .fetch_optional(&mut *conn)
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
