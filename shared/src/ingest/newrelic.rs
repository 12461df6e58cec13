//! New Relic: the workflow webhook's default payload (`id` = issue id, `state`
//! ACTIVATED / ACKNOWLEDGED / CLOSED, `priority`, `createdAt` in epoch milliseconds), and
//! the legacy alert channel payload (`incident_id`, `current_state` open / acknowledged /
//! closed, `severity`, `timestamp`). The issue or incident id is the dedup key.

use chrono::{DateTime, Utc};

use crate::alerts::{AlertAction, NormalizedAlert, Severity};
use crate::error::ApiError;

fn text(value: &serde_json::Value, field: &str) -> Option<String> {
    super::text_at(value, &[field])
}

fn millis(value: &serde_json::Value, field: &str) -> Option<DateTime<Utc>> {
    let ms = match &value[field] {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }?;
    DateTime::from_timestamp_millis(ms)
}

/// Parses a New Relic workflow or legacy channel webhook.
pub fn parse(value: serde_json::Value, now: DateTime<Utc>) -> Result<NormalizedAlert, ApiError> {
    if !value.is_object() {
        return Err(ApiError::invalid_field(
            "",
            "the body must be a New Relic webhook object",
        ));
    }
    let legacy = value.get("incident_id").is_some() || value.get("current_state").is_some();
    let (id_field, state_field, severity_field, time_field) = if legacy {
        ("incident_id", "current_state", "severity", "timestamp")
    } else {
        ("id", "state", "priority", "createdAt")
    };
    let dedup_key = text(&value, id_field)
        .ok_or_else(|| ApiError::invalid_field(id_field, format!("{id_field} is required")))?;
    let state = text(&value, state_field).ok_or_else(|| {
        ApiError::invalid_field(state_field, format!("{state_field} is required"))
    })?;
    let action = match state.to_ascii_uppercase().as_str() {
        "ACTIVATED" | "CREATED" | "OPEN" => AlertAction::Trigger,
        "ACKNOWLEDGED" => AlertAction::Acknowledge,
        "CLOSED" => AlertAction::Resolve,
        other => {
            return Err(ApiError::invalid_field(
                state_field,
                format!("{state_field} {other:?} is not a New Relic state"),
            ));
        }
    };
    let severity = match text(&value, severity_field)
        .map(|s| s.to_ascii_uppercase())
        .as_deref()
    {
        Some("CRITICAL") => Severity::Critical,
        Some("HIGH") => Severity::High,
        Some("MEDIUM" | "WARNING") => Severity::Medium,
        Some("LOW") => Severity::Low,
        Some("INFO") => Severity::Info,
        _ => Severity::High,
    };
    let title = text(&value, "title")
        .or_else(|| text(&value, "condition_name"))
        .or_else(|| text(&value, "details"))
        .unwrap_or_else(|| format!("New Relic issue {dedup_key}"));
    Ok(NormalizedAlert {
        title: title
            .chars()
            .take(super::generic::MAX_TITLE_CHARS)
            .collect(),
        description: text(&value, if legacy { "details" } else { "issueUrl" }),
        severity,
        tool_severity: text(&value, severity_field),
        dedup_key: Some(dedup_key.chars().take(255).collect()),
        group_key: None,
        action,
        triggered_at: millis(&value, time_field).unwrap_or(now),
        metadata: serde_json::json!({ "newrelic": value }),
    })
}
