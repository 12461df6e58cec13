//! One trait over every provider: send a message, say whether its messages can act in
//! place (buttons that post back) or only link out, and check the channel's credentials
//! without sending anything. The worker and `POST /v1/notification-channels/{id}/test`
//! reach providers only through [`provider`].

use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{ChannelKind, DeliveryOutcome, Message};
use crate::state::AppState;

/// What checking a channel's credentials found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Health {
    /// Whether the provider was asked at all (not every provider has a way to check
    /// credentials without sending a message).
    pub checked: bool,
    /// Whether the provider accepted the credentials; absent when not checked.
    pub healthy: Option<bool>,
    /// What the provider said, or why nothing was checked.
    pub detail: String,
}

impl Health {
    /// The provider cannot be checked without sending a message.
    pub fn unchecked() -> Self {
        Self {
            checked: false,
            healthy: None,
            detail: "this provider cannot be checked without sending; use the test endpoint"
                .to_owned(),
        }
    }

    /// The provider answered.
    pub fn answered(healthy: bool, detail: impl Into<String>) -> Self {
        Self {
            checked: true,
            healthy: Some(healthy),
            detail: detail.into(),
        }
    }
}

/// A notification provider.
pub trait Provider: Sync {
    /// Whether its messages carry buttons that act in place (Slack, Telegram); the others
    /// act through magic links.
    fn supports_interactivity(&self) -> bool;

    /// Whether its messages carry magic links to act (email, SMS, Teams, Discord, push):
    /// those that can show a link but have no buttons of their own.
    fn carries_links(&self) -> bool {
        false
    }

    /// Hands one message to the provider. `config` is the channel's full configuration,
    /// secrets included.
    fn send<'a>(
        &'a self,
        state: &'a AppState,
        config: &'a Value,
        message: &'a Message<'a>,
    ) -> BoxFuture<'a, DeliveryOutcome>;

    /// Checks the channel's credentials without sending a message.
    fn health<'a>(&'a self, _state: &'a AppState, _config: &'a Value) -> BoxFuture<'a, Health> {
        Box::pin(async { Health::unchecked() })
    }
}

/// The provider of a channel kind.
pub fn provider(kind: ChannelKind) -> &'static dyn Provider {
    match kind {
        ChannelKind::Webhook => &Webhook,
        ChannelKind::Telegram => &Telegram,
        ChannelKind::Slack => &Slack,
        ChannelKind::Discord => &Discord,
        ChannelKind::Teams => &Teams,
        ChannelKind::Push => &Ntfy,
        ChannelKind::Sms => &TwilioSms,
        ChannelKind::Voice => &TwilioVoice,
        ChannelKind::Email => &Email,
    }
}

struct Webhook;
struct Telegram;
struct Slack;
struct Discord;
struct Teams;
struct Ntfy;
struct TwilioSms;
struct TwilioVoice;
struct Email;

impl Provider for Webhook {
    fn supports_interactivity(&self) -> bool {
        false
    }
    fn send<'a>(
        &'a self,
        state: &'a AppState,
        config: &'a Value,
        message: &'a Message<'a>,
    ) -> BoxFuture<'a, DeliveryOutcome> {
        Box::pin(super::webhook::send(&state.http, config, message))
    }
}

impl Provider for Telegram {
    fn supports_interactivity(&self) -> bool {
        true
    }
    fn send<'a>(
        &'a self,
        state: &'a AppState,
        config: &'a Value,
        message: &'a Message<'a>,
    ) -> BoxFuture<'a, DeliveryOutcome> {
        Box::pin(super::telegram::send(&state.http, config, message))
    }
    fn health<'a>(&'a self, state: &'a AppState, config: &'a Value) -> BoxFuture<'a, Health> {
        Box::pin(super::telegram::health(&state.http, config))
    }
}

impl Provider for Slack {
    fn supports_interactivity(&self) -> bool {
        true
    }
    fn send<'a>(
        &'a self,
        state: &'a AppState,
        config: &'a Value,
        message: &'a Message<'a>,
    ) -> BoxFuture<'a, DeliveryOutcome> {
        Box::pin(super::slack::send(&state.http, config, message))
    }
    fn health<'a>(&'a self, state: &'a AppState, config: &'a Value) -> BoxFuture<'a, Health> {
        Box::pin(super::slack::health(&state.http, config))
    }
}

impl Provider for Discord {
    fn supports_interactivity(&self) -> bool {
        false
    }
    fn carries_links(&self) -> bool {
        true
    }
    fn send<'a>(
        &'a self,
        state: &'a AppState,
        config: &'a Value,
        message: &'a Message<'a>,
    ) -> BoxFuture<'a, DeliveryOutcome> {
        Box::pin(super::discord::send(&state.http, config, message))
    }
}

impl Provider for Teams {
    fn supports_interactivity(&self) -> bool {
        false
    }
    fn carries_links(&self) -> bool {
        true
    }
    fn send<'a>(
        &'a self,
        state: &'a AppState,
        config: &'a Value,
        message: &'a Message<'a>,
    ) -> BoxFuture<'a, DeliveryOutcome> {
        Box::pin(super::teams::send(&state.http, config, message))
    }
}

impl Provider for Ntfy {
    fn supports_interactivity(&self) -> bool {
        false
    }
    fn carries_links(&self) -> bool {
        true
    }
    fn send<'a>(
        &'a self,
        state: &'a AppState,
        config: &'a Value,
        message: &'a Message<'a>,
    ) -> BoxFuture<'a, DeliveryOutcome> {
        Box::pin(super::ntfy::send(&state.http, config, message))
    }
}

impl Provider for TwilioSms {
    fn supports_interactivity(&self) -> bool {
        false
    }
    fn carries_links(&self) -> bool {
        true
    }
    fn send<'a>(
        &'a self,
        state: &'a AppState,
        config: &'a Value,
        message: &'a Message<'a>,
    ) -> BoxFuture<'a, DeliveryOutcome> {
        Box::pin(async move {
            let callback = twilio_callback(state, message);
            super::twilio::send_sms(&state.http, config, message, callback.as_deref()).await
        })
    }
}

impl Provider for TwilioVoice {
    fn supports_interactivity(&self) -> bool {
        false
    }
    fn send<'a>(
        &'a self,
        state: &'a AppState,
        config: &'a Value,
        message: &'a Message<'a>,
    ) -> BoxFuture<'a, DeliveryOutcome> {
        Box::pin(async move {
            let callback = twilio_callback(state, message);
            super::twilio::send_call(&state.http, config, message, callback.as_deref()).await
        })
    }
}

impl Provider for Email {
    fn supports_interactivity(&self) -> bool {
        false
    }
    fn carries_links(&self) -> bool {
        true
    }
    fn send<'a>(
        &'a self,
        state: &'a AppState,
        config: &'a Value,
        message: &'a Message<'a>,
    ) -> BoxFuture<'a, DeliveryOutcome> {
        Box::pin(super::email::send(state, config, message))
    }
}

/// Where Twilio reports delivery: `POST /v1/callbacks/twilio?notification_id=<log row>`
/// under the public base URL (none configured: no status callbacks, and rows stay SENT).
fn twilio_callback(state: &AppState, message: &Message<'_>) -> Option<String> {
    state.config.public_base_url.as_deref().map(|base| {
        format!(
            "{base}/v1/callbacks/twilio?notification_id={}",
            message.notification_id
        )
    })
}
