//! Incidents, and the teams, services and escalation policies they belong to (seed 001).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::alerts::Severity;

/// Where an incident is (`incident_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "incident_status", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IncidentStatus {
    Triggered,
    Acknowledged,
    Resolved,
}

/// A user's channel tier (seed 001 ChannelEscalationConfig): primary channels are tried in
/// parallel, secondary when every primary failed, fallback last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "channel_tier", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum ChannelTier {
    Primary,
    Secondary,
    Fallback,
}

/// What a magic link does (`magic_link_action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "magic_link_action", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum MagicLinkAction {
    Acknowledge,
    Resolve,
}

/// A group of alerts someone has to deal with.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Incident {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub service_id: Option<Uuid>,
    pub team_id: Option<Uuid>,
    pub escalation_policy_id: Option<Uuid>,
    pub title: String,
    pub priority: Severity,
    pub status: IncidentStatus,
    pub group_key: Option<String>,
    pub alert_count: i32,
    pub escalation_level: i32,
    pub dashboard_url: Option<String>,
    pub triggered_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by_user_id: Option<Uuid>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by_user_id: Option<Uuid>,
}

/// One of the workspace's incidents.
pub async fn find_incident(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<Incident>, sqlx::Error> {
    sqlx::query_as!(
        Incident,
        r#"SELECT id, workspace_id, service_id, team_id, escalation_policy_id, title,
                  priority AS "priority: Severity", status AS "status: IncidentStatus", group_key,
                  alert_count, escalation_level, dashboard_url, triggered_at, acknowledged_at,
                  acknowledged_by_user_id, resolved_at, resolved_by_user_id
           FROM incident WHERE workspace_id = $1 AND id = $2"#,
        workspace_id,
        id,
    )
    .fetch_optional(&mut *conn)
    .await
}

/// A service incidents belong to.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Service {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub team_id: Option<Uuid>,
    pub escalation_policy_id: Option<Uuid>,
    pub name: String,
    pub description: Option<String>,
}

/// One of the workspace's services.
pub async fn find_service(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<Service>, sqlx::Error> {
    sqlx::query_as!(
        Service,
        "SELECT id, workspace_id, team_id, escalation_policy_id, name, description
         FROM service WHERE workspace_id = $1 AND id = $2",
        workspace_id,
        id,
    )
    .fetch_optional(&mut *conn)
    .await
}

/// A user's channels by tier; the seed's default (email, Slack and push; then SMS; then
/// voice) when the user set none.
pub async fn user_channel_tiers(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    user_id: Uuid,
) -> Result<Vec<(ChannelTier, crate::notify::ChannelKind)>, sqlx::Error> {
    use crate::notify::ChannelKind;
    let rows = sqlx::query!(
        r#"SELECT t.tier AS "tier: ChannelTier", t.channel AS "channel: ChannelKind"
           FROM user_channel_tier t JOIN app_user u ON u.id = t.user_id
           WHERE u.workspace_id = $1 AND t.user_id = $2
           ORDER BY t.tier, t.channel"#,
        workspace_id,
        user_id,
    )
    .fetch_all(&mut *conn)
    .await?;
    if rows.is_empty() {
        return Ok(vec![
            (ChannelTier::Primary, ChannelKind::Email),
            (ChannelTier::Primary, ChannelKind::Slack),
            (ChannelTier::Primary, ChannelKind::Push),
            (ChannelTier::Secondary, ChannelKind::Sms),
            (ChannelTier::Fallback, ChannelKind::Voice),
        ]);
    }
    Ok(rows.into_iter().map(|r| (r.tier, r.channel)).collect())
}
