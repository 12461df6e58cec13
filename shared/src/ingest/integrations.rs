//! Integrations (seed 003): the monitoring tools of a workspace, with their verification
//! settings and secret. The secret is generated here, shown once (on creation and on
//! rotation) and stored encrypted; a rotation keeps the previous secret valid for a grace
//! period.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use super::verify::{Verification, generate_routing_key, generate_secret};
use crate::crypto::Cipher;
use crate::error::ApiError;

/// The tools Tocsin has (or will have) a format for.
pub const TYPES: [&str; 8] = [
    "alertmanager",
    "grafana",
    "pagerduty",
    "datadog",
    "newrelic",
    "sentry",
    "opsgenie",
    "generic",
];

/// An integration as the API shows it: never its secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IntegrationView {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub is_active: bool,
    pub verification: Verification,
    pub signature_header: String,
    /// `sha1`, `sha256` or `sha512`.
    pub signature_algorithm: String,
    /// `hex` or `base64`.
    pub signature_format: String,
    pub signature_prefix: Option<String>,
    pub signature_timestamp_header: Option<String>,
    pub signature_tolerance_seconds: i32,
    pub deduplication_window_minutes: i32,
    pub default_service_id: Option<Uuid>,
    /// Tool severity → Tocsin severity, such as `{"P1": "CRITICAL"}`.
    pub severity_mapping: serde_json::Value,
    /// Until when the secret replaced by the last rotation still verifies.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// Where the tool posts.
    pub webhook_path: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An integration with the secret the tool needs: the only answers that show it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct IntegrationWithSecret {
    pub integration: IntegrationView,
    /// Shown once: configure the tool with it now.
    pub secret: String,
}

/// A new integration. Unset settings take the defaults for its type.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewIntegration {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub verification: Option<Verification>,
    pub signature_header: Option<String>,
    pub signature_algorithm: Option<String>,
    pub signature_format: Option<String>,
    pub signature_prefix: Option<String>,
    pub signature_timestamp_header: Option<String>,
    pub signature_tolerance_seconds: Option<i32>,
    pub deduplication_window_minutes: Option<i32>,
    pub default_service_id: Option<Uuid>,
    pub severity_mapping: Option<serde_json::Map<String, serde_json::Value>>,
    /// A secret the tool generated (Sentry's client secret, say); one is generated when
    /// absent. Not for PagerDuty and Opsgenie, whose keys Tocsin always generates.
    pub secret: Option<String>,
}

/// Changes to an integration; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct IntegrationPatch {
    pub name: Option<String>,
    pub is_active: Option<bool>,
    pub signature_header: Option<String>,
    pub signature_algorithm: Option<String>,
    pub signature_format: Option<String>,
    pub signature_prefix: Option<String>,
    pub signature_timestamp_header: Option<String>,
    pub signature_tolerance_seconds: Option<i32>,
    pub deduplication_window_minutes: Option<i32>,
    pub default_service_id: Option<Uuid>,
    pub severity_mapping: Option<serde_json::Map<String, serde_json::Value>>,
}

/// How long the old secret keeps working after a rotation.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct SecretRotation {
    /// Minutes, 0 to 10080 (default 1440: a day).
    pub grace_period_minutes: Option<i32>,
    /// The new secret, when the tool generates it (Sentry's client secret); generated when
    /// absent.
    pub secret: Option<String>,
}

/// Types whose tools find their integration by routing key (the secret) rather than by id:
/// PagerDuty's `routing_key` and Opsgenie's `GenieKey`.
pub fn routes_by_key(kind: &str) -> bool {
    matches!(kind, "pagerduty" | "opsgenie")
}

/// Where an integration's tool posts.
pub fn webhook_path(kind: &str, id: Uuid) -> String {
    match kind {
        "pagerduty" => "/v2/enqueue".to_owned(),
        "opsgenie" => "/v2/alerts".to_owned(),
        _ => format!("/v1/integrations/{id}/webhook"),
    }
}

/// SHA-256 (hex) of a routing key, what `integration.routing_key_hash` holds.
pub fn routing_key_hash(key: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The integration's next secret: the one given (checked), or a generated one.
fn new_secret(
    kind: &str,
    verification: Verification,
    given: Option<&str>,
) -> Result<(String, Option<String>), ApiError> {
    if let Some(given) = given {
        if routes_by_key(kind) {
            return Err(ApiError::invalid_field(
                "secret",
                format!("the key of a {kind} integration is always generated"),
            ));
        }
        if given.chars().count() < 16 || given.len() > 512 || given.trim() != given {
            return Err(ApiError::invalid_field(
                "secret",
                "secret must be 16 to 512 bytes without surrounding spaces",
            ));
        }
        return Ok((given.to_owned(), None));
    }
    Ok(generated_secret(kind, verification))
}

fn generated_secret(kind: &str, verification: Verification) -> (String, Option<String>) {
    if routes_by_key(kind) {
        // Opsgenie's API keys are UUIDs; PagerDuty's routing keys 32 hex digits.
        let key = if kind == "opsgenie" {
            Uuid::new_v4().to_string()
        } else {
            generate_routing_key()
        };
        let hash = routing_key_hash(&key);
        (key, Some(hash))
    } else {
        (generate_secret(verification), None)
    }
}

/// What the encrypted secret is bound to.
pub fn secret_context(integration_id: Uuid) -> String {
    format!("integration:{integration_id}:secret")
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

fn check_header(field: &str, value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty()
        || value.len() > 100
        || !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(ApiError::invalid_field(
            field,
            format!("{field} must be an HTTP header name (letters, digits and -)"),
        ));
    }
    Ok(value.to_owned())
}

fn check_one_of(field: &str, value: &str, allowed: &[&str]) -> Result<String, ApiError> {
    if allowed.contains(&value) {
        Ok(value.to_owned())
    } else {
        Err(ApiError::invalid_field(
            field,
            format!("{field} must be one of {}", allowed.join(", ")),
        ))
    }
}

fn check_range(field: &str, value: i32, low: i32, high: i32) -> Result<i32, ApiError> {
    if (low..=high).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::invalid_field(
            field,
            format!("{field} must be from {low} to {high}"),
        ))
    }
}

fn check_mapping(
    mapping: &serde_json::Map<String, serde_json::Value>,
) -> Result<serde_json::Value, ApiError> {
    for (key, value) in mapping {
        let valid = value
            .as_str()
            .and_then(crate::alerts::Severity::parse)
            .is_some();
        if !valid {
            return Err(ApiError::invalid_field(
                format!("severity_mapping.{key}"),
                "each value must be one of CRITICAL, HIGH, MEDIUM, LOW, INFO",
            ));
        }
    }
    Ok(serde_json::Value::Object(mapping.clone()))
}

async fn check_service(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    service_id: Option<Uuid>,
) -> Result<(), ApiError> {
    let Some(service_id) = service_id else {
        return Ok(());
    };
    let found = sqlx::query_scalar!(
        "SELECT id FROM service WHERE workspace_id = $1 AND id = $2",
        workspace_id,
        service_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(ApiError::invalid_field(
            "default_service_id",
            "no service of this workspace has this id",
        )),
    }
}

struct Row {
    id: Uuid,
    workspace_id: Uuid,
    name: String,
    kind: String,
    is_active: bool,
    verification: String,
    signature_header: String,
    signature_algorithm: String,
    signature_format: String,
    signature_prefix: Option<String>,
    signature_timestamp_header: Option<String>,
    signature_tolerance_seconds: i32,
    deduplication_window_minutes: i32,
    default_service_id: Option<Uuid>,
    severity_mapping: serde_json::Value,
    previous_secret_expires_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Row> for IntegrationView {
    fn from(row: Row) -> Self {
        Self {
            webhook_path: webhook_path(&row.kind, row.id),
            id: row.id,
            workspace_id: row.workspace_id,
            name: row.name,
            kind: row.kind,
            is_active: row.is_active,
            verification: Verification::parse(&row.verification).unwrap_or(Verification::None),
            signature_header: row.signature_header,
            signature_algorithm: row.signature_algorithm,
            signature_format: row.signature_format,
            signature_prefix: row.signature_prefix,
            signature_timestamp_header: row.signature_timestamp_header,
            signature_tolerance_seconds: row.signature_tolerance_seconds,
            deduplication_window_minutes: row.deduplication_window_minutes,
            default_service_id: row.default_service_id,
            severity_mapping: row.severity_mapping,
            previous_secret_expires_at: row.previous_secret_expires_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format!("no integration has the id {id}"))
}

fn name_taken(error: sqlx::Error) -> ApiError {
    ApiError::from_unique_violation(
        error,
        &[(
            "integration_workspace_name_key",
            "name",
            "an integration with this name already exists",
        )],
    )
}

/// Creates an integration and its secret.
pub async fn insert_integration(
    conn: &mut PgConnection,
    cipher: &Cipher,
    workspace_id: Uuid,
    new: &NewIntegration,
) -> Result<IntegrationWithSecret, ApiError> {
    let name = check_name(&new.name)?;
    let kind = check_one_of("type", &new.kind, &TYPES)?;
    let verification = new
        .verification
        .unwrap_or_else(|| Verification::default_for(&kind));
    // The tool's own header name, so it works with the defaults.
    let default_header = match kind.as_str() {
        "grafana" => "X-Grafana-Alerting-Signature",
        "sentry" => super::sentry::SIGNATURE_HEADER,
        _ => "X-Webhook-Signature",
    };
    let header = check_header(
        "signature_header",
        new.signature_header.as_deref().unwrap_or(default_header),
    )?;
    let algorithm = check_one_of(
        "signature_algorithm",
        new.signature_algorithm.as_deref().unwrap_or("sha256"),
        &["sha1", "sha256", "sha512"],
    )?;
    let format = check_one_of(
        "signature_format",
        new.signature_format.as_deref().unwrap_or("hex"),
        &["hex", "base64"],
    )?;
    let timestamp_header = new
        .signature_timestamp_header
        .as_deref()
        .map(|h| check_header("signature_timestamp_header", h))
        .transpose()?;
    let tolerance = check_range(
        "signature_tolerance_seconds",
        new.signature_tolerance_seconds.unwrap_or(300),
        1,
        86_400,
    )?;
    let window = check_range(
        "deduplication_window_minutes",
        new.deduplication_window_minutes.unwrap_or(15),
        0,
        10_080,
    )?;
    let mapping = check_mapping(&new.severity_mapping.clone().unwrap_or_default())?;
    check_service(conn, workspace_id, new.default_service_id).await?;

    let id = Uuid::new_v4();
    let (secret, routing_hash) = new_secret(&kind, verification, new.secret.as_deref())?;
    let sealed = cipher.seal(secret.as_bytes(), &secret_context(id));
    sqlx::query_scalar!(
        r#"INSERT INTO integration (id, workspace_id, name, type, verification, webhook_secret_ciphertext,
                                    signature_header, signature_algorithm, signature_format, signature_prefix,
                                    signature_timestamp_header, signature_tolerance_seconds,
                                    deduplication_window_minutes, default_service_id, severity_mapping,
                                    routing_key_hash)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
           RETURNING id"#,
        id,
        workspace_id,
        name,
        kind,
        verification.as_str(),
        sealed,
        header,
        algorithm,
        format,
        new.signature_prefix,
        timestamp_header,
        tolerance,
        window,
        new.default_service_id,
        mapping,
        routing_hash,
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(name_taken)?;
    let integration = get_integration(conn, workspace_id, id).await?;
    Ok(IntegrationWithSecret {
        integration,
        secret,
    })
}

/// One of the workspace's integrations.
pub async fn get_integration(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<IntegrationView, ApiError> {
    select(conn, workspace_id, Some(id), None, 1)
        .await?
        .pop()
        .ok_or_else(|| not_found(id))
}

/// A page of the workspace's integrations, oldest first.
pub async fn list_integrations(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<IntegrationView>, ApiError> {
    select(conn, workspace_id, None, after, limit).await
}

async fn select(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<IntegrationView>, ApiError> {
    Ok(sqlx::query_as!(
        Row,
        r#"SELECT id, workspace_id, name, type AS kind, is_active,
                  verification, signature_header, signature_algorithm, signature_format,
                  signature_prefix, signature_timestamp_header, signature_tolerance_seconds,
                  deduplication_window_minutes, default_service_id, severity_mapping,
                  previous_secret_expires_at, created_at, updated_at
           FROM integration
           WHERE workspace_id = $1 AND ($2::uuid IS NULL OR id = $2)
             AND ($3::uuid IS NULL OR (created_at, id) > (SELECT created_at, id FROM integration
                                                          WHERE id = $3 AND workspace_id = $1))
           ORDER BY created_at, id
           LIMIT $4"#,
        workspace_id,
        id,
        after,
        limit,
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(IntegrationView::from)
    .collect())
}

/// Applies `patch`.
pub async fn update_integration(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
    patch: &IntegrationPatch,
) -> Result<IntegrationView, ApiError> {
    let name = patch.name.as_deref().map(check_name).transpose()?;
    let header = patch
        .signature_header
        .as_deref()
        .map(|h| check_header("signature_header", h))
        .transpose()?;
    let algorithm = patch
        .signature_algorithm
        .as_deref()
        .map(|a| check_one_of("signature_algorithm", a, &["sha1", "sha256", "sha512"]))
        .transpose()?;
    let format = patch
        .signature_format
        .as_deref()
        .map(|f| check_one_of("signature_format", f, &["hex", "base64"]))
        .transpose()?;
    let timestamp_header = patch
        .signature_timestamp_header
        .as_deref()
        .map(|h| check_header("signature_timestamp_header", h))
        .transpose()?;
    let tolerance = patch
        .signature_tolerance_seconds
        .map(|t| check_range("signature_tolerance_seconds", t, 1, 86_400))
        .transpose()?;
    let window = patch
        .deduplication_window_minutes
        .map(|w| check_range("deduplication_window_minutes", w, 0, 10_080))
        .transpose()?;
    let mapping = patch
        .severity_mapping
        .as_ref()
        .map(check_mapping)
        .transpose()?;
    check_service(conn, workspace_id, patch.default_service_id).await?;
    let updated = sqlx::query_scalar!(
        r#"UPDATE integration SET
               name = coalesce($3, name),
               is_active = coalesce($4, is_active),
               signature_header = coalesce($5, signature_header),
               signature_algorithm = coalesce($6, signature_algorithm),
               signature_format = coalesce($7, signature_format),
               signature_prefix = coalesce($8, signature_prefix),
               signature_timestamp_header = coalesce($9, signature_timestamp_header),
               signature_tolerance_seconds = coalesce($10, signature_tolerance_seconds),
               deduplication_window_minutes = coalesce($11, deduplication_window_minutes),
               default_service_id = coalesce($12, default_service_id),
               severity_mapping = coalesce($13, severity_mapping),
               updated_at = now()
           WHERE workspace_id = $1 AND id = $2
           RETURNING id"#,
        workspace_id,
        id,
        name,
        patch.is_active,
        header,
        algorithm,
        format,
        patch.signature_prefix,
        timestamp_header,
        tolerance,
        window,
        patch.default_service_id,
        mapping,
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(name_taken)?;
    match updated {
        Some(id) => get_integration(conn, workspace_id, id).await,
        None => Err(not_found(id)),
    }
}

/// Deletes an integration with its alerts and deliveries.
pub async fn delete_integration(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<(), ApiError> {
    let deleted = sqlx::query!(
        "DELETE FROM integration WHERE workspace_id = $1 AND id = $2",
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

/// Replaces the secret; the old one keeps verifying for the grace period.
pub async fn rotate_secret(
    conn: &mut PgConnection,
    cipher: &Cipher,
    workspace_id: Uuid,
    id: Uuid,
    rotation: &SecretRotation,
) -> Result<IntegrationWithSecret, ApiError> {
    let grace = check_range(
        "grace_period_minutes",
        rotation.grace_period_minutes.unwrap_or(1440),
        0,
        10_080,
    )?;
    let current = sqlx::query!(
        "SELECT type AS kind, verification FROM integration WHERE workspace_id = $1 AND id = $2 FOR UPDATE",
        workspace_id,
        id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| not_found(id))?;
    // An integration without verification gets its type's default with its first secret.
    let verification = match Verification::parse(&current.verification) {
        Some(Verification::None) | None => Verification::default_for(&current.kind),
        Some(v) => v,
    };
    let (secret, routing_hash) =
        new_secret(&current.kind, verification, rotation.secret.as_deref())?;
    let sealed = cipher.seal(secret.as_bytes(), &secret_context(id));
    sqlx::query_scalar!(
        r#"UPDATE integration SET
               previous_secret_ciphertext = webhook_secret_ciphertext,
               previous_secret_expires_at = CASE WHEN webhook_secret_ciphertext IS NULL THEN NULL
                                                 ELSE now() + make_interval(mins => $4) END,
               webhook_secret_ciphertext = $3,
               verification = $5,
               previous_routing_key_hash = routing_key_hash,
               routing_key_hash = $6,
               updated_at = now()
           WHERE workspace_id = $1 AND id = $2
           RETURNING id"#,
        workspace_id,
        id,
        sealed,
        grace,
        verification.as_str(),
        routing_hash,
    )
    .fetch_one(&mut *conn)
    .await?;
    let integration = get_integration(conn, workspace_id, id).await?;
    Ok(IntegrationWithSecret {
        integration,
        secret,
    })
}
