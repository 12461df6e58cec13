//! The one transaction of an accepted request: answer a repeat as it was answered, else
//! apply each alert's event (open, update, acknowledge, resolve), group new alerts into
//! incidents, queue notifications for incidents that open or change state, and record the
//! delivery with its answer.

use sqlx::PgConnection;
use uuid::Uuid;

use super::delivery::{self, NewDelivery};
use super::{Accepted, Ingested, Integration};
use crate::alerts::{AlertAction, NormalizedAlert, Severity};
use crate::error::ApiError;
use crate::notify::{self, NotificationEvent};
use crate::state::AppState;

/// How long an `Idempotency-Key` is remembered.
const IDEMPOTENCY_KEY_HOURS: i32 = 24;

/// Stores an accepted request.
pub async fn store(
    state: &AppState,
    integration: &Integration,
    delivery: NewDelivery,
    alerts: &[NormalizedAlert],
) -> Result<Ingested, ApiError> {
    // A new alert that another request opened at the same moment (different content, same
    // dedup key) rolls the transaction back; the next attempt finds it and updates it.
    for _ in 0..3 {
        if let Some(ingested) = attempt(state, integration, delivery.clone(), alerts).await? {
            return Ok(ingested);
        }
    }
    Err(ApiError::conflict(
        "the alerts in this request were being changed by other requests; retry it",
    ))
}

/// One try at [`store`]; `None` when it raced another request and was rolled back.
async fn attempt(
    state: &AppState,
    integration: &Integration,
    mut delivery: NewDelivery,
    alerts: &[NormalizedAlert],
) -> Result<Option<Ingested>, ApiError> {
    let mut tx = state.db.begin().await?;
    // Identical requests wait for each other here, so the second sees the first's answer
    // (the locks are released at commit).
    lock(
        &mut tx,
        integration.id,
        "content",
        &delivery.content_fingerprint,
    )
    .await?;
    if let Some(key) = &delivery.idempotency_key {
        lock(&mut tx, integration.id, "key", key).await?;
    }
    if let Some((prior_id, answer)) = find_prior(&mut tx, integration, &delivery).await? {
        delivery.duplicate_of = Some(prior_id);
        delivery.response_body = Some(answer.clone());
        delivery::record_delivery(&mut tx, &delivery, &[]).await?;
        tx.commit().await?;
        tracing::info!(delivery_id = %delivery.id, duplicate_of = %prior_id, "repeat answered as before");
        let answer = serde_json::from_value(answer).map_err(ApiError::internal)?;
        return Ok(Some(Ingested {
            answer,
            outbox_ids: Vec::new(),
        }));
    }

    let mut alert_ids = Vec::new();
    let mut notifications = 0;
    let mut outbox_ids = Vec::new();
    for alert in alerts {
        let Some(applied) = apply(&mut tx, integration, alert).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        if let Some(alert_id) = applied.alert_id {
            if !alert_ids.contains(&alert_id) {
                alert_ids.push(alert_id);
            }
            if let Some((incident_id, event)) = applied.incident_event {
                let announced = notify::announce(
                    &mut tx,
                    integration.workspace_id,
                    incident_id,
                    alert_id,
                    event,
                )
                .await?;
                notifications += announced.notifications;
                outbox_ids.extend(announced.outbox_ids);
            }
        }
    }
    let answer = Accepted {
        status: "accepted".to_owned(),
        delivery_id: delivery.id,
        alert_ids: alert_ids.clone(),
        notifications_queued: notifications,
    };
    delivery.alert_id = alert_ids.first().copied();
    delivery.response_body = Some(serde_json::to_value(&answer).map_err(ApiError::internal)?);
    delivery::record_delivery(&mut tx, &delivery, &alert_ids).await?;
    tx.commit().await?;
    tracing::info!(
        integration_id = %integration.id,
        delivery_id = %delivery.id,
        alerts = alert_ids.len(),
        notifications,
        "webhook accepted"
    );
    Ok(Some(Ingested { answer, outbox_ids }))
}

async fn lock(
    conn: &mut PgConnection,
    integration_id: Uuid,
    kind: &str,
    value: &str,
) -> Result<(), sqlx::Error> {
    let key = format!("ingest:{integration_id}:{kind}:{value}");
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The earlier accepted delivery this request repeats, with its answer: the same
/// `Idempotency-Key` within a day, or the same content within the integration's dedup
/// window as long as no later request changed the alerts that one touched (so trigger,
/// resolve, trigger again opens a new alert).
async fn find_prior(
    conn: &mut PgConnection,
    integration: &Integration,
    delivery: &NewDelivery,
) -> Result<Option<(Uuid, serde_json::Value)>, sqlx::Error> {
    // Two lookups rather than one with OR: each is an index probe, so the cost does not
    // grow with the number of deliveries in the window.
    if let Some(key) = &delivery.idempotency_key {
        let by_key = sqlx::query!(
            r#"SELECT id, response_body AS "response_body!"
               FROM webhook_delivery
               WHERE integration_id = $1 AND idempotency_key = $2
                 AND response_body IS NOT NULL AND duplicate_of IS NULL
                 AND created_at > now() - make_interval(hours => $3)
               ORDER BY created_at DESC
               LIMIT 1"#,
            integration.id,
            key,
            IDEMPOTENCY_KEY_HOURS,
        )
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(row) = by_key {
            return Ok(Some((row.id, row.response_body)));
        }
    }
    let Some(latest) = sqlx::query!(
        r#"SELECT id, created_at, response_body AS "response_body!"
           FROM webhook_delivery
           WHERE integration_id = $1 AND content_fingerprint = $2
             AND response_body IS NOT NULL AND duplicate_of IS NULL
             AND created_at > now() - make_interval(mins => $3)
           ORDER BY created_at DESC
           LIMIT 1"#,
        integration.id,
        delivery.content_fingerprint,
        integration.deduplication_window_minutes,
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    // A later request that changed one of its alerts ends the repeat. Its alerts first,
    // then each alert's later deliveries: index lookups only, so the cost stays flat as
    // the tables grow, whatever the planner's statistics say (a fresh table has none).
    let superseded = sqlx::query_scalar!(
        r#"WITH mine AS MATERIALIZED (
             SELECT alert_id FROM webhook_delivery_alert WHERE webhook_delivery_id = $1)
           SELECT EXISTS (
             SELECT 1 FROM mine
             CROSS JOIN LATERAL (
               SELECT 1 FROM webhook_delivery_alert later
               JOIN webhook_delivery l ON l.id = later.webhook_delivery_id
               WHERE later.alert_id = mine.alert_id AND later.webhook_delivery_id <> $1
                 AND l.created_at > $2 AND l.duplicate_of IS NULL
               LIMIT 1) newer) AS "superseded!""#,
        latest.id,
        latest.created_at,
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok((!superseded).then_some((latest.id, latest.response_body)))
}

/// What one alert's event did.
struct Applied {
    /// The alert it opened or changed; none when it named no open alert.
    alert_id: Option<Uuid>,
    /// The incident that opened or changed state, and how.
    incident_event: Option<(Uuid, NotificationEvent)>,
}

impl Applied {
    /// An acknowledge or resolve that named no open alert.
    const NOTHING: Self = Self {
        alert_id: None,
        incident_event: None,
    };
}

/// Applies one alert's event; `None` when a trigger raced another request (see [`store`]).
async fn apply(
    conn: &mut PgConnection,
    integration: &Integration,
    alert: &NormalizedAlert,
) -> Result<Option<Applied>, ApiError> {
    match alert.action {
        AlertAction::Trigger => trigger(conn, integration, alert).await,
        AlertAction::Acknowledge | AlertAction::Resolve => {
            let Some(dedup_key) = alert.dedup_key.as_deref() else {
                return Ok(Some(Applied::NOTHING));
            };
            let changed = if alert.action == AlertAction::Resolve {
                sqlx::query!(
                    "UPDATE alert SET status = 'RESOLVED', resolved_at = now(), last_seen_at = now(),
                                      updated_at = now()
                     WHERE integration_id = $1 AND external_id = $2 AND status IN ('OPEN', 'ACKNOWLEDGED')
                     RETURNING id, incident_id",
                    integration.id,
                    dedup_key,
                )
                .fetch_optional(&mut *conn)
                .await?
                .map(|r| (r.id, r.incident_id))
            } else {
                sqlx::query!(
                    "UPDATE alert SET status = 'ACKNOWLEDGED', acknowledged_at = now(), last_seen_at = now(),
                                      updated_at = now()
                     WHERE integration_id = $1 AND external_id = $2 AND status = 'OPEN'
                     RETURNING id, incident_id",
                    integration.id,
                    dedup_key,
                )
                .fetch_optional(&mut *conn)
                .await?
                .map(|r| (r.id, r.incident_id))
            };
            // Acknowledging or resolving an alert nobody has open is accepted and does
            // nothing, as PagerDuty does.
            let Some((alert_id, incident_id)) = changed else {
                return Ok(Some(Applied::NOTHING));
            };
            let incident_event = match incident_id {
                Some(incident_id) => crate::incidents::follow_alerts(conn, incident_id).await?,
                None => None,
            };
            if let Some((incident_id, event)) = incident_event {
                let actor = crate::incidents::Actor {
                    user_id: None,
                    label: Some(integration.name.clone()),
                    via: crate::incidents::ActionChannel::Integration,
                };
                crate::incidents::record_change(conn, incident_id, event, &actor).await?;
            }
            Ok(Some(Applied {
                alert_id: Some(alert_id),
                incident_event,
            }))
        }
    }
}

/// Updates the open alert with the same dedup key, or opens one; a new alert joins (or
/// opens) the incident of its service and group key. `None` when another request opened the
/// same alert after this statement's snapshot was taken.
async fn trigger(
    conn: &mut PgConnection,
    integration: &Integration,
    alert: &NormalizedAlert,
) -> Result<Option<Applied>, ApiError> {
    let group_key = alert
        .group_key
        .clone()
        .or_else(|| alert.dedup_key.clone())
        .unwrap_or_else(|| alert.fingerprint(&integration.name));
    // One statement: the update of the open alert, or the incident upsert and the alert
    // written once, already linked to its incident (PostgreSQL's documented
    // update-else-insert with data-modifying CTEs). A NULL dedup key updates nothing.
    let row = sqlx::query!(
        r#"WITH updated AS (
             UPDATE alert SET occurrence_count = occurrence_count + 1, last_seen_at = now(),
                              title = $4, description = $5, severity = $6, metadata = $11,
                              updated_at = now()
             WHERE integration_id = $2 AND external_id = $8
               AND status IN ('OPEN', 'ACKNOWLEDGED')
             RETURNING id),
           joined AS (
             INSERT INTO incident (workspace_id, service_id, team_id, escalation_policy_id, title,
                                   priority, group_key, alert_count, triggered_at)
             SELECT $1, $3, s.team_id, s.escalation_policy_id, $4, $6, $9, 1, $10
             FROM (SELECT 1) one LEFT JOIN service s ON s.id = $3 AND s.workspace_id = $1
             WHERE NOT EXISTS (SELECT 1 FROM updated)
             ON CONFLICT (workspace_id, coalesce(service_id, '00000000-0000-0000-0000-000000000000'::uuid), group_key)
                 WHERE status <> 'RESOLVED' AND group_key IS NOT NULL
             DO UPDATE SET alert_count = incident.alert_count + 1,
                           priority = LEAST(incident.priority, EXCLUDED.priority),
                           updated_at = now()
             RETURNING id, (xmax = 0) AS created),
           opened AS (
             INSERT INTO alert (workspace_id, integration_id, service_id, title, description,
                                severity, source, external_id, group_key, triggered_at, metadata,
                                incident_id)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, joined.id FROM joined
             ON CONFLICT (integration_id, external_id)
                 WHERE integration_id IS NOT NULL AND external_id IS NOT NULL
                   AND status IN ('OPEN', 'ACKNOWLEDGED')
             DO NOTHING
             RETURNING id)
           SELECT (SELECT id FROM updated LIMIT 1) AS "updated_id?",
                  joined.id AS "incident_id?", joined.created AS "created?",
                  opened.id AS "opened_id?"
           FROM (SELECT 1) one LEFT JOIN joined ON true LEFT JOIN opened ON true"#,
        integration.workspace_id,
        integration.id,
        integration.default_service_id,
        alert.title,
        alert.description,
        alert.severity as Severity,
        integration.name,
        alert.dedup_key,
        group_key,
        alert.triggered_at,
        alert.metadata,
    )
    .fetch_one(&mut *conn)
    .await?;
    if let Some(alert_id) = row.updated_id {
        return Ok(Some(Applied {
            alert_id: Some(alert_id),
            incident_event: None,
        }));
    }
    // The alert appeared after this statement's snapshot, and the incident has already
    // counted it: start over.
    let (Some(alert_id), Some(incident_id)) = (row.opened_id, row.incident_id) else {
        return Ok(None);
    };
    Ok(Some(Applied {
        alert_id: Some(alert_id),
        incident_event: row
            .created
            .unwrap_or(false)
            .then_some((incident_id, NotificationEvent::IncidentTriggered)),
    }))
}
