//! Sentry's integration platform webhooks (an internal integration whose webhook URL is
//! the integration's, made available as an alert rule action). The `Sentry-Hook-Resource`
//! header names the payload:
//!
//! - `metric_alert`: `action` is `critical`, `warning` or `resolved`; the metric alert's
//!   incident (`data.metric_alert.id`) is one alert through all three.
//! - `event_alert` (issue alerts): `action` is `triggered`; the event's issue
//!   (`data.event.issue_id`) is the alert.
//! - `issue`: `created` and `unresolved` open the issue's alert, `assigned` acknowledges it,
//!   `resolved`, `ignored` and `archived` resolve it. Because issue alerts and issue events
//!   share the issue id as dedup key, resolving the issue in Sentry resolves the alert an
//!   issue alert opened.
//!
//! Other resources (`installation`, `comment`, `error`, ...) are accepted and create nothing,
//! so installing the integration in Sentry does not fail. Sentry signs the body with the
//! integration's client secret: HMAC-SHA256, hex, in `Sentry-Hook-Signature`, which is the
//! default verification for this type.

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::text_at as text;
use crate::alerts::{AlertAction, NormalizedAlert, Severity};
use crate::error::ApiError;

/// The header that carries Sentry's signature.
pub const SIGNATURE_HEADER: &str = "Sentry-Hook-Signature";

/// Parses a Sentry webhook into the alerts it carries (none for resources that are not
/// alerts).
pub fn parse(
    value: Value,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> Result<Vec<NormalizedAlert>, ApiError> {
    if !value.is_object() {
        return Err(ApiError::invalid_field(
            "",
            "the body must be a Sentry webhook object",
        ));
    }
    let resource = headers
        .get("sentry-hook-resource")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            // Without the header (a replayed body), the payload itself tells.
            ["metric_alert", "event", "issue"]
                .into_iter()
                .find(|key| value["data"].get(key).is_some())
                .map(|key| if key == "event" { "event_alert" } else { key }.to_owned())
        })
        .unwrap_or_default();
    let action = text(&value, &["action"]).ok_or_else(|| {
        ApiError::invalid_field("action", "action is required in a Sentry webhook")
    })?;
    match resource.as_str() {
        "metric_alert" => metric_alert(&value, &action, now).map(|a| vec![a]),
        "event_alert" => event_alert(&value, &action, now).map(|a| vec![a]),
        "issue" => issue(&value, &action, now).map(|a| a.into_iter().collect()),
        _ => Ok(Vec::new()),
    }
}

fn metric_alert(
    value: &Value,
    action: &str,
    now: DateTime<Utc>,
) -> Result<NormalizedAlert, ApiError> {
    let (action, severity) = match action {
        "critical" => (AlertAction::Trigger, Severity::Critical),
        "warning" => (AlertAction::Trigger, Severity::Medium),
        "resolved" => (AlertAction::Resolve, Severity::Info),
        other => return Err(unknown_action(other, "critical, warning or resolved")),
    };
    let incident = &value["data"]["metric_alert"];
    let id = text(incident, &["id"]).ok_or_else(|| {
        ApiError::invalid_field(
            "data.metric_alert.id",
            "data.metric_alert.id is required in a metric alert",
        )
    })?;
    let title = text(incident, &["alert_rule", "name"])
        .or_else(|| text(value, &["data", "description_title"]))
        .or_else(|| text(incident, &["title"]))
        .unwrap_or_else(|| format!("Sentry metric alert {id}"));
    Ok(NormalizedAlert {
        title: bounded_title(&title),
        description: text(value, &["data", "description_text"]),
        severity,
        tool_severity: text(value, &["action"]),
        dedup_key: Some(format!("sentry:metric_alert:{id}")),
        group_key: None,
        action,
        triggered_at: time(incident, "date_started")
            .or_else(|| time(incident, "date_detected"))
            .unwrap_or(now),
        metadata: metadata(value, text(value, &["data", "web_url"])),
    })
}

fn event_alert(
    value: &Value,
    action: &str,
    now: DateTime<Utc>,
) -> Result<NormalizedAlert, ApiError> {
    if action != "triggered" {
        return Err(unknown_action(action, "triggered"));
    }
    let event = &value["data"]["event"];
    let issue_id = text(event, &["issue_id"]).ok_or_else(|| {
        ApiError::invalid_field(
            "data.event.issue_id",
            "data.event.issue_id is required in an issue alert",
        )
    })?;
    let level = text(event, &["level"]);
    let title = text(event, &["title"])
        .or_else(|| text(event, &["message"]))
        .unwrap_or_else(|| format!("Sentry issue {issue_id}"));
    let description = [
        text(value, &["data", "triggered_rule"]).map(|rule| format!("Rule: {rule}")),
        text(event, &["culprit"]),
        text(event, &["web_url"]),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("\n");
    Ok(NormalizedAlert {
        title: bounded_title(&title),
        description: Some(description).filter(|d| !d.is_empty()),
        severity: level_severity(level.as_deref()),
        tool_severity: level,
        dedup_key: Some(format!("sentry:issue:{issue_id}")),
        group_key: None,
        action: AlertAction::Trigger,
        triggered_at: time(event, "datetime").unwrap_or(now),
        metadata: metadata(value, text(event, &["web_url"])),
    })
}

fn issue(
    value: &Value,
    action: &str,
    now: DateTime<Utc>,
) -> Result<Option<NormalizedAlert>, ApiError> {
    let action = match action {
        "created" | "unresolved" => AlertAction::Trigger,
        "assigned" => AlertAction::Acknowledge,
        "resolved" | "ignored" | "archived" => AlertAction::Resolve,
        other => {
            return Err(unknown_action(
                other,
                "created, unresolved, assigned, resolved, ignored or archived",
            ));
        }
    };
    let issue = &value["data"]["issue"];
    let id = text(issue, &["id"]).ok_or_else(|| {
        ApiError::invalid_field(
            "data.issue.id",
            "data.issue.id is required in an issue event",
        )
    })?;
    let level = text(issue, &["level"]);
    let title = text(issue, &["title"]).unwrap_or_else(|| format!("Sentry issue {id}"));
    let link = text(issue, &["web_url"]).or_else(|| text(issue, &["permalink"]));
    Ok(Some(NormalizedAlert {
        title: bounded_title(&title),
        description: [text(issue, &["culprit"]), link.clone()]
            .into_iter()
            .flatten()
            .reduce(|a, b| format!("{a}\n{b}")),
        severity: level_severity(level.as_deref()),
        tool_severity: level,
        dedup_key: Some(format!("sentry:issue:{id}")),
        group_key: None,
        action,
        triggered_at: time(issue, "firstSeen").unwrap_or(now),
        metadata: metadata(value, link),
    }))
}

/// Sentry's event levels.
fn level_severity(level: Option<&str>) -> Severity {
    match level {
        Some("fatal") => Severity::Critical,
        Some("error") | None => Severity::High,
        Some("warning") => Severity::Medium,
        Some("info") => Severity::Info,
        Some(_) => Severity::Low,
    }
}

fn unknown_action(action: &str, expected: &str) -> ApiError {
    ApiError::invalid_field(
        "action",
        format!("action {action:?} is not one this Sentry resource sends (expected {expected})"),
    )
}

fn time(value: &Value, key: &str) -> Option<DateTime<Utc>> {
    value.get(key)?.as_str()?.parse().ok()
}

fn bounded_title(title: &str) -> String {
    title
        .chars()
        .take(super::generic::MAX_TITLE_CHARS)
        .collect()
}

fn metadata(value: &Value, web_url: Option<String>) -> Value {
    serde_json::json!({ "web_url": web_url, "sentry": value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(resource: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("sentry-hook-resource", resource.parse().unwrap());
        headers
    }

    #[test]
    fn issue_alerts_and_issue_events_share_the_issue_as_dedup_key() {
        let alert = json!({"action": "triggered", "data": {"event": {"issue_id": "42", "title": "boom", "level": "fatal"}}});
        let resolved =
            json!({"action": "resolved", "data": {"issue": {"id": "42", "title": "boom"}}});
        let opened = parse(alert, &headers("event_alert"), Utc::now()).unwrap();
        let closed = parse(resolved, &headers("issue"), Utc::now()).unwrap();
        assert_eq!(opened[0].dedup_key, closed[0].dedup_key);
        assert_eq!(opened[0].severity, Severity::Critical);
        assert_eq!(closed[0].action, AlertAction::Resolve);
    }

    #[test]
    fn the_resource_is_found_in_the_body_without_the_header() {
        let body = json!({"action": "warning", "data": {"metric_alert": {"id": 7}}});
        let alerts = parse(body, &HeaderMap::new(), Utc::now()).unwrap();
        assert_eq!(
            alerts[0].dedup_key.as_deref(),
            Some("sentry:metric_alert:7")
        );
        assert_eq!(alerts[0].severity, Severity::Medium);
    }

    #[test]
    fn other_resources_create_nothing() {
        let body = json!({"action": "created", "data": {"installation": {}}});
        assert!(
            parse(body, &headers("installation"), Utc::now())
                .unwrap()
                .is_empty()
        );
    }
}
