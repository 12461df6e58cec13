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
    mut delivery: NewDelivery,
    alerts: &[NormalizedAlert],
) -> Result<Ingested, ApiError> {
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
        delivery::record_delivery(&mut tx, &delivery).await?;
        tx.commit().await?;
        tracing::info!(delivery_id = %delivery.id, duplicate_of = %prior_id, "repeat answered as before");
        let answer = serde_json::from_value(answer).map_err(ApiError::internal)?;
        return Ok(Ingested {
            answer,
            outbox_ids: Vec::new(),
        });
    }

    let mut alert_ids = Vec::new();
    let mut notifications = 0;
    let mut outbox_ids = Vec::new();
    for alert in alerts {
        let applied = apply(&mut tx, integration, alert).await?;
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
    delivery::record_delivery(&mut tx, &delivery).await?;
    delivery::link_alerts(&mut tx, delivery.id, &alert_ids).await?;
    tx.commit().await?;
    tracing::info!(
        integration_id = %integration.id,
        delivery_id = %delivery.id,
        alerts = alert_ids.len(),
        notifications,
        "webhook accepted"
    );
    Ok(Ingested { answer, outbox_ids })
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
    // Two lookups rather than one with OR: each is an index scan, so the cost does not
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
    let by_content = sqlx::query!(
        r#"SELECT d.id, d.response_body AS "response_body!"
           FROM webhook_delivery d
           WHERE d.integration_id = $1 AND d.content_fingerprint = $2
             AND d.response_body IS NOT NULL AND d.duplicate_of IS NULL
             AND d.created_at > now() - make_interval(mins => $3)
             AND NOT EXISTS (
               SELECT 1 FROM webhook_delivery_alert mine
               JOIN webhook_delivery_alert later ON later.alert_id = mine.alert_id
               JOIN webhook_delivery l ON l.id = later.webhook_delivery_id
               WHERE mine.webhook_delivery_id = d.id AND l.created_at > d.created_at
                 AND l.duplicate_of IS NULL)
           ORDER BY d.created_at DESC
           LIMIT 1"#,
        integration.id,
        delivery.content_fingerprint,
        integration.deduplication_window_minutes,
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(by_content.map(|r| (r.id, r.response_body)))
}

/// What one alert's event did.
struct Applied {
    /// The alert it opened or changed; none when it named no open alert.
    alert_id: Option<Uuid>,
    /// The incident that opened or changed state, and how.
    incident_event: Option<(Uuid, NotificationEvent)>,
}

async fn apply(
    conn: &mut PgConnection,
    integration: &Integration,
    alert: &NormalizedAlert,
) -> Result<Applied, ApiError> {
    match alert.action {
        AlertAction::Trigger => trigger(conn, integration, alert).await,
        AlertAction::Acknowledge | AlertAction::Resolve => {
            let Some(dedup_key) = alert.dedup_key.as_deref() else {
                return Ok(Applied {
                    alert_id: None,
                    incident_event: None,
                });
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
                return Ok(Applied {
                    alert_id: None,
                    incident_event: None,
                });
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
            Ok(Applied {
                alert_id: Some(alert_id),
                incident_event,
            })
        }
    }
}

/// Opens an alert, or updates the open one with the same dedup key; a new alert joins
/// (or opens) the incident of its service and group key.
async fn trigger(
    conn: &mut PgConnection,
    integration: &Integration,
    alert: &NormalizedAlert,
) -> Result<Applied, ApiError> {
    let group_key = alert
        .group_key
        .clone()
        .or_else(|| alert.dedup_key.clone())
        .unwrap_or_else(|| alert.fingerprint(&integration.name));
    let row = sqlx::query!(
        r#"INSERT INTO alert (workspace_id, integration_id, service_id, title, description, severity,
                              source, external_id, group_key, triggered_at, metadata)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           ON CONFLICT (integration_id, external_id)
               WHERE integration_id IS NOT NULL AND external_id IS NOT NULL
                 AND status IN ('OPEN', 'ACKNOWLEDGED')
           DO UPDATE SET occurrence_count = alert.occurrence_count + 1, last_seen_at = now(),
                         title = EXCLUDED.title, description = EXCLUDED.description,
                         severity = EXCLUDED.severity, metadata = EXCLUDED.metadata,
                         updated_at = now()
           RETURNING id, (xmax = 0) AS "inserted!""#,
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
    if !row.inserted {
        return Ok(Applied {
            alert_id: Some(row.id),
            incident_event: None,
        });
    }
    let incident = sqlx::query!(
        r#"INSERT INTO incident (workspace_id, service_id, team_id, escalation_policy_id, title, priority,
                                 group_key, alert_count, triggered_at)
           SELECT $1, $2, s.team_id, s.escalation_policy_id, $3, $4, $5, 1, $6
           FROM (SELECT 1) one LEFT JOIN service s ON s.id = $2 AND s.workspace_id = $1
           ON CONFLICT (workspace_id, coalesce(service_id, '00000000-0000-0000-0000-000000000000'::uuid), group_key)
               WHERE status <> 'RESOLVED' AND group_key IS NOT NULL
           DO UPDATE SET alert_count = incident.alert_count + 1,
                         priority = LEAST(incident.priority, EXCLUDED.priority),
                         updated_at = now()
           RETURNING id, (xmax = 0) AS "created!""#,
        integration.workspace_id,
        integration.default_service_id,
        alert.title,
        alert.severity as Severity,
        group_key,
        alert.triggered_at,
    )
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query!(
        "UPDATE alert SET incident_id = $2 WHERE id = $1",
        row.id,
        incident.id
    )
    .execute(&mut *conn)
    .await?;
    Ok(Applied {
        alert_id: Some(row.id),
        incident_event: incident
            .created
            .then_some((incident.id, NotificationEvent::IncidentTriggered)),
    })
}
