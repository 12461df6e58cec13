//! Typed configuration, read once per cold start from the environment (and, for secrets,
//! from AWS Secrets Manager by name). Every variable is documented in the README.

use std::time::Duration;

use secrecy::SecretString;

/// Everything a Tocsin function needs to know about its deployment.
#[derive(Debug, Clone)]
pub struct Config {
    /// PostgreSQL connection URL (`DATABASE_URL`, or the secret named by `DATABASE_URL_SECRET_ID`).
    pub database_url: SecretString,
    /// Most connections one function instance opens (`DB_MAX_CONNECTIONS`, default 2).
    pub db_max_connections: u32,
    /// URL of the SQS queue that carries notification jobs (`NOTIFICATIONS_QUEUE_URL`).
    pub notifications_queue_url: String,
    /// S3 bucket for payloads too large for the database (`DATA_BUCKET`).
    pub data_bucket: String,
    /// Largest request body ingest accepts, in bytes (`INGEST_MAX_BODY_BYTES`, default 512 KiB).
    pub ingest_max_body_bytes: usize,
    /// Attempts per notification before it is marked FAILED (`NOTIFY_MAX_ATTEMPTS`, default 5).
    pub notify_max_attempts: i32,
    /// First retry delay; each further attempt doubles it (`NOTIFY_RETRY_BASE_SECONDS`, default 30).
    pub notify_retry_base: Duration,
    /// Longest a retry waits, whatever the backoff says (`NOTIFY_RETRY_MAX_SECONDS`, default 900).
    pub notify_retry_max: Duration,
    /// Longest a worker waits in process for a destination's rate-limit slot; a later slot
    /// sends the message back to the queue until then (`NOTIFY_PACE_MAX_WAIT_SECONDS`,
    /// default 10).
    pub notify_pace_max_wait: Duration,
    /// Timeout of one request to a provider (`PROVIDER_TIMEOUT_SECONDS`, default 10).
    pub provider_timeout: Duration,
    /// Age after which the outbox relay re-sends a job the request that wrote it did not
    /// confirm (`OUTBOX_RELAY_GRACE_SECONDS`, default 30).
    pub outbox_relay_grace: Duration,
    /// Key material for secrets stored in the database (`ENCRYPTION_KEY`, or the secret
    /// named by `ENCRYPTION_KEY_SECRET_ID`); see [`crate::crypto`].
    pub encryption_key: SecretString,
    /// Operator token for `POST /v1/workspaces` (`BOOTSTRAP_TOKEN`, or the secret named by
    /// `BOOTSTRAP_TOKEN_SECRET_ID`); without one, bootstrapping through the API is off.
    pub bootstrap_token: Option<SecretString>,
    /// The URL the public functions are reached at, without a trailing slash
    /// (`PUBLIC_BASE_URL`, e.g. `https://abc123.execute-api.eu-west-1.amazonaws.com`): links
    /// in messages and provider callbacks are built from it, never from a request's Host.
    pub public_base_url: Option<String>,
    /// How long a magic link works, in minutes (`MAGIC_LINK_TTL_MINUTES`, default 1440).
    pub magic_link_ttl_minutes: u32,
    /// The Slack app's signing secret, which verifies its interactivity requests
    /// (`SLACK_SIGNING_SECRET`, or the secret named by `SLACK_SIGNING_SECRET_SECRET_ID`).
    pub slack_signing_secret: Option<SecretString>,
    /// The Slack app's client id, for connecting people's Slack accounts
    /// (`SLACK_CLIENT_ID`).
    pub slack_client_id: Option<String>,
    /// The Slack app's client secret (`SLACK_CLIENT_SECRET`, or the secret named by
    /// `SLACK_CLIENT_SECRET_SECRET_ID`).
    pub slack_client_secret: Option<SecretString>,
    /// The Microsoft Entra app registration's application (client) id, for connecting
    /// people's Microsoft Teams accounts (`MICROSOFT_CLIENT_ID`).
    pub microsoft_client_id: Option<String>,
    /// The app registration's client secret (`MICROSOFT_CLIENT_SECRET`, or the secret named
    /// by `MICROSOFT_CLIENT_SECRET_SECRET_ID`).
    pub microsoft_client_secret: Option<SecretString>,
    /// The Microsoft identity platform tenant people sign in through: a tenant id or
    /// domain, `organizations` or `common` (`MICROSOFT_TENANT`, default `organizations`).
    pub microsoft_tenant: String,
    /// Where Slack's OAuth pages and Web API are (`SLACK_API_BASE_URL`, default
    /// `https://slack.com`).
    pub slack_api_base_url: String,
    /// The Microsoft identity platform (`MICROSOFT_LOGIN_BASE_URL`, default
    /// `https://login.microsoftonline.com`; another for sovereign clouds).
    pub microsoft_login_base_url: String,
    /// Microsoft Graph (`MICROSOFT_GRAPH_BASE_URL`, default `https://graph.microsoft.com`).
    pub microsoft_graph_base_url: String,
}

/// Where a configuration value comes from, so a missing or bad one is named precisely.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("secret {secret_id} could not be read from Secrets Manager")]
    Secret {
        secret_id: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Config {
    /// Reads the configuration from the process environment, fetching secrets from
    /// Secrets Manager with `secrets` when they are given by name.
    pub async fn from_env(secrets: &aws_sdk_secretsmanager::Client) -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok(), secrets).await
    }

    /// Like [`Config::from_env`], reading variables through `var` (tests pass a map).
    pub async fn from_lookup(
        var: impl Fn(&str) -> Option<String>,
        secrets: &aws_sdk_secretsmanager::Client,
    ) -> Result<Self, ConfigError> {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let database_url = database_url(&var, secrets).await?;
        let encryption_key = match (var("ENCRYPTION_KEY"), var("ENCRYPTION_KEY_SECRET_ID")) {
            (Some(key), _) => key,
            (None, Some(secret_id)) => secret_text(secrets, &secret_id).await?,
            (None, None) => return Err(ConfigError::Missing("ENCRYPTION_KEY")),
        };
        if encryption_key.trim().len() < 32 {
            return Err(ConfigError::Invalid {
                name: "ENCRYPTION_KEY",
                reason: "it must be at least 32 characters of random text".to_owned(),
            });
        }
        let bootstrap_token = match (var("BOOTSTRAP_TOKEN"), var("BOOTSTRAP_TOKEN_SECRET_ID")) {
            (Some(token), _) => Some(token),
            (None, Some(secret_id)) => {
                Some(secret_text(secrets, &secret_id).await?.trim().to_owned())
            }
            (None, None) => None,
        };
        let slack_signing_secret = match (
            var("SLACK_SIGNING_SECRET"),
            var("SLACK_SIGNING_SECRET_SECRET_ID"),
        ) {
            (Some(secret), _) => Some(secret),
            (None, Some(secret_id)) => {
                Some(secret_text(secrets, &secret_id).await?.trim().to_owned())
            }
            (None, None) => None,
        };
        let slack_client_secret = optional_secret(
            &var,
            secrets,
            "SLACK_CLIENT_SECRET",
            "SLACK_CLIENT_SECRET_SECRET_ID",
        )
        .await?;
        let microsoft_client_secret = optional_secret(
            &var,
            secrets,
            "MICROSOFT_CLIENT_SECRET",
            "MICROSOFT_CLIENT_SECRET_SECRET_ID",
        )
        .await?;
        let required = |name: &'static str| var(name).ok_or(ConfigError::Missing(name));
        let public_base_url = var("PUBLIC_BASE_URL")
            .map(|url| check_base_url(&url))
            .transpose()?;
        Ok(Self {
            database_url: SecretString::from(database_url),
            db_max_connections: parse_or(&var, "DB_MAX_CONNECTIONS", 2)?,
            notifications_queue_url: required("NOTIFICATIONS_QUEUE_URL")?,
            data_bucket: required("DATA_BUCKET")?,
            ingest_max_body_bytes: parse_or(&var, "INGEST_MAX_BODY_BYTES", 512 * 1024)?,
            notify_max_attempts: parse_or(&var, "NOTIFY_MAX_ATTEMPTS", 5)?,
            notify_retry_base: Duration::from_secs(parse_or(
                &var,
                "NOTIFY_RETRY_BASE_SECONDS",
                30,
            )?),
            notify_retry_max: Duration::from_secs(parse_or(&var, "NOTIFY_RETRY_MAX_SECONDS", 900)?),
            provider_timeout: Duration::from_secs(parse_or(&var, "PROVIDER_TIMEOUT_SECONDS", 10)?),
            notify_pace_max_wait: Duration::from_secs(parse_or(
                &var,
                "NOTIFY_PACE_MAX_WAIT_SECONDS",
                10,
            )?),
            outbox_relay_grace: Duration::from_secs(parse_or(
                &var,
                "OUTBOX_RELAY_GRACE_SECONDS",
                30,
            )?),
            encryption_key: SecretString::from(encryption_key),
            bootstrap_token: bootstrap_token.map(SecretString::from),
            public_base_url,
            magic_link_ttl_minutes: parse_or(&var, "MAGIC_LINK_TTL_MINUTES", 1440)?,
            slack_signing_secret: slack_signing_secret.map(SecretString::from),
            slack_client_id: var("SLACK_CLIENT_ID").map(|id| id.trim().to_owned()),
            slack_client_secret: slack_client_secret.map(SecretString::from),
            microsoft_client_id: var("MICROSOFT_CLIENT_ID").map(|id| id.trim().to_owned()),
            microsoft_client_secret: microsoft_client_secret.map(SecretString::from),
            microsoft_tenant: var("MICROSOFT_TENANT")
                .map_or_else(|| "organizations".to_owned(), |t| t.trim().to_owned()),
            slack_api_base_url: provider_base_url(&var, "SLACK_API_BASE_URL", "https://slack.com")?,
            microsoft_login_base_url: provider_base_url(
                &var,
                "MICROSOFT_LOGIN_BASE_URL",
                "https://login.microsoftonline.com",
            )?,
            microsoft_graph_base_url: provider_base_url(
                &var,
                "MICROSOFT_GRAPH_BASE_URL",
                "https://graph.microsoft.com",
            )?,
        })
    }
}

impl Config {
    /// The URL of `queue`.
    pub fn queue_url(&self, queue: crate::jobs::Queue) -> &str {
        match queue {
            crate::jobs::Queue::Notifications => &self.notifications_queue_url,
        }
    }
}

/// `PUBLIC_BASE_URL` must be an absolute http(s) URL; it is kept without a trailing slash.
fn check_base_url(url: &str) -> Result<String, ConfigError> {
    let trimmed = url.trim().trim_end_matches('/');
    match reqwest::Url::parse(trimmed) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {
            Ok(trimmed.to_owned())
        }
        _ => Err(ConfigError::Invalid {
            name: "PUBLIC_BASE_URL",
            reason: "it must be an absolute http(s) URL".to_owned(),
        }),
    }
}

/// A provider's base URL from `name`, or `default`: an absolute http(s) URL, kept without
/// a trailing slash.
fn provider_base_url(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: &str,
) -> Result<String, ConfigError> {
    let Some(url) = var(name) else {
        return Ok(default.to_owned());
    };
    let trimmed = url.trim().trim_end_matches('/');
    match reqwest::Url::parse(trimmed) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {
            Ok(trimmed.to_owned())
        }
        _ => Err(ConfigError::Invalid {
            name,
            reason: "it must be an absolute http(s) URL".to_owned(),
        }),
    }
}

/// An optional secret: the variable `name` itself, or the Secrets Manager secret named by
/// `secret_id_name`; neither set is none.
async fn optional_secret(
    var: &impl Fn(&str) -> Option<String>,
    secrets: &aws_sdk_secretsmanager::Client,
    name: &str,
    secret_id_name: &str,
) -> Result<Option<String>, ConfigError> {
    Ok(match (var(name), var(secret_id_name)) {
        (Some(secret), _) => Some(secret.trim().to_owned()),
        (None, Some(secret_id)) => Some(secret_text(secrets, &secret_id).await?.trim().to_owned()),
        (None, None) => None,
    })
}

/// The database URL: `DATABASE_URL`, or the secret named by `DATABASE_URL_SECRET_ID`.
pub async fn database_url_from_lookup(
    var: impl Fn(&str) -> Option<String>,
    secrets: &aws_sdk_secretsmanager::Client,
) -> Result<SecretString, ConfigError> {
    let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    database_url(&var, secrets).await.map(SecretString::from)
}

async fn database_url(
    var: &impl Fn(&str) -> Option<String>,
    secrets: &aws_sdk_secretsmanager::Client,
) -> Result<String, ConfigError> {
    match (var("DATABASE_URL"), var("DATABASE_URL_SECRET_ID")) {
        (Some(url), _) => Ok(url),
        (None, Some(secret_id)) => {
            let text = secret_text(secrets, &secret_id).await?;
            database_url_from_secret_text(&text).map_err(|reason| ConfigError::Secret {
                secret_id,
                source: reason.into(),
            })
        }
        (None, None) => Err(ConfigError::Missing("DATABASE_URL")),
    }
}

fn parse_or<T>(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    match var(name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|e: T::Err| ConfigError::Invalid {
                name,
                reason: e.to_string(),
            }),
    }
}

/// Reads a secret's text from Secrets Manager.
async fn secret_text(
    secrets: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<String, ConfigError> {
    let secret_error = |source: Box<dyn std::error::Error + Send + Sync>| ConfigError::Secret {
        secret_id: secret_id.to_owned(),
        source,
    };
    let value = secrets
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| secret_error(Box::new(e)))?;
    value
        .secret_string()
        .map(str::to_owned)
        .ok_or_else(|| secret_error("the secret has no string value".into()))
}

#[derive(serde::Deserialize)]
struct RdsSecret {
    username: String,
    password: String,
    host: String,
    port: Option<u16>,
    dbname: Option<String>,
}

/// A database URL from a secret holding either the URL itself or the JSON document RDS
/// writes for managed credentials (`username`, `password`, `host`, `port`, `dbname`).
fn database_url_from_secret_text(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        return Ok(text.to_owned());
    }
    let rds: RdsSecret = serde_json::from_str(text)
        .map_err(|_| "expected a postgres:// URL or an RDS credentials JSON document".to_owned())?;
    let encode = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    Ok(format!(
        "postgres://{}:{}@{}:{}/{}",
        encode(&rds.username),
        encode(&rds.password),
        rds.host,
        rds.port.unwrap_or(5432),
        rds.dbname.as_deref().unwrap_or("postgres"),
    ))
}

#[cfg(test)]
mod tests {
    use super::database_url_from_secret_text;

    #[test]
    fn plain_url_secret_is_used_as_is() {
        assert_eq!(
            database_url_from_secret_text(" postgres://u:p@h/db\n").as_deref(),
            Ok("postgres://u:p@h/db")
        );
    }

    #[test]
    fn rds_secret_becomes_a_url_with_an_escaped_password() {
        let url = database_url_from_secret_text(
            r#"{"username":"tocsin","password":"p@ss/w:rd","host":"db.example","port":5433,"dbname":"tocsin"}"#,
        );
        assert_eq!(
            url.as_deref(),
            Ok("postgres://tocsin:p%40ss%2Fw%3Ard@db.example:5433/tocsin")
        );
    }

    #[test]
    fn other_secret_text_is_refused_without_echoing_it() {
        let err = database_url_from_secret_text("hunter2").unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
