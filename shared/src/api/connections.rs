//! `/v1/users/{user_id}/connections`: a person's own Slack and Microsoft Teams accounts,
//! connected through OAuth (see [`crate::connections`]). Connecting is something only the
//! person does (it is their account): only a key acting for them starts it. Listing and
//! removing connections is also open to anyone with `users:read` / `users:write`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::contacts::require_self_or;
use crate::auth::{Principal, Scope};
use crate::connections::{self, ConnectionView, OAuthProvider};
use crate::contacts::ensure_user;
use crate::error::{ApiError, Problem};
use crate::http::{Page, parse_id};
use crate::state::AppState;

/// Where to send the person to connect their account.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConnectionStarted {
    /// The provider's consent page. The sign-in must finish within ten minutes; the
    /// provider then sends the browser to `/v1/oauth/{provider}/callback`.
    pub authorize_url: String,
}

fn provider_from_path(raw: &str) -> Result<OAuthProvider, ApiError> {
    OAuthProvider::parse(raw).ok_or_else(|| {
        ApiError::not_found(format!(
            "no connection provider is called {raw:?}: use slack or microsoft"
        ))
    })
}

/// Starts connecting the person's Slack (`slack`) or Microsoft Teams (`microsoft`)
/// account: answers the provider's consent page to open in their browser.
#[utoipa::path(
    post, path = "/v1/users/{user_id}/connections/{provider}", tag = "people",
    params(
        ("user_id" = uuid::Uuid, Path, description = "The user's id"),
        ("provider" = String, Path, description = "slack or microsoft")
    ),
    responses(
        (status = 200, body = ConnectionStarted),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The key does not act for this person", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 501, description = "The provider's client id and secret, or PUBLIC_BASE_URL, are not configured", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn start_connection(
    State(state): State<AppState>,
    principal: Principal,
    Path((user_id, provider)): Path<(String, String)>,
) -> Result<Json<ConnectionStarted>, ApiError> {
    let user_id = parse_id(&user_id, "user")?;
    // The person's own key only: an admin cannot connect someone else's account. A key
    // narrowed to scopes still needs users:write among them.
    let narrowed_without = !principal.scopes.is_empty()
        && !principal
            .scopes
            .iter()
            .any(|s| s == Scope::UsersWrite.as_str());
    if principal.user_id != Some(user_id) || narrowed_without {
        return Err(ApiError::forbidden(
            "only a key acting for this person connects their accounts",
        ));
    }
    let provider = provider_from_path(&provider)?;
    let mut conn = state.db.acquire().await?;
    ensure_user(&mut conn, principal.workspace_id, user_id).await?;
    drop(conn);
    let authorize_url = connections::start(&state, user_id, provider).await?;
    Ok(Json(ConnectionStarted { authorize_url }))
}

/// The person's connections: provider, account, whether it still works. Never tokens.
#[utoipa::path(
    get, path = "/v1/users/{user_id}/connections", tag = "people",
    params(("user_id" = uuid::Uuid, Path, description = "The user's id")),
    responses(
        (status = 200, body = Page<ConnectionView>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn list_connections(
    State(state): State<AppState>,
    principal: Principal,
    Path(user_id): Path<String>,
) -> Result<Json<Page<ConnectionView>>, ApiError> {
    let user_id = parse_id(&user_id, "user")?;
    require_self_or(&principal, user_id, Scope::UsersRead)?;
    let mut conn = state.db.acquire().await?;
    ensure_user(&mut conn, principal.workspace_id, user_id).await?;
    let items = connections::list(&mut conn, user_id).await?;
    Ok(Json(Page {
        items,
        next_cursor: None,
    }))
}

/// Removes the person's connection to a provider (a Slack token is also revoked at Slack).
#[utoipa::path(
    delete, path = "/v1/users/{user_id}/connections/{provider}", tag = "people",
    params(
        ("user_id" = uuid::Uuid, Path, description = "The user's id"),
        ("provider" = String, Path, description = "slack or microsoft")
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such person, or no connection to that provider", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn delete_connection(
    State(state): State<AppState>,
    principal: Principal,
    Path((user_id, provider)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let user_id: Uuid = parse_id(&user_id, "user")?;
    require_self_or(&principal, user_id, Scope::UsersWrite)?;
    let provider = provider_from_path(&provider)?;
    let mut conn = state.db.acquire().await?;
    ensure_user(&mut conn, principal.workspace_id, user_id).await?;
    drop(conn);
    if connections::disconnect(&state, user_id, provider).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "this user has no {} connection",
            provider.label()
        )))
    }
}
