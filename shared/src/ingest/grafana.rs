//! Grafana Alerting's webhook contact point. Its payload extends Alertmanager's (one entry
//! per alert, each with its own status, so a firing group can carry resolved alerts), with
//! `values`, `valueString` and dashboard, panel and silence links, which are kept in the
//! alert's metadata. Grafana signs with HMAC-SHA256 over `timestamp:body` when a
//! timestamp header is configured.

use chrono::{DateTime, Utc};

use crate::alerts::NormalizedAlert;
use crate::error::ApiError;

/// The fields Grafana adds to each alert.
const ALERT_FIELDS: [(&str, &str); 6] = [
    ("values", "values"),
    ("valueString", "value_string"),
    ("dashboardURL", "dashboard_url"),
    ("panelURL", "panel_url"),
    ("silenceURL", "silence_url"),
    ("imageURL", "image_url"),
];

/// Parses a Grafana notification into one normalized alert per alert.
pub fn parse(
    value: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<Vec<NormalizedAlert>, ApiError> {
    let mut alerts = super::alertmanager::parse(value.clone(), now)?;
    let entries = value["alerts"].as_array().cloned().unwrap_or_default();
    for (alert, entry) in alerts.iter_mut().zip(entries) {
        if let Some(metadata) = alert.metadata.as_object_mut() {
            for (from, to) in ALERT_FIELDS {
                if let Some(field) = entry.get(from) {
                    metadata.insert(to.to_owned(), field.clone());
                }
            }
            metadata.insert("org_id".to_owned(), value["orgId"].clone());
            metadata.insert("title".to_owned(), value["title"].clone());
        }
        if alert.description.is_none() {
            alert.description = entry["valueString"].as_str().map(str::to_owned);
        }
    }
    Ok(alerts)
}
