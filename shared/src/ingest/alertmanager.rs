//! Prometheus Alertmanager's webhook payload (version 4). Every alert of the group counts
//! by its own status; its fingerprint (or, without one, its labels) is the dedup key, and
//! `groupKey` groups the alerts into one incident.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::alerts::{AlertAction, NormalizedAlert, Severity};
use crate::error::ApiError;
use crate::http::from_json_value;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    version: Option<String>,
    group_key: Option<String>,
    truncated_alerts: Option<u64>,
    receiver: Option<String>,
    #[serde(default)]
    group_labels: BTreeMap<String, String>,
    #[serde(rename = "externalURL")]
    external_url: Option<String>,
    alerts: Vec<Alert>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Alert {
    status: Status,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<String>,
    #[serde(rename = "generatorURL")]
    generator_url: Option<String>,
    fingerprint: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Firing,
    Resolved,
}

/// Parses an Alertmanager notification into one normalized alert per alert of the group.
pub fn parse(
    value: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<Vec<NormalizedAlert>, ApiError> {
    if !value.is_object() {
        return Err(ApiError::invalid_field(
            "",
            "the body must be an Alertmanager notification object",
        ));
    }
    let notification: Notification = from_json_value(value)?;
    if notification.alerts.is_empty() {
        return Err(ApiError::invalid_field(
            "alerts",
            "alerts must hold at least one alert",
        ));
    }
    let group_key = notification.group_key.clone().filter(|k| !k.is_empty());
    notification
        .alerts
        .iter()
        .enumerate()
        .map(|(index, alert)| normalize(&notification, alert, index, group_key.clone(), now))
        .collect()
}

fn normalize(
    notification: &Notification,
    alert: &Alert,
    index: usize,
    group_key: Option<String>,
    now: DateTime<Utc>,
) -> Result<NormalizedAlert, ApiError> {
    let name = alert.labels.get("alertname").map(String::as_str);
    let title = alert
        .annotations
        .get("summary")
        .map(String::as_str)
        .or(name)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::invalid_field(
                format!("alerts[{index}].labels.alertname"),
                "an alert needs an alertname label or a summary annotation",
            )
        })?;
    let title: String = match (
        alert.annotations.get("summary"),
        name,
        alert.labels.get("instance"),
    ) {
        (None, Some(_), Some(instance)) => format!("{title} on {instance}"),
        _ => title.to_owned(),
    };
    let dedup_key = match alert.fingerprint.as_deref().filter(|f| !f.is_empty()) {
        Some(fingerprint) => fingerprint.to_owned(),
        // Alertmanager's fingerprint is a hash of the labels; do the same without one.
        None => hex::encode(Sha256::digest(
            serde_json::to_string(&alert.labels).unwrap_or_default(),
        ))[..16]
            .to_owned(),
    };
    Ok(NormalizedAlert {
        title: title
            .chars()
            .take(crate::ingest::generic::MAX_TITLE_CHARS)
            .collect(),
        description: alert.annotations.get("description").cloned(),
        severity: alert
            .labels
            .get("severity")
            .and_then(|s| severity_from_label(s))
            .unwrap_or(Severity::Medium),
        tool_severity: alert.labels.get("severity").cloned(),
        dedup_key: Some(dedup_key),
        group_key,
        action: match alert.status {
            Status::Firing => AlertAction::Trigger,
            Status::Resolved => AlertAction::Resolve,
        },
        triggered_at: alert.starts_at.unwrap_or(now),
        metadata: serde_json::json!({
            "labels": alert.labels,
            "annotations": alert.annotations,
            "starts_at": alert.starts_at,
            "ends_at": alert.ends_at,
            "generator_url": alert.generator_url,
            "fingerprint": alert.fingerprint,
            "receiver": notification.receiver,
            "group_labels": notification.group_labels,
            "external_url": notification.external_url,
            "version": notification.version,
            "truncated_alerts": notification.truncated_alerts.unwrap_or(0),
        }),
    })
}

/// Maps the common values of a `severity` label.
pub fn severity_from_label(label: &str) -> Option<Severity> {
    match label.trim().to_ascii_lowercase().as_str() {
        "critical" | "crit" | "page" | "p1" | "emergency" | "fatal" => Some(Severity::Critical),
        "high" | "error" | "err" | "major" | "p2" => Some(Severity::High),
        "warning" | "warn" | "medium" | "minor" | "p3" => Some(Severity::Medium),
        "low" | "p4" => Some(Severity::Low),
        "info" | "informational" | "none" | "p5" => Some(Severity::Info),
        _ => None,
    }
}
