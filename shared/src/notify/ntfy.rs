//! Push notifications through ntfy (ntfy.sh or a self-hosted server): one message
//! published as JSON to the server's root URL (`{"topic", "title", "message", "priority",
//! "tags", "click", "actions"}`), the priority following the severity (5 for critical down
//! to 1 for info; 3 once resolved) and `view` buttons opening the dashboard and the magic
//! links (ntfy shows at most three). A protected topic takes the channel's access token
//! as `Authorization: Bearer`.
//!
//! ntfy answers 200 with the published message (`{"id", "time", "event": "message"}`),
//! whose id is kept. Its errors are `{"code": 40301, "http": 403, "error": "forbidden",
//! "link"}`: 429 (codes 429xx, too many requests or messages) waits `Retry-After` when
//! given, 5xx (507 when the server's storage is full) is retried, and the rest
//! (unauthorized, forbidden topic, too large) fail at once.

use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{bad_config, failure, retry_after, snippet, status_line};
use super::render::{Rendered, render};
use super::{DeliveryOutcome, Message};
use crate::alerts::Severity;

/// The public ntfy server.
pub const DEFAULT_SERVER: &str = "https://ntfy.sh";
/// ntfy's default limit on a message's size, in bytes; longer ones become attachments or
/// are refused.
const MAX_MESSAGE_BYTES: usize = 4096;
/// The most action buttons ntfy shows on one message.
const MAX_ACTIONS: usize = 3;

#[derive(Debug, Deserialize)]
struct Config {
    server_url: Option<String>,
    topic: String,
    access_token: Option<String>,
}

/// The publish-as-JSON body for `topic`: the headline as title, the fields (`Label:
/// value` lines) and description as message, and a `view` button for the dashboard link
/// and for each `(label, url)` of `action_links` (the magic links), three at most; when
/// they do not all fit, the dashboard button goes first, as tapping the notification
/// opens the dashboard anyway.
pub fn body(topic: &str, message: &Message<'_>, action_links: &[(&str, &str)]) -> Value {
    payload(topic, &render(message), action_links)
}

fn payload(topic: &str, rendered: &Rendered, action_links: &[(&str, &str)]) -> Value {
    let mut text = rendered
        .fields
        .iter()
        .map(|(label, value)| format!("{label}: {value}"))
        .collect::<Vec<_>>()
        .join("\n");
    if let Some(description) = &rendered.description {
        text.push_str("\n\n");
        text.push_str(description);
    }
    let mut body = json!({
        "topic": topic,
        "title": rendered.headline(),
        "message": shorten(&text, MAX_MESSAGE_BYTES),
        "priority": priority(rendered),
        "tags": [tag(rendered)],
    });
    let mut actions: Vec<Value> = action_links
        .iter()
        .take(MAX_ACTIONS)
        .map(|(label, url)| view(label, url))
        .collect();
    if let Some(link) = &rendered.link {
        body["click"] = json!(link);
        if actions.len() < MAX_ACTIONS {
            actions.insert(0, view("Open dashboard", link));
        }
    }
    if !actions.is_empty() {
        body["actions"] = json!(actions);
    }
    body
}

/// ntfy's priority: 5 (max) for critical down to 1 (min) for info; 3 once resolved.
fn priority(rendered: &Rendered) -> u8 {
    if rendered.status == "Resolved" {
        return 3;
    }
    match rendered.severity {
        Severity::Critical => 5,
        Severity::High => 4,
        Severity::Medium => 3,
        Severity::Low => 2,
        Severity::Info => 1,
    }
}

/// The emoji tag shown before the title.
fn tag(rendered: &Rendered) -> &'static str {
    match rendered.status {
        "Resolved" => "white_check_mark",
        "Acknowledged" => "eyes",
        _ if matches!(rendered.severity, Severity::Critical | Severity::High) => "rotating_light",
        _ => "warning",
    }
}

fn view(label: &str, url: &str) -> Value {
    json!({"action": "view", "label": label, "url": url, "clear": false})
}

/// `text` cut to at most `max_bytes` bytes of UTF-8, on a character boundary, with an
/// ellipsis when cut.
fn shorten(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_owned();
    }
    let ellipsis = '…';
    let mut cut = String::with_capacity(max_bytes);
    for c in text.chars() {
        if cut.len() + c.len_utf8() + ellipsis.len_utf8() > max_bytes {
            break;
        }
        cut.push(c);
    }
    cut.push(ellipsis);
    cut
}

/// Publishes the message to the channel's topic.
pub async fn send(
    http: &reqwest::Client,
    config: &serde_json::Value,
    message: &Message<'_>,
) -> DeliveryOutcome {
    let config = match Config::deserialize(config) {
        Ok(config) => config,
        Err(e) => return bad_config(e),
    };
    let server = config
        .server_url
        .as_deref()
        .unwrap_or(DEFAULT_SERVER)
        .trim_end_matches('/');
    let url = match reqwest::Url::parse(&format!("{server}/")) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => url,
        _ => return bad_config("server_url is not an http(s) URL"),
    };
    let mut request = http
        .post(url)
        .json(&body(&config.topic, message, &message.links()));
    if let Some(token) = &config.access_token {
        request = request.bearer_auth(token);
    }
    let response = match super::http::send(request).await {
        Ok(response) => response,
        Err(outcome) => return outcome,
    };
    let status = response.status();
    let wait = retry_after(response.headers());
    let text = response.text().await.unwrap_or_default();
    let answer: Value = serde_json::from_str(&text).unwrap_or_default();
    if status.is_success() {
        return DeliveryOutcome::Sent {
            provider_status: status_line(status),
            provider_message_id: answer["id"].as_str().map(str::to_owned),
        };
    }
    let error = match (answer["error"].as_str(), answer["code"].as_i64()) {
        (Some(error), Some(code)) => {
            format!("ntfy answered {}: {error} ({code})", status_line(status))
        }
        (Some(error), None) => format!("ntfy answered {}: {error}", status_line(status)),
        _ => snippet(status, &text),
    };
    failure(status, error, wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(status: &'static str, severity: Severity) -> Rendered {
        Rendered {
            status,
            title: "Disk full on db-1".to_owned(),
            severity,
            fields: vec![
                ("Severity", severity.as_str().to_owned()),
                ("Source", "prometheus".to_owned()),
            ],
            description: Some("/var is at 99%".to_owned()),
            actionable_incident: None,
            link: Some("https://tocsin.example/incidents/1".to_owned()),
        }
    }

    #[test]
    fn the_body_carries_title_fields_priority_tags_and_buttons() {
        let body = payload(
            "ops-alerts",
            &rendered("Triggered", Severity::Critical),
            &[("Acknowledge", "https://tocsin.example/a/ack")],
        );
        assert_eq!(body["topic"], "ops-alerts");
        assert_eq!(body["title"], "[CRITICAL] Triggered: Disk full on db-1");
        assert_eq!(
            body["message"],
            "Severity: CRITICAL\nSource: prometheus\n\n/var is at 99%"
        );
        assert_eq!(body["priority"], 5);
        assert_eq!(body["tags"], json!(["rotating_light"]));
        assert_eq!(body["click"], "https://tocsin.example/incidents/1");
        assert_eq!(body["actions"][0]["label"], "Open dashboard");
        assert_eq!(body["actions"][1]["action"], "view");
        assert_eq!(body["actions"][1]["url"], "https://tocsin.example/a/ack");
        assert_eq!(body["actions"][1]["clear"], false);
    }

    #[test]
    fn resolved_is_quieter_and_buttons_are_capped() {
        let resolved = payload("t", &rendered("Resolved", Severity::Critical), &[]);
        assert_eq!(resolved["priority"], 3);
        assert_eq!(resolved["tags"], json!(["white_check_mark"]));
        let acknowledged = payload("t", &rendered("Acknowledged", Severity::Low), &[]);
        assert_eq!(acknowledged["priority"], 2);
        assert_eq!(acknowledged["tags"], json!(["eyes"]));
        let links = [("A", "https://a"), ("B", "https://b"), ("C", "https://c")];
        let capped = payload("t", &rendered("Triggered", Severity::Medium), &links);
        assert_eq!(capped["tags"], json!(["warning"]));
        let actions = capped["actions"].as_array().unwrap();
        assert_eq!(actions.len(), 3);
        assert_eq!(actions[0]["label"], "A");
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        assert_eq!(shorten("short", 10), "short");
        let cut = shorten(&"é".repeat(10), 9);
        assert!(cut.len() <= 9, "{cut}");
        assert_eq!(cut, "ééé…");
    }
}
