//! Slack: an incoming webhook, or a bot token with `chat.postMessage`, both with Block Kit
//! (a header, the fields, the description and acknowledge / resolve buttons whose
//! `action_id` is the action and `value` the incident id). Incoming webhooks answer with
//! HTTP statuses and a text error; `chat.postMessage` answers 200 `{"ok": false,
//! "error"}`, classified here: `ratelimited` and Slack's own failures are retried, bad
//! tokens and unknown channels fail at once. 429 waits `Retry-After`.

use serde::Deserialize;
use serde_json::json;

use super::http::{bad_config, failure, retry_after, snippet, status_line};
use super::provider::Health;
use super::render::render;
use super::{DeliveryOutcome, Message};

/// Slack's Web API.
pub const DEFAULT_API_BASE: &str = "https://slack.com";

#[derive(Debug, Deserialize)]
struct Config {
    webhook_url: Option<String>,
    bot_token: Option<String>,
    channel: Option<String>,
    api_base_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Answer {
    ok: bool,
    error: Option<String>,
    ts: Option<String>,
}

/// Escapes the three characters Slack's mrkdwn reserves.
pub fn escape_mrkdwn(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The message's `text` (the notification fallback) and `blocks`.
pub fn payload(message: &Message<'_>) -> serde_json::Value {
    let rendered = render(message);
    let headline: String = rendered.headline().chars().take(150).collect();
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": headline, "emoji": true}
    })];
    let fields: Vec<_> = rendered
        .fields
        .iter()
        .take(10)
        .map(|(label, value)| json!({"type": "mrkdwn", "text": format!("*{label}*\n{}", escape_mrkdwn(value))}))
        .collect();
    blocks.push(json!({"type": "section", "fields": fields}));
    if let Some(description) = &rendered.description {
        let text: String = escape_mrkdwn(description).chars().take(3000).collect();
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}));
    }
    if let Some(incident) = rendered.actionable_incident {
        let buttons: Vec<_> = rendered
            .actions()
            .into_iter()
            .map(|(label, action)| {
                let mut button = json!({
                    "type": "button",
                    "text": {"type": "plain_text", "text": label},
                    "action_id": action,
                    "value": incident.to_string(),
                });
                if action == "acknowledge" {
                    button["style"] = json!("primary");
                }
                button
            })
            .collect();
        blocks.push(json!({"type": "actions", "block_id": format!("tocsin:{incident}"), "elements": buttons}));
    }
    json!({"text": escape_mrkdwn(&rendered.headline()), "blocks": blocks})
}

/// Errors of `chat.postMessage` that a later attempt may not meet.
fn transient(error: &str) -> bool {
    matches!(
        error,
        "ratelimited"
            | "rate_limited"
            | "internal_error"
            | "fatal_error"
            | "service_unavailable"
            | "request_timeout"
    )
}

/// Sends the message through the channel's webhook or bot.
pub async fn send(
    http: &reqwest::Client,
    config: &serde_json::Value,
    message: &Message<'_>,
) -> DeliveryOutcome {
    let config = match Config::deserialize(config) {
        Ok(config) => config,
        Err(e) => return bad_config(e),
    };
    let mut payload = payload(message);
    let request = match (&config.webhook_url, &config.bot_token, &config.channel) {
        (Some(url), _, _) => http.post(url),
        (None, Some(token), Some(channel)) => {
            payload["channel"] = json!(channel);
            let base = config
                .api_base_url
                .as_deref()
                .unwrap_or(DEFAULT_API_BASE)
                .trim_end_matches('/');
            http.post(format!("{base}/api/chat.postMessage"))
                .bearer_auth(token)
        }
        _ => return bad_config("give webhook_url, or bot_token and channel"),
    };
    let response = match super::http::send(request.json(&payload)).await {
        Ok(response) => response,
        Err(outcome) => return outcome,
    };
    let status = response.status();
    let wait = retry_after(response.headers());
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        return failure(status, snippet(status, &text), wait);
    }
    if config.webhook_url.is_some() {
        return DeliveryOutcome::Sent {
            provider_status: status_line(status),
            provider_message_id: None,
        };
    }
    match serde_json::from_str::<Answer>(&text) {
        Ok(Answer { ok: true, ts, .. }) => DeliveryOutcome::Sent {
            provider_status: status_line(status),
            provider_message_id: ts,
        },
        Ok(Answer { error, .. }) => {
            let error = error.unwrap_or_else(|| "unknown_error".to_owned());
            let provider_status = Some(format!("{} ok=false {error}", status_line(status)));
            let text = format!("Slack answered {error}");
            if transient(&error) {
                DeliveryOutcome::Transient {
                    error: text,
                    provider_status,
                    retry_after: wait,
                }
            } else {
                DeliveryOutcome::Permanent {
                    error: text,
                    provider_status,
                }
            }
        }
        Err(_) => DeliveryOutcome::Transient {
            error: snippet(status, &text),
            provider_status: Some(status_line(status)),
            retry_after: wait,
        },
    }
}

/// Asks `auth.test` whether a bot token works. An incoming webhook cannot be checked
/// without posting to it.
pub async fn health(http: &reqwest::Client, config: &serde_json::Value) -> Health {
    let config = match Config::deserialize(config) {
        Ok(config) => config,
        Err(e) => return Health::answered(false, format!("the channel's config is invalid: {e}")),
    };
    let Some(token) = config.bot_token else {
        return Health::unchecked();
    };
    let base = config
        .api_base_url
        .as_deref()
        .unwrap_or(DEFAULT_API_BASE)
        .trim_end_matches('/');
    let request = http
        .post(format!("{base}/api/auth.test"))
        .bearer_auth(token);
    let response = match super::http::send(request).await {
        Ok(response) => response,
        Err(outcome) => return Health::answered(false, outcome.error().unwrap_or_default()),
    };
    let status = response.status();
    let answer: serde_json::Value = response.json().await.unwrap_or_default();
    if status.is_success() && answer["ok"] == true {
        Health::answered(
            true,
            format!(
                "the token is the bot {} in the workspace {}",
                answer["user"].as_str().unwrap_or("?"),
                answer["team"].as_str().unwrap_or("?")
            ),
        )
    } else {
        Health::answered(
            false,
            format!(
                "Slack answered {}: {}",
                status_line(status),
                answer["error"].as_str().unwrap_or("no error given")
            ),
        )
    }
}
