//! What every HTTP provider shares: sending a request and turning the transport's or
//! the provider's answer into a [`DeliveryOutcome`].

use std::time::Duration;

use reqwest::StatusCode;

use super::DeliveryOutcome;

/// Longest part of a provider's error body kept in the log.
pub const ERROR_BODY_CHARS: usize = 500;

/// Sends `request`; a transport failure (timeout, refused connection) is transient and
/// its text never carries the URL, which for webhooks and bots holds a token.
pub async fn send(request: reqwest::RequestBuilder) -> Result<reqwest::Response, DeliveryOutcome> {
    request.send().await.map_err(|error| {
        let transient = error.is_timeout() || error.is_connect() || error.is_request();
        let reason = crate::error::error_chain(&error.without_url());
        if transient {
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
    })
}

/// Classifies a provider's HTTP status: 5xx, 408 and 429 are transient (waiting at least
/// `retry_after`), every other non-2xx is permanent. `error` is the provider's own text.
pub fn failure(
    status: StatusCode,
    error: String,
    retry_after: Option<Duration>,
) -> DeliveryOutcome {
    let provider_status = Some(status_line(status));
    if status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
    {
        DeliveryOutcome::Transient {
            error,
            provider_status,
            retry_after,
        }
    } else {
        DeliveryOutcome::Permanent {
            error,
            provider_status,
        }
    }
}

/// A provider's error text, shortened for the log.
pub fn snippet(status: StatusCode, text: &str) -> String {
    let text: String = text.trim().chars().take(ERROR_BODY_CHARS).collect();
    if text.is_empty() {
        format!("the provider answered {}", status_line(status))
    } else {
        format!("the provider answered {}: {text}", status_line(status))
    }
}

/// `200 OK`, `429 Too Many Requests`, ...
pub fn status_line(status: StatusCode) -> String {
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
        .and_then(seconds)
}

/// Seconds as a duration, when sane (at most a day).
pub fn seconds(value: f64) -> Option<Duration> {
    (value.is_finite() && value >= 0.0).then(|| Duration::from_secs_f64(value.min(86_400.0)))
}

/// A permanent failure for a channel whose configuration cannot be used.
pub fn bad_config(error: impl std::fmt::Display) -> DeliveryOutcome {
    DeliveryOutcome::Permanent {
        error: format!("the channel's config is invalid: {error}"),
        provider_status: None,
    }
}
