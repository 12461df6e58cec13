//! Workspaces, their users and their API keys (SPEC section 2). Every query here that
//! reads a tenant's rows takes the workspace id, so a row of another workspace is simply
//! not found.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{GeneratedKey, Scope, generate_api_key};
use crate::error::ApiError;

/// What a person may do (`user_role`). The seed's `agent` is a responder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "user_role", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum UserRole {
    /// Manages the workspace, its people, keys and configuration.
    Admin,
    /// Reads everything and acts on incidents.
    Responder,
    /// Reads.
    Viewer,
}

impl UserRole {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            UserRole::Admin => "admin",
            UserRole::Responder => "responder",
            UserRole::Viewer => "viewer",
        }
    }
}

/// A tenant.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Workspace {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A person in a workspace.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role: UserRole,
    /// OIDC provider (`local` for people without single sign-on).
    pub auth_provider: String,
    /// OIDC subject.
    pub auth_subject: Option<String>,
    /// E.164 phone number for SMS and voice.
    pub phone: Option<String>,
    /// IANA time zone.
    pub timezone: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An API key as listed: never the key itself.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApiKey {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub name: String,
    /// The visible start of the key.
    pub prefix: String,
    pub role: UserRole,
    /// Scopes narrowing the role; empty means everything the role allows.
    pub scopes: Vec<String>,
    pub created_by_user_id: Option<Uuid>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A key just created: the only answer that carries the key.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiKey {
    /// The key. Shown once; store it now.
    pub key: String,
    pub api_key: ApiKey,
}

/// A person to add.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewUser {
    pub email: String,
    pub display_name: String,
    #[serde(default = "default_role")]
    pub role: UserRole,
    pub auth_provider: Option<String>,
    pub auth_subject: Option<String>,
    pub phone: Option<String>,
    pub timezone: Option<String>,
}

fn default_role() -> UserRole {
    UserRole::Responder
}

/// Changes to a person; absent fields stay as they are, `null` clears `phone`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct UserPatch {
    pub display_name: Option<String>,
    pub role: Option<UserRole>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    pub timezone: Option<String>,
}

/// A key to create.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewApiKey {
    pub name: String,
    /// Defaults to the creator's role.
    pub role: Option<UserRole>,
    #[serde(default)]
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Distinguishes an absent field from an explicit `null`.
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}

fn check_text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::invalid_field(
            field,
            format!("{field} must not be blank"),
        ));
    }
    if value.chars().count() > max {
        return Err(ApiError::invalid_field(
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    Ok(value.to_owned())
}

fn check_email(email: &str) -> Result<String, ApiError> {
    let email = check_text("email", email, 320)?;
    let valid = email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
    }) && !email.chars().any(char::is_whitespace)
        && email.matches('@').count() == 1;
    if valid {
        Ok(email)
    } else {
        Err(ApiError::invalid_field(
            "email",
            "email must be an address like name@example.com",
        ))
    }
}

fn check_phone(phone: &str) -> Result<String, ApiError> {
    let phone: String = phone
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')'))
        .collect();
    let digits = phone.strip_prefix('+').unwrap_or_default();
    if (7..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
    {
        Ok(phone)
    } else {
        Err(ApiError::invalid_field(
            "phone",
            "phone must be in E.164 form, such as +351912345678",
        ))
    }
}

fn check_timezone(timezone: &str) -> Result<String, ApiError> {
    let timezone = check_text("timezone", timezone, 64)?;
    let plausible = timezone == "UTC"
        || (timezone.contains('/')
            && timezone
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+')));
    if plausible {
        Ok(timezone)
    } else {
        Err(ApiError::invalid_field(
            "timezone",
            "timezone must be an IANA name such as Europe/Lisbon",
        ))
    }
}

/// Creates a workspace.
pub async fn insert_workspace(conn: &mut PgConnection, name: &str) -> Result<Workspace, ApiError> {
    let name = check_text("name", name, 200)?;
    Ok(sqlx::query_as!(
        Workspace,
        "INSERT INTO workspace (name) VALUES ($1) RETURNING id, name, created_at, updated_at",
        name,
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// The workspace itself.
pub async fn get_workspace(
    conn: &mut PgConnection,
    workspace_id: Uuid,
) -> Result<Workspace, ApiError> {
    sqlx::query_as!(
        Workspace,
        "SELECT id, name, created_at, updated_at FROM workspace WHERE id = $1",
        workspace_id,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ApiError::not_found("the workspace no longer exists"))
}

/// Renames the workspace.
pub async fn rename_workspace(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    name: &str,
) -> Result<Workspace, ApiError> {
    let name = check_text("name", name, 200)?;
    sqlx::query_as!(
        Workspace,
        "UPDATE workspace SET name = $2, updated_at = now() WHERE id = $1
         RETURNING id, name, created_at, updated_at",
        workspace_id,
        name,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ApiError::not_found("the workspace no longer exists"))
}

/// Adds a person to the workspace.
pub async fn insert_user(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    user: &NewUser,
) -> Result<User, ApiError> {
    let email = check_email(&user.email)?;
    let display_name = check_text("display_name", &user.display_name, 200)?;
    let auth_provider = match &user.auth_provider {
        Some(provider) => check_text("auth_provider", provider, 100)?,
        None => "local".to_owned(),
    };
    let auth_subject = user
        .auth_subject
        .as_deref()
        .map(|s| check_text("auth_subject", s, 255))
        .transpose()?;
    let phone = user.phone.as_deref().map(check_phone).transpose()?;
    let timezone = match &user.timezone {
        Some(tz) => check_timezone(tz)?,
        None => "UTC".to_owned(),
    };
    sqlx::query_as!(
        User,
        r#"INSERT INTO app_user (workspace_id, email, display_name, role, auth_provider, auth_subject, phone, timezone)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           RETURNING id, workspace_id, email, display_name, role AS "role: UserRole", auth_provider,
                     auth_subject, phone, timezone, created_at, updated_at"#,
        workspace_id,
        email,
        display_name,
        user.role as UserRole,
        auth_provider,
        auth_subject,
        phone,
        timezone,
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| {
        ApiError::from_unique_violation(
            e,
            &[
                ("app_user_workspace_email_key", "email", "a user with this email already exists"),
                ("app_user_auth_identity_key", "auth_subject", "another user has this identity"),
            ],
        )
    })
}

/// One of the workspace's people.
pub async fn get_user(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<User, ApiError> {
    sqlx::query_as!(
        User,
        r#"SELECT id, workspace_id, email, display_name, role AS "role: UserRole", auth_provider,
                  auth_subject, phone, timezone, created_at, updated_at
           FROM app_user WHERE workspace_id = $1 AND id = $2"#,
        workspace_id,
        id,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no user has the id {id}")))
}

/// A page of the workspace's people, oldest first, after the user `after`.
pub async fn list_users(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<User>, ApiError> {
    Ok(sqlx::query_as!(
        User,
        r#"SELECT id, workspace_id, email, display_name, role AS "role: UserRole", auth_provider,
                  auth_subject, phone, timezone, created_at, updated_at
           FROM app_user
           WHERE workspace_id = $1
             AND ($2::uuid IS NULL OR (created_at, id) > (SELECT created_at, id FROM app_user
                                                          WHERE id = $2 AND workspace_id = $1))
           ORDER BY created_at, id
           LIMIT $3"#,
        workspace_id,
        after,
        limit,
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// Applies `patch` to one of the workspace's people.
pub async fn update_user(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
    patch: &UserPatch,
) -> Result<User, ApiError> {
    let display_name = patch
        .display_name
        .as_deref()
        .map(|n| check_text("display_name", n, 200))
        .transpose()?;
    let timezone = patch.timezone.as_deref().map(check_timezone).transpose()?;
    let (set_phone, phone) = match &patch.phone {
        None => (false, None),
        Some(None) => (true, None),
        Some(Some(phone)) => (true, Some(check_phone(phone)?)),
    };
    sqlx::query_as!(
        User,
        r#"UPDATE app_user SET
               display_name = coalesce($3, display_name),
               role = coalesce($4, role),
               phone = CASE WHEN $5 THEN $6 ELSE phone END,
               timezone = coalesce($7, timezone),
               updated_at = now()
           WHERE workspace_id = $1 AND id = $2
           RETURNING id, workspace_id, email, display_name, role AS "role: UserRole", auth_provider,
                     auth_subject, phone, timezone, created_at, updated_at"#,
        workspace_id,
        id,
        display_name,
        patch.role as Option<UserRole>,
        set_phone,
        phone,
        timezone,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no user has the id {id}")))
}

/// Removes one of the workspace's people (their connections and contact methods go too).
pub async fn delete_user(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<(), ApiError> {
    // The constraint is deferred (so a workspace's deletion can cascade); check it here so
    // a reviewer's deletion is refused by this statement, not at commit.
    sqlx::query!("SET CONSTRAINTS draft_action_user_id_fkey IMMEDIATE")
        .execute(&mut *conn)
        .await?;
    let deleted = sqlx::query!(
        "DELETE FROM app_user WHERE workspace_id = $1 AND id = $2",
        workspace_id,
        id
    )
    .execute(&mut *conn)
    .await
    .map_err(|e| match e.as_database_error().map(|d| d.kind()) {
        Some(sqlx::error::ErrorKind::ForeignKeyViolation) => ApiError::conflict(
            "this user has reviewed support drafts; their record is kept for the audit trail",
        ),
        _ => ApiError::from(e),
    })?;
    if deleted.rows_affected() == 0 {
        return Err(ApiError::not_found(format!("no user has the id {id}")));
    }
    Ok(())
}

/// Creates a key acting with `role` (never more than `creator_role` allows).
pub async fn insert_api_key(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    new_key: &NewApiKey,
    creator_role: UserRole,
    created_by_user_id: Option<Uuid>,
) -> Result<CreatedApiKey, ApiError> {
    let name = check_text("name", &new_key.name, 200)?;
    let role = new_key.role.unwrap_or(creator_role);
    if rank(role) > rank(creator_role) {
        return Err(ApiError::invalid_field(
            "role",
            format!(
                "a key cannot have more rights than its creator ({})",
                creator_role.as_str()
            ),
        ));
    }
    for (index, scope) in new_key.scopes.iter().enumerate() {
        match Scope::parse(scope) {
            None => {
                return Err(ApiError::invalid_field(
                    format!("scopes[{index}]"),
                    format!("unknown scope {scope:?}"),
                ));
            }
            Some(s) if !s.allowed_for(role) => {
                return Err(ApiError::invalid_field(
                    format!("scopes[{index}]"),
                    format!("the {} role cannot use {scope}", role.as_str()),
                ));
            }
            Some(_) => {}
        }
    }
    if new_key.expires_at.is_some_and(|at| at <= Utc::now()) {
        return Err(ApiError::invalid_field(
            "expires_at",
            "expires_at must be in the future",
        ));
    }
    let GeneratedKey {
        plaintext,
        prefix,
        hash,
    } = generate_api_key();
    let api_key = sqlx::query_as!(
        ApiKey,
        r#"INSERT INTO api_key (workspace_id, name, prefix, key_hash, role, scopes, created_by_user_id, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           RETURNING id, workspace_id, name, prefix, role AS "role: UserRole", scopes, created_by_user_id,
                     expires_at, revoked_at, last_used_at, created_at"#,
        workspace_id,
        name,
        prefix,
        hash,
        role as UserRole,
        &new_key.scopes,
        created_by_user_id,
        new_key.expires_at,
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(CreatedApiKey {
        key: plaintext,
        api_key,
    })
}

fn rank(role: UserRole) -> u8 {
    match role {
        UserRole::Viewer => 0,
        UserRole::Responder => 1,
        UserRole::Admin => 2,
    }
}

/// One of the workspace's keys.
pub async fn get_api_key(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<ApiKey, ApiError> {
    sqlx::query_as!(
        ApiKey,
        r#"SELECT id, workspace_id, name, prefix, role AS "role: UserRole", scopes, created_by_user_id,
                  expires_at, revoked_at, last_used_at, created_at
           FROM api_key WHERE workspace_id = $1 AND id = $2"#,
        workspace_id,
        id,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no API key has the id {id}")))
}

/// A page of the workspace's keys, oldest first, after the key `after`.
pub async fn list_api_keys(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ApiKey>, ApiError> {
    Ok(sqlx::query_as!(
        ApiKey,
        r#"SELECT id, workspace_id, name, prefix, role AS "role: UserRole", scopes, created_by_user_id,
                  expires_at, revoked_at, last_used_at, created_at
           FROM api_key
           WHERE workspace_id = $1
             AND ($2::uuid IS NULL OR (created_at, id) > (SELECT created_at, id FROM api_key
                                                          WHERE id = $2 AND workspace_id = $1))
           ORDER BY created_at, id
           LIMIT $3"#,
        workspace_id,
        after,
        limit,
    )
    .fetch_all(&mut *conn)
    .await?)
}

/// Revokes a key; revoking it again changes nothing.
pub async fn revoke_api_key(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<ApiKey, ApiError> {
    sqlx::query_as!(
        ApiKey,
        r#"UPDATE api_key SET revoked_at = coalesce(revoked_at, now())
           WHERE workspace_id = $1 AND id = $2
           RETURNING id, workspace_id, name, prefix, role AS "role: UserRole", scopes, created_by_user_id,
                     expires_at, revoked_at, last_used_at, created_at"#,
        workspace_id,
        id,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| ApiError::not_found(format!("no API key has the id {id}")))
}

/// A new workspace with its first admin and that admin's key.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BootstrappedWorkspace {
    pub workspace: Workspace,
    pub admin: User,
    pub api_key: CreatedApiKey,
}

/// Creates a workspace, its first admin and an admin key, in the caller's transaction.
pub async fn bootstrap_workspace(
    conn: &mut PgConnection,
    name: &str,
    admin_email: &str,
    admin_name: &str,
) -> Result<BootstrappedWorkspace, ApiError> {
    let workspace = insert_workspace(conn, name).await?;
    let admin = insert_user(
        conn,
        workspace.id,
        &NewUser {
            email: admin_email.to_owned(),
            display_name: admin_name.to_owned(),
            role: UserRole::Admin,
            auth_provider: None,
            auth_subject: None,
            phone: None,
            timezone: None,
        },
    )
    .await
    .map_err(|e| match e.problem().field.as_deref() {
        Some("email") => e.with_field("admin_email"),
        Some("display_name") => e.with_field("admin_name"),
        _ => e,
    })?;
    let api_key = insert_api_key(
        conn,
        workspace.id,
        &NewApiKey {
            name: format!("{admin_name} (first admin key)"),
            role: Some(UserRole::Admin),
            scopes: Vec::new(),
            expires_at: None,
        },
        UserRole::Admin,
        Some(admin.id),
    )
    .await?;
    Ok(BootstrappedWorkspace {
        workspace,
        admin,
        api_key,
    })
}
