//! Escalation (seed 001): who is notified when, while an incident stays unacknowledged.
//!
//! An incident of a service with an escalation policy notifies the policy's level 1 when
//! it opens, and the escalator (every minute) notifies the next level once the current
//! level's `delay_minutes` have passed, running through the levels again
//! `repeat_count` times. Acknowledging or resolving the incident clears
//! `next_escalation_at`, which stops it. Time comes from the caller (`now`), so tests
//! move the clock instead of sleeping.
//!
//! A level's targets are channels (notified as such) and people. A person is reached
//! through their channel tiers: every kind of their primary tier at once, the secondary
//! tier only when every primary delivery FAILED, the fallback tier last. Each delivery to
//! a person goes through the workspace's first enabled channel of that kind (its
//! credentials) to the person's contact method of that kind (the address; for email,
//! SMS and voice, the user's own email and phone when they added none).

use chrono::{DateTime, Duration, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::incidents::ChannelTier;
use crate::notify::{Announced, ChannelKind, NotificationEvent};
use crate::state::AppState;

/// A level of a policy: its number and how long to wait after notifying it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Level {
    pub level: i32,
    pub delay_minutes: i32,
}

/// Where an incident is in its policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub level: i32,
    pub cycle: i32,
}

/// The step after `current` (level 0 is "not started"): the next level, or level 1 of the
/// next pass while repeats remain; none when the policy is done.
pub fn next_step(levels: &[Level], repeat_count: i32, current: Position) -> Option<Position> {
    if let Some(next) = levels.iter().find(|l| l.level > current.level) {
        return Some(Position {
            level: next.level,
            cycle: current.cycle,
        });
    }
    let first = levels.first()?;
    (current.cycle < repeat_count).then_some(Position {
        level: first.level,
        cycle: current.cycle + 1,
    })
}

/// When to take the step after `at` (just notified at `now`), if there is one.
pub fn next_escalation_at(
    levels: &[Level],
    repeat_count: i32,
    at: Position,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    next_step(levels, repeat_count, at)?;
    let delay = levels.iter().find(|l| l.level == at.level)?.delay_minutes;
    Some(now + Duration::minutes(i64::from(delay)))
}

struct Policy {
    repeat_count: i32,
    levels: Vec<Level>,
}

async fn load_policy(conn: &mut PgConnection, policy_id: Uuid) -> Result<Policy, sqlx::Error> {
    let repeat_count = sqlx::query_scalar!(
        "SELECT repeat_count FROM escalation_policy WHERE id = $1",
        policy_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .unwrap_or(0);
    let levels = sqlx::query_as!(
        Level,
        "SELECT level, delay_minutes FROM escalation_level
         WHERE escalation_policy_id = $1 ORDER BY level",
        policy_id
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(Policy {
        repeat_count,
        levels,
    })
}

/// Starts escalating a new incident: notifies its policy's first level and schedules the
/// next step. `None` when the incident has no policy with levels (the caller then
/// notifies the workspace's channels). Runs in the caller's transaction.
pub async fn start(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    incident_id: Uuid,
    alert_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Vec<Uuid>>, sqlx::Error> {
    let Some(policy_id) = sqlx::query_scalar!(
        "SELECT escalation_policy_id FROM incident WHERE id = $1 AND workspace_id = $2",
        incident_id,
        workspace_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .flatten() else {
        return Ok(None);
    };
    let policy = load_policy(conn, policy_id).await?;
    let Some(first) = next_step(
        &policy.levels,
        policy.repeat_count,
        Position { level: 0, cycle: 0 },
    ) else {
        return Ok(None);
    };
    let ids = take_step(
        conn,
        workspace_id,
        incident_id,
        alert_id,
        policy_id,
        &policy,
        first,
        now,
    )
    .await?;
    Ok(Some(ids))
}

/// Announces an acknowledge or resolve of an incident under a policy to the channels of
/// the levels it reached (people paged are not paged again to be told). `None` when the
/// incident has no policy with levels.
pub async fn announce_change(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    incident_id: Uuid,
    alert_id: Uuid,
    event: NotificationEvent,
) -> Result<Option<Vec<Uuid>>, sqlx::Error> {
    let Some(incident) = sqlx::query!(
        "SELECT escalation_policy_id, escalation_level FROM incident
         WHERE id = $1 AND workspace_id = $2",
        incident_id,
        workspace_id
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let Some(policy_id) = incident.escalation_policy_id else {
        return Ok(None);
    };
    let has_levels = sqlx::query_scalar!(
        r#"SELECT exists(SELECT 1 FROM escalation_level WHERE escalation_policy_id = $1) AS "exists!""#,
        policy_id
    )
    .fetch_one(&mut *conn)
    .await?;
    if !has_levels {
        return Ok(None);
    }
    let ids = sqlx::query_scalar!(
        r#"INSERT INTO notification_log (workspace_id, incident_id, alert_id, notification_channel_id,
                                         channel, event, escalation_level)
           SELECT c.workspace_id, $2, $3, c.id, c.provider, $6, $5
           FROM notification_channel c
           WHERE c.workspace_id = $1 AND c.enabled AND c.id IN (
               SELECT t.notification_channel_id
               FROM escalation_target t JOIN escalation_level l ON l.id = t.escalation_level_id
               WHERE l.escalation_policy_id = $4 AND l.level <= $5)
           ORDER BY c.created_at, c.id
           RETURNING id"#,
        workspace_id,
        incident_id,
        alert_id,
        policy_id,
        incident.escalation_level,
        event as NotificationEvent,
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(Some(ids))
}

/// Notifies the targets of `at` and records the step on the incident.
#[allow(clippy::too_many_arguments)]
async fn take_step(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    incident_id: Uuid,
    alert_id: Uuid,
    policy_id: Uuid,
    policy: &Policy,
    at: Position,
    now: DateTime<Utc>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let next_at = next_escalation_at(&policy.levels, policy.repeat_count, at, now);
    sqlx::query!(
        "UPDATE incident SET escalation_level = $2, escalation_cycle = $3,
                             next_escalation_at = $4, updated_at = now()
         WHERE id = $1",
        incident_id,
        at.level,
        at.cycle,
        next_at,
    )
    .execute(&mut *conn)
    .await?;
    let targets = sqlx::query!(
        "SELECT t.user_id, t.notification_channel_id
         FROM escalation_target t JOIN escalation_level l ON l.id = t.escalation_level_id
         WHERE l.escalation_policy_id = $1 AND l.level = $2
         ORDER BY t.position",
        policy_id,
        at.level,
    )
    .fetch_all(&mut *conn)
    .await?;
    let channels: Vec<Uuid> = targets
        .iter()
        .filter_map(|t| t.notification_channel_id)
        .collect();
    let mut ids = sqlx::query_scalar!(
        r#"INSERT INTO notification_log (workspace_id, incident_id, alert_id, notification_channel_id,
                                         channel, event, escalation_level, escalation_cycle)
           SELECT workspace_id, $2, $3, id, provider, 'incident.triggered', $5, $6
           FROM notification_channel
           WHERE workspace_id = $1 AND enabled AND id = ANY($4)
           ORDER BY created_at, id
           RETURNING id"#,
        workspace_id,
        incident_id,
        alert_id,
        &channels,
        at.level,
        at.cycle,
    )
    .fetch_all(&mut *conn)
    .await?;
    for user_id in targets.iter().filter_map(|t| t.user_id) {
        let step = PersonStep {
            workspace_id,
            incident_id,
            alert_id,
            user_id,
            at,
        };
        ids.extend(page_person(conn, &step, ChannelTier::Primary).await?);
    }
    tracing::info!(%incident_id, level = at.level, cycle = at.cycle, notifications = ids.len(), "escalation step");
    Ok(ids)
}

/// One person to reach in one escalation step.
struct PersonStep {
    workspace_id: Uuid,
    incident_id: Uuid,
    alert_id: Uuid,
    user_id: Uuid,
    at: Position,
}

const TIERS: [ChannelTier; 3] = [
    ChannelTier::Primary,
    ChannelTier::Secondary,
    ChannelTier::Fallback,
];

/// Queues a person's deliveries of the first tier from `from` on that can reach them
/// (they have a contact method and the workspace a channel of that kind). Nothing when
/// that tier was already queued in this step.
async fn page_person(
    conn: &mut PgConnection,
    step: &PersonStep,
    from: ChannelTier,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let tiers = crate::incidents::user_channel_tiers(conn, step.workspace_id, step.user_id).await?;
    for tier in TIERS.into_iter().skip_while(|t| *t != from) {
        let kinds: Vec<ChannelKind> = tiers
            .iter()
            .filter(|(t, _)| *t == tier)
            .map(|(_, kind)| *kind)
            .collect();
        if kinds.is_empty() {
            continue;
        }
        let queued = sqlx::query_scalar!(
            r#"SELECT count(*) AS "count!" FROM notification_log
               WHERE incident_id = $1 AND user_id = $2 AND escalation_level = $3
                 AND escalation_cycle = $4 AND tier = $5"#,
            step.incident_id,
            step.user_id,
            step.at.level,
            step.at.cycle,
            tier as ChannelTier,
        )
        .fetch_one(&mut *conn)
        .await?;
        if queued > 0 {
            return Ok(Vec::new());
        }
        // Slack reaches a person only through a bot (a `channel` setting); an incoming
        // webhook posts to its own channel.
        let ids = sqlx::query_scalar!(
            r#"INSERT INTO notification_log (workspace_id, incident_id, alert_id, notification_channel_id,
                                             channel, event, user_id, destination, tier,
                                             escalation_level, escalation_cycle)
               SELECT $1, $2, $3, ch.id, k.kind, 'incident.triggered', $4, cm.address, $5, $6, $7
               FROM unnest($8::channel_kind[]) AS k(kind)
               CROSS JOIN LATERAL (SELECT coalesce(
                   (SELECT address FROM contact_method
                    WHERE user_id = $4 AND kind = k.kind
                    ORDER BY verified_at IS NULL, created_at, id LIMIT 1),
                   (SELECT CASE k.kind WHEN 'EMAIL' THEN u.email
                                       WHEN 'SMS' THEN u.phone WHEN 'VOICE' THEN u.phone END
                    FROM app_user u WHERE u.id = $4)) AS address) cm
               CROSS JOIN LATERAL (
                   SELECT id FROM notification_channel
                   WHERE workspace_id = $1 AND provider = k.kind AND enabled
                     AND (k.kind <> 'SLACK' OR config ? 'channel')
                   ORDER BY created_at, id LIMIT 1) ch
               WHERE cm.address IS NOT NULL
               ON CONFLICT (incident_id, user_id, escalation_level, escalation_cycle, tier, channel)
                   WHERE user_id IS NOT NULL AND tier IS NOT NULL
               DO NOTHING
               RETURNING id"#,
            step.workspace_id,
            step.incident_id,
            step.alert_id,
            step.user_id,
            tier as ChannelTier,
            step.at.level,
            step.at.cycle,
            &kinds as &[ChannelKind],
        )
        .fetch_all(&mut *conn)
        .await?;
        if !ids.is_empty() {
            return Ok(ids);
        }
        tracing::info!(user_id = %step.user_id, ?tier, "no contact method and channel for this tier; trying the next");
    }
    tracing::warn!(user_id = %step.user_id, incident_id = %step.incident_id, "this person cannot be reached: no contact method matches an enabled channel");
    Ok(Vec::new())
}

/// After a delivery to a person FAILED: when every delivery of its tier in that step
/// failed, and the incident is still unacknowledged, queues the person's next tier.
/// Returns the new rows (their jobs are the caller's to write). Runs in the caller's
/// transaction; the incident row is locked so concurrent failures queue the next tier once.
pub async fn after_failure(
    conn: &mut PgConnection,
    notification_log_id: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let Some(row) = sqlx::query!(
        r#"SELECT workspace_id, incident_id, alert_id, user_id, tier AS "tier: ChannelTier",
                  escalation_level, escalation_cycle
           FROM notification_log WHERE id = $1"#,
        notification_log_id
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(Vec::new());
    };
    let (Some(incident_id), Some(alert_id), Some(user_id), Some(tier), Some(level)) = (
        row.incident_id,
        row.alert_id,
        row.user_id,
        row.tier,
        row.escalation_level,
    ) else {
        return Ok(Vec::new());
    };
    let status = sqlx::query_scalar!(
        r#"SELECT status AS "status: crate::incidents::IncidentStatus" FROM incident WHERE id = $1 FOR UPDATE"#,
        incident_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    if status != Some(crate::incidents::IncidentStatus::Triggered) {
        return Ok(Vec::new());
    }
    let unfinished = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM notification_log
           WHERE incident_id = $1 AND user_id = $2 AND escalation_level = $3
             AND escalation_cycle = $4 AND tier = $5 AND status <> 'FAILED'"#,
        incident_id,
        user_id,
        level,
        row.escalation_cycle,
        tier as ChannelTier,
    )
    .fetch_one(&mut *conn)
    .await?;
    let Some(next) = TIERS.iter().skip_while(|t| **t != tier).nth(1) else {
        return Ok(Vec::new());
    };
    if unfinished > 0 {
        return Ok(Vec::new());
    }
    let step = PersonStep {
        workspace_id: row.workspace_id,
        incident_id,
        alert_id,
        user_id,
        at: Position {
            level,
            cycle: row.escalation_cycle,
        },
    };
    let ids = page_person(conn, &step, *next).await?;
    tracing::info!(%incident_id, %user_id, from = ?tier, queued = ids.len(), "every delivery of a tier failed; next tier");
    Ok(ids)
}

/// What one escalator run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EscalationReport {
    /// Incidents that moved to their next step.
    pub escalated: usize,
    /// Notifications queued for them.
    pub notifications: usize,
}

/// Incidents taken per transaction.
const BATCH: i64 = 100;

/// The escalator: every unacknowledged incident whose next step is due at `now` takes it.
/// Concurrent runs skip each other's incidents.
pub async fn escalate_due(
    state: &AppState,
    now: DateTime<Utc>,
) -> Result<EscalationReport, sqlx::Error> {
    let mut report = EscalationReport::default();
    loop {
        let mut tx = state.db.begin().await?;
        let due = sqlx::query!(
            r#"SELECT i.id, i.workspace_id, i.escalation_policy_id AS "policy_id!",
                      i.escalation_level, i.escalation_cycle,
                      (SELECT a.id FROM alert a WHERE a.incident_id = i.id
                       ORDER BY a.triggered_at DESC, a.id LIMIT 1) AS alert_id
               FROM incident i
               WHERE i.status = 'TRIGGERED' AND i.next_escalation_at <= $1
                 AND i.escalation_policy_id IS NOT NULL
               ORDER BY i.next_escalation_at
               LIMIT $2
               FOR UPDATE OF i SKIP LOCKED"#,
            now,
            BATCH,
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut log_ids = Vec::new();
        for incident in &due {
            let policy = load_policy(&mut tx, incident.policy_id).await?;
            let current = Position {
                level: incident.escalation_level,
                cycle: incident.escalation_cycle,
            };
            let (Some(at), Some(alert_id)) = (
                next_step(&policy.levels, policy.repeat_count, current),
                incident.alert_id,
            ) else {
                sqlx::query!(
                    "UPDATE incident SET next_escalation_at = NULL WHERE id = $1",
                    incident.id
                )
                .execute(&mut *tx)
                .await?;
                continue;
            };
            log_ids.extend(
                take_step(
                    &mut tx,
                    incident.workspace_id,
                    incident.id,
                    alert_id,
                    incident.policy_id,
                    &policy,
                    at,
                    now,
                )
                .await?,
            );
            report.escalated += 1;
        }
        let Announced { outbox_ids, .. } = crate::notify::queue_jobs(&mut tx, &log_ids).await?;
        tx.commit().await?;
        crate::outbox::dispatch(state, &outbox_ids).await;
        report.notifications += log_ids.len();
        if i64::try_from(due.len()).unwrap_or(BATCH) < BATCH {
            return Ok(report);
        }
    }
}

/// The escalator function's handler: one run at the current time. It also renews the
/// OAuth tokens of people's Slack and Microsoft Teams connections that are about to
/// expire; a failure there is logged, and does not fail the run.
pub async fn handle_schedule(state: &AppState) -> Result<EscalationReport, sqlx::Error> {
    let report = escalate_due(state, Utc::now()).await;
    let refreshed = crate::connections::refresh_expiring(state, Utc::now()).await;
    let connections_refreshed = match refreshed {
        Ok(refreshed) => refreshed,
        Err(error) => {
            tracing::error!(error = %crate::error::error_chain(&error), "OAuth connections could not be refreshed");
            0
        }
    };
    let report = report?;
    if report.escalated > 0 || connections_refreshed > 0 {
        tracing::info!(
            escalated = report.escalated,
            notifications = report.notifications,
            connections_refreshed,
            "escalator run"
        );
    } else {
        tracing::debug!("escalator run: nothing due");
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEVELS: [Level; 2] = [
        Level {
            level: 1,
            delay_minutes: 5,
        },
        Level {
            level: 2,
            delay_minutes: 10,
        },
    ];

    #[test]
    fn steps_run_through_the_levels_then_repeat() {
        let at = |level, cycle| Position { level, cycle };
        assert_eq!(next_step(&LEVELS, 1, at(0, 0)), Some(at(1, 0)));
        assert_eq!(next_step(&LEVELS, 1, at(1, 0)), Some(at(2, 0)));
        assert_eq!(next_step(&LEVELS, 1, at(2, 0)), Some(at(1, 1)));
        assert_eq!(next_step(&LEVELS, 1, at(2, 1)), None);
        assert_eq!(next_step(&[], 3, at(0, 0)), None);
    }

    #[test]
    fn the_next_step_waits_the_current_levels_delay() {
        let now = Utc::now();
        let at = |level, cycle| Position { level, cycle };
        assert_eq!(
            next_escalation_at(&LEVELS, 0, at(1, 0), now),
            Some(now + Duration::minutes(5))
        );
        assert_eq!(next_escalation_at(&LEVELS, 0, at(2, 0), now), None);
        assert_eq!(
            next_escalation_at(&LEVELS, 1, at(2, 0), now),
            Some(now + Duration::minutes(10))
        );
    }
}
