//! Microsoft Teams: an incoming webhook, either a Power Automate Workflows "When a Teams
//! webhook request is received" trigger or a legacy Office 365 connector, posted one
//! full-width Adaptive Card 1.4 (the headline coloured by severity, the fields as a
//! FactSet, the description, and `Action.OpenUrl` buttons). Incoming webhooks cannot carry
//! interactive `Action.Submit` / `Action.Execute` buttons, so acknowledging and resolving
//! from Teams go through the magic links, given as extra `Action.OpenUrl` buttons.
//!
//! Workflows answer 202 Accepted with no body; connectors answer 200 with the body `1`.
//! Connectors also report their own delivery failures as 200, with a text such as
//! `Microsoft Teams endpoint returned HTTP error 429 ...`: an inner 429, 408 or 5xx is
//! retried, any other error text fails at once. Non-2xx answers are classified by status,
//! 429 waiting `Retry-After`. Neither kind of webhook gives a message id.

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{ERROR_BODY_CHARS, bad_config, failure, retry_after, snippet, status_line};
use super::render::{Rendered, render};
use super::{DeliveryOutcome, Message};
use crate::alerts::Severity;

#[derive(Debug, Deserialize)]
struct Config {
    webhook_url: String,
}

/// The webhook body: one Adaptive Card, with an "Open dashboard" button when the incident
/// has a dashboard link and one `Action.OpenUrl` button per `(label, url)` of
/// `action_links` (the magic links to acknowledge or resolve).
pub fn body(message: &Message<'_>, action_links: &[(&str, &str)]) -> Value {
    card(&render(message), action_links)
}

fn card(rendered: &Rendered, action_links: &[(&str, &str)]) -> Value {
    let mut headline = json!({
        "type": "TextBlock",
        "text": rendered.headline(),
        "weight": "Bolder",
        "size": "Medium",
        "wrap": true,
    });
    if let Some(color) = headline_color(rendered) {
        headline["color"] = json!(color);
    }
    let facts: Vec<_> = rendered
        .fields
        .iter()
        .map(|(label, value)| json!({"title": label, "value": value}))
        .collect();
    let mut blocks = vec![headline, json!({"type": "FactSet", "facts": facts})];
    if let Some(description) = &rendered.description {
        blocks.push(json!({"type": "TextBlock", "text": description, "wrap": true}));
    }
    let mut actions = Vec::new();
    if let Some(link) = &rendered.link {
        actions.push(open_url("Open dashboard", link));
    }
    actions.extend(action_links.iter().map(|(label, url)| open_url(label, url)));
    let mut content = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": blocks,
    });
    if !actions.is_empty() {
        content["actions"] = json!(actions);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": content,
        }],
    })
}

/// The headline's colour: `good` once resolved, `attention` while a critical or high
/// incident is open, the default otherwise.
fn headline_color(rendered: &Rendered) -> Option<&'static str> {
    if rendered.status == "Resolved" {
        Some("good")
    } else if matches!(rendered.severity, Severity::Critical | Severity::High) {
        Some("attention")
    } else {
        None
    }
}

fn open_url(title: &str, url: &str) -> Value {
    json!({"type": "Action.OpenUrl", "title": title, "url": url})
}

/// Posts the card to the channel's webhook.
pub async fn send(
    http: &reqwest::Client,
    config: &serde_json::Value,
    message: &Message<'_>,
) -> DeliveryOutcome {
    let config = match Config::deserialize(config) {
        Ok(config) => config,
        Err(e) => return bad_config(e),
    };
    let url = match reqwest::Url::parse(&config.webhook_url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => url,
        _ => return bad_config("webhook_url is not an http(s) URL"),
    };
    let request = http.post(url).json(&body(message, &message.links()));
    let response = match super::http::send(request).await {
        Ok(response) => response,
        Err(outcome) => return outcome,
    };
    let status = response.status();
    let wait = retry_after(response.headers());
    let text = response.text().await.unwrap_or_default();
    if status.is_success() {
        return accepted(status, &text, wait);
    }
    let answer: Value = serde_json::from_str(&text).unwrap_or_default();
    let error = match answer["error"]["message"].as_str() {
        Some(detail) => match answer["error"]["code"].as_str() {
            Some(code) => format!("Teams answered {}: {code} {detail}", status_line(status)),
            None => format!("Teams answered {}: {detail}", status_line(status)),
        },
        None => snippet(status, &text),
    };
    failure(status, error, wait)
}

/// Classifies a 2xx answer: a connector reports its own failures in the body of a 200.
fn accepted(status: StatusCode, text: &str, wait: Option<std::time::Duration>) -> DeliveryOutcome {
    let text = text.trim();
    let lower = text.to_ascii_lowercase();
    if text == "1" || !lower.contains("error") {
        return DeliveryOutcome::Sent {
            provider_status: status_line(status),
            provider_message_id: None,
        };
    }
    let provider_status = Some(status_line(status));
    let error = format!(
        "Teams answered {}: {}",
        status_line(status),
        text.chars().take(ERROR_BODY_CHARS).collect::<String>()
    );
    let inner = lower
        .split_once("http error ")
        .and_then(|(_, rest)| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok());
    match inner {
        Some(inner)
            if inner == StatusCode::TOO_MANY_REQUESTS
                || inner == StatusCode::REQUEST_TIMEOUT
                || inner.is_server_error() =>
        {
            DeliveryOutcome::Transient {
                error,
                provider_status,
                retry_after: wait,
            }
        }
        _ => DeliveryOutcome::Permanent {
            error,
            provider_status,
        },
    }
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
    fn the_card_carries_headline_facts_description_and_buttons() {
        let body = card(
            &rendered("Triggered", Severity::Critical),
            &[("Acknowledge", "https://tocsin.example/a/ack")],
        );
        let attachment = &body["attachments"][0];
        assert_eq!(body["type"], "message");
        assert_eq!(
            attachment["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert!(attachment["contentUrl"].is_null());
        let content = &attachment["content"];
        assert_eq!(content["version"], "1.4");
        assert_eq!(content["msteams"]["width"], "Full");
        assert_eq!(
            content["body"][0]["text"],
            "[CRITICAL] Triggered: Disk full on db-1"
        );
        assert_eq!(content["body"][0]["color"], "attention");
        assert_eq!(content["body"][1]["facts"][1]["title"], "Source");
        assert_eq!(content["body"][1]["facts"][1]["value"], "prometheus");
        assert_eq!(content["body"][2]["text"], "/var is at 99%");
        assert_eq!(content["actions"][0]["title"], "Open dashboard");
        assert_eq!(
            content["actions"][0]["url"],
            "https://tocsin.example/incidents/1"
        );
        assert_eq!(content["actions"][1]["type"], "Action.OpenUrl");
        assert_eq!(content["actions"][1]["title"], "Acknowledge");
    }

    #[test]
    fn the_headline_is_green_once_resolved_and_plain_when_minor() {
        let resolved = card(&rendered("Resolved", Severity::Critical), &[]);
        assert_eq!(
            resolved["attachments"][0]["content"]["body"][0]["color"],
            "good"
        );
        let mut minor = rendered("Triggered", Severity::Low);
        minor.link = None;
        let minor = card(&minor, &[]);
        let content = &minor["attachments"][0]["content"];
        assert!(content["body"][0].get("color").is_none());
        assert!(content.get("actions").is_none());
    }

    #[test]
    fn connector_errors_in_a_200_are_classified() {
        assert!(matches!(
            accepted(StatusCode::OK, "1", None),
            DeliveryOutcome::Sent { .. }
        ));
        assert!(matches!(
            accepted(StatusCode::ACCEPTED, "", None),
            DeliveryOutcome::Sent { .. }
        ));
        assert!(matches!(
            accepted(
                StatusCode::OK,
                "Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0",
                None
            ),
            DeliveryOutcome::Transient { .. }
        ));
        match accepted(
            StatusCode::OK,
            "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 413",
            None,
        ) {
            DeliveryOutcome::Permanent {
                error,
                provider_status,
            } => {
                assert!(
                    error.starts_with("Teams answered 200 OK: Webhook"),
                    "{error}"
                );
                assert_eq!(provider_status.as_deref(), Some("200 OK"));
            }
            other => panic!("{other:?}"),
        }
    }
}
