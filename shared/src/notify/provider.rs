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

/// Declares a provider: its unit struct and its [`Provider`] impl. `send` (and the
/// optional `health`) are expressions over `state`, `config` and `message`.
macro_rules! provider {
    (
        $name:ident,
        interactive: $interactive:expr,
        links: $links:expr,
        send: |$state:ident, $config:ident, $message:ident| $send:expr
        $(, health: |$hstate:ident, $hconfig:ident| $health:expr)?
    ) => {
        struct $name;

        impl Provider for $name {
            fn supports_interactivity(&self) -> bool {
                $interactive
            }
            fn carries_links(&self) -> bool {
                $links
            }
            fn send<'a>(
                &'a self,
                $state: &'a AppState,
                $config: &'a Value,
                $message: &'a Message<'a>,
            ) -> BoxFuture<'a, DeliveryOutcome> {
                Box::pin($send)
            }
            $(
                fn health<'a>(
                    &'a self,
                    $hstate: &'a AppState,
                    $hconfig: &'a Value,
                ) -> BoxFuture<'a, Health> {
                    Box::pin($health)
                }
            )?
        }
    };
}

provider!(Webhook, interactive: false, links: false,
    send: |state, config, message| super::webhook::send(&state.http, config, message));
provider!(Telegram, interactive: true, links: false,
    send: |state, config, message| super::telegram::send(&state.http, config, message),
    health: |state, config| super::telegram::health(&state.http, config));
provider!(Slack, interactive: true, links: false,
    send: |state, config, message| super::slack::send(&state.http, config, message),
    health: |state, config| super::slack::health(&state.http, config));
provider!(Discord, interactive: false, links: true,
    send: |state, config, message| super::discord::send(&state.http, config, message));
provider!(Teams, interactive: false, links: true,
    send: |state, config, message| super::teams::send(&state.http, config, message));
provider!(Ntfy, interactive: false, links: true,
    send: |state, config, message| super::ntfy::send(&state.http, config, message));
provider!(TwilioSms, interactive: false, links: true,
send: |state, config, message| async move {
    let callback = twilio_callback(state, message);
    super::twilio::send_sms(&state.http, config, message, callback.as_deref()).await
});
// A call reads the alert out: there is nothing to click.
provider!(TwilioVoice, interactive: false, links: false,
send: |state, config, message| async move {
    let callback = twilio_callback(state, message);
    super::twilio::send_call(&state.http, config, message, callback.as_deref()).await
});
provider!(Email, interactive: false, links: true,
    send: |state, config, message| super::email::send(state, config, message));

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
