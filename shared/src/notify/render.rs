//! What a notification says, independent of the provider: each provider lays these parts
//! out in its own format (MarkdownV2, Block Kit, an embed).

use super::{Message, NotificationEvent};
use crate::alerts::Severity;
use crate::incidents::MagicLinkAction;

/// The parts of a notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// `Triggered`, `Acknowledged`, `Resolved`.
    pub status: &'static str,
    /// The incident's title (the alert's when it has no incident).
    pub title: String,
    pub severity: Severity,
    /// Label and value pairs: severity, alerts, escalation level, service, team, source,
    /// triggered at, incident.
    pub fields: Vec<(&'static str, String)>,
    /// The alert's description, shortened.
    pub description: Option<String>,
    /// The incident a button acts on, while acting still makes sense.
    pub actionable_incident: Option<uuid::Uuid>,
    /// A link to more (the incident's dashboard URL).
    pub link: Option<String>,
}

/// Longest description carried in a message.
const DESCRIPTION_CHARS: usize = 1_000;

/// Renders a message.
pub fn render(message: &Message<'_>) -> Rendered {
    let alert = message.alert;
    let incident = message.incident;
    let status = match message.event {
        NotificationEvent::AlertTriggered | NotificationEvent::IncidentTriggered => "Triggered",
        NotificationEvent::IncidentAcknowledged => "Acknowledged",
        NotificationEvent::IncidentResolved => "Resolved",
        NotificationEvent::Notification => "Notice",
    };
    let severity = incident.map_or(alert.severity, |i| i.priority);
    let mut fields = vec![("Severity", severity.as_str().to_owned())];
    if let Some(incident) = incident {
        fields.push(("Alerts", incident.alert_count.to_string()));
        if incident.escalation_level > 0 {
            fields.push(("Escalation level", incident.escalation_level.to_string()));
        }
    }
    if let Some(service) = message.service {
        fields.push(("Service", service.to_owned()));
    }
    if let Some(team) = message.team {
        fields.push(("Team", team.to_owned()));
    }
    fields.push(("Source", alert.source.clone()));
    fields.push((
        "Triggered",
        incident
            .map_or(alert.triggered_at, |i| i.triggered_at)
            .format("%Y-%m-%d %H:%M UTC")
            .to_string(),
    ));
    if let Some(incident) = incident {
        fields.push(("Incident", incident.id.to_string()));
    }
    let description = alert.description.as_ref().map(|d| {
        let mut d: String = d.chars().take(DESCRIPTION_CHARS).collect();
        if alert
            .description
            .as_ref()
            .is_some_and(|full| full.chars().count() > DESCRIPTION_CHARS)
        {
            d.push('…');
        }
        d
    });
    let actionable_incident = incident
        .filter(|_| {
            matches!(
                message.event,
                NotificationEvent::IncidentTriggered | NotificationEvent::IncidentAcknowledged
            )
        })
        .map(|i| i.id);
    Rendered {
        status,
        title: incident.map_or_else(|| alert.title.clone(), |i| i.title.clone()),
        severity,
        fields,
        description,
        actionable_incident,
        link: incident.and_then(|i| i.dashboard_url.clone()),
    }
}

impl Rendered {
    /// One line: `[CRITICAL] Triggered: Disk full on db-1`.
    pub fn headline(&self) -> String {
        format!(
            "[{}] {}: {}",
            self.severity.as_str(),
            self.status,
            self.title
        )
    }

    /// The colour of the severity, as 0xRRGGBB.
    pub fn colour(&self) -> u32 {
        if self.status == "Resolved" {
            return 0x2EB886;
        }
        match self.severity {
            Severity::Critical => 0xD0212E,
            Severity::High => 0xF07F16,
            Severity::Medium => 0xF2C744,
            Severity::Low => 0x448AE8,
            Severity::Info => 0x9B9B9B,
        }
    }
}

impl Rendered {
    /// The buttons a message offers: (label, action), action being `acknowledge` or
    /// `resolve`. None once the incident is resolved, and none without an incident.
    pub fn actions(&self) -> Vec<(&'static str, &'static str)> {
        self.incident_actions()
            .into_iter()
            .map(|(label, action)| {
                let name = match action {
                    MagicLinkAction::Acknowledge => "acknowledge",
                    MagicLinkAction::Resolve => "resolve",
                };
                (label, name)
            })
            .collect()
    }

    /// [`Rendered::actions`] as the actions they perform.
    pub fn incident_actions(&self) -> Vec<(&'static str, MagicLinkAction)> {
        if self.actionable_incident.is_none() {
            return Vec::new();
        }
        let mut actions = Vec::new();
        if self.status == "Triggered" {
            actions.push(("Acknowledge", MagicLinkAction::Acknowledge));
        }
        actions.push(("Resolve", MagicLinkAction::Resolve));
        actions
    }
}
