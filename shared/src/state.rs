//! The state a function builds once per cold start and hands to every invocation.

use std::sync::Arc;

use crate::config::{Config, ConfigError};

/// Everything expensive to build: configuration, the database pool, SDK and HTTP clients.
/// Cloning is cheap (every field is a handle).
#[derive(Clone)]
pub struct AppState {
    /// Parsed configuration.
    pub config: Arc<Config>,
    /// PostgreSQL pool, connected lazily.
    pub db: sqlx::PgPool,
    /// SQS client for the job queues.
    pub sqs: aws_sdk_sqs::Client,
    /// S3 client for the data bucket.
    pub s3: aws_sdk_s3::Client,
    /// SES (API v2) client for email channels that send through SES.
    pub ses: aws_sdk_sesv2::Client,
    /// HTTP client for providers, with the configured timeout.
    pub http: reqwest::Client,
    /// Encrypts and decrypts the secrets stored in the database.
    pub cipher: crate::crypto::Cipher,
}

/// Why a function could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the database URL is invalid")]
    DatabaseUrl(#[source] sqlx::Error),
    #[error("the HTTP client could not be built")]
    Http(#[source] reqwest::Error),
}

impl AppState {
    /// Builds the state from the environment: what every function's `main` calls.
    pub async fn from_env() -> Result<Self, StartupError> {
        let sdk_config = crate::aws::load_sdk_config().await;
        let secrets = aws_sdk_secretsmanager::Client::new(&sdk_config);
        let config = Config::from_env(&secrets).await?;
        let db = crate::db::lazy_pool(&config).map_err(StartupError::DatabaseUrl)?;
        Self::new(config, db, &sdk_config)
    }

    /// Builds the state from parts (tests pass their own pool and configuration).
    pub fn new(
        config: Config,
        db: sqlx::PgPool,
        sdk_config: &aws_config::SdkConfig,
    ) -> Result<Self, StartupError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("Tocsin/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(
                config
                    .provider_timeout
                    .min(std::time::Duration::from_secs(5)),
            )
            .timeout(config.provider_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(StartupError::Http)?;
        use secrecy::ExposeSecret;
        let cipher =
            crate::crypto::Cipher::from_key_material(config.encryption_key.expose_secret());
        Ok(Self {
            cipher,
            config: Arc::new(config),
            db,
            sqs: aws_sdk_sqs::Client::new(sdk_config),
            s3: crate::aws::s3_client(sdk_config),
            ses: aws_sdk_sesv2::Client::new(sdk_config),
            http,
        })
    }
}
