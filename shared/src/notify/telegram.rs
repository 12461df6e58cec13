//! Telegram: the Bot API's `sendMessage`, in MarkdownV2 with every reserved character
//! escaped, with inline keyboard buttons (`callback_data` `acknowledge:<incident id>`)
//! that the actions function answers. Telegram's errors are `{"ok": false, "error_code",
//! "description", "parameters": {"retry_after"}}`: 429 waits `retry_after`, 5xx is
//! retried, and the rest (bad token, chat not found, bot blocked) fail at once.

use serde::Deserialize;
use serde_json::json;

use super::http::{bad_config, failure, seconds, status_line};
use super::provider::Health;
use super::render::render;
use super::{DeliveryOutcome, Message};

/// Telegram's API.
pub const DEFAULT_API_BASE: &str = "https://api.telegram.org";
/// Telegram's limit on a message's text.
const MAX_TEXT_CHARS: usize = 4096;

#[derive(Debug, Deserialize)]
struct Config {
    bot_token: String,
    chat_id: String,
    message_thread_id: Option<i64>,
    api_base_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Answer {
    ok: bool,
    description: Option<String>,
    result: Option<SentMessage>,
    parameters: Option<Parameters>,
}

#[derive(Debug, Deserialize)]
struct SentMessage {
    message_id: i64,
}

#[derive(Debug, Deserialize)]
struct Parameters {
    retry_after: Option<f64>,
}

/// Escapes text for MarkdownV2: every one of `_*[]()~`>#+-=|{}.!` and `\`.
pub fn escape_markdown_v2(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if "_*[]()~`>#+-=|{}.!\\".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// The `sendMessage` body for a message.
pub fn body(chat_id: &str, thread: Option<i64>, message: &Message<'_>) -> serde_json::Value {
    let rendered = render(message);
    let mut text = format!("*{}*", escape_markdown_v2(&rendered.headline()));
    for (label, value) in &rendered.fields {
        text.push_str(&format!(
            "\n{}: {}",
            escape_markdown_v2(label),
            escape_markdown_v2(value)
        ));
    }
    if let Some(description) = &rendered.description {
        text.push_str(&format!("\n\n{}", escape_markdown_v2(description)));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        // Cut, without leaving a lone escaping backslash at the end.
        text = text.chars().take(MAX_TEXT_CHARS - 2).collect();
        while text.ends_with('\\') {
            text.pop();
        }
        text.push_str("\\.");
    }
    let mut body = json!({
        "chat_id": chat_id,
        "text": text,
        "parse_mode": "MarkdownV2",
        "link_preview_options": {"is_disabled": true},
    });
    if let Some(thread) = thread {
        body["message_thread_id"] = thread.into();
    }
    if let Some(incident) = rendered.actionable_incident {
        let buttons: Vec<_> = rendered
            .actions()
            .into_iter()
            .map(|(label, action)| json!({"text": label, "callback_data": format!("{action}:{incident}")}))
            .collect();
        body["reply_markup"] = json!({"inline_keyboard": [buttons]});
    }
    body
}

/// Sends the message to the channel's chat.
pub async fn send(
    http: &reqwest::Client,
    config: &serde_json::Value,
    message: &Message<'_>,
) -> DeliveryOutcome {
    let config = match Config::deserialize(config) {
        Ok(config) => config,
        Err(e) => return bad_config(e),
    };
    let base = config
        .api_base_url
        .as_deref()
        .unwrap_or(DEFAULT_API_BASE)
        .trim_end_matches('/');
    let url = format!("{base}/bot{}/sendMessage", config.bot_token);
    let request = http
        .post(url)
        .json(&body(&config.chat_id, config.message_thread_id, message));
    let response = match super::http::send(request).await {
        Ok(response) => response,
        Err(outcome) => return outcome,
    };
    let status = response.status();
    let header_wait = super::http::retry_after(response.headers());
    let answer: Option<Answer> = response.json().await.ok();
    match answer {
        Some(Answer {
            ok: true, result, ..
        }) if status.is_success() => DeliveryOutcome::Sent {
            provider_status: status_line(status),
            provider_message_id: result.map(|r| r.message_id.to_string()),
        },
        answer => {
            let (description, wait) = match answer {
                Some(answer) => (
                    answer.description.unwrap_or_default(),
                    answer
                        .parameters
                        .and_then(|p| p.retry_after)
                        .and_then(seconds),
                ),
                None => (String::new(), None),
            };
            let error = format!("Telegram answered {}: {description}", status_line(status));
            failure(
                status,
                error.trim_end_matches(": ").to_owned(),
                wait.or(header_wait),
            )
        }
    }
}

/// Asks `getMe` whether the bot token works.
pub async fn health(http: &reqwest::Client, config: &serde_json::Value) -> Health {
    let config = match Config::deserialize(config) {
        Ok(config) => config,
        Err(e) => return Health::answered(false, format!("the channel's config is invalid: {e}")),
    };
    let base = config
        .api_base_url
        .as_deref()
        .unwrap_or(DEFAULT_API_BASE)
        .trim_end_matches('/');
    let request = http.get(format!("{base}/bot{}/getMe", config.bot_token));
    let response = match super::http::send(request).await {
        Ok(response) => response,
        Err(outcome) => return Health::answered(false, outcome.error().unwrap_or_default()),
    };
    let status = response.status();
    let answer: serde_json::Value = response.json().await.unwrap_or_default();
    if status.is_success() && answer["ok"] == true {
        let name = answer["result"]["username"].as_str().unwrap_or("the bot");
        Health::answered(true, format!("the token belongs to @{name}"))
    } else {
        let description = answer["description"].as_str().unwrap_or_default();
        Health::answered(
            false,
            format!("Telegram answered {}: {description}", status_line(status))
                .trim_end_matches(": ")
                .to_owned(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reserved_character_is_escaped() {
        assert_eq!(
            escape_markdown_v2("_*[]()~`>#+-=|{}.!\\ a"),
            "\\_\\*\\[\\]\\(\\)\\~\\`\\>\\#\\+\\-\\=\\|\\{\\}\\.\\!\\\\ a"
        );
    }
}
