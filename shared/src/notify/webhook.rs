//! The generic webhook provider: a JSON POST to the channel's URL.

use std::time::Duration;

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{DeliveryOutcome, Message, NotificationEvent};

/// A webhook channel's `config`.
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookConfig {
    /// Where to POST (http or https).
    pub url: String,
}

/// The JSON body a webhook channel receives.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebhookBody {
    /// What happened: `incident.triggered`, `incident.acknowledged`, `incident.resolved`.
    #[serde(rename = "type")]
    pub kind: NotificationEvent,
    /// The notification's id; the same on every retry, so receivers can drop repeats.
    pub notification_id: Uuid,
    /// The incident, when the alert belongs to one.
    pub incident: Option<serde_json::Value>,
    /// The alert that caused the notification.
    pub alert: serde_json::Value,
}

/// Longest part of a provider's error body kept in the log.
const ERROR_BODY_CHARS: usize = 500;

/// POSTs the alert to the channel's URL and classifies the answer.
pub async fn send(
    http: &reqwest::Client,
    config: &serde_json::Value,
    message: &Message<'_>,
) -> DeliveryOutcome {
    let config = match WebhookConfig::deserialize(config) {
        Ok(config) => config,
        Err(e) => {
            return DeliveryOutcome::Permanent {
                error: format!("the channel's config is invalid: {e}"),
                provider_status: None,
            };
        }
    };
    let url = match reqwest::Url::parse(&config.url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => url,
        _ => {
            return DeliveryOutcome::Permanent {
                error: "the channel's url is not an http(s) URL".to_owned(),
                provider_status: None,
            };
        }
    };
    let body = WebhookBody {
        kind: message.event,
        notification_id: message.notification_id,
        incident: message
            .incident
            .map(|incident| serde_json::to_value(incident).unwrap_or_default()),
        alert: serde_json::to_value(message.alert).unwrap_or_default(),
    };
    let response = http
        .post(url)
        .header("webhook-id", message.notification_id.to_string())
        .json(&body)
        .send()
        .await;
    match response {
        Ok(response) => classify(response).await,
        Err(error) => {
            let reason = crate::error::error_chain(&error);
            // Never log the URL: a webhook URL often carries a token in its path.
            let reason = match error.url() {
                Some(url) => reason.replace(url.as_str(), "<channel url>"),
                None => reason,
            };
            if error.is_timeout() || error.is_connect() || error.is_request() {
                DeliveryOutcome::Transient {
                    error: reason,
                    provider_status: None,
                    retry_after: None,
                }
            } else {
                DeliveryOutcome::Permanent {
                    error: reason,
                    provider_status: None,
                }
            }
        }
    }
}

async fn classify(response: reqwest::Response) -> DeliveryOutcome {
    let status = response.status();
    let status_line = status_line(status);
    if status.is_success() {
        let provider_message_id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        return DeliveryOutcome::Sent {
            provider_status: status_line,
            provider_message_id,
        };
    }
    let retry_after = retry_after(response.headers());
    let text = response.text().await.unwrap_or_default();
    let snippet: String = text.chars().take(ERROR_BODY_CHARS).collect();
    let error = if snippet.trim().is_empty() {
        format!("the endpoint answered {status_line}")
    } else {
        format!("the endpoint answered {status_line}: {}", snippet.trim())
    };
    if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        DeliveryOutcome::Transient {
            error,
            provider_status: Some(status_line),
            retry_after,
        }
    } else {
        DeliveryOutcome::Permanent {
            error,
            provider_status: Some(status_line),
        }
    }
}

fn status_line(status: StatusCode) -> String {
    format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default()
    )
    .trim_end()
    .to_owned()
}

/// `Retry-After` in seconds (the HTTP-date form is rare from APIs and is ignored).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(86_400.0)))
}
