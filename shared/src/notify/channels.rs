//! Notification channels (seed 000 `NotificationChannel`): a provider and its
//! configuration. Each provider's configuration is validated when it is saved; the fields
//! that are credentials (bot tokens, webhook URLs that carry a token, signing secrets) are
//! split off, sealed with AES-256-GCM bound to the channel's id, and never shown again.

use serde_json::{Map, Value};
use uuid::Uuid;

use super::ChannelKind;
use crate::crypto::Cipher;
use crate::error::ApiError;

/// What the API shows instead of a secret.
pub const MASK: &str = "********";

/// The credential fields of each provider's configuration.
pub fn secret_fields(kind: ChannelKind) -> &'static [&'static str] {
    match kind {
        ChannelKind::Webhook => &["secret"],
        ChannelKind::Telegram => &["bot_token"],
        ChannelKind::Slack => &["webhook_url", "bot_token"],
        ChannelKind::Discord => &["webhook_url"],
        _ => &[],
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

/// The full configuration a provider sends with: the public part and the opened secrets.
pub fn open_config(
    cipher: &Cipher,
    channel_id: Uuid,
    public: &Value,
    sealed: Option<&[u8]>,
) -> Result<Value, ApiError> {
    let mut config = public.as_object().cloned().unwrap_or_default();
    if let Some(sealed) = sealed {
        let text = cipher
            .open_text(sealed, &secrets_context(channel_id))
            .map_err(ApiError::internal)?;
        let secrets: Map<String, Value> =
            serde_json::from_str(&text).map_err(ApiError::internal)?;
        config.extend(secrets);
    }
    Ok(Value::Object(config))
}

/// The configuration as the API shows it: every secret that is set replaced by [`MASK`].
pub fn masked(kind: ChannelKind, public: &Value, sealed: Option<&[u8]>, set: &[String]) -> Value {
    let mut config = public.as_object().cloned().unwrap_or_default();
    if sealed.is_some() {
        for field in secret_fields(kind) {
            if set.iter().any(|s| s == field) {
                config.insert((*field).to_owned(), Value::String(MASK.to_owned()));
            }
        }
    }
    Value::Object(config)
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
        ChannelKind::Webhook => &["url", "secret"],
        ChannelKind::Telegram => &["bot_token", "chat_id", "message_thread_id", "api_base_url"],
        ChannelKind::Slack => &["webhook_url", "bot_token", "channel", "api_base_url"],
        ChannelKind::Discord => &["webhook_url", "username"],
        other => {
            return Err(ApiError::invalid_field(
                "provider",
                format!("{other:?} channels cannot be configured in this version"),
            ));
        }
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
        }
        ChannelKind::Telegram => {
            let token = required("bot_token")?;
            if !is_telegram_token(&token) {
                return Err(ApiError::invalid_field(
                    "config.bot_token",
                    "bot_token must look like 123456789:AA... (from @BotFather)",
                ));
            }
            keep(&mut checked, "bot_token", token.into());
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
        _ => {}
    }
    Ok(checked)
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

/// Creates a channel after checking its configuration; its secrets are sealed.
pub async fn insert_channel(
    conn: &mut sqlx::PgConnection,
    cipher: &Cipher,
    workspace_id: Uuid,
    kind: ChannelKind,
    name: &str,
    config: &Value,
) -> Result<Uuid, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::invalid_field(
            "name",
            "name must be 1 to 200 characters",
        ));
    }
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
