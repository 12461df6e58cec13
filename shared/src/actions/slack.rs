//! `POST /v1/slack/interactions`: the buttons of Tocsin's Slack messages. Each request is
//! verified with the app's signing secret the way Slack documents it (HMAC-SHA256 of
//! `v0:{timestamp}:{body}`, the timestamp within five minutes), the Slack user is mapped
//! to a Tocsin user (their Slack connection, or a `slack` contact method with their member
//! id), the incident is acted on as them, and the original message is replaced through
//! the `response_url` to show who acted, all within Slack's three seconds.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;
use uuid::Uuid;

use crate::error::ApiError;
use crate::incidents::{self, ActionChannel, Actor, HumanAction};
use crate::state::AppState;

/// How far a request's timestamp may be from now.
pub const TOLERANCE_SECONDS: i64 = 300;

/// Why a request's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Slack-Request-Timestamp header is missing or not a number")]
    Timestamp,
    #[error("the request is older (or newer) than five minutes")]
    Stale,
    #[error("the X-Slack-Signature does not verify")]
    Mismatch,
}

/// Slack's signature of a request body: `v0=` and the hex HMAC-SHA256 of
/// `v0:{timestamp}:{body}` with the signing secret.
pub fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    #[allow(clippy::expect_used)]
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any size");
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// Verifies a request as Slack signs it, at `now` (Unix seconds).
pub fn verify(
    secret: &str,
    timestamp: &str,
    body: &[u8],
    given: &str,
    now: i64,
) -> Result<(), SignatureError> {
    let at: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::Timestamp)?;
    if (now - at).abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::Stale);
    }
    let expected = signature(secret, timestamp.trim(), body);
    if subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), given.trim().as_bytes()).into() {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[derive(Debug, Deserialize)]
struct Form {
    payload: String,
}

#[derive(Debug, Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    user: SlackUser,
    #[serde(default)]
    actions: Vec<SlackAction>,
    response_url: Option<String>,
    message: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct SlackUser {
    id: String,
    #[serde(default)]
    username: Option<String>,
}

#[derive(Debug, Deserialize)]
struct SlackAction {
    action_id: String,
    #[serde(default)]
    value: Option<String>,
}

/// The interactivity request URL of the Slack app.
pub(super) async fn interactions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let Some(secret) = state.config.slack_signing_secret.as_ref() else {
        return Err(ApiError::not_implemented(
            "Slack interactivity is not configured (SLACK_SIGNING_SECRET)",
        ));
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    verify(
        secret.expose_secret(),
        header("x-slack-request-timestamp"),
        &body,
        header("x-slack-signature"),
        chrono::Utc::now().timestamp(),
    )
    .map_err(|error| {
        tracing::warn!(%error, "Slack request refused");
        ApiError::unauthorized(error.to_string())
    })?;
    let form: Form = serde_urlencoded::from_bytes(&body)
        .map_err(|_| ApiError::invalid_field("payload", "the body must carry a payload field"))?;
    let payload: Payload = serde_json::from_str(&form.payload)
        .map_err(|e| ApiError::invalid_field("payload", format!("payload is not Slack's: {e}")))?;
    if payload.kind != "block_actions" {
        return Ok(StatusCode::OK);
    }
    let Some(action) = payload.actions.first() else {
        return Ok(StatusCode::OK);
    };
    let human = match action.action_id.as_str() {
        "acknowledge" => HumanAction::Acknowledge,
        "resolve" => HumanAction::Resolve,
        // Not one of ours (a link button also reports a click): nothing to do.
        _ => return Ok(StatusCode::OK),
    };
    let Some(incident_id) = action
        .value
        .as_deref()
        .and_then(|v| Uuid::parse_str(v).ok())
    else {
        return Err(ApiError::invalid_field(
            "payload.actions[0].value",
            "the button does not name an incident",
        ));
    };
    let reply = act(&state, &payload, incident_id, human).await?;
    if let Some(url) = payload.response_url.as_deref() {
        respond(&state, url, &reply).await;
    }
    Ok(StatusCode::OK)
}

/// Acts as the mapped user and says what to show in Slack.
async fn act(
    state: &AppState,
    payload: &Payload,
    incident_id: Uuid,
    action: HumanAction,
) -> Result<Value, ApiError> {
    let mut tx = state.db.begin().await?;
    let Some(workspace_id) = sqlx::query_scalar!(
        "SELECT workspace_id FROM incident WHERE id = $1",
        incident_id
    )
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(ephemeral("This incident no longer exists."));
    };
    let user_id = sqlx::query_scalar!(
        r#"SELECT u.id AS "id!" FROM app_user u
           WHERE u.workspace_id = $1 AND (
               u.id IN (SELECT user_id FROM slack_connection WHERE slack_user_id = $2 AND is_active)
               OR u.id IN (SELECT user_id FROM contact_method WHERE kind = 'SLACK' AND address = $2))
           LIMIT 1"#,
        workspace_id,
        payload.user.id,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(user_id) = user_id else {
        return Ok(ephemeral(
            "Your Slack account is not linked to a Tocsin user: connect Slack in Tocsin, or add your Slack member id as a contact method.",
        ));
    };
    sqlx::query!(
        "UPDATE slack_connection SET last_used_at = now() WHERE slack_user_id = $1",
        payload.user.id
    )
    .execute(&mut *tx)
    .await?;
    let actor = Actor {
        user_id: Some(user_id),
        label: Some(format!("<@{}>", payload.user.id)),
        via: ActionChannel::Slack,
    };
    let outcome =
        incidents::act_on_incident(&mut tx, workspace_id, incident_id, action, &actor).await?;
    let text = match (&outcome, action) {
        (Some(o), HumanAction::Acknowledge) if o.changed => {
            format!(":eyes: Acknowledged by <@{}>", payload.user.id)
        }
        (Some(o), HumanAction::Resolve) if o.changed => {
            format!(":white_check_mark: Resolved by <@{}>", payload.user.id)
        }
        _ => format!(
            "This incident {}.",
            incidents::describe_state(&mut tx, incident_id).await?
        ),
    };
    tx.commit().await?;
    if let Some(outcome) = &outcome {
        crate::outbox::dispatch(state, &outcome.outbox_ids).await;
    }
    tracing::info!(%incident_id, slack_user = %payload.user.id, username = payload.user.username.as_deref().unwrap_or_default(), ?action, "acted from Slack");
    Ok(updated_message(payload.message.as_ref(), &text, action))
}

/// The original message with who acted added, and the buttons that no longer apply
/// removed (after a resolve, all of them; after an acknowledge, the acknowledge button).
fn updated_message(original: Option<&Value>, text: &str, action: HumanAction) -> Value {
    let mut blocks: Vec<Value> = original
        .and_then(|m| m["blocks"].as_array().cloned())
        .unwrap_or_default();
    for block in &mut blocks {
        if block["type"] == "actions" {
            let kept: Vec<Value> = block["elements"]
                .as_array()
                .map(|elements| {
                    elements
                        .iter()
                        .filter(|e| {
                            action == HumanAction::Acknowledge && e["action_id"] == "resolve"
                        })
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            block["elements"] = Value::Array(kept);
        }
    }
    blocks.retain(|b| {
        b["type"] != "actions" || b["elements"].as_array().is_some_and(|e| !e.is_empty())
    });
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}));
    let fallback = original
        .and_then(|m| m["text"].as_str())
        .map_or_else(|| text.to_owned(), |t| format!("{t}\n{text}"));
    json!({"replace_original": true, "text": fallback, "blocks": blocks})
}

fn ephemeral(text: &str) -> Value {
    json!({"response_type": "ephemeral", "replace_original": false, "text": text})
}

/// Posts the reply to Slack's `response_url` (valid for 30 minutes, five uses).
async fn respond(state: &AppState, url: &str, reply: &Value) {
    let result = state
        .http
        .post(url)
        .timeout(std::time::Duration::from_secs(2))
        .json(reply)
        .send()
        .await;
    match result {
        Ok(response) if response.status().is_success() => {}
        Ok(response) => {
            tracing::warn!(status = %response.status(), "Slack refused the message update");
        }
        Err(error) => {
            tracing::warn!(error = %crate::error::error_chain(&error.without_url()), "the message update did not reach Slack");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example in Slack's "Verifying requests from Slack".
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const EXPECTED: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    #[test]
    fn slacks_published_example_verifies() {
        assert_eq!(signature(SECRET, TIMESTAMP, BODY.as_bytes()), EXPECTED);
        assert_eq!(
            verify(
                SECRET,
                TIMESTAMP,
                BODY.as_bytes(),
                EXPECTED,
                1_531_420_618 + 60
            ),
            Ok(())
        );
    }

    #[test]
    fn tampered_old_and_wrongly_signed_requests_are_refused() {
        let now = 1_531_420_618;
        let tampered = BODY.replace("roadrunner", "coyote");
        assert_eq!(
            verify(SECRET, TIMESTAMP, tampered.as_bytes(), EXPECTED, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, TIMESTAMP, BODY.as_bytes(), EXPECTED, now + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify("another-secret", TIMESTAMP, BODY.as_bytes(), EXPECTED, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, "yesterday", BODY.as_bytes(), EXPECTED, now),
            Err(SignatureError::Timestamp)
        );
    }
}
