//! Notification channels (seed 000 `NotificationChannel`): a provider and its
//! configuration. Each provider's configuration is validated when it is saved; the fields
//! that are credentials (bot tokens, webhook URLs that carry a token, signing secrets) are
//! split off, sealed with AES-256-GCM bound to the channel's id, and never shown again.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use super::provider::{Health, provider};
use super::{ChannelKind, DeliveryOutcome, Message, NotificationEvent};
use crate::crypto::Cipher;
use crate::error::ApiError;
use crate::state::AppState;

/// What the API shows instead of a secret.
pub const MASK: &str = "********";

/// The credential fields of each provider's configuration.
pub fn secret_fields(kind: ChannelKind) -> &'static [&'static str] {
    match kind {
        ChannelKind::Webhook => &["secret"],
        ChannelKind::Telegram => &["bot_token", "webhook_secret"],
        ChannelKind::Slack => &["webhook_url", "bot_token"],
        ChannelKind::Discord => &["webhook_url"],
        ChannelKind::Teams => &["webhook_url"],
        ChannelKind::Push => &["access_token"],
        ChannelKind::Sms | ChannelKind::Voice => &["auth_token"],
        ChannelKind::Email => &["password"],
    }
}

/// What the sealed secrets are bound to.
pub fn secrets_context(channel_id: Uuid) -> String {
    format!("notification_channel:{channel_id}:secrets")
}

/// A validated configuration, split into what may be shown and what is sealed.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedConfig {
    pub public: Map<String, Value>,
    pub secrets: Map<String, Value>,
}

impl CheckedConfig {
    /// The secrets sealed for storage (none when there are none).
    pub fn seal(&self, cipher: &Cipher, channel_id: Uuid) -> Option<Vec<u8>> {
        (!self.secrets.is_empty()).then(|| {
            cipher.seal(
                Value::Object(self.secrets.clone()).to_string().as_bytes(),
                &secrets_context(channel_id),
            )
        })
    }
}

/// Validates a provider's configuration. Unknown fields are refused, so a typo does not
/// silently leave a channel unusable.
pub fn check_config(kind: ChannelKind, config: &Value) -> Result<CheckedConfig, ApiError> {
    let Some(object) = config.as_object() else {
        return Err(ApiError::invalid_field(
            "config",
            "config must be an object",
        ));
    };
    let allowed: &[&str] = match kind {
        ChannelKind::Webhook => &["url", "secret", "max_per_second"],
        ChannelKind::Telegram => &[
            "bot_token",
            "chat_id",
            "message_thread_id",
            "api_base_url",
            "webhook_secret",
        ],
        ChannelKind::Slack => &["webhook_url", "bot_token", "channel", "api_base_url"],
        ChannelKind::Discord => &["webhook_url", "username"],
        ChannelKind::Teams => &["webhook_url"],
        ChannelKind::Push => &["server_url", "topic", "access_token"],
        ChannelKind::Sms => &[
            "account_sid",
            "auth_token",
            "from",
            "messaging_service_sid",
            "to",
            "api_base_url",
        ],
        ChannelKind::Voice => &["account_sid", "auth_token", "from", "to", "api_base_url"],
        ChannelKind::Email => &[
            "transport",
            "from",
            "to",
            "configuration_set",
            "host",
            "port",
            "security",
            "username",
            "password",
        ],
    };
    if let Some(unknown) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::invalid_field(
            format!("config.{unknown}"),
            format!(
                "{unknown} is not a setting of this provider (settings: {})",
                allowed.join(", ")
            ),
        ));
    }
    let text = |field: &str| -> Result<Option<String>, ApiError> {
        match object.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_owned())),
            Some(_) => Err(ApiError::invalid_field(
                format!("config.{field}"),
                format!("{field} must be a non-empty string"),
            )),
        }
    };
    let required = |field: &str| -> Result<String, ApiError> {
        text(field)?.ok_or_else(|| {
            ApiError::invalid_field(format!("config.{field}"), format!("{field} is required"))
        })
    };
    let mut checked = CheckedConfig {
        public: Map::new(),
        secrets: Map::new(),
    };
    let keep = |checked: &mut CheckedConfig, field: &str, value: Value| {
        let target = if secret_fields(kind).contains(&field) {
            &mut checked.secrets
        } else {
            &mut checked.public
        };
        target.insert(field.to_owned(), value);
    };
    match kind {
        ChannelKind::Webhook => {
            keep(
                &mut checked,
                "url",
                http_url("url", &required("url")?)?.into(),
            );
            let secret = match text("secret")? {
                Some(secret) => {
                    check_whsec(&secret)?;
                    secret
                }
                None => crate::ingest::verify::generate_secret(
                    crate::ingest::verify::Verification::StandardWebhooks,
                ),
            };
            keep(&mut checked, "secret", secret.into());
            if let Some(rate) = object.get("max_per_second").filter(|v| !v.is_null()) {
                let rate = rate
                    .as_f64()
                    .filter(|r| *r > 0.0 && *r <= 1000.0)
                    .ok_or_else(|| {
                        ApiError::invalid_field(
                            "config.max_per_second",
                            "max_per_second must be a number above 0 and at most 1000",
                        )
                    })?;
                keep(&mut checked, "max_per_second", rate.into());
            }
        }
        ChannelKind::Email => check_email(object, &mut checked)?,
        ChannelKind::Telegram => {
            let token = required("bot_token")?;
            if !is_telegram_token(&token) {
                return Err(ApiError::invalid_field(
                    "config.bot_token",
                    "bot_token must look like 123456789:AA... (from @BotFather)",
                ));
            }
            keep(&mut checked, "bot_token", token.into());
            // What Telegram sends back in X-Telegram-Bot-Api-Secret-Token with button
            // presses (its alphabet: letters, digits, _ and -, 1 to 256).
            let webhook_secret = match text("webhook_secret")? {
                Some(secret)
                    if (16..=256).contains(&secret.len())
                        && secret
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
                {
                    secret
                }
                Some(_) => {
                    return Err(ApiError::invalid_field(
                        "config.webhook_secret",
                        "webhook_secret must be 16 to 256 letters, digits, _ or -",
                    ));
                }
                None => crate::actions::magic::new_token(),
            };
            keep(&mut checked, "webhook_secret", webhook_secret.into());
            let chat_id = match object.get("chat_id") {
                Some(Value::Number(n)) if n.is_i64() => n.to_string(),
                Some(Value::String(s)) if is_chat_id(s.trim()) => s.trim().to_owned(),
                _ => {
                    return Err(ApiError::invalid_field(
                        "config.chat_id",
                        "chat_id must be a chat's numeric id or a @channelusername",
                    ));
                }
            };
            keep(&mut checked, "chat_id", chat_id.into());
            if let Some(thread) = object.get("message_thread_id").filter(|v| !v.is_null()) {
                let thread = thread.as_i64().filter(|t| *t > 0).ok_or_else(|| {
                    ApiError::invalid_field(
                        "config.message_thread_id",
                        "message_thread_id must be a positive integer",
                    )
                })?;
                keep(&mut checked, "message_thread_id", thread.into());
            }
            if let Some(base) = text("api_base_url")? {
                let base = http_url("api_base_url", &base)?;
                keep(&mut checked, "api_base_url", base.into());
            }
        }
        ChannelKind::Slack => {
            match (text("webhook_url")?, text("bot_token")?) {
                (Some(url), None) => {
                    keep(
                        &mut checked,
                        "webhook_url",
                        http_url("webhook_url", &url)?.into(),
                    );
                }
                (None, Some(token)) => {
                    if !token.starts_with("xoxb-") && !token.starts_with("xoxp-") {
                        return Err(ApiError::invalid_field(
                            "config.bot_token",
                            "bot_token must be a Slack bot token (xoxb-...)",
                        ));
                    }
                    keep(&mut checked, "bot_token", token.into());
                    // What Telegram sends back in X-Telegram-Bot-Api-Secret-Token with button
                    // presses (its alphabet: letters, digits, _ and -, 1 to 256).
                    let webhook_secret = match text("webhook_secret")? {
                        Some(secret)
                            if (16..=256).contains(&secret.len())
                                && secret.bytes().all(|b| {
                                    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
                                }) =>
                        {
                            secret
                        }
                        Some(_) => {
                            return Err(ApiError::invalid_field(
                                "config.webhook_secret",
                                "webhook_secret must be 16 to 256 letters, digits, _ or -",
                            ));
                        }
                        None => crate::actions::magic::new_token(),
                    };
                    keep(&mut checked, "webhook_secret", webhook_secret.into());
                    keep(&mut checked, "channel", required("channel")?.into());
                }
                _ => {
                    return Err(ApiError::invalid_field(
                        "config.webhook_url",
                        "give either webhook_url (an incoming webhook) or bot_token and channel",
                    ));
                }
            }
            if let Some(base) = text("api_base_url")? {
                let base = http_url("api_base_url", &base)?;
                keep(&mut checked, "api_base_url", base.into());
            }
        }
        ChannelKind::Discord => {
            let url = http_url("webhook_url", &required("webhook_url")?)?;
            keep(&mut checked, "webhook_url", url.into());
            if let Some(name) = text("username")? {
                if name.chars().count() > 80 {
                    return Err(ApiError::invalid_field(
                        "config.username",
                        "username must be at most 80 characters",
                    ));
                }
                keep(&mut checked, "username", name.into());
            }
        }
        ChannelKind::Teams => {
            let url = http_url("webhook_url", &required("webhook_url")?)?;
            keep(&mut checked, "webhook_url", url.into());
        }
        ChannelKind::Push => {
            if let Some(server) = text("server_url")? {
                let server = http_url("server_url", &server)?;
                keep(&mut checked, "server_url", server.into());
            }
            let topic = required("topic")?;
            if !is_ntfy_topic(&topic) {
                return Err(ApiError::invalid_field(
                    "config.topic",
                    "topic must be 1 to 64 letters, digits, _ or -",
                ));
            }
            keep(&mut checked, "topic", topic.into());
            if let Some(token) = text("access_token")? {
                keep(&mut checked, "access_token", token.into());
            }
        }
        ChannelKind::Sms | ChannelKind::Voice => {
            let sid = required("account_sid")?;
            if !is_twilio_sid("AC", &sid) {
                return Err(ApiError::invalid_field(
                    "config.account_sid",
                    "account_sid must be AC followed by 32 hexadecimal digits",
                ));
            }
            keep(&mut checked, "account_sid", sid.into());
            let token = required("auth_token")?;
            if token.len() != 32 || !token.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(ApiError::invalid_field(
                    "config.auth_token",
                    "auth_token must be the account's 32-character auth token",
                ));
            }
            keep(&mut checked, "auth_token", token.into());
            let phone = |field: &str| -> Result<Option<String>, ApiError> {
                match text(field)? {
                    Some(number) if !is_e164(&number) => Err(ApiError::invalid_field(
                        format!("config.{field}"),
                        format!(
                            "{field} must be a phone number in E.164 form, such as +15005550006"
                        ),
                    )),
                    number => Ok(number),
                }
            };
            let from = phone("from")?;
            let service = text("messaging_service_sid")?;
            match (from, service) {
                (Some(_), Some(_)) => {
                    return Err(ApiError::invalid_field(
                        "config.messaging_service_sid",
                        "give either from or messaging_service_sid, not both",
                    ));
                }
                (None, None) if kind == ChannelKind::Voice => {
                    return Err(ApiError::invalid_field(
                        "config.from",
                        "from is required: the Twilio number that places the calls",
                    ));
                }
                (None, None) => {
                    return Err(ApiError::invalid_field(
                        "config.from",
                        "give from (a Twilio number) or messaging_service_sid",
                    ));
                }
                (Some(from), None) => keep(&mut checked, "from", from.into()),
                (None, Some(service)) => {
                    if !is_twilio_sid("MG", &service) {
                        return Err(ApiError::invalid_field(
                            "config.messaging_service_sid",
                            "messaging_service_sid must be MG followed by 32 hexadecimal digits",
                        ));
                    }
                    keep(&mut checked, "messaging_service_sid", service.into());
                }
            }
            let to = phone("to")?
                .ok_or_else(|| ApiError::invalid_field("config.to", "to is required"))?;
            keep(&mut checked, "to", to.into());
            if let Some(base) = text("api_base_url")? {
                let base = http_url("api_base_url", &base)?;
                keep(&mut checked, "api_base_url", base.into());
            }
        }
    }
    Ok(checked)
}

/// Email: `transport` ses or smtp, `from` (an address, optionally with a name), `to` (1
/// to 50 addresses); for SMTP `host`, `port` (default by `security`), `security`
/// (starttls, tls or none), and `username` with `password` when the server wants them.
fn check_email(object: &Map<String, Value>, checked: &mut CheckedConfig) -> Result<(), ApiError> {
    use lettre::message::Mailbox;
    let invalid =
        |field: &str, detail: &str| ApiError::invalid_field(format!("config.{field}"), detail);
    let text = |field: &str| {
        object
            .get(field)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let transport = match text("transport") {
        Some(t @ ("ses" | "smtp")) => t,
        _ => return Err(invalid("transport", "transport must be ses or smtp")),
    };
    checked
        .public
        .insert("transport".to_owned(), transport.into());
    let from = text("from").ok_or_else(|| invalid("from", "from is required"))?;
    if from.parse::<Mailbox>().is_err() {
        return Err(invalid(
            "from",
            "from must be an address such as Tocsin <alerts@example.com>",
        ));
    }
    checked.public.insert("from".to_owned(), from.into());
    let to: Vec<String> = match object.get("to") {
        Some(Value::String(one)) => vec![one.trim().to_owned()],
        Some(Value::Array(many)) => many
            .iter()
            .map(|v| v.as_str().map(|s| s.trim().to_owned()))
            .collect::<Option<_>>()
            .ok_or_else(|| invalid("to", "to must be a list of addresses"))?,
        _ => {
            return Err(invalid(
                "to",
                "to is required: an address or a list of them",
            ));
        }
    };
    if to.is_empty() || to.len() > 50 {
        return Err(invalid("to", "to must hold 1 to 50 addresses"));
    }
    if let Some(bad) = to.iter().find(|a| a.parse::<Mailbox>().is_err()) {
        return Err(invalid("to", &format!("{bad} is not an email address")));
    }
    checked.public.insert("to".to_owned(), to.into());
    let smtp_only = ["host", "port", "security", "username", "password"];
    if transport == "ses" {
        if let Some(field) = smtp_only
            .iter()
            .find(|f| object.get(**f).is_some_and(|v| !v.is_null()))
        {
            return Err(invalid(
                field,
                "this setting is for SMTP; SES uses the function's AWS credentials",
            ));
        }
        if let Some(set) = text("configuration_set") {
            checked
                .public
                .insert("configuration_set".to_owned(), set.into());
        }
        return Ok(());
    }
    if object
        .get("configuration_set")
        .is_some_and(|v| !v.is_null())
    {
        return Err(invalid("configuration_set", "configuration_set is for SES"));
    }
    let host = text("host").ok_or_else(|| invalid("host", "host is required for SMTP"))?;
    if host.contains(['/', ' ', ':']) {
        return Err(invalid(
            "host",
            "host must be a host name or IP address, without scheme or port",
        ));
    }
    checked.public.insert("host".to_owned(), host.into());
    let security = text("security").unwrap_or("starttls");
    if !matches!(security, "starttls" | "tls" | "none") {
        return Err(invalid(
            "security",
            "security must be starttls, tls or none",
        ));
    }
    checked
        .public
        .insert("security".to_owned(), security.into());
    let port = match object.get("port").filter(|v| !v.is_null()) {
        None => {
            if security == "tls" {
                465
            } else {
                587
            }
        }
        Some(port) => port
            .as_u64()
            .filter(|p| (1..=65_535).contains(p))
            .ok_or_else(|| invalid("port", "port must be 1 to 65535"))?,
    };
    checked.public.insert("port".to_owned(), port.into());
    match (text("username"), text("password")) {
        (Some(username), Some(password)) => {
            checked
                .public
                .insert("username".to_owned(), username.into());
            checked
                .secrets
                .insert("password".to_owned(), password.into());
        }
        (None, None) => {}
        (Some(_), None) => return Err(invalid("password", "password is required with username")),
        (None, Some(_)) => return Err(invalid("username", "username is required with password")),
    }
    Ok(())
}

fn http_url(field: &str, value: &str) -> Result<String, ApiError> {
    match reqwest::Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Ok(value.to_owned())
        }
        _ => Err(ApiError::invalid_field(
            format!("config.{field}"),
            format!("{field} must be an http(s) URL"),
        )),
    }
}

fn check_whsec(secret: &str) -> Result<(), ApiError> {
    use base64::Engine;
    let key = secret.strip_prefix("whsec_").and_then(|k| {
        base64::engine::general_purpose::STANDARD
            .decode(k)
            .ok()
            .filter(|k| (24..=64).contains(&k.len()))
    });
    key.map(|_| ()).ok_or_else(|| {
        ApiError::invalid_field(
            "config.secret",
            "secret must be whsec_ followed by base64 of 24 to 64 bytes (or leave it out to have one generated)",
        )
    })
}

fn is_telegram_token(token: &str) -> bool {
    match token.split_once(':') {
        Some((bot, key)) => {
            !bot.is_empty()
                && bot.chars().all(|c| c.is_ascii_digit())
                && key.len() >= 30
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        }
        None => false,
    }
}

fn is_chat_id(value: &str) -> bool {
    let numeric = value
        .strip_prefix('-')
        .unwrap_or(value)
        .chars()
        .all(|c| c.is_ascii_digit())
        && !value.trim_start_matches('-').is_empty();
    let username = value.strip_prefix('@').is_some_and(|name| {
        (5..=32).contains(&name.len())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    });
    numeric || username
}

/// An ntfy topic name: 1 to 64 of `A-Z a-z 0-9 _ -`.
fn is_ntfy_topic(topic: &str) -> bool {
    (1..=64).contains(&topic.len())
        && topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A Twilio SID: its two-letter prefix (`AC`, `MG`) and 32 hexadecimal digits.
fn is_twilio_sid(prefix: &str, sid: &str) -> bool {
    sid.strip_prefix(prefix)
        .is_some_and(|hex| hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

/// A phone number in E.164 form: `+`, a non-zero digit, then 6 to 14 more digits.
fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (7..=15).contains(&digits.len())
            && !digits.starts_with('0')
            && digits.chars().all(|c| c.is_ascii_digit())
    })
}

/// Creates a channel after checking its configuration; its secrets are sealed.
pub async fn insert_channel(
    conn: &mut sqlx::PgConnection,
    cipher: &Cipher,
    workspace_id: Uuid,
    kind: ChannelKind,
    name: &str,
    config: &Value,
) -> Result<Uuid, ApiError> {
    let name = check_name(name)?;
    let checked = check_config(kind, config)?;
    let id = Uuid::new_v4();
    sqlx::query!(
        "INSERT INTO notification_channel (id, workspace_id, provider, name, config, secrets_ciphertext)
         VALUES ($1, $2, $3, $4, $5, $6)",
        id,
        workspace_id,
        kind as ChannelKind,
        name,
        Value::Object(checked.public.clone()),
        checked.seal(cipher, id),
    )
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// A channel as the API shows it: secrets masked.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelView {
    pub id: Uuid,
    pub provider: ChannelKind,
    pub name: String,
    /// The provider's settings; every secret that is set shows as `********`.
    #[schema(value_type = Object)]
    pub config: Value,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A channel to create.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewChannel {
    pub provider: ChannelKind,
    /// 1 to 200 characters.
    pub name: String,
    /// The provider's settings (see the README for each provider's fields).
    #[schema(value_type = Object)]
    pub config: Value,
    /// Default true.
    pub enabled: Option<bool>,
}

/// Changes to a channel; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ChannelPatch {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    /// Replaces the settings. A secret left out or sent as `********` keeps its stored
    /// value; `null` removes it.
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
}

/// What the provider answered to a test message.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TestResult {
    /// Whether the provider accepted the message.
    pub sent: bool,
    /// For a failure: whether a later attempt may succeed (5xx, 429, timeouts).
    pub retryable: bool,
    /// What the provider answered (for HTTP providers, the status line).
    pub provider_status: Option<String>,
    /// The provider's id for the message.
    pub provider_message_id: Option<String>,
    /// The provider's error.
    pub error: Option<String>,
}

impl From<DeliveryOutcome> for TestResult {
    fn from(outcome: DeliveryOutcome) -> Self {
        match outcome {
            DeliveryOutcome::Sent {
                provider_status,
                provider_message_id,
            } => Self {
                sent: true,
                retryable: false,
                provider_status: Some(provider_status),
                provider_message_id,
                error: None,
            },
            DeliveryOutcome::Transient {
                error,
                provider_status,
                ..
            } => Self {
                sent: false,
                retryable: true,
                provider_status,
                provider_message_id: None,
                error: Some(error),
            },
            DeliveryOutcome::Permanent {
                error,
                provider_status,
            } => Self {
                sent: false,
                retryable: false,
                provider_status,
                provider_message_id: None,
                error: Some(error),
            },
        }
    }
}

/// A channel as stored: its public settings and its sealed secrets.
#[derive(Debug, Clone)]
pub struct StoredChannel {
    pub id: Uuid,
    pub provider: ChannelKind,
    pub name: String,
    pub config: Value,
    pub secrets_ciphertext: Option<Vec<u8>>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl StoredChannel {
    /// The full configuration a provider sends with: the settings and the opened secrets.
    pub fn full_config(&self, cipher: &Cipher) -> Result<Value, ApiError> {
        let mut config = self.config.as_object().cloned().unwrap_or_default();
        config.extend(self.secrets(cipher)?);
        Ok(Value::Object(config))
    }

    fn secrets(&self, cipher: &Cipher) -> Result<Map<String, Value>, ApiError> {
        let Some(sealed) = self.secrets_ciphertext.as_deref() else {
            return Ok(Map::new());
        };
        let text = cipher
            .open_text(sealed, &secrets_context(self.id))
            .map_err(ApiError::internal)?;
        serde_json::from_str(&text).map_err(ApiError::internal)
    }

    fn view(&self, cipher: &Cipher) -> Result<ChannelView, ApiError> {
        let mut config = self.config.as_object().cloned().unwrap_or_default();
        for field in self.secrets(cipher)?.keys() {
            config.insert(field.clone(), Value::String(MASK.to_owned()));
        }
        Ok(ChannelView {
            id: self.id,
            provider: self.provider,
            name: self.name.clone(),
            config: Value::Object(config),
            enabled: self.enabled,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

async fn find_rows(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<StoredChannel>, sqlx::Error> {
    sqlx::query_as!(
        StoredChannel,
        r#"SELECT id, provider AS "provider: ChannelKind", name, config, secrets_ciphertext,
                  enabled, created_at, updated_at
           FROM notification_channel
           WHERE workspace_id = $1
             AND ($2::uuid IS NULL OR id = $2)
             AND ($3::uuid IS NULL OR (created_at, id) > (SELECT created_at, id FROM notification_channel WHERE id = $3))
           ORDER BY created_at, id
           LIMIT $4"#,
        workspace_id,
        id,
        after,
        limit,
    )
    .fetch_all(&mut *conn)
    .await
}

async fn find_row(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<StoredChannel, ApiError> {
    find_rows(conn, workspace_id, Some(id), None, 1)
        .await?
        .pop()
        .ok_or_else(|| not_found(id))
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format!("no notification channel {id} in this workspace"))
}

/// The workspace's channels, oldest first, after the cursor.
pub async fn list_channels(
    conn: &mut PgConnection,
    cipher: &Cipher,
    workspace_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ChannelView>, ApiError> {
    find_rows(conn, workspace_id, None, after, limit)
        .await?
        .iter()
        .map(|row| row.view(cipher))
        .collect()
}

/// One channel, secrets masked.
pub async fn get_channel(
    conn: &mut PgConnection,
    cipher: &Cipher,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<ChannelView, ApiError> {
    find_row(conn, workspace_id, id).await?.view(cipher)
}

/// Applies a patch. A new configuration is checked as a whole, with the stored secrets
/// merged in where the patch leaves them out or masked.
pub async fn update_channel(
    conn: &mut PgConnection,
    cipher: &Cipher,
    workspace_id: Uuid,
    id: Uuid,
    patch: &ChannelPatch,
) -> Result<(), ApiError> {
    let name = patch.name.as_deref().map(check_name).transpose()?;
    let row = find_row(conn, workspace_id, id).await?;
    let (config, sealed) = match &patch.config {
        None => (row.config.clone(), row.secrets_ciphertext.clone()),
        Some(config) => {
            let Some(given) = config.as_object() else {
                return Err(ApiError::invalid_field(
                    "config",
                    "config must be an object",
                ));
            };
            let mut merged = given.clone();
            let stored = row.secrets(cipher)?;
            for field in secret_fields(row.provider) {
                match given.get(*field) {
                    Some(Value::Null) => {
                        merged.remove(*field);
                    }
                    None => {
                        if let Some(value) = stored.get(*field) {
                            merged.insert((*field).to_owned(), value.clone());
                        }
                    }
                    Some(Value::String(s)) if s == MASK => match stored.get(*field) {
                        Some(value) => {
                            merged.insert((*field).to_owned(), value.clone());
                        }
                        None => {
                            merged.remove(*field);
                        }
                    },
                    Some(_) => {}
                }
            }
            let checked = check_config(row.provider, &Value::Object(merged))?;
            (
                Value::Object(checked.public.clone()),
                checked.seal(cipher, id),
            )
        }
    };
    sqlx::query!(
        "UPDATE notification_channel
         SET name = coalesce($3, name), enabled = coalesce($4, enabled), config = $5,
             secrets_ciphertext = $6, updated_at = now()
         WHERE workspace_id = $1 AND id = $2",
        workspace_id,
        id,
        name,
        patch.enabled,
        config,
        sealed,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Deletes a channel; its notification log rows keep their history without it.
pub async fn delete_channel(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<(), ApiError> {
    let deleted = sqlx::query!(
        "DELETE FROM notification_channel WHERE workspace_id = $1 AND id = $2",
        workspace_id,
        id
    )
    .execute(&mut *conn)
    .await?;
    if deleted.rows_affected() == 0 {
        return Err(not_found(id));
    }
    Ok(())
}

/// Loads a channel as stored; `None` when the workspace has no such channel.
pub async fn load(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<StoredChannel>, sqlx::Error> {
    Ok(find_rows(conn, workspace_id, Some(id), None, 1)
        .await?
        .pop())
}

/// The configuration with a person's address (a contact method) in place of the
/// channel's own destination: the channel then only carries the credentials.
pub fn addressed_to(kind: ChannelKind, config: Value, destination: Option<&str>) -> Value {
    let Some(destination) = destination else {
        return config;
    };
    let mut config = config;
    let field = match kind {
        ChannelKind::Email => {
            config["to"] = Value::Array(vec![destination.into()]);
            return config;
        }
        ChannelKind::Sms | ChannelKind::Voice => "to",
        ChannelKind::Push => "topic",
        ChannelKind::Slack => "channel",
        ChannelKind::Telegram => "chat_id",
        ChannelKind::Teams | ChannelKind::Discord | ChannelKind::Webhook => return config,
    };
    config[field] = Value::String(destination.to_owned());
    config
}

/// Sends a test message through a channel and reports the provider's answer.
pub async fn send_test(
    state: &AppState,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<TestResult, ApiError> {
    let mut conn = state.db.acquire().await?;
    let channel = find_row(&mut conn, workspace_id, id).await?;
    drop(conn);
    let config = channel.full_config(&state.cipher)?;
    let description = format!(
        "If you can read this, the channel \"{}\" works.",
        channel.name
    );
    let alert = super::standalone_alert(
        workspace_id,
        "Test notification from Tocsin",
        Some(&description),
        crate::alerts::Severity::Info,
    );
    let message = Message {
        notification_id: Uuid::new_v4(),
        event: NotificationEvent::AlertTriggered,
        alert: &alert,
        incident: None,
        service: None,
        team: None,
        action_links: &[],
    };
    let outcome = provider(channel.provider)
        .send(state, &config, &message)
        .await;
    Ok(outcome.into())
}

/// Checks a channel's credentials with its provider.
pub async fn check_health(
    state: &AppState,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Health, ApiError> {
    let mut conn = state.db.acquire().await?;
    let channel = find_row(&mut conn, workspace_id, id).await?;
    drop(conn);
    let config = channel.full_config(&state.cipher)?;
    Ok(provider(channel.provider).health(state, &config).await)
}

fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid_field(
            "name",
            "name must be 1 to 200 characters",
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ";

    #[test]
    fn secrets_are_split_from_what_may_be_shown() {
        let checked = check_config(
            ChannelKind::Telegram,
            &json!({"bot_token": TOKEN, "chat_id": -1001234567890_i64}),
        )
        .unwrap();
        assert_eq!(checked.secrets["bot_token"], TOKEN);
        assert_eq!(checked.public["chat_id"], "-1001234567890");
        assert!(!checked.public.contains_key("bot_token"));
    }

    #[test]
    fn each_bad_setting_is_named() {
        let field = |kind, config: Value| {
            check_config(kind, &config)
                .unwrap_err()
                .problem()
                .field
                .unwrap_or_default()
        };
        assert_eq!(
            field(
                ChannelKind::Telegram,
                json!({"bot_token": "nope", "chat_id": 1})
            ),
            "config.bot_token"
        );
        assert_eq!(
            field(
                ChannelKind::Telegram,
                json!({"bot_token": TOKEN, "chat_id": "x y"})
            ),
            "config.chat_id"
        );
        assert_eq!(field(ChannelKind::Slack, json!({})), "config.webhook_url");
        assert_eq!(
            field(ChannelKind::Slack, json!({"bot_token": "xoxb-1"})),
            "config.channel"
        );
        assert_eq!(
            field(ChannelKind::Discord, json!({"webhook_url": "ftp://x"})),
            "config.webhook_url"
        );
        assert_eq!(
            field(
                ChannelKind::Webhook,
                json!({"url": "https://x", "secret": "abc"})
            ),
            "config.secret"
        );
        assert_eq!(
            field(ChannelKind::Webhook, json!({"url": "https://x", "urll": 1})),
            "config.urll"
        );
    }

    const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
    const AUTH_TOKEN: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn teams_ntfy_and_twilio_settings_are_checked() {
        let field = |kind, config: Value| {
            check_config(kind, &config)
                .unwrap_err()
                .problem()
                .field
                .unwrap_or_default()
        };
        assert_eq!(field(ChannelKind::Teams, json!({})), "config.webhook_url");
        assert_eq!(
            field(ChannelKind::Push, json!({"topic": "alerts/ops"})),
            "config.topic"
        );
        assert_eq!(
            field(
                ChannelKind::Push,
                json!({"topic": "ops", "server_url": "ntfy.sh"})
            ),
            "config.server_url"
        );
        let twilio = |extra: Value| {
            let mut config = json!({
                "account_sid": ACCOUNT_SID,
                "auth_token": AUTH_TOKEN,
                "to": "+15005550006",
            });
            if let (Some(config), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
                config.extend(extra.clone());
            }
            config
        };
        assert_eq!(
            field(ChannelKind::Sms, twilio(json!({"account_sid": "AC123"}))),
            "config.account_sid"
        );
        assert_eq!(field(ChannelKind::Sms, twilio(json!({}))), "config.from");
        assert_eq!(
            field(
                ChannelKind::Sms,
                twilio(json!({
                    "from": "+15005550001",
                    "messaging_service_sid": "MG0123456789abcdef0123456789abcdef"
                }))
            ),
            "config.messaging_service_sid"
        );
        assert_eq!(
            field(
                ChannelKind::Sms,
                twilio(json!({"from": "+15005550001", "to": "555-0100"}))
            ),
            "config.to"
        );
        assert_eq!(
            field(
                ChannelKind::Voice,
                twilio(json!({"messaging_service_sid": "MG0123456789abcdef0123456789abcdef"}))
            ),
            "config.messaging_service_sid"
        );
        assert_eq!(field(ChannelKind::Voice, twilio(json!({}))), "config.from");
    }

    #[test]
    fn twilio_and_ntfy_credentials_are_sealed() {
        let checked = check_config(
            ChannelKind::Sms,
            &json!({
                "account_sid": ACCOUNT_SID,
                "auth_token": AUTH_TOKEN,
                "messaging_service_sid": "MG0123456789abcdef0123456789abcdef",
                "to": "+15005550006",
            }),
        )
        .unwrap();
        assert_eq!(checked.secrets["auth_token"], AUTH_TOKEN);
        assert_eq!(checked.public["account_sid"], ACCOUNT_SID);
        assert!(!checked.public.contains_key("auth_token"));
        let checked = check_config(
            ChannelKind::Push,
            &json!({"topic": "ops-alerts_1", "access_token": "tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2"}),
        )
        .unwrap();
        assert_eq!(checked.public["topic"], "ops-alerts_1");
        assert!(checked.secrets.contains_key("access_token"));
    }

    #[test]
    fn a_webhook_gets_a_standard_webhooks_secret_when_given_none() {
        let checked = check_config(
            ChannelKind::Webhook,
            &json!({"url": "https://example.com/hook"}),
        )
        .unwrap();
        let secret = checked.secrets["secret"].as_str().unwrap();
        assert!(check_whsec(secret).is_ok(), "{secret}");
    }
}
