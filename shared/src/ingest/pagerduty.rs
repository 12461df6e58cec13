//! PagerDuty Events API v2 (`POST /v2/enqueue`), so any tool with a PagerDuty integration
//! works by changing one URL. The event's `routing_key` is the integration's key; the
//! dedup semantics are PagerDuty's: a dedup key matches events on the same routing key
//! only, a trigger for an open alert updates it, a trigger after a resolve opens a new
//! alert, and acknowledging or resolving an unknown key is accepted and does nothing.
//! Answers and errors have PagerDuty's shapes.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alerts::{AlertAction, NormalizedAlert, Severity};
use crate::error::ApiError;
use crate::http::from_json_value;

/// PagerDuty's routing keys are 32 characters.
pub const ROUTING_KEY_LEN: usize = 32;

#[derive(Debug, Deserialize)]
struct Event {
    event_action: Option<String>,
    dedup_key: Option<String>,
    payload: Option<Payload>,
    client: Option<String>,
    client_url: Option<String>,
    #[serde(default)]
    links: Vec<serde_json::Value>,
    #[serde(default)]
    images: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Payload {
    summary: Option<String>,
    source: Option<String>,
    severity: Option<String>,
    timestamp: Option<DateTime<Utc>>,
    component: Option<String>,
    group: Option<String>,
    class: Option<String>,
    custom_details: Option<serde_json::Value>,
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::bad_request(message.to_owned()).with_field(field.to_owned())
}

/// The routing key of an event body, checked for PagerDuty's length.
pub fn routing_key(value: &serde_json::Value) -> Result<&str, ApiError> {
    match value.get("routing_key").and_then(|k| k.as_str()) {
        None => Err(invalid("routing_key", "'routing_key' is missing")),
        Some(key) if key.len() != ROUTING_KEY_LEN => Err(invalid(
            "routing_key",
            "Length of 'routing_key' is incorrect (should be 32 characters)",
        )),
        Some(key) => Ok(key),
    }
}

/// Parses one event. A trigger without a dedup key gets a new one, as PagerDuty does.
pub fn parse(value: serde_json::Value, now: DateTime<Utc>) -> Result<NormalizedAlert, ApiError> {
    let event: Event = from_json_value(value).map_err(|e| {
        let problem = e.problem();
        let field = problem.field.unwrap_or_default();
        invalid(&field, &format!("'{field}' is invalid: {}", problem.detail))
    })?;
    let action = match event.event_action.as_deref() {
        Some("trigger") => AlertAction::Trigger,
        Some("acknowledge") => AlertAction::Acknowledge,
        Some("resolve") => AlertAction::Resolve,
        _ => {
            return Err(invalid(
                "event_action",
                "'event_action' must be one of trigger, acknowledge or resolve",
            ));
        }
    };
    let dedup_key = event.dedup_key.filter(|k| !k.is_empty());
    if dedup_key
        .as_deref()
        .is_some_and(|k| k.chars().count() > 255)
    {
        return Err(invalid(
            "dedup_key",
            "'dedup_key' must be at most 255 characters",
        ));
    }
    if action != AlertAction::Trigger {
        let dedup_key = dedup_key.ok_or_else(|| {
            invalid(
                "dedup_key",
                "'dedup_key' is required to acknowledge or resolve",
            )
        })?;
        return Ok(NormalizedAlert {
            title: dedup_key.clone(),
            description: None,
            severity: Severity::Info,
            tool_severity: None,
            dedup_key: Some(dedup_key),
            group_key: None,
            action,
            triggered_at: now,
            metadata: serde_json::json!({}),
        });
    }
    let payload = event
        .payload
        .ok_or_else(|| invalid("payload", "'payload' is missing"))?;
    let summary = payload
        .summary
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("payload.summary", "'payload.summary' is missing or blank"))?;
    if summary.chars().count() > 1024 {
        return Err(invalid(
            "payload.summary",
            "'payload.summary' must be at most 1024 characters",
        ));
    }
    let source = payload
        .source
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| invalid("payload.source", "'payload.source' is missing or blank"))?;
    let severity = match payload.severity.as_deref() {
        Some("critical") => Severity::Critical,
        Some("error") => Severity::High,
        Some("warning") => Severity::Medium,
        Some("info") => Severity::Info,
        _ => {
            return Err(invalid(
                "payload.severity",
                "'payload.severity' must be one of critical, error, warning or info",
            ));
        }
    };
    Ok(NormalizedAlert {
        title: summary,
        description: None,
        severity,
        tool_severity: payload.severity,
        dedup_key: Some(dedup_key.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())),
        group_key: None,
        action,
        triggered_at: payload.timestamp.unwrap_or(now),
        metadata: serde_json::json!({
            "source": source,
            "component": payload.component,
            "group": payload.group,
            "class": payload.class,
            "custom_details": payload.custom_details,
            "client": event.client,
            "client_url": event.client_url,
            "links": event.links,
            "images": event.images,
        }),
    })
}

/// PagerDuty's answer to an accepted event.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EnqueueAccepted {
    /// `success`.
    pub status: String,
    /// `Event processed`.
    pub message: String,
    /// The event's dedup key (generated for a trigger that had none).
    pub dedup_key: String,
}

/// PagerDuty's answer to a refused event.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EnqueueRefused {
    /// `invalid event`, or `error` for a failure on our side.
    pub status: String,
    pub message: String,
    pub errors: Vec<String>,
}

/// Renders an error the way PagerDuty answers: 400 for anything wrong with the event
/// (our 401, 403, 404 and 422 included, since a PagerDuty client only knows 400), 413 for
/// a body over the limit, and our own status for failures on our side.
pub fn refusal(error: ApiError) -> Response {
    let status = error.status();
    if status.is_server_error() {
        // Logged, and the problem's safe message shown.
        let detail = error.detail().to_owned();
        let _ = error.into_response();
        let body = EnqueueRefused {
            status: "error".to_owned(),
            message: detail.clone(),
            errors: vec![detail],
        };
        return (status, Json(body)).into_response();
    }
    let (status, message) = if status == StatusCode::PAYLOAD_TOO_LARGE {
        (status, "Request entity too large")
    } else {
        (StatusCode::BAD_REQUEST, "Event object is invalid")
    };
    let body = EnqueueRefused {
        status: "invalid event".to_owned(),
        message: message.to_owned(),
        errors: vec![error.detail().to_owned()],
    };
    (status, Json(body)).into_response()
}
