//! API keys and who a request acts as. A key is `tsn_` and 64 hex digits (256 random
//! bits). Only its SHA-256 is stored, with the first 12 characters kept visible so people
//! can tell keys apart. A request presents it as `Authorization: Bearer <key>`.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;
use crate::tenancy::UserRole;

/// What every Tocsin API key starts with (lets secret scanners recognise one).
pub const KEY_PREFIX: &str = "tsn_";
/// How much of a key stays visible in listings.
pub const VISIBLE_PREFIX_LEN: usize = 12;

/// A freshly generated key: the plaintext (shown once) and what is stored.
pub struct GeneratedKey {
    /// The key itself. Never stored, never logged.
    pub plaintext: String,
    /// Its visible start.
    pub prefix: String,
    /// SHA-256 (hex) of the whole key.
    pub hash: String,
}

/// Generates a new random API key.
pub fn generate_api_key() -> GeneratedKey {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let plaintext = format!("{KEY_PREFIX}{}", hex::encode(bytes));
    GeneratedKey {
        prefix: plaintext[..VISIBLE_PREFIX_LEN].to_owned(),
        hash: hash_api_key(&plaintext),
        plaintext,
    }
}

/// SHA-256 (hex) of a key. A fast hash is right here: keys carry 256 random bits, so
/// there is nothing to brute-force.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A permission an endpoint needs. A key may do what its role allows, narrowed to its
/// scopes when it has any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Scope {
    #[serde(rename = "workspace:read")]
    WorkspaceRead,
    #[serde(rename = "workspace:write")]
    WorkspaceWrite,
    #[serde(rename = "users:read")]
    UsersRead,
    #[serde(rename = "users:write")]
    UsersWrite,
    #[serde(rename = "api_keys:read")]
    ApiKeysRead,
    #[serde(rename = "api_keys:write")]
    ApiKeysWrite,
    #[serde(rename = "integrations:read")]
    IntegrationsRead,
    #[serde(rename = "integrations:write")]
    IntegrationsWrite,
    #[serde(rename = "incidents:read")]
    IncidentsRead,
    #[serde(rename = "incidents:write")]
    IncidentsWrite,
    #[serde(rename = "notifications:read")]
    NotificationsRead,
    #[serde(rename = "notifications:write")]
    NotificationsWrite,
    #[serde(rename = "services:read")]
    ServicesRead,
    #[serde(rename = "services:write")]
    ServicesWrite,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 14] = [
        Scope::WorkspaceRead,
        Scope::WorkspaceWrite,
        Scope::UsersRead,
        Scope::UsersWrite,
        Scope::ApiKeysRead,
        Scope::ApiKeysWrite,
        Scope::IntegrationsRead,
        Scope::IntegrationsWrite,
        Scope::IncidentsRead,
        Scope::IncidentsWrite,
        Scope::NotificationsRead,
        Scope::NotificationsWrite,
        Scope::ServicesRead,
        Scope::ServicesWrite,
    ];

    /// The scope's name, as stored in `api_key.scopes`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::WorkspaceRead => "workspace:read",
            Scope::WorkspaceWrite => "workspace:write",
            Scope::UsersRead => "users:read",
            Scope::UsersWrite => "users:write",
            Scope::ApiKeysRead => "api_keys:read",
            Scope::ApiKeysWrite => "api_keys:write",
            Scope::IntegrationsRead => "integrations:read",
            Scope::IntegrationsWrite => "integrations:write",
            Scope::IncidentsRead => "incidents:read",
            Scope::IncidentsWrite => "incidents:write",
            Scope::NotificationsRead => "notifications:read",
            Scope::NotificationsWrite => "notifications:write",
            Scope::ServicesRead => "services:read",
            Scope::ServicesWrite => "services:write",
        }
    }

    /// Parses a scope name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether `role` may use this scope at all. Viewers read, responders also act on
    /// incidents (later scopes), admins manage the workspace, its people and its keys.
    pub fn allowed_for(self, role: UserRole) -> bool {
        match role {
            UserRole::Admin => true,
            UserRole::Responder if self == Scope::IncidentsWrite => true,
            UserRole::Responder | UserRole::Viewer => matches!(
                self,
                Scope::WorkspaceRead
                    | Scope::UsersRead
                    | Scope::IntegrationsRead
                    | Scope::IncidentsRead
                    | Scope::NotificationsRead
                    | Scope::ServicesRead
            ),
        }
    }
}

/// The caller of an authenticated request.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The workspace every query of the request is confined to.
    pub workspace_id: Uuid,
    /// The key used.
    pub api_key_id: Uuid,
    /// The person the key acts for (who created it), recorded on what it does.
    pub user_id: Option<Uuid>,
    /// The role the key acts with.
    pub role: UserRole,
    /// The key's scopes; empty means everything the role allows.
    pub scopes: Vec<String>,
}

impl Principal {
    /// Refuses (403) unless this caller may use `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if !scope.allowed_for(self.role) {
            return Err(ApiError::forbidden(format!(
                "the {} role may not use {}",
                self.role.as_str(),
                scope.as_str()
            )));
        }
        if !self.scopes.is_empty() && !self.scopes.iter().any(|s| s == scope.as_str()) {
            return Err(ApiError::forbidden(format!(
                "this API key lacks the scope {}",
                scope.as_str()
            )));
        }
        Ok(())
    }
}

struct KeyRow {
    id: Uuid,
    workspace_id: Uuid,
    created_by_user_id: Option<Uuid>,
    role: UserRole,
    scopes: Vec<String>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = bearer_token(parts)?;
        authenticate(state, key).await
    }
}

fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized("send an API key as Authorization: Bearer <key>"))?;
    let value = header
        .to_str()
        .map_err(|_| ApiError::unauthorized("the Authorization header is not valid text"))?;
    let (scheme, token) = value
        .split_once(' ')
        .ok_or_else(|| ApiError::unauthorized("the Authorization header must be Bearer <key>"))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::unauthorized(
            "the Authorization header must be Bearer <key>",
        ));
    }
    Ok(token.trim())
}

/// Finds the key, refusing unknown, revoked and expired ones, and records its use (at
/// most once a minute, so reads do not each write).
pub async fn authenticate(state: &AppState, key: &str) -> Result<Principal, ApiError> {
    let row = sqlx::query_as!(
        KeyRow,
        r#"SELECT id, workspace_id, created_by_user_id, role AS "role: UserRole", scopes, expires_at,
                  revoked_at, last_used_at
           FROM api_key WHERE key_hash = $1"#,
        hash_api_key(key),
    )
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(|| ApiError::unauthorized("the API key is not valid"))?;
    let now = Utc::now();
    if row.revoked_at.is_some() {
        return Err(ApiError::unauthorized("the API key has been revoked"));
    }
    if row.expires_at.is_some_and(|at| at <= now) {
        return Err(ApiError::unauthorized("the API key has expired"));
    }
    if row
        .last_used_at
        .is_none_or(|at| now - at > chrono::Duration::minutes(1))
    {
        sqlx::query!(
            "UPDATE api_key SET last_used_at = now() WHERE id = $1",
            row.id
        )
        .execute(&state.db)
        .await?;
    }
    Ok(Principal {
        workspace_id: row.workspace_id,
        api_key_id: row.id,
        user_id: row.created_by_user_id,
        role: row.role,
        scopes: row.scopes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_random_prefixed_and_hashed() {
        let a = generate_api_key();
        let b = generate_api_key();
        assert_ne!(a.plaintext, b.plaintext);
        assert!(a.plaintext.starts_with(KEY_PREFIX));
        assert_eq!(a.plaintext.len(), KEY_PREFIX.len() + 64);
        assert!(a.plaintext.starts_with(&a.prefix));
        assert_eq!(a.hash, hash_api_key(&a.plaintext));
        assert!(!a.hash.contains(&a.plaintext[KEY_PREFIX.len()..]));
    }

    #[test]
    fn roles_and_scopes_combine() {
        let principal = |role, scopes: &[&str]| Principal {
            workspace_id: Uuid::nil(),
            api_key_id: Uuid::nil(),
            user_id: None,
            role,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        };
        assert!(
            principal(UserRole::Admin, &[])
                .require(Scope::UsersWrite)
                .is_ok()
        );
        assert!(
            principal(UserRole::Viewer, &[])
                .require(Scope::UsersRead)
                .is_ok()
        );
        assert!(
            principal(UserRole::Viewer, &[])
                .require(Scope::UsersWrite)
                .is_err()
        );
        assert!(
            principal(UserRole::Responder, &[])
                .require(Scope::ApiKeysRead)
                .is_err()
        );
        assert!(
            principal(UserRole::Viewer, &[])
                .require(Scope::ServicesRead)
                .is_ok()
        );
        assert!(
            principal(UserRole::Responder, &[])
                .require(Scope::ServicesWrite)
                .is_err()
        );
        let narrowed = principal(UserRole::Admin, &["users:read"]);
        assert!(narrowed.require(Scope::UsersRead).is_ok());
        assert!(narrowed.require(Scope::UsersWrite).is_err());
        for scope in Scope::ALL {
            assert_eq!(Scope::parse(scope.as_str()), Some(scope));
        }
    }
}
