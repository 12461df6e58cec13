//! Alert ingestion (seed 003): monitoring tools post to an integration's endpoint; each
//! request is recorded, parsed into alerts, and fans out into notification jobs, all in
//! one transaction.

pub mod alertmanager;
pub mod datadog;
pub mod delivery;
pub mod generic;
pub mod grafana;
pub mod integrations;
pub mod newrelic;
pub mod opsgenie;
pub mod pagerduty;
pub mod sentry;
mod store;
pub mod verify;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::Utc;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::alerts::NormalizedAlert;
use crate::error::ApiError;
use crate::outbox;
use crate::state::AppState;
use delivery::NewDelivery;

/// Bodies up to this size are kept in `webhook_delivery.raw_payload`; larger ones go to S3.
pub const INLINE_PAYLOAD_LIMIT: usize = 64 * 1024;

/// The ingest function's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/integrations/{id}/webhook", post(receive_webhook))
        .route("/v2/enqueue", post(enqueue_pagerduty_event))
        .merge(opsgenie::routes())
        .with_state(state)
}

/// What a monitoring tool is told when its request was accepted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Accepted {
    /// Always `accepted`: the alert is stored and notifications are queued.
    pub status: String,
    /// The audit record of this request.
    pub delivery_id: Uuid,
    /// The alerts the request created.
    pub alert_ids: Vec<Uuid>,
    /// How many notifications were queued.
    pub notifications_queued: usize,
}

/// An accepted request, with the outbox rows still to dispatch.
#[derive(Debug)]
pub struct Ingested {
    /// What the tool is answered.
    pub answer: Accepted,
    /// Outbox rows written in the request's transaction.
    pub outbox_ids: Vec<i64>,
}

/// An integration as ingest sees it.
#[derive(Debug, Clone)]
pub struct Integration {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub name: String,
    /// The tool, which decides the payload format.
    pub kind: String,
    pub is_active: bool,
    pub deduplication_window_minutes: i32,
    pub default_service_id: Option<Uuid>,
    /// Tool severity → Tocsin severity, overriding the format's own mapping.
    pub severity_mapping: serde_json::Map<String, serde_json::Value>,
    /// How its requests are authenticated.
    pub verification: verify::VerificationConfig,
    /// The secrets that verify now: the current one, and the previous one during a
    /// rotation's grace period.
    secrets: Vec<String>,
}

/// Receives alerts from a monitoring tool. The body's format is the integration's type;
/// `generic` is described in docs/ingest-generic.md.
#[utoipa::path(
    post, path = "/v1/integrations/{id}/webhook", tag = "ingest",
    security(()),
    params(("id" = uuid::Uuid, Path, description = "The integration's id")),
    request_body(content = serde_json::Value, content_type = "application/json"),
    responses(
        (status = 202, description = "Stored; notifications queued", body = Accepted),
        (status = 400, description = "Not JSON", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Bad signature or token", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The integration is disabled", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such integration", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not a JSON content type", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn receive_webhook(
    State(state): State<AppState>,
    Path(integration_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let limit = state.config.ingest_max_body_bytes;
    let body = read_body(body, &headers, limit).await;
    match accept_webhook(&state, &integration_id, &headers, body).await {
        Ok(ingested) => {
            outbox::dispatch(&state, &ingested.outbox_ids).await;
            (StatusCode::ACCEPTED, axum::Json(ingested.answer)).into_response()
        }
        Err(error) => error.into_response(),
    }
}

/// A request body that was not read because it is over the limit.
#[derive(Debug, Clone, Copy)]
pub struct BodyTooLarge;

/// Reads the body, refusing (without reading on) one longer than `limit` bytes.
async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Bytes, BodyTooLarge> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(BodyTooLarge);
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(BodyTooLarge),
        // A body that broke off mid-stream is treated as empty; parsing then refuses it.
        Err(_) => Ok(Bytes::new()),
    }
}

/// Everything `POST /v1/integrations/{id}/webhook` does except sending the queued jobs to
/// SQS: verify, parse, and write the delivery, the alert, its notification log rows and
/// their jobs in one transaction. A refused request is recorded (when its integration is
/// known) and answered with the error.
pub async fn accept_webhook(
    state: &AppState,
    integration_id: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BodyTooLarge>,
) -> Result<Ingested, ApiError> {
    let not_found = || ApiError::not_found(format!("no integration has the id {integration_id:?}"));
    let id = Uuid::parse_str(integration_id).map_err(|_| not_found())?;
    let integration = find_integration(state, Some(id), None)
        .await?
        .ok_or_else(not_found)?;
    let kind = integration.kind.clone();
    accept(
        state,
        &integration,
        headers,
        body,
        AcceptOptions::WEBHOOK,
        |value| parse_format(&kind, value, headers),
    )
    .await
}

/// Accepts an event of the PagerDuty Events API v2; also returns its dedup key.
pub async fn accept_pagerduty_event(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BodyTooLarge>,
) -> Result<(Ingested, String), ApiError> {
    // The integration is known only from the body, so a body over the limit or not JSON
    // cannot be recorded against one.
    let bytes = body
        .as_ref()
        .map_err(|_| ApiError::payload_too_large(state.config.ingest_max_body_bytes))?;
    let value = crate::http::parse_json_value(bytes)?;
    let routing_key = pagerduty::routing_key(&value)?;
    let hash = integrations::routing_key_hash(routing_key);
    let integration = find_integration(state, None, Some(&hash))
        .await?
        .filter(|integration| integration.kind == "pagerduty")
        .ok_or_else(|| {
            ApiError::bad_request("'routing_key' does not belong to any integration")
                .with_field("routing_key")
        })?;
    let mut dedup_key = String::new();
    // The routing key is the credential: no other verification.
    let ingested = accept(
        state,
        &integration,
        headers,
        body,
        AcceptOptions::KEYED,
        |value| {
            let alert = pagerduty::parse(value, Utc::now())?;
            dedup_key = alert.dedup_key.clone().unwrap_or_default();
            Ok(vec![alert])
        },
    )
    .await?;
    Ok((ingested, dedup_key))
}

/// How a route's requests are checked before they are parsed.
#[derive(Debug, Clone, Copy)]
struct AcceptOptions {
    /// Verify the signature or token the integration is configured with. Routes that
    /// found the integration by a key in the request have already authenticated it.
    verify: bool,
    /// An empty body (with any content type) stands for `{}`.
    body_optional: bool,
}

impl AcceptOptions {
    /// `/v1/integrations/{id}/webhook`.
    const WEBHOOK: Self = Self {
        verify: true,
        body_optional: false,
    };
    /// Routes whose key in the request found the integration (PagerDuty, Opsgenie).
    const KEYED: Self = Self {
        verify: false,
        body_optional: false,
    };
}

/// The pipeline every format shares: record the request, keep its body, verify it
/// (unless the caller already did), check and parse it with `parse`, and store it.
async fn accept(
    state: &AppState,
    integration: &Integration,
    headers: &HeaderMap,
    body: Result<Bytes, BodyTooLarge>,
    options: AcceptOptions,
    parse: impl FnOnce(serde_json::Value) -> Result<Vec<NormalizedAlert>, ApiError>,
) -> Result<Ingested, ApiError> {
    let mut delivery = NewDelivery {
        id: Uuid::new_v4(),
        workspace_id: integration.workspace_id,
        integration_id: integration.id,
        idempotency_key: idempotency_key(headers),
        content_fingerprint: String::new(),
        raw_payload: None,
        raw_payload_s3_key: None,
        headers: delivery::sanitize_headers(headers),
        status_code: StatusCode::ACCEPTED.as_u16(),
        error_message: None,
        alert_id: None,
        response_body: None,
        duplicate_of: None,
    };
    let Ok(body) = body else {
        let error = ApiError::payload_too_large(state.config.ingest_max_body_bytes);
        delivery.content_fingerprint = hex::encode(Sha256::digest(b""));
        return Err(reject(state, delivery, error).await);
    };
    delivery.content_fingerprint = hex::encode(Sha256::digest(&body));
    let (raw_payload, key) = keep_payload(state, integration, &delivery, &body).await?;
    delivery.raw_payload = raw_payload;
    delivery.raw_payload_s3_key = key;

    let verified = if options.verify {
        verify::verify(
            &integration.verification,
            &integration.secrets,
            headers,
            &body,
            Utc::now(),
        )
    } else {
        Ok(())
    };
    let parsed = verified
        .and_then(|()| {
            if options.body_optional && body.iter().all(u8::is_ascii_whitespace) {
                return Ok(serde_json::json!({}));
            }
            crate::http::require_json_content_type(headers)?;
            crate::http::parse_json_value(&body)
        })
        .and_then(|value| {
            if integration.is_active {
                parse(value)
            } else {
                Err(ApiError::forbidden("this integration is disabled"))
            }
        });
    let mut alerts = match parsed {
        Ok(alerts) => alerts,
        Err(error) => return Err(reject(state, delivery, error).await),
    };
    for alert in &mut alerts {
        map_severity(&integration.severity_mapping, alert);
        bound_sizes(alert);
    }
    // What makes two requests the same: the alerts they carry, not their arrival.
    let mut content = Sha256::new();
    for alert in &alerts {
        content.update(alert.fingerprint(&integration.name).as_bytes());
    }
    delivery.content_fingerprint = hex::encode(content.finalize());
    store::store(state, integration, delivery, &alerts).await
}

/// `POST /v2/enqueue`: the PagerDuty Events API v2.
#[utoipa::path(
    post, path = "/v2/enqueue", tag = "ingest",
    security(()),
    request_body(content = serde_json::Value, content_type = "application/json",
                 description = "A PagerDuty Events API v2 event; routing_key is the integration's key"),
    responses(
        (status = 202, description = "Processed", body = pagerduty::EnqueueAccepted),
        (status = 400, description = "Invalid event", body = pagerduty::EnqueueRefused),
        (status = 413, description = "Body too large", body = pagerduty::EnqueueRefused),
    )
)]
pub async fn enqueue_pagerduty_event(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = read_body(body, &headers, state.config.ingest_max_body_bytes).await;
    match accept_pagerduty_event(&state, &headers, body).await {
        Ok((ingested, dedup_key)) => {
            outbox::dispatch(&state, &ingested.outbox_ids).await;
            let answer = pagerduty::EnqueueAccepted {
                status: "success".to_owned(),
                message: "Event processed".to_owned(),
                dedup_key,
            };
            (StatusCode::ACCEPTED, axum::Json(answer)).into_response()
        }
        Err(error) => pagerduty::refusal(error),
    }
}

/// The trimmed, non-empty text at a path of a tool's payload; numbers count as text (tools
/// send some ids as either).
fn text_at(value: &serde_json::Value, path: &[&str]) -> Option<String> {
    match path.iter().try_fold(value, |v, key| v.get(key))? {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Largest metadata kept with an alert, in bytes of JSON (the column allows 64 KiB).
pub const MAX_METADATA_BYTES: usize = 48 * 1024;

/// Fits what a tool sent into the alert row: a description cut to the column's limit,
/// keys too long hashed, metadata too large replaced by a marker. The whole body is still in the delivery
/// record (inline or in S3).
fn bound_sizes(alert: &mut NormalizedAlert) {
    if let Some(description) = &mut alert.description
        && description.chars().count() > generic::MAX_DESCRIPTION_CHARS
    {
        *description = description
            .chars()
            .take(generic::MAX_DESCRIPTION_CHARS - 1)
            .chain(['…'])
            .collect();
    }
    // Keys too long for their columns become their SHA-256: still stable, still unique.
    for (key, limit) in [(&mut alert.dedup_key, 255), (&mut alert.group_key, 1024)] {
        if let Some(value) = key
            && value.chars().count() > limit
        {
            *value = hex::encode(Sha256::digest(value.as_bytes()));
        }
    }
    let size = alert.metadata.to_string().len();
    if size > MAX_METADATA_BYTES {
        alert.metadata = serde_json::json!({ "truncated": true, "size_bytes": size });
    }
}

/// Applies the integration's `severity_mapping` to the severity the tool named (an exact
/// match first, then one ignoring case).
fn map_severity(mapping: &serde_json::Map<String, serde_json::Value>, alert: &mut NormalizedAlert) {
    let Some(named) = alert.tool_severity.as_deref() else {
        return;
    };
    let mapped = mapping.get(named).or_else(|| {
        mapping
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(named))
            .map(|(_, value)| value)
    });
    if let Some(severity) = mapped
        .and_then(|value| value.as_str())
        .and_then(crate::alerts::Severity::parse)
    {
        alert.severity = severity;
    }
}

/// Parses a body in the format of the integration's tool.
fn parse_format(
    kind: &str,
    value: serde_json::Value,
    headers: &HeaderMap,
) -> Result<Vec<NormalizedAlert>, ApiError> {
    let now = Utc::now();
    match kind {
        "generic" => generic::parse(value, now).map(|alert| vec![alert]),
        "alertmanager" => alertmanager::parse(value, now),
        "grafana" => grafana::parse(value, now),
        "datadog" => datadog::parse(value, now).map(|alert| vec![alert]),
        "newrelic" => newrelic::parse(value, now).map(|alert| vec![alert]),
        "sentry" => sentry::parse(value, headers, now),
        // These find their integration by the key in the request, at their own routes.
        "pagerduty" | "opsgenie" => Err(ApiError::not_found(format!(
            "a {kind} integration receives events at {}, not here",
            integrations::webhook_path(kind, Uuid::nil())
        ))),
        other => Err(ApiError::not_implemented(format!(
            "integrations of type {other} cannot receive alerts in this version"
        ))),
    }
}

/// Records a refused request and returns the error to answer it with. If even the record
/// cannot be written, that failure is what the client hears (it is safe to retry).
async fn reject(state: &AppState, mut delivery: NewDelivery, error: ApiError) -> ApiError {
    delivery.status_code = error.status().as_u16();
    delivery.error_message = Some(error.detail().to_owned());
    let recorded = async {
        let mut conn = state.db.acquire().await?;
        delivery::record_delivery(&mut conn, &delivery, &[]).await
    }
    .await;
    match recorded {
        Ok(()) => {
            tracing::info!(
                integration_id = %delivery.integration_id,
                delivery_id = %delivery.id,
                status = delivery.status_code,
                reason = error.detail(),
                "webhook refused"
            );
            error
        }
        Err(db_error) => ApiError::from(db_error),
    }
}

/// Finds an integration by id, or by a routing key's hash (the previous key counts during
/// its grace period), with its secrets decrypted.
async fn find_integration(
    state: &AppState,
    id: Option<Uuid>,
    routing_key_hash: Option<&str>,
) -> Result<Option<Integration>, ApiError> {
    let row = sqlx::query!(
        r#"SELECT id, workspace_id, name, type AS kind, is_active, deduplication_window_minutes,
                  default_service_id, severity_mapping, verification, signature_header, signature_algorithm,
                  signature_format, signature_prefix, signature_timestamp_header,
                  signature_tolerance_seconds, webhook_secret_ciphertext,
                  CASE WHEN previous_secret_expires_at > now() THEN previous_secret_ciphertext END
                      AS previous_secret_ciphertext
           FROM integration
           WHERE id = $1
              OR routing_key_hash = $2
              OR (previous_routing_key_hash = $2 AND previous_secret_expires_at > now())
           LIMIT 1"#,
        id,
        routing_key_hash,
    )
    .fetch_optional(&state.db)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let context = integrations::secret_context(row.id);
    let secrets = [
        row.webhook_secret_ciphertext,
        row.previous_secret_ciphertext,
    ]
    .into_iter()
    .flatten()
    .map(|sealed| state.cipher.open_text(&sealed, &context))
    .collect::<Result<Vec<_>, _>>()
    .map_err(ApiError::internal)?;
    let timestamp_separator = verify::timestamp_separator(&row.kind);
    Ok(Some(Integration {
        id: row.id,
        workspace_id: row.workspace_id,
        name: row.name,
        kind: row.kind,
        is_active: row.is_active,
        deduplication_window_minutes: row.deduplication_window_minutes,
        default_service_id: row.default_service_id,
        severity_mapping: match row.severity_mapping {
            serde_json::Value::Object(mapping) => mapping,
            _ => serde_json::Map::new(),
        },
        verification: verify::VerificationConfig {
            verification: verify::Verification::parse(&row.verification)
                .unwrap_or(verify::Verification::None),
            header: row.signature_header,
            algorithm: row.signature_algorithm,
            format: row.signature_format,
            prefix: row.signature_prefix,
            timestamp_header: row.signature_timestamp_header,
            tolerance_seconds: i64::from(row.signature_tolerance_seconds),
            timestamp_separator,
        },
        secrets,
    }))
}

fn idempotency_key(headers: &HeaderMap) -> Option<String> {
    ["idempotency-key", "x-idempotency-key", "x-request-id"]
        .iter()
        .find_map(|name| headers.get(*name))
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().chars().take(255).collect::<String>())
        .filter(|v| !v.is_empty())
}

/// Decides where the raw body is kept: inline when small (as JSON if it parses, else as a
/// JSON string of the text), in S3 when larger than [`INLINE_PAYLOAD_LIMIT`].
async fn keep_payload(
    state: &AppState,
    integration: &Integration,
    delivery: &NewDelivery,
    body: &Bytes,
) -> Result<(Option<serde_json::Value>, Option<String>), ApiError> {
    if body.len() <= INLINE_PAYLOAD_LIMIT {
        let value = serde_json::from_slice(body)
            .unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned().into());
        return Ok((Some(value), None));
    }
    let key = format!(
        "webhook-deliveries/{}/{}/{}/{}.json",
        integration.workspace_id,
        integration.id,
        Utc::now().format("%Y/%m/%d"),
        delivery.id
    );
    state
        .s3
        .put_object()
        .bucket(&state.config.data_bucket)
        .key(&key)
        .content_type("application/octet-stream")
        .body(body.clone().into())
        .send()
        .await
        .map_err(ApiError::internal)?;
    Ok((None, Some(key)))
}
