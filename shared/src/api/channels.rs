//! `/v1/notification-channels`: the workspace's destinations (seed 000), their test
//! message and their health. Secrets in a channel's configuration are write-only: answers
//! show them as `********`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use crate::auth::{Principal, Scope};
use crate::error::{ApiError, Problem};
use crate::http::{JsonBody, Page, PageParams, parse_id};
use crate::notify::Notice;
use crate::notify::channels::{self, ChannelPatch, ChannelView, NewChannel, TestResult};
use crate::notify::provider::Health;
use crate::state::AppState;

/// The workspace's channels, oldest first.
#[utoipa::path(
    get, path = "/v1/notification-channels", tag = "notification-channels",
    params(PageParams),
    responses(
        (status = 200, body = Page<ChannelView>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn list_channels(
    State(state): State<AppState>,
    principal: Principal,
    page: PageParams,
) -> Result<Json<Page<ChannelView>>, ApiError> {
    principal.require(Scope::NotificationsRead)?;
    let mut conn = state.db.acquire().await?;
    let items = channels::list_channels(
        &mut conn,
        &state.cipher,
        principal.workspace_id,
        page.after,
        page.limit() + 1,
    )
    .await?;
    Ok(Json(Page::from_overfetch(items, &page, |c| c.id)))
}

/// Creates a channel. Its configuration is checked for the provider; secrets in it are
/// stored encrypted and never shown again.
#[utoipa::path(
    post, path = "/v1/notification-channels", tag = "notification-channels",
    request_body = NewChannel,
    responses(
        (status = 201, body = ChannelView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn create_channel(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<NewChannel>,
) -> Result<(StatusCode, Json<ChannelView>), ApiError> {
    principal.require(Scope::NotificationsWrite)?;
    let mut tx = state.db.begin().await?;
    let id = channels::insert_channel(
        &mut tx,
        &state.cipher,
        principal.workspace_id,
        body.provider,
        &body.name,
        &body.config,
    )
    .await?;
    if body.enabled == Some(false) {
        channels::update_channel(
            &mut tx,
            &state.cipher,
            principal.workspace_id,
            id,
            &ChannelPatch {
                enabled: Some(false),
                ..ChannelPatch::default()
            },
        )
        .await?;
    }
    let view = channels::get_channel(&mut tx, &state.cipher, principal.workspace_id, id).await?;
    tx.commit().await?;
    tracing::info!(notification_channel_id = %id, provider = ?body.provider, "notification channel created");
    Ok((StatusCode::CREATED, Json(view)))
}

/// One channel.
#[utoipa::path(
    get, path = "/v1/notification-channels/{id}", tag = "notification-channels",
    params(("id" = uuid::Uuid, Path, description = "The channel's id")),
    responses(
        (status = 200, body = ChannelView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn get_channel(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<ChannelView>, ApiError> {
    principal.require(Scope::NotificationsRead)?;
    let id = parse_id(&id, "notification channel")?;
    let mut conn = state.db.acquire().await?;
    Ok(Json(
        channels::get_channel(&mut conn, &state.cipher, principal.workspace_id, id).await?,
    ))
}

/// Changes a channel's name, state or configuration. A new `config` replaces the old one;
/// a secret left out of it, or sent back as `********`, keeps its stored value, and a
/// secret set to `null` is removed.
#[utoipa::path(
    patch, path = "/v1/notification-channels/{id}", tag = "notification-channels",
    params(("id" = uuid::Uuid, Path, description = "The channel's id")),
    request_body = ChannelPatch,
    responses(
        (status = 200, body = ChannelView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn update_channel(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    JsonBody(patch): JsonBody<ChannelPatch>,
) -> Result<Json<ChannelView>, ApiError> {
    principal.require(Scope::NotificationsWrite)?;
    let id = parse_id(&id, "notification channel")?;
    let mut tx = state.db.begin().await?;
    channels::update_channel(&mut tx, &state.cipher, principal.workspace_id, id, &patch).await?;
    let view = channels::get_channel(&mut tx, &state.cipher, principal.workspace_id, id).await?;
    tx.commit().await?;
    Ok(Json(view))
}

/// Deletes a channel. Its delivery log stays, without the channel.
#[utoipa::path(
    delete, path = "/v1/notification-channels/{id}", tag = "notification-channels",
    params(("id" = uuid::Uuid, Path, description = "The channel's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn delete_channel(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require(Scope::NotificationsWrite)?;
    let id = parse_id(&id, "notification channel")?;
    let mut tx = state.db.begin().await?;
    channels::delete_channel(&mut tx, principal.workspace_id, id).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends a real test message through the channel (enabled or not) and answers with what
/// the provider said. Nothing is retried: a transient failure is reported as such.
#[utoipa::path(
    post, path = "/v1/notification-channels/{id}/test", tag = "notification-channels",
    params(("id" = uuid::Uuid, Path, description = "The channel's id")),
    responses(
        (status = 200, description = "The provider's answer, success or not", body = TestResult),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn test_channel(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<TestResult>, ApiError> {
    principal.require(Scope::NotificationsWrite)?;
    let id = parse_id(&id, "notification channel")?;
    let result = channels::send_test(&state, principal.workspace_id, id).await?;
    tracing::info!(notification_channel_id = %id, sent = result.sent, "test message sent");
    Ok(Json(result))
}

/// Checks the channel's credentials with the provider without sending a message, where
/// the provider offers a way (Telegram `getMe`, Slack `auth.test`).
#[utoipa::path(
    get, path = "/v1/notification-channels/{id}/health", tag = "notification-channels",
    params(("id" = uuid::Uuid, Path, description = "The channel's id")),
    responses(
        (status = 200, body = Health),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn channel_health(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Health>, ApiError> {
    principal.require(Scope::NotificationsRead)?;
    let id = parse_id(&id, "notification channel")?;
    Ok(Json(
        channels::check_health(&state, principal.workspace_id, id).await?,
    ))
}

/// What `POST /v1/notifications` queued.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct NoticeQueued {
    /// One per enabled channel of the workspace.
    pub notifications_queued: usize,
}

/// Seed 000 `sendNotification`: sends a message of its own (not about an alert) with
/// severity info, warning or critical to every enabled channel of the workspace. The
/// answer comes at once; each channel's delivery is tracked in the notification log.
#[utoipa::path(
    post, path = "/v1/notifications", tag = "notification-channels",
    request_body = Notice,
    responses(
        (status = 202, body = NoticeQueued),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn send_notice(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(notice): JsonBody<Notice>,
) -> Result<(StatusCode, Json<NoticeQueued>), ApiError> {
    principal.require(Scope::NotificationsWrite)?;
    let mut tx = state.db.begin().await?;
    let announced =
        crate::notify::send_notification(&mut tx, principal.workspace_id, &notice).await?;
    tx.commit().await?;
    crate::outbox::dispatch(&state, &announced.outbox_ids).await;
    Ok((
        StatusCode::ACCEPTED,
        Json(NoticeQueued {
            notifications_queued: announced.notifications,
        }),
    ))
}

/// What registering a Telegram webhook did.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct WebhookRegistered {
    /// Where Telegram now sends button presses.
    pub url: String,
    /// What Telegram said (`Webhook was set`).
    pub description: String,
}

/// Points a Telegram channel's bot at Tocsin (`setWebhook`, with the channel's secret
/// token, for button presses only), so its Acknowledge and Resolve buttons work.
#[utoipa::path(
    post, path = "/v1/notification-channels/{id}/telegram-webhook", tag = "notification-channels",
    params(("id" = uuid::Uuid, Path, description = "The channel's id")),
    responses(
        (status = 200, body = WebhookRegistered),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a Telegram channel", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "Telegram refused", body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn register_telegram_webhook(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<WebhookRegistered>, ApiError> {
    principal.require(Scope::NotificationsWrite)?;
    let id = parse_id(&id, "notification channel")?;
    let mut conn = state.db.acquire().await?;
    let channel = channels::load(&mut conn, principal.workspace_id, id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!("no notification channel {id} in this workspace"))
        })?;
    drop(conn);
    if channel.provider != crate::notify::ChannelKind::Telegram {
        return Err(ApiError::invalid_field(
            "provider",
            "only Telegram channels have a bot webhook",
        ));
    }
    let config = channel.full_config(&state.cipher)?;
    let description = crate::actions::telegram::set_webhook(&state, id, &config).await?;
    let base = state.config.public_base_url.as_deref().unwrap_or_default();
    Ok(Json(WebhookRegistered {
        url: format!("{base}/v1/telegram/{id}/webhook"),
        description,
    }))
}
