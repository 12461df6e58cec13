//! `/v1/integrations`: the workspace's monitoring tools, their verification and secrets.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::auth::{Principal, Scope};
use crate::error::{ApiError, Problem};
use crate::http::{JsonBody, Page, PageParams, parse_id};
use crate::ingest::integrations::{
    self, IntegrationPatch, IntegrationView, IntegrationWithSecret, NewIntegration, SecretRotation,
};
use crate::state::AppState;

/// The workspace's integrations, oldest first.
#[utoipa::path(
    get, path = "/v1/integrations", tag = "integrations",
    params(PageParams),
    responses(
        (status = 200, body = Page<IntegrationView>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn list_integrations(
    State(state): State<AppState>,
    principal: Principal,
    page: PageParams,
) -> Result<Json<Page<IntegrationView>>, ApiError> {
    principal.require(Scope::IntegrationsRead)?;
    let mut conn = state.db.acquire().await?;
    let items = integrations::list_integrations(
        &mut conn,
        principal.workspace_id,
        page.after,
        page.limit() + 1,
    )
    .await?;
    Ok(Json(Page::from_overfetch(items, &page, |i| i.id)))
}

/// Creates an integration. The answer carries its secret, this once.
#[utoipa::path(
    post, path = "/v1/integrations", tag = "integrations",
    request_body = NewIntegration,
    responses(
        (status = 201, body = IntegrationWithSecret),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn create_integration(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<NewIntegration>,
) -> Result<(StatusCode, Json<IntegrationWithSecret>), ApiError> {
    principal.require(Scope::IntegrationsWrite)?;
    let mut tx = state.db.begin().await?;
    let created =
        integrations::insert_integration(&mut tx, &state.cipher, principal.workspace_id, &body)
            .await?;
    tx.commit().await?;
    tracing::info!(integration_id = %created.integration.id, "integration created");
    Ok((StatusCode::CREATED, Json(created)))
}

/// One integration.
#[utoipa::path(
    get, path = "/v1/integrations/{id}", tag = "integrations",
    params(("id" = uuid::Uuid, Path, description = "The integration's id")),
    responses(
        (status = 200, body = IntegrationView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn get_integration(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<IntegrationView>, ApiError> {
    principal.require(Scope::IntegrationsRead)?;
    let id = parse_id(&id, "integration")?;
    let mut conn = state.db.acquire().await?;
    Ok(Json(
        integrations::get_integration(&mut conn, principal.workspace_id, id).await?,
    ))
}

/// Changes an integration's name, state or settings.
#[utoipa::path(
    patch, path = "/v1/integrations/{id}", tag = "integrations",
    params(("id" = uuid::Uuid, Path, description = "The integration's id")),
    request_body = IntegrationPatch,
    responses(
        (status = 200, body = IntegrationView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn update_integration(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<IntegrationPatch>,
) -> Result<Json<IntegrationView>, ApiError> {
    principal.require(Scope::IntegrationsWrite)?;
    let id = parse_id(&id, "integration")?;
    let mut tx = state.db.begin().await?;
    let updated =
        integrations::update_integration(&mut tx, principal.workspace_id, id, &patch).await?;
    tx.commit().await?;
    Ok(Json(updated))
}

/// Deletes an integration with its alerts and delivery log.
#[utoipa::path(
    delete, path = "/v1/integrations/{id}", tag = "integrations",
    params(("id" = uuid::Uuid, Path, description = "The integration's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn delete_integration(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Scope::IntegrationsWrite)?;
    let id = parse_id(&id, "integration")?;
    let mut tx = state.db.begin().await?;
    integrations::delete_integration(&mut tx, principal.workspace_id, id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces the secret, shown in the answer this once. The previous secret keeps
/// verifying for the grace period, so the tool can be reconfigured without losing alerts.
#[utoipa::path(
    post, path = "/v1/integrations/{id}/rotate-secret", tag = "integrations",
    params(("id" = uuid::Uuid, Path, description = "The integration's id")),
    request_body = SecretRotation,
    responses(
        (status = 200, body = IntegrationWithSecret),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn rotate_secret(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    JsonBody(rotation): JsonBody<SecretRotation>,
) -> Result<Json<IntegrationWithSecret>, ApiError> {
    principal.require(Scope::IntegrationsWrite)?;
    let id = parse_id(&id, "integration")?;
    let mut tx = state.db.begin().await?;
    let rotated = integrations::rotate_secret(
        &mut tx,
        &state.cipher,
        principal.workspace_id,
        id,
        &rotation,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(integration_id = %id, "integration secret rotated");
    Ok(Json(rotated))
}
