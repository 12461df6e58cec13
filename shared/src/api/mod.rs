//! The `api` function: the authenticated REST API for people, CLIs and dashboards, and
//! the OpenAPI 3.1 document describing every Tocsin endpoint (`GET /v1/openapi.json`).
//! Each handler runs in one transaction and answers errors as problem+json.

mod callbacks;
mod channels;
mod connections;
mod contacts;
mod incidents;
mod integrations;
mod services;

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;
use axum::{Json, Router};
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Principal, Scope};
use crate::error::{ApiError, Problem};
use crate::http::{JsonBody, Page, PageParams, parse_id};
use crate::state::AppState;
use crate::tenancy::{
    self, ApiKey, BootstrappedWorkspace, CreatedApiKey, NewApiKey, NewUser, User, UserPatch,
    Workspace,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tocsin API",
        description = "Alerting, incident and notification hub. Errors are application/problem+json (RFC 9457) with a `field` naming the request field at fault."
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    paths(
        crate::ingest::receive_webhook,
        crate::ingest::enqueue_pagerduty_event,
        crate::ingest::opsgenie::create_alert,
        crate::ingest::opsgenie::acknowledge_alert,
        crate::ingest::opsgenie::close_alert,
        crate::ingest::opsgenie::request_status,
    ),
    components(schemas(Problem)),
    tags(
        (name = "workspace", description = "The workspace the API key belongs to"),
        (name = "users", description = "People in the workspace"),
        (name = "people", description = "How each person is reached: contact methods, channel tiers, and their own Slack and Microsoft Teams connections"),
        (name = "api-keys", description = "Credentials for the API"),
        (name = "alerts", description = "Alerts, their deliveries, acknowledge and resolve"),
        (name = "incidents", description = "Incidents, acknowledge and resolve"),
        (name = "integrations", description = "Monitoring tools, their verification and secrets"),
        (name = "ingest", description = "Endpoints monitoring tools post alerts to"),
        (name = "notification-channels", description = "Where notifications go: providers, their settings, test messages"),
        (name = "services", description = "Services and the escalation policies that say who hears of their incidents"),
        (name = "callbacks", description = "Delivery reports from providers, verified with the channel's credentials"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key: tsn_ followed by 64 hex digits"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "genie_key",
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Header(
                utoipa::openapi::security::ApiKeyValue::with_description(
                    "Authorization",
                    "`GenieKey <key>`: an Opsgenie-type integration's key",
                ),
            )),
        );
    }
}

fn openapi_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(bootstrap_workspace))
        .routes(routes!(get_workspace, update_workspace))
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user, delete_user))
        .routes(routes!(
            contacts::list_contact_methods,
            contacts::create_contact_method
        ))
        .routes(routes!(contacts::delete_contact_method))
        .routes(routes!(
            contacts::get_channel_tiers,
            contacts::replace_channel_tiers
        ))
        .routes(routes!(connections::list_connections))
        .routes(routes!(
            connections::start_connection,
            connections::delete_connection
        ))
        .routes(routes!(list_api_keys, create_api_key))
        .routes(routes!(get_api_key, revoke_api_key))
        .routes(routes!(
            integrations::list_integrations,
            integrations::create_integration
        ))
        .routes(routes!(
            integrations::get_integration,
            integrations::update_integration,
            integrations::delete_integration
        ))
        .routes(routes!(integrations::rotate_secret))
        .routes(routes!(incidents::list_integration_deliveries))
        .routes(routes!(incidents::list_alerts))
        .routes(routes!(incidents::get_alert))
        .routes(routes!(incidents::acknowledge_alert))
        .routes(routes!(incidents::resolve_alert))
        .routes(routes!(incidents::list_incidents))
        .routes(routes!(incidents::get_incident))
        .routes(routes!(incidents::acknowledge_incident))
        .routes(routes!(incidents::resolve_incident))
        .routes(routes!(channels::list_channels, channels::create_channel))
        .routes(routes!(
            channels::get_channel,
            channels::update_channel,
            channels::delete_channel
        ))
        .routes(routes!(channels::test_channel))
        .routes(routes!(channels::channel_health))
        .routes(routes!(channels::send_notice))
        .routes(routes!(channels::register_telegram_webhook))
        .routes(routes!(callbacks::twilio_status))
        .routes(routes!(services::list_services, services::create_service))
        .routes(routes!(
            services::get_service,
            services::update_service,
            services::delete_service
        ))
        .routes(routes!(services::list_policies, services::create_policy))
        .routes(routes!(
            services::get_policy,
            services::update_policy,
            services::delete_policy
        ))
}

/// The OpenAPI document of every endpoint.
pub fn openapi() -> utoipa::openapi::OpenApi {
    openapi_router().split_for_parts().1
}

/// The `api` function's routes.
pub fn router(state: AppState) -> Router {
    let (router, document) = openapi_router().split_for_parts();
    let document = Arc::new(document);
    router
        .route(
            "/v1/openapi.json",
            get(move || {
                let document = Arc::clone(&document);
                async move { Json(document) }
            }),
        )
        .with_state(state)
}

/// `{"name": ...}`
#[derive(Debug, Deserialize, ToSchema)]
pub struct WorkspaceRename {
    pub name: String,
}

/// What bootstrapping a workspace needs.
#[derive(Debug, Deserialize, ToSchema)]
pub struct WorkspaceBootstrap {
    /// The workspace's name.
    pub name: String,
    /// The first admin's email.
    pub admin_email: String,
    /// The first admin's name.
    pub admin_name: String,
}

/// Creates a workspace with its first admin and an admin API key (shown once). Needs the
/// operator's bootstrap token instead of an API key; `tocsin-admin create-workspace`
/// does the same from a shell.
#[utoipa::path(
    post, path = "/v1/workspaces", tag = "workspace",
    security(("bootstrap_token" = [])),
    request_body = WorkspaceBootstrap,
    responses(
        (status = 201, description = "Created; the API key is in the answer, once", body = BootstrappedWorkspace),
        (status = 401, description = "Missing or wrong bootstrap token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Bootstrapping is disabled (no token configured)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn bootstrap_workspace(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<WorkspaceBootstrap>,
) -> Result<(StatusCode, Json<BootstrappedWorkspace>), ApiError> {
    let Some(expected) = &state.config.bootstrap_token else {
        return Err(ApiError::forbidden(
            "bootstrapping through the API is disabled; set BOOTSTRAP_TOKEN or use tocsin-admin",
        ));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Comparing digests keeps the comparison's time independent of the token.
    if Sha256::digest(presented.trim().as_bytes())
        != Sha256::digest(expected.expose_secret().as_bytes())
    {
        return Err(ApiError::unauthorized("the bootstrap token is not valid"));
    }
    let mut tx = state.db.begin().await?;
    let created =
        tenancy::bootstrap_workspace(&mut tx, &body.name, &body.admin_email, &body.admin_name)
            .await?;
    tx.commit().await?;
    tracing::info!(workspace_id = %created.workspace.id, "workspace bootstrapped");
    Ok((StatusCode::CREATED, Json(created)))
}

/// The workspace of the calling key.
#[utoipa::path(
    get, path = "/v1/workspace", tag = "workspace",
    responses(
        (status = 200, body = Workspace),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_workspace(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Workspace>, ApiError> {
    principal.require(Scope::WorkspaceRead)?;
    let mut conn = state.db.acquire().await?;
    Ok(Json(
        tenancy::get_workspace(&mut conn, principal.workspace_id).await?,
    ))
}

/// Renames the workspace.
#[utoipa::path(
    patch, path = "/v1/workspace", tag = "workspace",
    request_body = WorkspaceRename,
    responses(
        (status = 200, body = Workspace),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn update_workspace(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<WorkspaceRename>,
) -> Result<Json<Workspace>, ApiError> {
    principal.require(Scope::WorkspaceWrite)?;
    let mut tx = state.db.begin().await?;
    let workspace = tenancy::rename_workspace(&mut tx, principal.workspace_id, &body.name).await?;
    tx.commit().await?;
    Ok(Json(workspace))
}

/// The workspace's people, oldest first.
#[utoipa::path(
    get, path = "/v1/users", tag = "users",
    params(PageParams),
    responses(
        (status = 200, body = Page<User>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn list_users(
    State(state): State<AppState>,
    principal: Principal,
    page: PageParams,
) -> Result<Json<Page<User>>, ApiError> {
    principal.require(Scope::UsersRead)?;
    let mut conn = state.db.acquire().await?;
    let users = tenancy::list_users(
        &mut conn,
        principal.workspace_id,
        page.after,
        page.limit() + 1,
    )
    .await?;
    Ok(Json(Page::from_overfetch(users, &page, |u| u.id)))
}

/// Adds a person.
#[utoipa::path(
    post, path = "/v1/users", tag = "users",
    request_body = NewUser,
    responses(
        (status = 201, body = User),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The email is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn create_user(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<NewUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    principal.require(Scope::UsersWrite)?;
    let mut tx = state.db.begin().await?;
    let user = tenancy::insert_user(&mut tx, principal.workspace_id, &body).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// One person.
#[utoipa::path(
    get, path = "/v1/users/{id}", tag = "users",
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, body = User),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_user(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<User>, ApiError> {
    principal.require(Scope::UsersRead)?;
    let id = parse_id(&id, "user")?;
    let mut conn = state.db.acquire().await?;
    Ok(Json(
        tenancy::get_user(&mut conn, principal.workspace_id, id).await?,
    ))
}

/// Changes a person's name, role, phone or time zone.
#[utoipa::path(
    patch, path = "/v1/users/{id}", tag = "users",
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    request_body = UserPatch,
    responses(
        (status = 200, body = User),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn update_user(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<UserPatch>,
) -> Result<Json<User>, ApiError> {
    principal.require(Scope::UsersWrite)?;
    let id = parse_id(&id, "user")?;
    let mut tx = state.db.begin().await?;
    let user = tenancy::update_user(&mut tx, principal.workspace_id, id, &patch).await?;
    tx.commit().await?;
    Ok(Json(user))
}

/// Removes a person, with their contact methods and connections.
#[utoipa::path(
    delete, path = "/v1/users/{id}", tag = "users",
    params(("id" = uuid::Uuid, Path, description = "The user's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Kept for the audit trail", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn delete_user(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Scope::UsersWrite)?;
    let id = parse_id(&id, "user")?;
    let mut tx = state.db.begin().await?;
    tenancy::delete_user(&mut tx, principal.workspace_id, id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The workspace's API keys (never the keys themselves).
#[utoipa::path(
    get, path = "/v1/api-keys", tag = "api-keys",
    params(PageParams),
    responses(
        (status = 200, body = Page<ApiKey>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn list_api_keys(
    State(state): State<AppState>,
    principal: Principal,
    page: PageParams,
) -> Result<Json<Page<ApiKey>>, ApiError> {
    principal.require(Scope::ApiKeysRead)?;
    let mut conn = state.db.acquire().await?;
    let keys = tenancy::list_api_keys(
        &mut conn,
        principal.workspace_id,
        page.after,
        page.limit() + 1,
    )
    .await?;
    Ok(Json(Page::from_overfetch(keys, &page, |k| k.id)))
}

/// Creates an API key; the answer is the only time the key is shown.
#[utoipa::path(
    post, path = "/v1/api-keys", tag = "api-keys",
    request_body = NewApiKey,
    responses(
        (status = 201, body = CreatedApiKey),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn create_api_key(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<NewApiKey>,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    principal.require(Scope::ApiKeysWrite)?;
    let mut tx = state.db.begin().await?;
    let created = tenancy::insert_api_key(
        &mut tx,
        principal.workspace_id,
        &body,
        principal.role,
        principal.user_id,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(api_key_id = %created.api_key.id, by = %principal.api_key_id, "API key created");
    Ok((StatusCode::CREATED, Json(created)))
}

/// One API key.
#[utoipa::path(
    get, path = "/v1/api-keys/{id}", tag = "api-keys",
    params(("id" = uuid::Uuid, Path, description = "The key's id")),
    responses(
        (status = 200, body = ApiKey),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_api_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ApiKey>, ApiError> {
    principal.require(Scope::ApiKeysRead)?;
    let id = parse_id(&id, "API key")?;
    let mut conn = state.db.acquire().await?;
    Ok(Json(
        tenancy::get_api_key(&mut conn, principal.workspace_id, id).await?,
    ))
}

/// Revokes an API key at once.
#[utoipa::path(
    delete, path = "/v1/api-keys/{id}", tag = "api-keys",
    params(("id" = uuid::Uuid, Path, description = "The key's id")),
    responses(
        (status = 200, description = "Revoked", body = ApiKey),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn revoke_api_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ApiKey>, ApiError> {
    principal.require(Scope::ApiKeysWrite)?;
    let id = parse_id(&id, "API key")?;
    let mut tx = state.db.begin().await?;
    let key = tenancy::revoke_api_key(&mut tx, principal.workspace_id, id).await?;
    tx.commit().await?;
    tracing::info!(api_key_id = %id, by = %principal.api_key_id, "API key revoked");
    Ok(Json(key))
}
