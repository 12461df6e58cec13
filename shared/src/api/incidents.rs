//! `/v1/alerts`, `/v1/incidents` and an integration's delivery log: what came in, what it
//! became, and acknowledging or resolving it through the API (recorded with the person the
//! API key acts for).

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::alerts::{self, Alert, AlertFilter};
use crate::auth::{Principal, Scope};
use crate::error::{ApiError, Problem};
use crate::http::{Page, PageParams, QueryParams, parse_id};
use crate::incidents::{self, HumanAction, Incident, IncidentFilter};
use crate::ingest::delivery::{self, DeliveryRecord};
use crate::state::AppState;

/// An alert with the requests that opened or changed it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AlertDetail {
    pub alert: Alert,
    pub deliveries: Vec<DeliveryRecord>,
}

/// An incident with its alerts.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IncidentDetail {
    pub incident: Incident,
    pub alerts: Vec<Alert>,
    /// Who acknowledged and resolved it, when, and through what (API, magic link, Slack,
    /// Telegram, the monitoring tool), oldest first.
    pub timeline: Vec<incidents::TimelineEntry>,
}

/// The result of acknowledging or resolving.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ActionResult<T> {
    /// False when it already was in that state: nothing was done twice.
    pub changed: bool,
    pub resource: T,
}

/// The workspace's alerts, newest first, filtered.
#[utoipa::path(
    get, path = "/v1/alerts", tag = "alerts",
    params(
        PageParams,
        ("status" = Option<String>, Query, description = "OPEN, ACKNOWLEDGED, RESOLVED or CLOSED"),
        ("severity" = Option<String>, Query, description = "CRITICAL, HIGH, MEDIUM, LOW or INFO"),
        ("service_id" = Option<uuid::Uuid>, Query),
        ("integration_id" = Option<uuid::Uuid>, Query),
        ("incident_id" = Option<uuid::Uuid>, Query),
        ("since" = Option<String>, Query, description = "RFC 3339; triggered at or after"),
        ("until" = Option<String>, Query, description = "RFC 3339; triggered before"),
    ),
    responses(
        (status = 200, body = Page<Alert>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn list_alerts(
    State(state): State<AppState>,
    principal: Principal,
    page: PageParams,
    query: QueryParams,
) -> Result<Json<Page<Alert>>, ApiError> {
    principal.require(Scope::IncidentsRead)?;
    let filter = AlertFilter {
        status: query.get("status")?,
        severity: query.get("severity")?,
        service_id: query.get("service_id")?,
        integration_id: query.get("integration_id")?,
        incident_id: query.get("incident_id")?,
        since: query.get("since")?,
        until: query.get("until")?,
    };
    let mut conn = state.db.acquire().await?;
    let items = alerts::list_alerts(
        &mut conn,
        principal.workspace_id,
        None,
        &filter,
        page.after,
        page.limit() + 1,
    )
    .await?;
    Ok(Json(Page::from_overfetch(items, &page, |a| a.id)))
}

fn alert_not_found(id: uuid::Uuid) -> ApiError {
    ApiError::not_found(format!("no alert has the id {id}"))
}

/// One alert, with the requests that opened or changed it.
#[utoipa::path(
    get, path = "/v1/alerts/{id}", tag = "alerts",
    params(("id" = uuid::Uuid, Path)),
    responses(
        (status = 200, body = AlertDetail),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn get_alert(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<AlertDetail>, ApiError> {
    principal.require(Scope::IncidentsRead)?;
    let id = parse_id(&id, "alert")?;
    let mut conn = state.db.acquire().await?;
    let alert = alerts::find_alert(&mut conn, principal.workspace_id, id)
        .await?
        .ok_or_else(|| alert_not_found(id))?;
    let deliveries =
        delivery::list_deliveries(&mut conn, principal.workspace_id, None, Some(id), None, 200)
            .await?;
    Ok(Json(AlertDetail { alert, deliveries }))
}

async fn act_on_alert(
    state: AppState,
    principal: Principal,
    id: String,
    action: HumanAction,
) -> Result<Json<ActionResult<Alert>>, ApiError> {
    principal.require(Scope::IncidentsWrite)?;
    let id = parse_id(&id, "alert")?;
    let mut tx = state.db.begin().await?;
    let outcome = incidents::act_on_alert(
        &mut tx,
        principal.workspace_id,
        id,
        action,
        &incidents::Actor::api(principal.user_id),
    )
    .await?
    .ok_or_else(|| alert_not_found(id))?;
    let alert = alerts::find_alert(&mut tx, principal.workspace_id, id)
        .await?
        .ok_or_else(|| alert_not_found(id))?;
    tx.commit().await?;
    crate::outbox::dispatch(&state, &outcome.outbox_ids).await;
    Ok(Json(ActionResult {
        changed: outcome.changed,
        resource: alert,
    }))
}

/// Acknowledges an alert; its incident follows when none of its alerts is open.
#[utoipa::path(
    post, path = "/v1/alerts/{id}/acknowledge", tag = "alerts",
    params(("id" = uuid::Uuid, Path)),
    responses(
        (status = 200, body = ActionResult<Alert>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn acknowledge_alert(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ActionResult<Alert>>, ApiError> {
    act_on_alert(state, principal, id, HumanAction::Acknowledge).await
}

/// Resolves an alert; its incident resolves with its last open alert.
#[utoipa::path(
    post, path = "/v1/alerts/{id}/resolve", tag = "alerts",
    params(("id" = uuid::Uuid, Path)),
    responses(
        (status = 200, body = ActionResult<Alert>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn resolve_alert(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ActionResult<Alert>>, ApiError> {
    act_on_alert(state, principal, id, HumanAction::Resolve).await
}

/// The workspace's incidents, newest first, filtered.
#[utoipa::path(
    get, path = "/v1/incidents", tag = "incidents",
    params(
        PageParams,
        ("status" = Option<String>, Query, description = "TRIGGERED, ACKNOWLEDGED or RESOLVED"),
        ("priority" = Option<String>, Query, description = "CRITICAL, HIGH, MEDIUM, LOW or INFO"),
        ("service_id" = Option<uuid::Uuid>, Query),
        ("since" = Option<String>, Query, description = "RFC 3339; triggered at or after"),
        ("until" = Option<String>, Query, description = "RFC 3339; triggered before"),
    ),
    responses(
        (status = 200, body = Page<Incident>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn list_incidents(
    State(state): State<AppState>,
    principal: Principal,
    page: PageParams,
    query: QueryParams,
) -> Result<Json<Page<Incident>>, ApiError> {
    principal.require(Scope::IncidentsRead)?;
    let filter = IncidentFilter {
        status: query.get("status")?,
        priority: query.get("priority")?,
        service_id: query.get("service_id")?,
        since: query.get("since")?,
        until: query.get("until")?,
    };
    let mut conn = state.db.acquire().await?;
    let items = incidents::list_incidents(
        &mut conn,
        principal.workspace_id,
        None,
        &filter,
        page.after,
        page.limit() + 1,
    )
    .await?;
    Ok(Json(Page::from_overfetch(items, &page, |i| i.id)))
}

fn incident_not_found(id: uuid::Uuid) -> ApiError {
    ApiError::not_found(format!("no incident has the id {id}"))
}

/// One incident, with its alerts and its timeline.
#[utoipa::path(
    get, path = "/v1/incidents/{id}", tag = "incidents",
    params(("id" = uuid::Uuid, Path)),
    responses(
        (status = 200, body = IncidentDetail),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn get_incident(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<IncidentDetail>, ApiError> {
    principal.require(Scope::IncidentsRead)?;
    let id = parse_id(&id, "incident")?;
    let mut conn = state.db.acquire().await?;
    let incident = incidents::find_incident(&mut conn, principal.workspace_id, id)
        .await?
        .ok_or_else(|| incident_not_found(id))?;
    let filter = AlertFilter {
        incident_id: Some(id),
        ..AlertFilter::default()
    };
    let alerts =
        alerts::list_alerts(&mut conn, principal.workspace_id, None, &filter, None, 500).await?;
    let timeline = incidents::timeline(&mut conn, id).await?;
    Ok(Json(IncidentDetail {
        incident,
        alerts,
        timeline,
    }))
}

async fn act_on_incident(
    state: AppState,
    principal: Principal,
    id: String,
    action: HumanAction,
) -> Result<Json<ActionResult<Incident>>, ApiError> {
    principal.require(Scope::IncidentsWrite)?;
    let id = parse_id(&id, "incident")?;
    let mut tx = state.db.begin().await?;
    let outcome = incidents::act_on_incident(
        &mut tx,
        principal.workspace_id,
        id,
        action,
        &incidents::Actor::api(principal.user_id),
    )
    .await?
    .ok_or_else(|| incident_not_found(id))?;
    let incident = incidents::find_incident(&mut tx, principal.workspace_id, id)
        .await?
        .ok_or_else(|| incident_not_found(id))?;
    tx.commit().await?;
    crate::outbox::dispatch(&state, &outcome.outbox_ids).await;
    Ok(Json(ActionResult {
        changed: outcome.changed,
        resource: incident,
    }))
}

/// Acknowledges an incident and its open alerts; stops its escalation.
#[utoipa::path(
    post, path = "/v1/incidents/{id}/acknowledge", tag = "incidents",
    params(("id" = uuid::Uuid, Path)),
    responses(
        (status = 200, body = ActionResult<Incident>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn acknowledge_incident(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ActionResult<Incident>>, ApiError> {
    act_on_incident(state, principal, id, HumanAction::Acknowledge).await
}

/// Resolves an incident and its alerts.
#[utoipa::path(
    post, path = "/v1/incidents/{id}/resolve", tag = "incidents",
    params(("id" = uuid::Uuid, Path)),
    responses(
        (status = 200, body = ActionResult<Incident>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn resolve_incident(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ActionResult<Incident>>, ApiError> {
    act_on_incident(state, principal, id, HumanAction::Resolve).await
}

/// An integration's delivery log: every request it received, refusals included.
#[utoipa::path(
    get, path = "/v1/integrations/{id}/deliveries", tag = "integrations",
    params(("id" = uuid::Uuid, Path), PageParams),
    responses(
        (status = 200, body = Page<DeliveryRecord>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn list_integration_deliveries(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    page: PageParams,
) -> Result<Json<Page<DeliveryRecord>>, ApiError> {
    principal.require(Scope::IntegrationsRead)?;
    let id = parse_id(&id, "integration")?;
    let mut conn = state.db.acquire().await?;
    // 404 for another workspace's integration, not an empty list.
    crate::ingest::integrations::get_integration(&mut conn, principal.workspace_id, id).await?;
    let items = delivery::list_deliveries(
        &mut conn,
        principal.workspace_id,
        Some(id),
        None,
        page.after,
        page.limit() + 1,
    )
    .await?;
    Ok(Json(Page::from_overfetch(items, &page, |d| d.id)))
}
