//! The generic webhook provider: a JSON POST to the channel's URL, signed the Standard
//! Webhooks way (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>` over
//! `{id}.{timestamp}.{body}` with the channel's `whsec_` secret), so receivers can use any
//! Standard Webhooks library to verify it.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::http::{bad_config, failure, retry_after, snippet, status_line};
use super::{DeliveryOutcome, Message, NotificationEvent};

/// A webhook channel's `config` (with its secret opened).
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookConfig {
    /// Where to POST (http or https).
    pub url: String,
    /// The `whsec_` signing secret; channels written before signing existed have none.
    pub secret: Option<String>,
}

/// The JSON body a webhook channel receives.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebhookBody {
    /// What happened: `incident.triggered`, `incident.acknowledged`, `incident.resolved`,
    /// `notification` (a notice).
    #[serde(rename = "type")]
    pub kind: NotificationEvent,
    /// The notification's id; the same on every retry, so receivers can drop repeats.
    pub notification_id: Uuid,
    /// The incident, when the alert belongs to one.
    pub incident: Option<serde_json::Value>,
    /// The alert that caused the notification (null for a notice).
    pub alert: serde_json::Value,
    /// A notice's `title`, `body` and `severity` (type `notification`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<serde_json::Value>,
}

/// POSTs the alert to the channel's URL and classifies the answer.
pub async fn send(
    http: &reqwest::Client,
    config: &serde_json::Value,
    message: &Message<'_>,
) -> DeliveryOutcome {
    let config = match WebhookConfig::deserialize(config) {
        Ok(config) => config,
        Err(e) => return bad_config(e),
    };
    let url = match reqwest::Url::parse(&config.url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => url,
        _ => return bad_config("url is not an http(s) URL"),
    };
    let body = WebhookBody {
        kind: message.event,
        notification_id: message.notification_id,
        incident: message
            .incident
            .map(|incident| serde_json::to_value(incident).unwrap_or_default()),
        alert: if message.event == NotificationEvent::Notification {
            serde_json::Value::Null
        } else {
            serde_json::to_value(message.alert).unwrap_or_default()
        },
        notice: (message.event == NotificationEvent::Notification).then(|| {
            serde_json::json!({
                "title": message.alert.title,
                "body": message.alert.description,
                "severity": message.alert.severity,
            })
        }),
    };
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let id = message.notification_id.to_string();
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let mut request = http
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", &timestamp);
    if let Some(secret) = &config.secret {
        let signature =
            crate::ingest::verify::sign_standard_webhooks(secret, &id, &timestamp, &body);
        request = request.header("webhook-signature", signature);
    }
    let response = match super::http::send(request.body(body)).await {
        Ok(response) => response,
        Err(outcome) => return outcome,
    };
    let status = response.status();
    if status.is_success() {
        let provider_message_id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        return DeliveryOutcome::Sent {
            provider_status: status_line(status),
            provider_message_id,
        };
    }
    let wait = retry_after(response.headers());
    let text = response.text().await.unwrap_or_default();
    failure(status, snippet(status, &text), wait)
}
