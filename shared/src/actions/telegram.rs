//! `POST /v1/telegram/{channel_id}/webhook`: the Telegram bot's webhook, for the inline
//! buttons of Tocsin's messages. Telegram sends the channel's `webhook_secret` in
//! `X-Telegram-Bot-Api-Secret-Token` (set by `POST /v1/notification-channels/{id}/
//! telegram-webhook`); a `callback_query` whose data is `acknowledge:<incident>` or
//! `resolve:<incident>` acts as the Tocsin user whose `telegram` contact method is the
//! Telegram user's id, answers the callback (the toast Telegram shows) and edits the
//! message to say who acted, keeping only the buttons that still apply.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::error::ApiError;
use crate::http::parse_id;
use crate::incidents::{self, ActionChannel, Actor, HumanAction};
use crate::notify::ChannelKind;
use crate::notify::telegram::DEFAULT_API_BASE;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
struct Update {
    callback_query: Option<CallbackQuery>,
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    id: String,
    from: TelegramUser,
    message: Option<TelegramMessage>,
    data: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TelegramUser {
    id: i64,
    username: Option<String>,
    first_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TelegramMessage {
    message_id: i64,
    chat: TelegramChat,
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TelegramChat {
    id: i64,
}

/// The bot's webhook. Telegram retries anything but a 2xx, so updates that are not ours
/// are acknowledged with 200 and ignored.
pub(super) async fn webhook(
    State(state): State<AppState>,
    Path(channel_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let channel_id = parse_id(&channel_id, "notification channel")?;
    let unknown = || ApiError::not_found("no Telegram channel has this id");
    let mut conn = state.db.acquire().await?;
    let channel = sqlx::query!(
        r#"SELECT workspace_id, provider AS "provider: ChannelKind" FROM notification_channel
           WHERE id = $1"#,
        channel_id
    )
    .fetch_optional(&mut *conn)
    .await?
    .filter(|c| c.provider == ChannelKind::Telegram)
    .ok_or_else(unknown)?;
    let config = crate::notify::channels::load(&mut conn, channel.workspace_id, channel_id)
        .await?
        .ok_or_else(unknown)?
        .full_config(&state.cipher)?;
    drop(conn);
    let expected = config["webhook_secret"].as_str().unwrap_or_default();
    let given = headers
        .get("x-telegram-bot-api-secret-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let matches: bool = subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), given.as_bytes()).into();
    if expected.is_empty() || !matches {
        tracing::warn!(notification_channel_id = %channel_id, "Telegram webhook with a wrong secret token");
        return Err(ApiError::unauthorized(
            "the X-Telegram-Bot-Api-Secret-Token does not match",
        ));
    }
    let update: Update = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the body is not a Telegram update: {e}")))?;
    let Some(query) = update.callback_query else {
        return Ok((StatusCode::OK, Json(json!({}))));
    };
    let parsed = query.data.as_deref().and_then(|data| {
        let (action, id) = data.split_once(':')?;
        let action = match action {
            "acknowledge" => HumanAction::Acknowledge,
            "resolve" => HumanAction::Resolve,
            _ => return None,
        };
        Some((action, Uuid::parse_str(id).ok()?))
    });
    let Some((action, incident_id)) = parsed else {
        return Ok((StatusCode::OK, Json(json!({}))));
    };
    let api = Api::new(&state, &config);
    let (toast, edited_text) =
        act(&state, channel.workspace_id, &query, incident_id, action).await?;
    api.call(
        "answerCallbackQuery",
        json!({"callback_query_id": query.id, "text": toast}),
    )
    .await;
    if let (Some(message), Some(line)) = (&query.message, edited_text) {
        let keyboard: Vec<Value> = match action {
            HumanAction::Acknowledge => {
                vec![json!({"text": "Resolve", "callback_data": format!("resolve:{incident_id}")})]
            }
            HumanAction::Resolve => Vec::new(),
        };
        let text = format!("{}\n\n{line}", message.text.as_deref().unwrap_or_default());
        api.call(
            "editMessageText",
            json!({
                "chat_id": message.chat.id,
                "message_id": message.message_id,
                "text": text.trim_start(),
                "reply_markup": {"inline_keyboard": if keyboard.is_empty() { json!([]) } else { json!([keyboard]) }},
            }),
        )
        .await;
    }
    Ok((StatusCode::OK, Json(json!({}))))
}

/// Acts as the mapped user; answers the toast, and the line to add to the message when
/// something changed.
async fn act(
    state: &AppState,
    workspace_id: Uuid,
    query: &CallbackQuery,
    incident_id: Uuid,
    action: HumanAction,
) -> Result<(String, Option<String>), ApiError> {
    let mut tx = state.db.begin().await?;
    let user_id = sqlx::query_scalar!(
        "SELECT u.id FROM app_user u JOIN contact_method c ON c.user_id = u.id
         WHERE u.workspace_id = $1 AND c.kind = 'TELEGRAM' AND c.address = $2
         ORDER BY c.created_at LIMIT 1",
        workspace_id,
        query.from.id.to_string(),
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(user_id) = user_id else {
        return Ok((
            "Your Telegram account is not linked to Tocsin: add your Telegram user id as a contact method.".to_owned(),
            None,
        ));
    };
    let who = query
        .from
        .username
        .as_ref()
        .map(|u| format!("@{u}"))
        .or_else(|| query.from.first_name.clone())
        .unwrap_or_else(|| query.from.id.to_string());
    let actor = Actor {
        user_id: Some(user_id),
        label: Some(who.clone()),
        via: ActionChannel::Telegram,
    };
    let outcome =
        incidents::act_on_incident(&mut tx, workspace_id, incident_id, action, &actor).await?;
    let result = match (&outcome, action) {
        (None, _) => ("This incident no longer exists.".to_owned(), None),
        (Some(o), HumanAction::Acknowledge) if o.changed => (
            "Acknowledged".to_owned(),
            Some(format!("👀 Acknowledged by {who}")),
        ),
        (Some(o), HumanAction::Resolve) if o.changed => {
            ("Resolved".to_owned(), Some(format!("✅ Resolved by {who}")))
        }
        (Some(_), _) => (
            format!(
                "This incident {}.",
                incidents::describe_state(&mut tx, incident_id).await?
            ),
            None,
        ),
    };
    tx.commit().await?;
    if let Some(outcome) = &outcome {
        crate::outbox::dispatch(state, &outcome.outbox_ids).await;
    }
    tracing::info!(%incident_id, telegram_user = query.from.id, ?action, "acted from Telegram");
    Ok(result)
}

/// The Bot API of a channel's bot.
struct Api<'a> {
    http: &'a reqwest::Client,
    base: String,
}

impl<'a> Api<'a> {
    fn new(state: &'a AppState, config: &Value) -> Self {
        let api_base = config["api_base_url"]
            .as_str()
            .unwrap_or(DEFAULT_API_BASE)
            .trim_end_matches('/');
        let token = config["bot_token"].as_str().unwrap_or_default();
        Self {
            http: &state.http,
            base: format!("{api_base}/bot{token}"),
        }
    }

    /// Calls a method; a failure is logged (without the URL, which holds the token).
    async fn call(&self, method: &str, body: Value) {
        let result = self
            .http
            .post(format!("{}/{method}", self.base))
            .json(&body)
            .send()
            .await;
        match result {
            Ok(response) if response.status().is_success() => {}
            Ok(response) => {
                tracing::warn!(method, status = %response.status(), "Telegram refused the call");
            }
            Err(error) => {
                tracing::warn!(method, error = %crate::error::error_chain(&error.without_url()), "the call did not reach Telegram");
            }
        }
    }
}

/// Registers the channel's webhook with Telegram (`setWebhook` with the secret token, for
/// callback queries only); answers Telegram's description.
pub async fn set_webhook(
    state: &AppState,
    channel_id: Uuid,
    config: &Value,
) -> Result<String, ApiError> {
    let Some(base) = state.config.public_base_url.as_deref() else {
        return Err(ApiError::not_implemented(
            "PUBLIC_BASE_URL is not set, so Telegram has nowhere to send button presses",
        ));
    };
    let api = Api::new(state, config);
    let response = api
        .http
        .post(format!("{}/setWebhook", api.base))
        .json(&json!({
            "url": format!("{base}/v1/telegram/{channel_id}/webhook"),
            "secret_token": config["webhook_secret"],
            "allowed_updates": ["callback_query"],
        }))
        .send()
        .await
        .map_err(|e| {
            ApiError::bad_gateway(format!(
                "Telegram could not be reached: {}",
                crate::error::error_chain(&e.without_url())
            ))
        })?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or_default();
    let description = answer["description"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if status.is_success() && answer["ok"] == true {
        Ok(description)
    } else {
        Err(ApiError::bad_gateway(format!(
            "Telegram answered {}: {description}",
            status.as_u16()
        )))
    }
}
