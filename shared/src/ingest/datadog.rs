//! Datadog's webhook integration. Its default payload is all strings (`title`, `body`,
//! `date` in epoch milliseconds, `id`, `org`, ...). Users commonly add `$ALERT_ID`,
//! `$AGGREG_KEY`, `$ALERT_TRANSITION`, `$ALERT_PRIORITY` and `$ALERT_TYPE` as
//! `alert_id`, `aggreg_key`, `alert_transition`, `alert_priority` and `alert_type`. The
//! transition decides the event (it is taken from the title's `[Recovered]` / `[Triggered]`
//! prefix when absent), and the alert id, the aggregation key or the title without its
//! prefix is the dedup key.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::alerts::{AlertAction, NormalizedAlert, Severity};
use crate::error::ApiError;
use crate::http::from_json_value;

#[derive(Debug, Deserialize)]
struct Payload {
    title: Option<String>,
    body: Option<String>,
    date: Option<String>,
    alert_id: Option<String>,
    aggreg_key: Option<String>,
    alert_transition: Option<String>,
    alert_priority: Option<String>,
    alert_type: Option<String>,
}

/// Parses a Datadog webhook.
pub fn parse(value: serde_json::Value, now: DateTime<Utc>) -> Result<NormalizedAlert, ApiError> {
    if !value.is_object() {
        return Err(ApiError::invalid_field(
            "",
            "the body must be a Datadog webhook object",
        ));
    }
    let payload: Payload = from_json_value(value.clone())?;
    let raw_title = payload
        .title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::invalid_field("title", "title ($EVENT_TITLE) is required"))?;
    // "[Triggered on {host:web-1}] CPU high" → ("Triggered", "CPU high")
    let (prefix, title) = match raw_title.strip_prefix('[').and_then(|r| r.split_once(']')) {
        Some((prefix, rest)) => (Some(prefix), rest.trim()),
        None => (None, raw_title),
    };
    let transition = payload
        .alert_transition
        .clone()
        .or_else(|| prefix.map(|p| p.split(" on ").next().unwrap_or(p).to_owned()))
        .unwrap_or_else(|| "Triggered".to_owned());
    let action = match transition.to_ascii_lowercase().as_str() {
        "recovered" => AlertAction::Resolve,
        "triggered" | "re-triggered" | "warn" | "re-warn" | "renotify" | "no data"
        | "re-no data" => AlertAction::Trigger,
        other => {
            return Err(ApiError::invalid_field(
                "alert_transition",
                format!("alert_transition {other:?} is not a Datadog transition"),
            ));
        }
    };
    let dedup_key = [&payload.alert_id, &payload.aggreg_key]
        .into_iter()
        .flatten()
        .map(|k| k.trim())
        .find(|k| !k.is_empty() && !k.starts_with('$'))
        .unwrap_or(title)
        .chars()
        .take(255)
        .collect::<String>();
    let severity = match payload.alert_priority.as_deref() {
        Some("P1") => Some(Severity::Critical),
        Some("P2") => Some(Severity::High),
        Some("P3") => Some(Severity::Medium),
        Some("P4") => Some(Severity::Low),
        Some("P5") => Some(Severity::Info),
        _ => None,
    }
    .or(match payload.alert_type.as_deref() {
        Some("error") => Some(Severity::High),
        Some("warning") => Some(Severity::Medium),
        Some("info" | "success") => Some(Severity::Info),
        _ => None,
    })
    .unwrap_or(if transition.eq_ignore_ascii_case("warn") {
        Severity::Medium
    } else {
        Severity::High
    });
    let triggered_at = payload
        .date
        .as_deref()
        .and_then(|d| d.trim().parse::<i64>().ok())
        .and_then(DateTime::from_timestamp_millis)
        .unwrap_or(now);
    Ok(NormalizedAlert {
        title: title
            .chars()
            .take(super::generic::MAX_TITLE_CHARS)
            .collect(),
        description: payload.body.filter(|b| !b.trim().is_empty()),
        severity,
        tool_severity: payload.alert_priority.or(payload.alert_type),
        dedup_key: Some(dedup_key),
        group_key: None,
        action,
        triggered_at,
        metadata: serde_json::json!({ "datadog": value }),
    })
}
