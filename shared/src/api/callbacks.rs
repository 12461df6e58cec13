//! Delivery reports from providers. They carry no API key: each is verified with the
//! channel's own credentials instead.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::error::{ApiError, Problem};
use crate::notify::twilio::{self, CallbackOutcome};
use crate::notify::{ChannelKind, log};
use crate::state::AppState;

/// Which notification a Twilio status callback is about.
#[derive(Debug, Deserialize, IntoParams)]
pub struct TwilioCallbackParams {
    /// The notification log row; set by Tocsin in the `StatusCallback` URL.
    pub notification_id: Uuid,
}

/// Twilio's status callback for a message or a call. It must carry a valid
/// `X-Twilio-Signature`, made with the channel's auth token over the callback URL (built
/// from `PUBLIC_BASE_URL`, never from the request's Host) and the form fields.
/// `delivered` (messages) and `completed` (calls) move the row SENT → DELIVERED;
/// `undelivered`, `failed`, `busy`, `no-answer` and `canceled` move it SENT → FAILED.
/// Progress reports and repeats change nothing.
#[utoipa::path(
    post, path = "/v1/callbacks/twilio", tag = "callbacks",
    params(TwilioCallbackParams),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "Twilio's status callback fields (MessageSid, MessageStatus, ErrorCode or CallSid, CallStatus)"),
    security(()),
    responses(
        (status = 204, description = "Recorded (or nothing to change)"),
        (status = 403, description = "The signature does not verify", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
pub(super) async fn twilio_status(
    State(state): State<AppState>,
    Query(params): Query<TwilioCallbackParams>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|_| ApiError::bad_request("the body must be form-urlencoded"))?;
    let unknown = || ApiError::not_found("no Twilio notification has that id");
    let row = log::find_reported(&state.db, params.notification_id)
        .await?
        .filter(|row| matches!(row.channel, ChannelKind::Sms | ChannelKind::Voice))
        .ok_or_else(unknown)?;
    let channel_id = row.notification_channel_id.ok_or_else(unknown)?;
    let mut conn = state.db.acquire().await?;
    let channel = crate::notify::channels::load(&mut conn, row.workspace_id, channel_id)
        .await?
        .ok_or_else(unknown)?;
    drop(conn);
    let config = channel.full_config(&state.cipher)?;
    let auth_token = config["auth_token"].as_str().unwrap_or_default();
    let base = state.config.public_base_url.as_deref().unwrap_or_default();
    let url = format!(
        "{base}/v1/callbacks/twilio?notification_id={}",
        params.notification_id
    );
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if auth_token.is_empty() || !twilio::verify_signature(auth_token, &url, &fields, signature) {
        tracing::warn!(notification_log_id = %row.id, "Twilio callback with a bad signature");
        return Err(ApiError::forbidden(
            "the X-Twilio-Signature does not verify",
        ));
    }
    let Some((sid, outcome)) = twilio::classify_callback(&fields) else {
        return Err(ApiError::invalid_field(
            "MessageStatus",
            "the callback carries neither MessageSid/MessageStatus nor CallSid/CallStatus",
        ));
    };
    if row.provider_message_id.as_deref() != Some(sid.as_str()) {
        // Sent again under another sid, or not recorded as sent yet: nothing to match.
        tracing::info!(notification_log_id = %row.id, sid, status = ?row.status, "Twilio callback for another message; ignored");
        return Ok(StatusCode::NO_CONTENT);
    }
    let status_field = fields
        .iter()
        .find(|(k, _)| k == "MessageStatus" || k == "CallStatus")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    let provider_status = format!("Twilio {status_field}");
    let changed = match outcome {
        CallbackOutcome::Delivered => {
            log::mark_delivered(&state.db, row.id, &provider_status).await?
        }
        CallbackOutcome::Failed(error) => {
            let mut tx = state.db.begin().await?;
            let changed = log::mark_undelivered(&mut *tx, row.id, &error, &provider_status).await?;
            let next_tier = crate::escalation::after_failure(&mut tx, row.id).await?;
            let queued = crate::notify::queue_jobs(&mut tx, &next_tier).await?;
            tx.commit().await?;
            crate::outbox::dispatch(&state, &queued.outbox_ids).await;
            changed
        }
        CallbackOutcome::Progress => false,
    };
    tracing::info!(notification_log_id = %row.id, changed, provider_status, was = ?row.status, "Twilio status callback");
    Ok(StatusCode::NO_CONTENT)
}
