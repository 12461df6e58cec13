//! A person's own Slack and Microsoft Teams accounts, connected through OAuth (issue 6).
//!
//! [`start`] answers the provider's consent page to send the person to. The `state` in it
//! is 256 random bits of which only the SHA-256 is stored (`oauth_state`), for the person,
//! the provider and ten minutes. Microsoft's sign-in also carries a PKCE challenge
//! (S256); its verifier is stored sealed with the [`crate::crypto::Cipher`]. Slack's
//! OAuth v2 does not support PKCE, so there the state alone ties the callback to the
//! person. [`finish`] (the callback) uses the state once, with one conditional UPDATE,
//! exchanges the code for tokens at the provider and stores them sealed, bound to the row
//! they belong to (`slack_connection:{user_id}:access_token`, ...). Tokens are never
//! shown or logged.
//!
//! Tokens with an expiry are renewed with their refresh token: by [`access_token`] when
//! one is used within five minutes of expiring, and by [`refresh_expiring`] (every minute,
//! from the escalator) ten minutes ahead. A refresh token the provider refuses
//! (`invalid_grant`, Slack's `invalid_refresh_token`) makes the connection inactive: the
//! person connects again.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::actions::magic;
use crate::config::Config;
use crate::crypto::DecryptError;
use crate::error::ApiError;
use crate::state::AppState;

/// The Slack user token scopes a connection asks for.
pub const SLACK_USER_SCOPES: &str = "users:read,chat:write";
/// The Microsoft identity platform scopes a connection asks for (`offline_access` for the
/// refresh token).
pub const MICROSOFT_SCOPES: &str = "openid profile email offline_access User.Read";
/// How long a sign-in may take, from [`start`] to the callback, in minutes.
pub const STATE_TTL_MINUTES: i32 = 10;
/// [`access_token`] renews a token that expires within this many minutes.
pub const USE_AHEAD_MINUTES: i64 = 5;
/// [`refresh_expiring`] renews tokens that expire within this many minutes.
pub const REFRESH_AHEAD_MINUTES: i64 = 10;
/// Most connections of one provider [`refresh_expiring`] renews in a run.
const REFRESH_BATCH: i64 = 50;
/// [`refresh_expiring`] starts no new refresh after this long (the rest wait a minute).
const REFRESH_BUDGET: std::time::Duration = std::time::Duration::from_secs(10);
/// OAuth errors that say the refresh token is no longer good.
const REVOKED: [&str; 2] = ["invalid_grant", "invalid_refresh_token"];
/// What an unknown Microsoft tenant is stored as.
const UNKNOWN_TENANT: &str = "unknown";

/// A provider a person connects their account at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OAuthProvider {
    /// Slack (OAuth v2, a user token).
    Slack,
    /// The Microsoft identity platform, for Microsoft Teams.
    Microsoft,
}

impl OAuthProvider {
    /// Both providers.
    pub const ALL: [OAuthProvider; 2] = [OAuthProvider::Slack, OAuthProvider::Microsoft];

    /// The provider's name in paths and in `oauth_state.provider`.
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthProvider::Slack => "slack",
            OAuthProvider::Microsoft => "microsoft",
        }
    }

    /// Parses a provider's name (`slack`, `microsoft`).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// What people call the connection: "Slack", "Microsoft Teams".
    pub fn label(self) -> &'static str {
        match self {
            OAuthProvider::Slack => "Slack",
            OAuthProvider::Microsoft => "Microsoft Teams",
        }
    }

    /// Who answers the OAuth requests: "Slack", "Microsoft".
    pub fn issuer(self) -> &'static str {
        match self {
            OAuthProvider::Slack => "Slack",
            OAuthProvider::Microsoft => "Microsoft",
        }
    }

    /// The table of this provider's connections (also the start of its tokens' contexts).
    fn table(self) -> &'static str {
        match self {
            OAuthProvider::Slack => "slack_connection",
            OAuthProvider::Microsoft => "teams_connection",
        }
    }
}

/// A connection as the API shows it: never its tokens.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConnectionView {
    /// slack or microsoft.
    pub provider: OAuthProvider,
    /// The person at the provider: a Slack member id, a Microsoft Entra object id.
    pub external_user_id: String,
    /// The Slack workspace (team) id, or the Microsoft tenant id (`unknown` when the
    /// sign-in did not say).
    pub external_team_id: String,
    /// The account's email, when the provider gave it (Microsoft does).
    pub email: Option<String>,
    /// False once the provider refused to renew the token: connect again.
    pub is_active: bool,
    /// When the access token expires; absent for tokens that do not.
    pub token_expires_at: Option<DateTime<Utc>>,
    /// When Tocsin last used the connection.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When the account was first connected.
    pub created_at: DateTime<Utc>,
}

/// Why the callback did not connect an account.
#[derive(Debug, thiserror::Error)]
pub enum FinishError {
    /// The provider's client id and secret, or `PUBLIC_BASE_URL`, are not configured.
    #[error("{0}")]
    NotConfigured(String),
    /// The `state` is not one Tocsin issued for this provider, or it was used or expired.
    #[error("the sign-in state is unknown, already used or expired")]
    InvalidState,
    /// The provider refused the code (or could not be reached, or answered nonsense).
    #[error("{0}")]
    Refused(String),
    /// The provider account is connected to another Tocsin user.
    #[error("this account is already connected to another Tocsin user")]
    AlreadyConnected,
    /// The sealed PKCE verifier did not open.
    #[error(transparent)]
    Decrypt(#[from] DecryptError),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Why a connection's token could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// A stored token did not open.
    #[error(transparent)]
    Decrypt(#[from] DecryptError),
    /// The provider could not renew the token (not reached, or an answer other than a
    /// refusal of the refresh token), or the provider is no longer configured.
    #[error("{0}")]
    Provider(String),
}

/// The context a connection's token is sealed with: `token` is `access_token` or
/// `refresh_token`, e.g. `slack_connection:{user_id}:access_token`.
pub fn token_context(provider: OAuthProvider, user_id: Uuid, token: &str) -> String {
    format!("{}:{user_id}:{token}", provider.table())
}

/// The context a sign-in's PKCE verifier is sealed with, bound to its state's hash.
fn verifier_context(state_hash: &str) -> String {
    format!("oauth_state:{state_hash}:code_verifier")
}

/// The PKCE S256 challenge of a verifier (RFC 7636 4.2): base64url of its SHA-256,
/// without padding.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Where the provider sends the browser back: `{PUBLIC_BASE_URL}/v1/oauth/{provider}/callback`.
pub fn redirect_uri(public_base_url: &str, provider: OAuthProvider) -> String {
    format!(
        "{}/v1/oauth/{}/callback",
        public_base_url.trim_end_matches('/'),
        provider.as_str()
    )
}

/// The app's credentials at a provider.
struct Client<'a> {
    id: &'a str,
    secret: &'a str,
}

/// The provider's client id and secret, when both are configured.
fn client(config: &Config, provider: OAuthProvider) -> Option<Client<'_>> {
    let (id, secret) = match provider {
        OAuthProvider::Slack => (
            config.slack_client_id.as_deref()?,
            config.slack_client_secret.as_ref()?,
        ),
        OAuthProvider::Microsoft => (
            config.microsoft_client_id.as_deref()?,
            config.microsoft_client_secret.as_ref()?,
        ),
    };
    Some(Client {
        id,
        secret: secret.expose_secret(),
    })
}

fn not_configured(provider: OAuthProvider) -> String {
    match provider {
        OAuthProvider::Slack => {
            "Slack connections are not configured (SLACK_CLIENT_ID, SLACK_CLIENT_SECRET and PUBLIC_BASE_URL)"
        }
        OAuthProvider::Microsoft => {
            "Microsoft Teams connections are not configured (MICROSOFT_CLIENT_ID, MICROSOFT_CLIENT_SECRET and PUBLIC_BASE_URL)"
        }
    }
    .to_owned()
}

/// Starts connecting `user_id`'s account at `provider`: stores the sign-in's state (its
/// hash) and answers the URL of the provider's consent page, valid for
/// [`STATE_TTL_MINUTES`]. 501 when the provider or `PUBLIC_BASE_URL` is not configured.
pub async fn start(
    state: &AppState,
    user_id: Uuid,
    provider: OAuthProvider,
) -> Result<String, ApiError> {
    let config = &state.config;
    let (Some(client), Some(base)) = (client(config, provider), config.public_base_url.as_deref())
    else {
        return Err(ApiError::not_implemented(not_configured(provider)));
    };
    let state_token = magic::new_token();
    let state_hash = magic::token_hash(&state_token);
    let redirect_uri = redirect_uri(base, provider);
    let (url, verifier) = match provider {
        OAuthProvider::Slack => (
            reqwest::Url::parse_with_params(
                &format!("{}/oauth/v2/authorize", config.slack_api_base_url),
                &[
                    ("client_id", client.id),
                    ("user_scope", SLACK_USER_SCOPES),
                    ("redirect_uri", redirect_uri.as_str()),
                    ("state", state_token.as_str()),
                ],
            ),
            None,
        ),
        OAuthProvider::Microsoft => {
            // 32 random bytes, base64url: 43 characters of the verifier's alphabet.
            let verifier = magic::new_token();
            let challenge = pkce_challenge(&verifier);
            (
                reqwest::Url::parse_with_params(
                    &format!(
                        "{}/{}/oauth2/v2.0/authorize",
                        config.microsoft_login_base_url, config.microsoft_tenant
                    ),
                    &[
                        ("client_id", client.id),
                        ("response_type", "code"),
                        ("redirect_uri", redirect_uri.as_str()),
                        ("response_mode", "query"),
                        ("scope", MICROSOFT_SCOPES),
                        ("state", state_token.as_str()),
                        ("code_challenge", challenge.as_str()),
                        ("code_challenge_method", "S256"),
                    ],
                ),
                Some(verifier),
            )
        }
    };
    let url = url.map_err(ApiError::internal)?;
    let sealed_verifier = verifier.map(|verifier| {
        state
            .cipher
            .seal(verifier.as_bytes(), &verifier_context(&state_hash))
    });
    let mut tx = state.db.begin().await?;
    sqlx::query!(
        "DELETE FROM oauth_state WHERE user_id = $1 AND expires_at < now()",
        user_id
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO oauth_state (state_hash, user_id, provider, code_verifier_ciphertext, expires_at)
         VALUES ($1, $2, $3, $4, now() + make_interval(mins => $5))",
        state_hash,
        user_id,
        provider.as_str(),
        sealed_verifier,
        STATE_TTL_MINUTES,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(%user_id, provider = provider.as_str(), "OAuth connection started");
    Ok(url.into())
}

/// Uses a sign-in's state: one conditional UPDATE, so of concurrent callbacks with the
/// same state one gets the person (and the sealed PKCE verifier).
async fn consume_state(
    state: &AppState,
    provider: OAuthProvider,
    state_param: &str,
) -> Result<Option<(Uuid, Option<Vec<u8>>)>, sqlx::Error> {
    if !magic::well_formed(state_param) {
        return Ok(None);
    }
    let row = sqlx::query!(
        "UPDATE oauth_state SET used_at = now()
         WHERE state_hash = $1 AND provider = $2 AND used_at IS NULL AND expires_at > now()
         RETURNING user_id, code_verifier_ciphertext",
        magic::token_hash(state_param),
        provider.as_str(),
    )
    .fetch_optional(&state.db)
    .await?;
    Ok(row.map(|row| (row.user_id, row.code_verifier_ciphertext)))
}

/// The callback of a sign-in the person declined (or the provider ended with an error):
/// uses its state, so it cannot be finished later. False when the state was not valid.
pub async fn decline(
    state: &AppState,
    provider: OAuthProvider,
    state_param: &str,
) -> Result<bool, sqlx::Error> {
    Ok(consume_state(state, provider, state_param).await?.is_some())
}

/// The callback: uses the state, exchanges `code` for the person's tokens at the provider
/// and stores them sealed (replacing the person's earlier connection to that provider).
pub async fn finish(
    state: &AppState,
    provider: OAuthProvider,
    code: &str,
    state_param: &str,
) -> Result<ConnectionView, FinishError> {
    let config = &state.config;
    let (Some(client), Some(base)) = (client(config, provider), config.public_base_url.as_deref())
    else {
        return Err(FinishError::NotConfigured(not_configured(provider)));
    };
    let Some((user_id, sealed_verifier)) = consume_state(state, provider, state_param).await?
    else {
        return Err(FinishError::InvalidState);
    };
    let redirect_uri = redirect_uri(base, provider);
    match provider {
        OAuthProvider::Slack => finish_slack(state, &client, user_id, code, &redirect_uri).await,
        OAuthProvider::Microsoft => {
            let Some(sealed) = sealed_verifier else {
                return Err(FinishError::InvalidState);
            };
            let verifier = state
                .cipher
                .open_text(&sealed, &verifier_context(&magic::token_hash(state_param)))?;
            finish_microsoft(state, &client, user_id, code, &redirect_uri, &verifier).await
        }
    }
}

async fn finish_slack(
    state: &AppState,
    client: &Client<'_>,
    user_id: Uuid,
    code: &str,
    redirect_uri: &str,
) -> Result<ConnectionView, FinishError> {
    let provider = OAuthProvider::Slack;
    let (tokens, answer) = slack_token(
        state,
        &[
            ("client_id", client.id),
            ("client_secret", client.secret),
            ("code", code),
            ("redirect_uri", redirect_uri),
        ],
    )
    .await
    .map_err(|refusal| FinishError::Refused(refusal.message(provider)))?;
    let Some(slack_user_id) = answer["authed_user"]["id"]
        .as_str()
        .filter(|id| !id.is_empty())
    else {
        return Err(FinishError::Refused(
            "Slack's answer does not say who signed in".to_owned(),
        ));
    };
    let team_id = answer["team"]["id"]
        .as_str()
        .or_else(|| answer["enterprise"]["id"].as_str())
        .unwrap_or(UNKNOWN_TENANT);
    let (access, refresh, expires_at) = seal_tokens(state, provider, user_id, &tokens);
    let row = sqlx::query!(
        "INSERT INTO slack_connection (user_id, access_token_ciphertext, refresh_token_ciphertext,
                                       token_expires_at, slack_user_id, slack_team_id, is_active)
         VALUES ($1, $2, $3, $4, $5, $6, true)
         ON CONFLICT (user_id) DO UPDATE
         SET access_token_ciphertext = EXCLUDED.access_token_ciphertext,
             refresh_token_ciphertext = EXCLUDED.refresh_token_ciphertext,
             token_expires_at = EXCLUDED.token_expires_at,
             slack_user_id = EXCLUDED.slack_user_id,
             slack_team_id = EXCLUDED.slack_team_id,
             slack_email = NULL,
             is_active = true,
             updated_at = now()
         RETURNING slack_email, last_used_at, created_at",
        user_id,
        access,
        refresh,
        expires_at,
        slack_user_id,
        team_id,
    )
    .fetch_one(&state.db)
    .await
    .map_err(|error| taken_or(error, "slack_connection_slack_user_id_key"))?;
    tracing::info!(%user_id, slack_user = slack_user_id, slack_team = team_id, "Slack connected");
    Ok(ConnectionView {
        provider,
        external_user_id: slack_user_id.to_owned(),
        external_team_id: team_id.to_owned(),
        email: row.slack_email,
        is_active: true,
        token_expires_at: expires_at,
        last_used_at: row.last_used_at,
        created_at: row.created_at,
    })
}

async fn finish_microsoft(
    state: &AppState,
    client: &Client<'_>,
    user_id: Uuid,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Result<ConnectionView, FinishError> {
    let provider = OAuthProvider::Microsoft;
    let (tokens, answer) = microsoft_token(
        state,
        &[
            ("client_id", client.id),
            ("client_secret", client.secret),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("grant_type", "authorization_code"),
            ("code_verifier", verifier),
            ("scope", MICROSOFT_SCOPES),
        ],
    )
    .await
    .map_err(|refusal| FinishError::Refused(refusal.message(provider)))?;
    let me = microsoft_me(state, &tokens.access_token)
        .await
        .map_err(|refusal| FinishError::Refused(refusal.message(provider)))?;
    let Some(teams_user_id) = me["id"].as_str().filter(|id| !id.is_empty()) else {
        return Err(FinishError::Refused(
            "Microsoft Graph did not say who signed in".to_owned(),
        ));
    };
    let email = me["mail"]
        .as_str()
        .filter(|mail| !mail.is_empty())
        .or_else(|| me["userPrincipalName"].as_str())
        .filter(|mail| !mail.is_empty())
        .map(str::to_owned);
    let tenant_id = answer["id_token"]
        .as_str()
        .and_then(tenant_of)
        .unwrap_or_else(|| UNKNOWN_TENANT.to_owned());
    let (access, refresh, expires_at) = seal_tokens(state, provider, user_id, &tokens);
    let row = sqlx::query!(
        "INSERT INTO teams_connection (user_id, access_token_ciphertext, refresh_token_ciphertext,
                                       token_expires_at, teams_user_id, teams_tenant_id, teams_email,
                                       is_active)
         VALUES ($1, $2, $3, $4, $5, $6, $7, true)
         ON CONFLICT (user_id) DO UPDATE
         SET access_token_ciphertext = EXCLUDED.access_token_ciphertext,
             refresh_token_ciphertext = EXCLUDED.refresh_token_ciphertext,
             token_expires_at = EXCLUDED.token_expires_at,
             teams_user_id = EXCLUDED.teams_user_id,
             teams_tenant_id = EXCLUDED.teams_tenant_id,
             teams_email = EXCLUDED.teams_email,
             is_active = true,
             updated_at = now()
         RETURNING last_used_at, created_at",
        user_id,
        access,
        refresh,
        expires_at,
        teams_user_id,
        tenant_id.as_str(),
        email.as_deref(),
    )
    .fetch_one(&state.db)
    .await
    .map_err(|error| taken_or(error, "teams_connection_teams_user_id_key"))?;
    tracing::info!(%user_id, teams_user = teams_user_id, teams_tenant = %tenant_id, "Microsoft Teams connected");
    Ok(ConnectionView {
        provider,
        external_user_id: teams_user_id.to_owned(),
        external_team_id: tenant_id,
        email,
        is_active: true,
        token_expires_at: expires_at,
        last_used_at: row.last_used_at,
        created_at: row.created_at,
    })
}

/// [`FinishError::AlreadyConnected`] for a unique violation of `constraint` (the provider
/// account belongs to another person); the database error otherwise.
fn taken_or(error: sqlx::Error, constraint: &str) -> FinishError {
    let taken = error
        .as_database_error()
        .filter(|db| db.is_unique_violation())
        .and_then(|db| db.constraint())
        == Some(constraint);
    if taken {
        FinishError::AlreadyConnected
    } else {
        FinishError::Database(error)
    }
}

/// The tenant (`tid` claim) of a Microsoft ID token. The token came straight from the
/// token endpoint, over TLS, in answer to Tocsin's own authenticated request (not through
/// the browser), so its signature is not checked (OpenID Connect Core 3.1.3.7 allows
/// this for tokens received directly from the token endpoint).
fn tenant_of(id_token: &str) -> Option<String> {
    let payload = id_token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims["tid"]
        .as_str()
        .filter(|tid| !tid.is_empty())
        .map(str::to_owned)
}

/// Tokens a provider handed out.
struct Tokens {
    access_token: String,
    refresh_token: Option<String>,
    expires_in: Option<i64>,
}

/// When a token that lives `expires_in` seconds from now expires.
fn expiry(expires_in: Option<i64>) -> Option<DateTime<Utc>> {
    let seconds = expires_in?.clamp(0, 366 * 24 * 3600);
    Some(Utc::now() + Duration::seconds(seconds))
}

/// The sealed access token, the sealed refresh token and the expiry of `tokens`.
fn seal_tokens(
    state: &AppState,
    provider: OAuthProvider,
    user_id: Uuid,
    tokens: &Tokens,
) -> (Vec<u8>, Option<Vec<u8>>, Option<DateTime<Utc>>) {
    let access = state.cipher.seal(
        tokens.access_token.as_bytes(),
        &token_context(provider, user_id, "access_token"),
    );
    let refresh = tokens.refresh_token.as_ref().map(|token| {
        state.cipher.seal(
            token.as_bytes(),
            &token_context(provider, user_id, "refresh_token"),
        )
    });
    (access, refresh, expiry(tokens.expires_in))
}

/// Why a provider handed out no tokens.
#[derive(Debug)]
enum Refusal {
    /// It answered an OAuth error code (`invalid_grant`, Slack's `invalid_code`, ...).
    Refused { error: String, description: String },
    /// It could not be reached, or answered something else.
    Unavailable(String),
}

impl Refusal {
    /// What to tell a person (never a token: error answers carry none).
    fn message(&self, provider: OAuthProvider) -> String {
        let issuer = provider.issuer();
        match self {
            Refusal::Refused { error, description } if description.is_empty() => {
                format!("{issuer} refused: {error}")
            }
            Refusal::Refused { error, description } => {
                format!("{issuer} refused: {error} ({description})")
            }
            Refusal::Unavailable(reason) => format!("{issuer} {reason}"),
        }
    }
}

/// POSTs a form to a provider; answers its status and JSON body (null when not JSON).
async fn post_form(
    state: &AppState,
    url: &str,
    form: &[(&str, &str)],
) -> Result<(reqwest::StatusCode, Value), Refusal> {
    let body = serde_urlencoded::to_string(form)
        .map_err(|e| Refusal::Unavailable(format!("could not be asked: {e}")))?;
    let response = state
        .http
        .post(url)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .header(reqwest::header::ACCEPT, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| {
            Refusal::Unavailable(format!(
                "could not be reached: {}",
                crate::error::error_chain(&e.without_url())
            ))
        })?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or_default();
    Ok((status, answer))
}

/// Slack's `oauth.v2.access`, for a code or a refresh token. Answers the user token and
/// the whole answer.
async fn slack_token(state: &AppState, form: &[(&str, &str)]) -> Result<(Tokens, Value), Refusal> {
    let url = format!("{}/api/oauth.v2.access", state.config.slack_api_base_url);
    let (status, answer) = post_form(state, &url, form).await?;
    if answer["ok"] != true {
        return Err(match answer["error"].as_str().filter(|e| !e.is_empty()) {
            Some(error) => Refusal::Refused {
                error: error.to_owned(),
                description: String::new(),
            },
            None => Refusal::Unavailable(format!("answered {} without ok", status.as_u16())),
        });
    }
    // The user token is under `authed_user`; a refresh may answer it at the top level
    // (with `token_type: user`; a top-level token of another type is the bot's).
    let tokens = {
        let user = &answer["authed_user"];
        let user_at_top = answer["token_type"] == "user";
        let text = |key: &str| {
            user[key]
                .as_str()
                .or_else(|| answer[key].as_str().filter(|_| user_at_top))
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let Some(access_token) = text("access_token") else {
            return Err(Refusal::Unavailable(
                "answered without a user token".to_owned(),
            ));
        };
        Tokens {
            access_token,
            refresh_token: text("refresh_token"),
            expires_in: user["expires_in"]
                .as_i64()
                .or_else(|| answer["expires_in"].as_i64().filter(|_| user_at_top)),
        }
    };
    Ok((tokens, answer))
}

/// The Microsoft identity platform's token endpoint, for a code or a refresh token.
async fn microsoft_token(
    state: &AppState,
    form: &[(&str, &str)],
) -> Result<(Tokens, Value), Refusal> {
    let config = &state.config;
    let url = format!(
        "{}/{}/oauth2/v2.0/token",
        config.microsoft_login_base_url, config.microsoft_tenant
    );
    let (status, answer) = post_form(state, &url, form).await?;
    if let Some(error) = answer["error"].as_str().filter(|e| !e.is_empty()) {
        // The description's first line ("AADSTS70008: ..."); the rest is trace ids.
        let description: String = answer["error_description"]
            .as_str()
            .unwrap_or_default()
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect();
        return Err(Refusal::Refused {
            error: error.to_owned(),
            description,
        });
    }
    let access_token = answer["access_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    let Some(access_token) = access_token.filter(|_| status.is_success()) else {
        return Err(Refusal::Unavailable(format!(
            "answered {} without a token",
            status.as_u16()
        )));
    };
    let tokens = Tokens {
        access_token,
        refresh_token: answer["refresh_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
        expires_in: answer["expires_in"]
            .as_i64()
            .or_else(|| answer["expires_in"].as_str().and_then(|s| s.parse().ok())),
    };
    Ok((tokens, answer))
}

/// Microsoft Graph's `/me`: who signed in (`id`, `mail`, `userPrincipalName`).
async fn microsoft_me(state: &AppState, access_token: &str) -> Result<Value, Refusal> {
    let response = state
        .http
        .get(format!("{}/v1.0/me", state.config.microsoft_graph_base_url))
        .bearer_auth(access_token)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| {
            Refusal::Unavailable(format!(
                "Graph could not be reached: {}",
                crate::error::error_chain(&e.without_url())
            ))
        })?;
    let status = response.status();
    if !status.is_success() {
        return Err(Refusal::Unavailable(format!(
            "Graph answered {} to /me",
            status.as_u16()
        )));
    }
    response.json().await.map_err(|_| {
        Refusal::Unavailable("Graph answered /me with something else than JSON".to_owned())
    })
}

/// A person's connections (at most one per provider), Slack first. Never their tokens.
pub async fn list(
    conn: &mut PgConnection,
    user_id: Uuid,
) -> Result<Vec<ConnectionView>, sqlx::Error> {
    let mut views = Vec::with_capacity(2);
    if let Some(row) = sqlx::query!(
        "SELECT slack_user_id, slack_team_id, slack_email, is_active, token_expires_at,
                last_used_at, created_at
         FROM slack_connection WHERE user_id = $1",
        user_id
    )
    .fetch_optional(&mut *conn)
    .await?
    {
        views.push(ConnectionView {
            provider: OAuthProvider::Slack,
            external_user_id: row.slack_user_id,
            external_team_id: row.slack_team_id,
            email: row.slack_email,
            is_active: row.is_active,
            token_expires_at: row.token_expires_at,
            last_used_at: row.last_used_at,
            created_at: row.created_at,
        });
    }
    if let Some(row) = sqlx::query!(
        "SELECT teams_user_id, teams_tenant_id, teams_email, is_active, token_expires_at,
                last_used_at, created_at
         FROM teams_connection WHERE user_id = $1",
        user_id
    )
    .fetch_optional(&mut *conn)
    .await?
    {
        views.push(ConnectionView {
            provider: OAuthProvider::Microsoft,
            external_user_id: row.teams_user_id,
            external_team_id: row.teams_tenant_id,
            email: row.teams_email,
            is_active: row.is_active,
            token_expires_at: row.token_expires_at,
            last_used_at: row.last_used_at,
            created_at: row.created_at,
        });
    }
    Ok(views)
}

/// Removes a person's connection to `provider`; false when there was none. A Slack token
/// is then revoked at Slack (`auth.revoke`), best effort: a failure is logged. Microsoft
/// has no endpoint that revokes one app's tokens for a person; they lapse (an hour for
/// the access token) and are gone from Tocsin.
pub async fn disconnect(
    state: &AppState,
    user_id: Uuid,
    provider: OAuthProvider,
) -> Result<bool, sqlx::Error> {
    match provider {
        OAuthProvider::Slack => {
            let sealed = sqlx::query_scalar!(
                "DELETE FROM slack_connection WHERE user_id = $1 RETURNING access_token_ciphertext",
                user_id
            )
            .fetch_optional(&state.db)
            .await?;
            let Some(sealed) = sealed else {
                return Ok(false);
            };
            tracing::info!(%user_id, "Slack disconnected");
            match state
                .cipher
                .open_text(&sealed, &token_context(provider, user_id, "access_token"))
            {
                Ok(token) => revoke_slack(state, &token).await,
                Err(error) => {
                    tracing::warn!(%user_id, %error, "the Slack token of a removed connection was not revoked");
                }
            }
            Ok(true)
        }
        OAuthProvider::Microsoft => {
            let deleted = sqlx::query!("DELETE FROM teams_connection WHERE user_id = $1", user_id)
                .execute(&state.db)
                .await?;
            let removed = deleted.rows_affected() > 0;
            if removed {
                tracing::info!(%user_id, "Microsoft Teams disconnected");
            }
            Ok(removed)
        }
    }
}

/// Slack's `auth.revoke` for a user token. Logs a failure (never the token).
async fn revoke_slack(state: &AppState, token: &str) {
    let result = state
        .http
        .post(format!(
            "{}/api/auth.revoke",
            state.config.slack_api_base_url
        ))
        .bearer_auth(token)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded",
        )
        .body("")
        .send()
        .await;
    match result {
        Ok(response) => {
            let status = response.status();
            let answer: Value = response.json().await.unwrap_or_default();
            if answer["ok"] != true {
                tracing::warn!(
                    status = status.as_u16(),
                    error = answer["error"].as_str().unwrap_or_default(),
                    "Slack did not revoke the token of a removed connection"
                );
            }
        }
        Err(error) => {
            tracing::warn!(error = %crate::error::error_chain(&error.without_url()), "Slack could not be reached to revoke the token of a removed connection");
        }
    }
}

/// A person's access token at `provider`, renewed first when it expires within
/// [`USE_AHEAD_MINUTES`] and can be; records the use (`last_used_at`). None without an
/// active connection, or when the token expired and cannot be renewed.
pub async fn access_token(
    state: &AppState,
    user_id: Uuid,
    provider: OAuthProvider,
) -> Result<Option<String>, ConnectionError> {
    let before = Utc::now() + Duration::minutes(USE_AHEAD_MINUTES);
    let current = match provider {
        OAuthProvider::Slack => sqlx::query!(
            r#"SELECT refresh_token_ciphertext IS NOT NULL AS "refreshable!", token_expires_at
               FROM slack_connection WHERE user_id = $1 AND is_active"#,
            user_id
        )
        .fetch_optional(&state.db)
        .await?
        .map(|row| (row.refreshable, row.token_expires_at)),
        OAuthProvider::Microsoft => sqlx::query!(
            r#"SELECT refresh_token_ciphertext IS NOT NULL AS "refreshable!", token_expires_at
               FROM teams_connection WHERE user_id = $1 AND is_active"#,
            user_id
        )
        .fetch_optional(&state.db)
        .await?
        .map(|row| (row.refreshable, row.token_expires_at)),
    };
    let Some((refreshable, expires_at)) = current else {
        return Ok(None);
    };
    let mut refresh_error = None;
    if refreshable && expires_at.is_some_and(|at| at < before) {
        match refresh(state, provider, user_id, before).await {
            Ok(Refreshed::Deactivated) => return Ok(None),
            Ok(Refreshed::Renewed | Refreshed::NotNeeded) => {}
            Err(error @ ConnectionError::Database(_)) => return Err(error),
            Err(error) => {
                tracing::warn!(%user_id, provider = provider.as_str(), %error, "an OAuth token could not be renewed before use");
                refresh_error = Some(error);
            }
        }
    }
    let used = match provider {
        OAuthProvider::Slack => sqlx::query!(
            "UPDATE slack_connection SET last_used_at = now()
             WHERE user_id = $1 AND is_active
             RETURNING access_token_ciphertext, token_expires_at",
            user_id
        )
        .fetch_optional(&state.db)
        .await?
        .map(|row| (row.access_token_ciphertext, row.token_expires_at)),
        OAuthProvider::Microsoft => sqlx::query!(
            "UPDATE teams_connection SET last_used_at = now()
             WHERE user_id = $1 AND is_active
             RETURNING access_token_ciphertext, token_expires_at",
            user_id
        )
        .fetch_optional(&state.db)
        .await?
        .map(|row| (row.access_token_ciphertext, row.token_expires_at)),
    };
    let Some((sealed, expires_at)) = used else {
        return Ok(None);
    };
    if expires_at.is_some_and(|at| at <= Utc::now()) {
        // Expired and not renewed: say why when a refresh failed.
        return refresh_error.map_or(Ok(None), Err);
    }
    let token = state
        .cipher
        .open_text(&sealed, &token_context(provider, user_id, "access_token"))?;
    Ok(Some(token))
}

/// What renewing one connection's token did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refreshed {
    /// New tokens are stored.
    Renewed,
    /// Nothing to do: the token no longer expires before the limit (another run renewed
    /// it), or the connection is gone, inactive or has no refresh token.
    NotNeeded,
    /// The provider refused the refresh token: the connection is inactive now.
    Deactivated,
}

/// Renews a connection's token when it expires before `before`. The row stays locked
/// while the provider answers, so two renewals of one connection (the escalator's and a
/// sender's) do not both spend the refresh token: the second finds it renewed.
async fn refresh(
    state: &AppState,
    provider: OAuthProvider,
    user_id: Uuid,
    before: DateTime<Utc>,
) -> Result<Refreshed, ConnectionError> {
    let Some(client) = client(&state.config, provider) else {
        return Err(ConnectionError::Provider(not_configured(provider)));
    };
    let mut tx = state.db.begin().await?;
    let row = match provider {
        OAuthProvider::Slack => sqlx::query!(
            "SELECT refresh_token_ciphertext, token_expires_at FROM slack_connection
             WHERE user_id = $1 AND is_active FOR UPDATE",
            user_id
        )
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| (row.refresh_token_ciphertext, row.token_expires_at)),
        OAuthProvider::Microsoft => sqlx::query!(
            "SELECT refresh_token_ciphertext, token_expires_at FROM teams_connection
             WHERE user_id = $1 AND is_active FOR UPDATE",
            user_id
        )
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| (row.refresh_token_ciphertext, row.token_expires_at)),
    };
    let Some((Some(sealed), Some(expires_at))) = row else {
        return Ok(Refreshed::NotNeeded);
    };
    if expires_at >= before {
        return Ok(Refreshed::NotNeeded);
    }
    let refresh_token = state
        .cipher
        .open_text(&sealed, &token_context(provider, user_id, "refresh_token"))?;
    let answer = match provider {
        OAuthProvider::Slack => {
            slack_token(
                state,
                &[
                    ("client_id", client.id),
                    ("client_secret", client.secret),
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token.as_str()),
                ],
            )
            .await
        }
        OAuthProvider::Microsoft => {
            microsoft_token(
                state,
                &[
                    ("client_id", client.id),
                    ("client_secret", client.secret),
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token.as_str()),
                    ("scope", MICROSOFT_SCOPES),
                ],
            )
            .await
        }
    };
    match answer {
        Ok((tokens, _)) => {
            let (access, refresh, expires_at) = seal_tokens(state, provider, user_id, &tokens);
            // A provider that hands out no new refresh token keeps the old one good.
            match provider {
                OAuthProvider::Slack => {
                    sqlx::query!(
                        "UPDATE slack_connection
                     SET access_token_ciphertext = $2,
                         refresh_token_ciphertext = coalesce($3, refresh_token_ciphertext),
                         token_expires_at = $4, updated_at = now()
                     WHERE user_id = $1",
                        user_id,
                        access,
                        refresh,
                        expires_at,
                    )
                    .execute(&mut *tx)
                    .await?
                }
                OAuthProvider::Microsoft => {
                    sqlx::query!(
                        "UPDATE teams_connection
                     SET access_token_ciphertext = $2,
                         refresh_token_ciphertext = coalesce($3, refresh_token_ciphertext),
                         token_expires_at = $4, updated_at = now()
                     WHERE user_id = $1",
                        user_id,
                        access,
                        refresh,
                        expires_at,
                    )
                    .execute(&mut *tx)
                    .await?
                }
            };
            tx.commit().await?;
            tracing::info!(%user_id, provider = provider.as_str(), "OAuth token renewed");
            Ok(Refreshed::Renewed)
        }
        Err(Refusal::Refused { error, .. }) if REVOKED.contains(&error.as_str()) => {
            match provider {
                OAuthProvider::Slack => {
                    sqlx::query!(
                        "UPDATE slack_connection SET is_active = false, updated_at = now()
                     WHERE user_id = $1",
                        user_id
                    )
                    .execute(&mut *tx)
                    .await?
                }
                OAuthProvider::Microsoft => {
                    sqlx::query!(
                        "UPDATE teams_connection SET is_active = false, updated_at = now()
                     WHERE user_id = $1",
                        user_id
                    )
                    .execute(&mut *tx)
                    .await?
                }
            };
            tx.commit().await?;
            tracing::warn!(%user_id, provider = provider.as_str(), %error, "the provider refused the refresh token; the connection is inactive until the person connects again");
            Ok(Refreshed::Deactivated)
        }
        Err(refusal) => Err(ConnectionError::Provider(refusal.message(provider))),
    }
}

/// Renews the token of every active connection that expires before `now` plus
/// [`REFRESH_AHEAD_MINUTES`] and has a refresh token (up to a batch per provider and run;
/// the rest wait for the next run, a minute later, well within the ten). Answers how many
/// were renewed. A connection whose provider refuses its refresh token is made inactive;
/// one that fails otherwise is logged and tried again next run.
pub async fn refresh_expiring(state: &AppState, now: DateTime<Utc>) -> Result<usize, sqlx::Error> {
    let before = now + Duration::minutes(REFRESH_AHEAD_MINUTES);
    let started = std::time::Instant::now();
    let mut renewed = 0;
    for provider in OAuthProvider::ALL {
        if client(&state.config, provider).is_none() {
            continue;
        }
        let due = match provider {
            OAuthProvider::Slack => {
                sqlx::query_scalar!(
                    "SELECT user_id FROM slack_connection
                 WHERE is_active AND refresh_token_ciphertext IS NOT NULL AND token_expires_at < $1
                 ORDER BY token_expires_at LIMIT $2",
                    before,
                    REFRESH_BATCH,
                )
                .fetch_all(&state.db)
                .await?
            }
            OAuthProvider::Microsoft => {
                sqlx::query_scalar!(
                    "SELECT user_id FROM teams_connection
                 WHERE is_active AND refresh_token_ciphertext IS NOT NULL AND token_expires_at < $1
                 ORDER BY token_expires_at LIMIT $2",
                    before,
                    REFRESH_BATCH,
                )
                .fetch_all(&state.db)
                .await?
            }
        };
        for user_id in due {
            if started.elapsed() > REFRESH_BUDGET {
                return Ok(renewed);
            }
            match refresh(state, provider, user_id, before).await {
                Ok(Refreshed::Renewed) => renewed += 1,
                Ok(Refreshed::NotNeeded | Refreshed::Deactivated) => {}
                Err(ConnectionError::Database(error)) => return Err(error),
                Err(error) => {
                    tracing::warn!(%user_id, provider = provider.as_str(), %error, "an OAuth token could not be renewed; trying again next run");
                }
            }
        }
    }
    Ok(renewed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_is_rfc_7636s_example() {
        // RFC 7636 Appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn the_tenant_is_read_from_the_id_tokens_payload() {
        let payload =
            URL_SAFE_NO_PAD.encode(br#"{"tid":"72f988bf-86f1-41af-91ab-2d7cd011db47","oid":"x"}"#);
        let token = format!("eyJhbGciOiJSUzI1NiJ9.{payload}.c2lnbmF0dXJl");
        assert_eq!(
            tenant_of(&token).as_deref(),
            Some("72f988bf-86f1-41af-91ab-2d7cd011db47")
        );
        assert_eq!(tenant_of("not-a-jwt"), None);
        assert_eq!(tenant_of("a.!!!.c"), None);
    }

    #[test]
    fn providers_parse_and_name_their_callbacks() {
        assert_eq!(OAuthProvider::parse("slack"), Some(OAuthProvider::Slack));
        assert_eq!(
            OAuthProvider::parse("microsoft"),
            Some(OAuthProvider::Microsoft)
        );
        assert_eq!(OAuthProvider::parse("teams"), None);
        assert_eq!(
            redirect_uri("https://tocsin.example.com/", OAuthProvider::Slack),
            "https://tocsin.example.com/v1/oauth/slack/callback"
        );
        assert_eq!(
            token_context(OAuthProvider::Microsoft, Uuid::nil(), "refresh_token"),
            "teams_connection:00000000-0000-0000-0000-000000000000:refresh_token"
        );
    }
}
