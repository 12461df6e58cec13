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
    let filter = IncidentFilter::default();
    Ok(
        list_incidents(conn, workspace_id, Some(id), &filter, None, 1)
            .await?
            .pop(),
    )
}

/// What to list incidents by; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub status: Option<IncidentStatus>,
    pub priority: Option<Severity>,
    pub service_id: Option<Uuid>,
    /// Triggered at or after.
    pub since: Option<DateTime<Utc>>,
    /// Triggered before.
    pub until: Option<DateTime<Utc>>,
}

/// A page of the workspace's incidents, newest first, after the incident `after`.
pub async fn list_incidents(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Option<Uuid>,
    filter: &IncidentFilter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Incident>, sqlx::Error> {
    sqlx::query_as!(
        Incident,
        r#"SELECT id, workspace_id, service_id, team_id, escalation_policy_id, title,
                  priority AS "priority: Severity", status AS "status: IncidentStatus", group_key,
                  alert_count, escalation_level, dashboard_url, triggered_at, acknowledged_at,
                  acknowledged_by_user_id, resolved_at, resolved_by_user_id
           FROM incident
           WHERE workspace_id = $1
             AND ($2::uuid IS NULL OR id = $2)
             AND ($3::incident_status IS NULL OR status = $3)
             AND ($4::alert_severity IS NULL OR priority = $4)
             AND ($5::uuid IS NULL OR service_id = $5)
             AND ($6::timestamptz IS NULL OR triggered_at >= $6)
             AND ($7::timestamptz IS NULL OR triggered_at < $7)
             AND ($8::uuid IS NULL OR (triggered_at, id) < (SELECT triggered_at, id FROM incident
                                                           WHERE id = $8 AND workspace_id = $1))
           ORDER BY triggered_at DESC, id DESC
           LIMIT $9"#,
        workspace_id,
        id,
        filter.status as Option<IncidentStatus>,
        filter.priority as Option<Severity>,
        filter.service_id,
        filter.since,
        filter.until,
        after,
        limit,
    )
    .fetch_all(&mut *conn)
    .await
}

/// What a person can do to an alert or an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HumanAction {
    Acknowledge,
    Resolve,
}

/// Where an acknowledge or resolve came from (`action_channel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "action_channel", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ActionChannel {
    Api,
    MagicLink,
    Slack,
    Telegram,
    Teams,
    /// The monitoring tool (its alerts resolved or were acknowledged).
    Integration,
}

/// Who acts on an incident, and through what.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The Tocsin user, when known.
    pub user_id: Option<Uuid>,
    /// How the channel names them (`<@U123>`, `@ana`), for the timeline.
    pub label: Option<String>,
    pub via: ActionChannel,
}

impl Actor {
    /// A call of the REST API, as the key's user.
    pub fn api(user_id: Option<Uuid>) -> Self {
        Self {
            user_id,
            label: None,
            via: ActionChannel::Api,
        }
    }
}

/// One entry of an incident's timeline: an acknowledge or resolve, once each.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TimelineEntry {
    pub action: MagicLinkAction,
    pub actor_user_id: Option<Uuid>,
    /// The actor's name in Tocsin, when they are a user.
    pub actor_name: Option<String>,
    /// How the channel named them.
    pub actor_label: Option<String>,
    pub via: ActionChannel,
    pub at: DateTime<Utc>,
}

/// An incident's timeline, oldest first.
pub async fn timeline(
    conn: &mut PgConnection,
    incident_id: Uuid,
) -> Result<Vec<TimelineEntry>, sqlx::Error> {
    sqlx::query_as!(
        TimelineEntry,
        r#"SELECT t.action AS "action: MagicLinkAction", t.actor_user_id, u.display_name AS "actor_name?",
                  t.actor_label, t.via AS "via: ActionChannel", t.created_at AS at
           FROM incident_timeline t LEFT JOIN app_user u ON u.id = t.actor_user_id
           WHERE t.incident_id = $1
           ORDER BY t.created_at, t.id"#,
        incident_id
    )
    .fetch_all(&mut *conn)
    .await
}

/// Where an incident stands, in words, for someone whose action found nothing to do:
/// `was already acknowledged by Ana via Slack at 2026-12-01 03:12 UTC`.
pub async fn describe_state(
    conn: &mut PgConnection,
    incident_id: Uuid,
) -> Result<String, sqlx::Error> {
    let entries = timeline(conn, incident_id).await?;
    let status = sqlx::query_scalar!(
        r#"SELECT status AS "status: IncidentStatus" FROM incident WHERE id = $1"#,
        incident_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    let done = match status {
        Some(IncidentStatus::Resolved) => "resolved",
        Some(IncidentStatus::Acknowledged) => "acknowledged",
        Some(IncidentStatus::Triggered) => return Ok("is still open".to_owned()),
        None => return Ok("no longer exists".to_owned()),
    };
    let last = entries.iter().rev().find(|e| {
        matches!(
            (e.action, done),
            (MagicLinkAction::Resolve, "resolved") | (MagicLinkAction::Acknowledge, "acknowledged")
        )
    });
    Ok(match last {
        Some(entry) => {
            let who = entry
                .actor_name
                .clone()
                .or_else(|| entry.actor_label.clone())
                .unwrap_or_else(|| "someone".to_owned());
            let via = serde_json::to_value(entry.via)
                .ok()
                .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
                .unwrap_or_default();
            format!(
                "was already {done} by {who} via {via} at {}",
                entry.at.format("%Y-%m-%d %H:%M UTC")
            )
        }
        None => format!("was already {done}"),
    })
}

/// Writes an incident's change on its timeline, once per action.
async fn record_on_timeline(
    conn: &mut PgConnection,
    incident_id: Uuid,
    action: MagicLinkAction,
    actor: &Actor,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO incident_timeline (incident_id, action, actor_user_id, actor_label, via)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (incident_id, action) DO NOTHING",
        incident_id,
        action as MagicLinkAction,
        actor.user_id,
        actor.label,
        actor.via as ActionChannel,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What an action did.
#[derive(Debug, Default)]
pub struct ActionOutcome {
    /// False when the alert or incident already was in that state (nothing done twice).
    pub changed: bool,
    /// Notification jobs to dispatch after commit.
    pub outbox_ids: Vec<i64>,
}

/// Acknowledges or resolves one of the workspace's alerts, as `actor`; its incident
/// follows. `None` when there is no such alert.
pub async fn act_on_alert(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    alert_id: Uuid,
    action: HumanAction,
    actor: &Actor,
) -> Result<Option<ActionOutcome>, sqlx::Error> {
    let changed = match action {
        HumanAction::Acknowledge => {
            sqlx::query_scalar!(
            "UPDATE alert SET status = 'ACKNOWLEDGED', acknowledged_at = now(), updated_at = now()
             WHERE workspace_id = $1 AND id = $2 AND status = 'OPEN'
             RETURNING incident_id",
            workspace_id,
            alert_id,
        )
            .fetch_optional(&mut *conn)
            .await?
        }
        HumanAction::Resolve => {
            sqlx::query_scalar!(
                "UPDATE alert SET status = 'RESOLVED', resolved_at = now(), updated_at = now()
             WHERE workspace_id = $1 AND id = $2 AND status IN ('OPEN', 'ACKNOWLEDGED')
             RETURNING incident_id",
                workspace_id,
                alert_id,
            )
            .fetch_optional(&mut *conn)
            .await?
        }
    };
    let Some(incident_id) = changed else {
        let exists = sqlx::query_scalar!(
            "SELECT id FROM alert WHERE workspace_id = $1 AND id = $2",
            workspace_id,
            alert_id
        )
        .fetch_optional(&mut *conn)
        .await?;
        return Ok(exists.map(|_| ActionOutcome::default()));
    };
    let mut outcome = ActionOutcome {
        changed: true,
        outbox_ids: Vec::new(),
    };
    if let Some(incident_id) = incident_id
        && let Some((_, event)) = follow_alerts(conn, incident_id).await?
    {
        record_change(conn, incident_id, event, actor).await?;
        outcome.outbox_ids =
            crate::notify::announce(conn, workspace_id, incident_id, alert_id, event)
                .await?
                .outbox_ids;
    }
    Ok(Some(outcome))
}

/// Acknowledges or resolves one of the workspace's incidents and its alerts, as `actor`.
/// `None` when there is no such incident.
pub async fn act_on_incident(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    incident_id: Uuid,
    action: HumanAction,
    actor: &Actor,
) -> Result<Option<ActionOutcome>, sqlx::Error> {
    use crate::notify::NotificationEvent;
    let (changed, event) = match action {
        HumanAction::Acknowledge => {
            let changed = sqlx::query_scalar!(
                "UPDATE incident SET status = 'ACKNOWLEDGED', acknowledged_at = now(),
                                     acknowledged_by_user_id = $3, next_escalation_at = NULL,
                                     updated_at = now()
                 WHERE workspace_id = $1 AND id = $2 AND status = 'TRIGGERED'
                 RETURNING id",
                workspace_id,
                incident_id,
                actor.user_id,
            )
            .fetch_optional(&mut *conn)
            .await?;
            if changed.is_some() {
                sqlx::query!(
                    "UPDATE alert SET status = 'ACKNOWLEDGED', acknowledged_at = now(), updated_at = now()
                     WHERE incident_id = $1 AND status = 'OPEN'",
                    incident_id
                )
                .execute(&mut *conn)
                .await?;
            }
            (changed, NotificationEvent::IncidentAcknowledged)
        }
        HumanAction::Resolve => {
            let changed = sqlx::query_scalar!(
                "UPDATE incident SET status = 'RESOLVED', resolved_at = now(),
                                     resolved_by_user_id = $3, next_escalation_at = NULL,
                                     updated_at = now()
                 WHERE workspace_id = $1 AND id = $2 AND status <> 'RESOLVED'
                 RETURNING id",
                workspace_id,
                incident_id,
                actor.user_id,
            )
            .fetch_optional(&mut *conn)
            .await?;
            if changed.is_some() {
                sqlx::query!(
                    "UPDATE alert SET status = 'RESOLVED', resolved_at = now(), updated_at = now()
                     WHERE incident_id = $1 AND status IN ('OPEN', 'ACKNOWLEDGED')",
                    incident_id
                )
                .execute(&mut *conn)
                .await?;
            }
            (changed, NotificationEvent::IncidentResolved)
        }
    };
    if changed.is_none() {
        return Ok(find_incident(conn, workspace_id, incident_id)
            .await?
            .map(|_| ActionOutcome::default()));
    }
    let timeline_action = match action {
        HumanAction::Acknowledge => MagicLinkAction::Acknowledge,
        HumanAction::Resolve => MagicLinkAction::Resolve,
    };
    record_on_timeline(conn, incident_id, timeline_action, actor).await?;
    let first_alert = sqlx::query_scalar!(
        "SELECT id FROM alert WHERE incident_id = $1 ORDER BY triggered_at, id LIMIT 1",
        incident_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    let outbox_ids = match first_alert {
        Some(alert_id) => {
            crate::notify::announce(conn, workspace_id, incident_id, alert_id, event)
                .await?
                .outbox_ids
        }
        None => Vec::new(),
    };
    Ok(Some(ActionOutcome {
        changed: true,
        outbox_ids,
    }))
}

/// Records who caused an incident's change of state, on the incident and its timeline.
pub async fn record_change(
    conn: &mut PgConnection,
    incident_id: Uuid,
    event: crate::notify::NotificationEvent,
    actor: &Actor,
) -> Result<(), sqlx::Error> {
    use crate::notify::NotificationEvent;
    let action = match event {
        NotificationEvent::IncidentAcknowledged => {
            sqlx::query!(
                "UPDATE incident SET acknowledged_by_user_id = $2 WHERE id = $1",
                incident_id,
                actor.user_id
            )
            .execute(&mut *conn)
            .await?;
            MagicLinkAction::Acknowledge
        }
        NotificationEvent::IncidentResolved => {
            sqlx::query!(
                "UPDATE incident SET resolved_by_user_id = $2 WHERE id = $1",
                incident_id,
                actor.user_id
            )
            .execute(&mut *conn)
            .await?;
            MagicLinkAction::Resolve
        }
        _ => return Ok(()),
    };
    record_on_timeline(conn, incident_id, action, actor).await
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

/// Makes an incident's status follow its alerts: resolved when none is open or
/// acknowledged, acknowledged when none is open. Returns the change, if any.
pub async fn follow_alerts(
    conn: &mut PgConnection,
    incident_id: Uuid,
) -> Result<Option<(Uuid, crate::notify::NotificationEvent)>, sqlx::Error> {
    let changed = sqlx::query_scalar!(
        r#"WITH counts AS (
               SELECT count(*) FILTER (WHERE status = 'OPEN') AS open,
                      count(*) FILTER (WHERE status = 'ACKNOWLEDGED') AS acknowledged
               FROM alert WHERE incident_id = $1
           )
           UPDATE incident i SET
               status = CASE WHEN c.open + c.acknowledged = 0 THEN 'RESOLVED'::incident_status
                             ELSE 'ACKNOWLEDGED'::incident_status END,
               resolved_at = CASE WHEN c.open + c.acknowledged = 0 THEN now() ELSE i.resolved_at END,
               acknowledged_at = CASE WHEN c.acknowledged > 0 THEN coalesce(i.acknowledged_at, now())
                                      ELSE i.acknowledged_at END,
               next_escalation_at = NULL,
               updated_at = now()
           FROM counts c
           WHERE i.id = $1 AND c.open = 0
             AND i.status <> CASE WHEN c.open + c.acknowledged = 0 THEN 'RESOLVED'::incident_status
                                  ELSE 'ACKNOWLEDGED'::incident_status END
             AND i.status <> 'RESOLVED'
           RETURNING i.status AS "status: IncidentStatus""#,
        incident_id,
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(changed.map(|status| {
        let event = match status {
            IncidentStatus::Resolved => crate::notify::NotificationEvent::IncidentResolved,
            _ => crate::notify::NotificationEvent::IncidentAcknowledged,
        };
        (incident_id, event)
    }))
}
