//! Discord: execute a webhook with `?wait=true` (so the answer carries the message id),
//! one embed per message (title, severity colour, fields, description), and no mentions
//! parsed. A 429 answers `{"retry_after": seconds, "global"}` with `Retry-After` and
//! `X-RateLimit-*` headers; the longest of them is waited. Discord's webhooks cannot post
//! interactive buttons, so acting from Discord goes through the magic links.

use serde::Deserialize;
use serde_json::json;

use super::http::{bad_config, failure, seconds, snippet, status_line};
use super::render::render;
use super::{DeliveryOutcome, Message};

#[derive(Debug, Deserialize)]
struct Config {
    webhook_url: String,
    username: Option<String>,
}

/// The execute-webhook body.
pub fn body(username: Option<&str>, message: &Message<'_>) -> serde_json::Value {
    let rendered = render(message);
    let mut fields: Vec<_> = rendered
        .fields
        .iter()
        .take(24)
        .map(|(name, value)| json!({"name": name, "value": value.chars().take(1024).collect::<String>(), "inline": true}))
        .collect();
    // Webhooks cannot post buttons: the magic links go in a field of their own.
    if !message.action_links.is_empty() {
        let links: Vec<String> = message
            .action_links
            .iter()
            .map(|(label, url)| format!("[{label}]({url})"))
            .collect();
        fields.push(json!({"name": "Act", "value": links.join(" · "), "inline": false}));
    }
    let mut embed = json!({
        "title": rendered.headline().chars().take(256).collect::<String>(),
        "color": rendered.colour(),
        "fields": fields,
        "timestamp": message.alert.triggered_at.to_rfc3339(),
    });
    if let Some(description) = &rendered.description {
        embed["description"] = json!(description.chars().take(4096).collect::<String>());
    }
    if let Some(link) = &rendered.link {
        embed["url"] = json!(link);
    }
    let mut body = json!({"embeds": [embed], "allowed_mentions": {"parse": []}});
    if let Some(username) = username {
        body["username"] = json!(username);
    }
    body
}

/// Executes the channel's webhook.
pub async fn send(
    http: &reqwest::Client,
    config: &serde_json::Value,
    message: &Message<'_>,
) -> DeliveryOutcome {
    let config = match Config::deserialize(config) {
        Ok(config) => config,
        Err(e) => return bad_config(e),
    };
    let Ok(mut url) = reqwest::Url::parse(&config.webhook_url) else {
        return bad_config("webhook_url is not a URL");
    };
    url.query_pairs_mut().append_pair("wait", "true");
    let request = http
        .post(url)
        .json(&body(config.username.as_deref(), message));
    let response = match super::http::send(request).await {
        Ok(response) => response,
        Err(outcome) => return outcome,
    };
    let status = response.status();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .and_then(seconds)
    };
    let header_wait =
        super::http::retry_after(response.headers()).max(header("x-ratelimit-reset-after"));
    let text = response.text().await.unwrap_or_default();
    let answer: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    if status.is_success() {
        return DeliveryOutcome::Sent {
            provider_status: status_line(status),
            provider_message_id: answer["id"].as_str().map(str::to_owned),
        };
    }
    let body_wait = answer["retry_after"].as_f64().and_then(seconds);
    let error = match answer["message"].as_str() {
        Some(message) => format!("Discord answered {}: {message}", status_line(status)),
        None => snippet(status, &text),
    };
    failure(status, error, body_wait.max(header_wait))
}
