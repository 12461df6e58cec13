//! Typed messages that travel through SQS. Every producer writes them through the outbox
//! ([`crate::outbox`]); every consumer parses them back with [`Job::from_body`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The SQS queues Tocsin's functions consume. Names match `template.yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// Notification deliveries, consumed by `notify-worker`.
    Notifications,
}

impl Queue {
    /// The value stored in `outbox_message.queue`.
    pub fn as_str(self) -> &'static str {
        match self {
            Queue::Notifications => "notifications",
        }
    }

    /// Parses a stored queue name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "notifications" => Some(Queue::Notifications),
            _ => None,
        }
    }
}

/// One unit of work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Job {
    /// Send the message recorded in one `notification_log` row.
    DeliverNotification { notification_log_id: Uuid },
}

/// A message body that is not a job this consumer knows.
#[derive(Debug, thiserror::Error)]
#[error("the message body is not a valid job")]
pub struct InvalidJob(#[from] serde_json::Error);

impl Job {
    /// The queue that carries this job.
    pub fn queue(&self) -> Queue {
        match self {
            Job::DeliverNotification { .. } => Queue::Notifications,
        }
    }

    /// Parses an SQS message body.
    pub fn from_body(body: &str) -> Result<Self, InvalidJob> {
        Ok(serde_json::from_str(body)?)
    }

    /// The JSON this job travels as.
    pub fn to_json(&self) -> serde_json::Value {
        // A derived Serialize of plain fields cannot fail.
        serde_json::to_value(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_round_trips_through_its_wire_form() {
        let id = Uuid::new_v4();
        let job = Job::DeliverNotification {
            notification_log_id: id,
        };
        let json = job.to_json();
        assert_eq!(
            json,
            serde_json::json!({"type": "deliver_notification", "notification_log_id": id})
        );
        assert_eq!(Job::from_body(&json.to_string()).unwrap(), job);
    }

    #[test]
    fn unknown_job_type_is_refused() {
        assert!(Job::from_body(r#"{"type":"launch_rockets"}"#).is_err());
        assert!(Job::from_body("not json").is_err());
    }
}
