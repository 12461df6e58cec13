//! `/v1/users/{user_id}/contact-methods` and `/v1/users/{user_id}/channel-tiers`: how a
//! person is reached, and in which order the kinds of channel are tried. A key acting for
//! the person manages their own, whatever its role (a key narrowed to scopes still needs
//! the scope); anyone else needs `users:read` to read and `users:write` to change them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use uuid::Uuid;

use crate::auth::{Principal, Scope};
use crate::contacts::{self, ChannelTiers, ChannelTiersView, ContactMethodView, NewContactMethod};
use crate::error::{ApiError, Problem};
use crate::http::{JsonBody, Page, PageParams, parse_id};
use crate::state::AppState;

/// Lets the person themselves through whatever their role (a key narrowed to scopes
/// still needs `scope` among them); anyone else needs `scope`.
pub(super) fn require_self_or(
    principal: &Principal,
    user_id: Uuid,
    scope: Scope,
) -> Result<(), ApiError> {
    let narrowed_without =
        !principal.scopes.is_empty() && !principal.scopes.iter().any(|s| s == scope.as_str());
    if principal.user_id == Some(user_id) && !narrowed_without {
        return Ok(());
    }
    principal.require(scope)
}

/// A person's contact methods, oldest first.
#[utoipa::path(
    get, path = "/v1/users/{user_id}/contact-methods", tag = "people",
    params(
        ("user_id" = uuid::Uuid, Path, description = "The user's id"),
        PageParams
    ),
    responses(
        (status = 200, body = Page<ContactMethodView>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn list_contact_methods(
    State(state): State<AppState>,
    principal: Principal,
    Path(user_id): Path<String>,
    page: PageParams,
) -> Result<Json<Page<ContactMethodView>>, ApiError> {
    let user_id = parse_id(&user_id, "user")?;
    require_self_or(&principal, user_id, Scope::UsersRead)?;
    let mut conn = state.db.acquire().await?;
    let items = contacts::list_contact_methods(
        &mut conn,
        principal.workspace_id,
        user_id,
        page.after,
        page.limit() + 1,
    )
    .await?;
    Ok(Json(Page::from_overfetch(items, &page, |c| c.id)))
}

/// Adds a contact method: an address checked for its kind.
#[utoipa::path(
    post, path = "/v1/users/{user_id}/contact-methods", tag = "people",
    params(("user_id" = uuid::Uuid, Path, description = "The user's id")),
    request_body = NewContactMethod,
    responses(
        (status = 201, body = ContactMethodView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The person already has this address", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn create_contact_method(
    State(state): State<AppState>,
    principal: Principal,
    Path(user_id): Path<String>,
    JsonBody(body): JsonBody<NewContactMethod>,
) -> Result<(StatusCode, Json<ContactMethodView>), ApiError> {
    let user_id = parse_id(&user_id, "user")?;
    require_self_or(&principal, user_id, Scope::UsersWrite)?;
    let mut tx = state.db.begin().await?;
    let method =
        contacts::insert_contact_method(&mut tx, principal.workspace_id, user_id, &body).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user_id, contact_method_id = %method.id, kind = ?method.kind, "contact method added");
    Ok((StatusCode::CREATED, Json(method)))
}

/// Removes a contact method.
#[utoipa::path(
    delete, path = "/v1/users/{user_id}/contact-methods/{id}", tag = "people",
    params(
        ("user_id" = uuid::Uuid, Path, description = "The user's id"),
        ("id" = uuid::Uuid, Path, description = "The contact method's id")
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn delete_contact_method(
    State(state): State<AppState>,
    principal: Principal,
    Path((user_id, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let user_id = parse_id(&user_id, "user")?;
    require_self_or(&principal, user_id, Scope::UsersWrite)?;
    let id = parse_id(&id, "contact method")?;
    let mut tx = state.db.begin().await?;
    contacts::delete_contact_method(&mut tx, principal.workspace_id, user_id, id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A person's channel tiers: the ones they set, or the defaults (`"default": true`).
#[utoipa::path(
    get, path = "/v1/users/{user_id}/channel-tiers", tag = "people",
    params(("user_id" = uuid::Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, body = ChannelTiersView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn get_channel_tiers(
    State(state): State<AppState>,
    principal: Principal,
    Path(user_id): Path<String>,
) -> Result<Json<ChannelTiersView>, ApiError> {
    let user_id = parse_id(&user_id, "user")?;
    require_self_or(&principal, user_id, Scope::UsersRead)?;
    let mut conn = state.db.acquire().await?;
    Ok(Json(
        contacts::get_channel_tiers(&mut conn, principal.workspace_id, user_id).await?,
    ))
}

/// Replaces a person's channel tiers. A kind may be in one tier only.
#[utoipa::path(
    put, path = "/v1/users/{user_id}/channel-tiers", tag = "people",
    params(("user_id" = uuid::Uuid, Path, description = "The user's id")),
    request_body = ChannelTiers,
    responses(
        (status = 200, body = ChannelTiersView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn replace_channel_tiers(
    State(state): State<AppState>,
    principal: Principal,
    Path(user_id): Path<String>,
    JsonBody(body): JsonBody<ChannelTiers>,
) -> Result<Json<ChannelTiersView>, ApiError> {
    let user_id = parse_id(&user_id, "user")?;
    require_self_or(&principal, user_id, Scope::UsersWrite)?;
    let mut tx = state.db.begin().await?;
    let tiers =
        contacts::replace_channel_tiers(&mut tx, principal.workspace_id, user_id, &body).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user_id, "channel tiers replaced");
    Ok(Json(tiers))
}
