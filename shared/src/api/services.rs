//! `/v1/services` and `/v1/escalation-policies`: what incidents belong to, and who is
//! notified of them, level by level, while they stay unacknowledged.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::auth::{Principal, Scope};
use crate::error::{ApiError, Problem};
use crate::http::{JsonBody, Page, PageParams, parse_id};
use crate::services::{
    self, EscalationPolicyPatch, EscalationPolicyView, NewEscalationPolicy, NewService,
    ServicePatch, ServiceView,
};
use crate::state::AppState;

/// The workspace's services, oldest first.
#[utoipa::path(
    get, path = "/v1/services", tag = "services",
    params(PageParams),
    responses(
        (status = 200, body = Page<ServiceView>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn list_services(
    State(state): State<AppState>,
    principal: Principal,
    page: PageParams,
) -> Result<Json<Page<ServiceView>>, ApiError> {
    principal.require(Scope::ServicesRead)?;
    let mut conn = state.db.acquire().await?;
    let items = services::list_services(
        &mut conn,
        principal.workspace_id,
        page.after,
        page.limit() + 1,
    )
    .await?;
    Ok(Json(Page::from_overfetch(items, &page, |s| s.id)))
}

/// Creates a service.
#[utoipa::path(
    post, path = "/v1/services", tag = "services",
    request_body = NewService,
    responses(
        (status = 201, body = ServiceView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn create_service(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<NewService>,
) -> Result<(StatusCode, Json<ServiceView>), ApiError> {
    principal.require(Scope::ServicesWrite)?;
    let mut tx = state.db.begin().await?;
    let service = services::insert_service(&mut tx, principal.workspace_id, &body).await?;
    tx.commit().await?;
    tracing::info!(service_id = %service.id, "service created");
    Ok((StatusCode::CREATED, Json(service)))
}

/// One service.
#[utoipa::path(
    get, path = "/v1/services/{id}", tag = "services",
    params(("id" = uuid::Uuid, Path, description = "The service's id")),
    responses(
        (status = 200, body = ServiceView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn get_service(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ServiceView>, ApiError> {
    principal.require(Scope::ServicesRead)?;
    let id = parse_id(&id, "service")?;
    let mut conn = state.db.acquire().await?;
    Ok(Json(
        services::get_service(&mut conn, principal.workspace_id, id).await?,
    ))
}

/// Changes a service. `null` clears `description`, `team_id` or `escalation_policy_id`.
#[utoipa::path(
    patch, path = "/v1/services/{id}", tag = "services",
    params(("id" = uuid::Uuid, Path, description = "The service's id")),
    request_body = ServicePatch,
    responses(
        (status = 200, body = ServiceView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn update_service(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<ServicePatch>,
) -> Result<Json<ServiceView>, ApiError> {
    principal.require(Scope::ServicesWrite)?;
    let id = parse_id(&id, "service")?;
    let mut tx = state.db.begin().await?;
    let service = services::update_service(&mut tx, principal.workspace_id, id, &patch).await?;
    tx.commit().await?;
    Ok(Json(service))
}

/// Deletes a service. Its incidents and alerts stay, without a service.
#[utoipa::path(
    delete, path = "/v1/services/{id}", tag = "services",
    params(("id" = uuid::Uuid, Path, description = "The service's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn delete_service(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Scope::ServicesWrite)?;
    let id = parse_id(&id, "service")?;
    let mut tx = state.db.begin().await?;
    services::delete_service(&mut tx, principal.workspace_id, id).await?;
    tx.commit().await?;
    tracing::info!(service_id = %id, "service deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// The workspace's escalation policies with their levels, oldest first.
#[utoipa::path(
    get, path = "/v1/escalation-policies", tag = "services",
    params(PageParams),
    responses(
        (status = 200, body = Page<EscalationPolicyView>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn list_policies(
    State(state): State<AppState>,
    principal: Principal,
    page: PageParams,
) -> Result<Json<Page<EscalationPolicyView>>, ApiError> {
    principal.require(Scope::ServicesRead)?;
    let mut conn = state.db.acquire().await?;
    let items = services::list_policies(
        &mut conn,
        principal.workspace_id,
        page.after,
        page.limit() + 1,
    )
    .await?;
    Ok(Json(Page::from_overfetch(items, &page, |p| p.id)))
}

/// Creates an escalation policy with its levels (level 1 is the first of `levels`).
#[utoipa::path(
    post, path = "/v1/escalation-policies", tag = "services",
    request_body = NewEscalationPolicy,
    responses(
        (status = 201, body = EscalationPolicyView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn create_policy(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<NewEscalationPolicy>,
) -> Result<(StatusCode, Json<EscalationPolicyView>), ApiError> {
    principal.require(Scope::ServicesWrite)?;
    let mut tx = state.db.begin().await?;
    let policy = services::insert_policy(&mut tx, principal.workspace_id, &body).await?;
    tx.commit().await?;
    tracing::info!(escalation_policy_id = %policy.id, levels = policy.levels.len(), "escalation policy created");
    Ok((StatusCode::CREATED, Json(policy)))
}

/// One escalation policy with its levels.
#[utoipa::path(
    get, path = "/v1/escalation-policies/{id}", tag = "services",
    params(("id" = uuid::Uuid, Path, description = "The policy's id")),
    responses(
        (status = 200, body = EscalationPolicyView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn get_policy(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<EscalationPolicyView>, ApiError> {
    principal.require(Scope::ServicesRead)?;
    let id = parse_id(&id, "escalation policy")?;
    let mut conn = state.db.acquire().await?;
    Ok(Json(
        services::get_policy(&mut conn, principal.workspace_id, id).await?,
    ))
}

/// Changes an escalation policy. `levels`, when given, replaces every level.
#[utoipa::path(
    patch, path = "/v1/escalation-policies/{id}", tag = "services",
    params(("id" = uuid::Uuid, Path, description = "The policy's id")),
    request_body = EscalationPolicyPatch,
    responses(
        (status = 200, body = EscalationPolicyView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn update_policy(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<EscalationPolicyPatch>,
) -> Result<Json<EscalationPolicyView>, ApiError> {
    principal.require(Scope::ServicesWrite)?;
    let id = parse_id(&id, "escalation policy")?;
    let mut tx = state.db.begin().await?;
    let policy = services::update_policy(&mut tx, principal.workspace_id, id, &patch).await?;
    tx.commit().await?;
    Ok(Json(policy))
}

/// Deletes an escalation policy with its levels. Its services keep going without one.
#[utoipa::path(
    delete, path = "/v1/escalation-policies/{id}", tag = "services",
    params(("id" = uuid::Uuid, Path, description = "The policy's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn delete_policy(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Scope::ServicesWrite)?;
    let id = parse_id(&id, "escalation policy")?;
    let mut tx = state.db.begin().await?;
    services::delete_policy(&mut tx, principal.workspace_id, id).await?;
    tx.commit().await?;
    tracing::info!(escalation_policy_id = %id, "escalation policy deleted");
    Ok(StatusCode::NO_CONTENT)
}
