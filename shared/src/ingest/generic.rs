//! Tocsin's own alert format, for scripts and tools without a format of their own.
//! Documented in `docs/ingest-generic.md`.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::alerts::{AlertAction, NormalizedAlert, Severity};
use crate::error::ApiError;

/// Longest title accepted, in characters.
pub const MAX_TITLE_CHARS: usize = 1024;
/// Longest description accepted, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 65_536;
/// Longest dedup key accepted, in characters.
pub const MAX_DEDUP_KEY_CHARS: usize = 255;
/// Largest `details` object kept in the alert's metadata, in bytes of JSON.
pub const MAX_DETAILS_BYTES: usize = 32 * 1024;

#[derive(Debug, Deserialize)]
struct GenericAlert {
    title: Option<String>,
    severity: Option<String>,
    description: Option<String>,
    dedup_key: Option<String>,
    group_key: Option<String>,
    action: Option<AlertAction>,
    triggered_at: Option<DateTime<Utc>>,
    details: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Parses a generic alert from a JSON value. `now` stands in for a missing `triggered_at`.
pub fn parse(value: serde_json::Value, now: DateTime<Utc>) -> Result<NormalizedAlert, ApiError> {
    if !value.is_object() {
        return Err(ApiError::invalid_field(
            "",
            "the body must be a JSON object describing one alert",
        ));
    }
    let alert: GenericAlert = serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        ApiError::invalid_field(field.clone(), format!("{field}: {}", e.inner()))
    })?;

    let action = alert.action.unwrap_or(AlertAction::Trigger);
    let dedup_key = alert
        .dedup_key
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty());
    if action != AlertAction::Trigger && dedup_key.is_none() {
        return Err(ApiError::invalid_field(
            "dedup_key",
            "dedup_key is required to acknowledge or resolve an alert",
        ));
    }
    // Acknowledge and resolve name an alert by its dedup key; title and severity are
    // only needed to open one.
    let fallback_title = (action != AlertAction::Trigger)
        .then(|| dedup_key.clone())
        .flatten();
    let title = alert
        .title
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .or(fallback_title)
        .unwrap_or_default();
    if title.is_empty() {
        return Err(ApiError::invalid_field(
            "title",
            "title is required and must not be blank",
        ));
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(ApiError::invalid_field(
            "title",
            format!("title must be at most {MAX_TITLE_CHARS} characters"),
        ));
    }
    let severity = match (alert.severity.as_deref(), action) {
        (None, AlertAction::Acknowledge | AlertAction::Resolve) => Severity::Info,
        (name, _) => Severity::parse(name.unwrap_or_default()).ok_or_else(|| {
            ApiError::invalid_field(
                "severity",
                "severity is required and must be one of CRITICAL, HIGH, MEDIUM, LOW, INFO",
            )
        })?,
    };
    let description = alert.description.filter(|d| !d.trim().is_empty());
    if description
        .as_deref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION_CHARS)
    {
        return Err(ApiError::invalid_field(
            "description",
            format!("description must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    if dedup_key
        .as_deref()
        .is_some_and(|k| k.chars().count() > MAX_DEDUP_KEY_CHARS)
    {
        return Err(ApiError::invalid_field(
            "dedup_key",
            format!("dedup_key must be at most {MAX_DEDUP_KEY_CHARS} characters"),
        ));
    }
    let group_key = alert
        .group_key
        .map(|k| k.trim().chars().take(1024).collect::<String>())
        .filter(|k| !k.is_empty());
    let details = serde_json::Value::Object(alert.details.unwrap_or_default());
    if details.to_string().len() > MAX_DETAILS_BYTES {
        return Err(ApiError::invalid_field(
            "details",
            format!("details must be at most {MAX_DETAILS_BYTES} bytes of JSON"),
        ));
    }
    Ok(NormalizedAlert {
        title,
        description,
        severity,
        tool_severity: None,
        dedup_key,
        group_key,
        action,
        triggered_at: alert.triggered_at.unwrap_or(now),
        metadata: serde_json::json!({ "details": details }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(value: serde_json::Value) -> Option<String> {
        parse(value, Utc::now()).unwrap_err().problem().field
    }

    #[test]
    fn a_complete_alert_parses() {
        let alert = parse(
            json!({
                "title": " Disk almost full ",
                "severity": "high",
                "description": "/var at 93%",
                "dedup_key": "disk-web-1",
                "triggered_at": "2026-11-22T03:00:00Z",
                "details": {"host": "web-1"},
                "unknown_extra": [1, 2, 3]
            }),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(alert.title, "Disk almost full");
        assert_eq!(alert.severity, Severity::High);
        assert_eq!(alert.dedup_key.as_deref(), Some("disk-web-1"));
        assert_eq!(alert.triggered_at.to_rfc3339(), "2026-11-22T03:00:00+00:00");
        assert_eq!(alert.metadata, json!({"details": {"host": "web-1"}}));
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(
            field_of(json!({"severity": "HIGH"})).as_deref(),
            Some("title")
        );
        assert_eq!(field_of(json!({"title": "x"})).as_deref(), Some("severity"));
        assert_eq!(
            field_of(json!({"title": "x", "severity": "urgent"})).as_deref(),
            Some("severity")
        );
        assert_eq!(
            field_of(json!({"title": 5, "severity": "LOW"})).as_deref(),
            Some("title")
        );
        assert_eq!(
            field_of(json!({"title": "x", "severity": "LOW", "triggered_at": "yesterday"}))
                .as_deref(),
            Some("triggered_at")
        );
        assert_eq!(
            field_of(json!({"title": "x", "severity": "LOW", "dedup_key": "k".repeat(256)}))
                .as_deref(),
            Some("dedup_key")
        );
        assert_eq!(
            field_of(json!(["not", "an", "object"])).as_deref(),
            Some("")
        );
    }
}
