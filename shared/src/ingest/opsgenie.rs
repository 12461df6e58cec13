//! The Opsgenie Alert API's write half, so a tool or script that creates Opsgenie alerts
//! works by changing the base URL: `POST /v2/alerts` creates (an open alert with the same
//! `alias` is updated, its count raised), `POST /v2/alerts/{identifier}/acknowledge` and
//! `/close` act on an alert by `alias` or by `id`, and `GET /v2/alerts/requests/{id}`
//! reports what a request did. Requests authenticate with `Authorization: GenieKey <key>`,
//! the integration's key, and are answered `202 {"result", "took", "requestId"}` as
//! Opsgenie does; the request id is the request's `webhook_delivery` id. Errors have
//! Opsgenie's shape (`message`, `took`, `requestId`) plus the `field` at fault.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{AcceptOptions, Ingested, Integration, integrations};
use crate::alerts::{AlertAction, NormalizedAlert, Severity};
use crate::error::ApiError;
use crate::http::from_json_value;
use crate::outbox;
use crate::state::AppState;

/// Opsgenie's limits.
const MAX_MESSAGE_CHARS: usize = 130;
const MAX_ALIAS_CHARS: usize = 512;
const MAX_DESCRIPTION_CHARS: usize = 15_000;

/// The Opsgenie routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2/alerts", axum::routing::post(create_alert))
        .route(
            "/v2/alerts/{identifier}/acknowledge",
            axum::routing::post(acknowledge_alert),
        )
        .route(
            "/v2/alerts/{identifier}/close",
            axum::routing::post(close_alert),
        )
        .route(
            "/v2/alerts/requests/{request_id}",
            axum::routing::get(request_status),
        )
}

/// Opsgenie's answer to an accepted request.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Queued {
    /// `Request will be processed`.
    pub result: String,
    /// Seconds the request took.
    pub took: f64,
    /// What `GET /v2/alerts/requests/{requestId}` reports on.
    #[serde(rename = "requestId")]
    pub request_id: Uuid,
}

/// Opsgenie's answer to a refused request.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Refused {
    pub message: String,
    pub took: f64,
    #[serde(rename = "requestId")]
    pub request_id: Uuid,
    /// The field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// What a request did, as `GET /v2/alerts/requests/{requestId}` reports it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RequestStatus {
    pub data: RequestStatusData,
    pub took: f64,
    #[serde(rename = "requestId")]
    pub request_id: Uuid,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestStatusData {
    pub success: bool,
    pub is_success: bool,
    pub processed_at: DateTime<Utc>,
    pub integration_id: Uuid,
    /// What happened, such as `Processed` or the reason it was refused.
    pub status: String,
    /// The alert the request touched; empty when none.
    pub alert_id: String,
    /// That alert's alias; empty when none.
    pub alias: String,
}

#[derive(Debug, Deserialize)]
struct CreateRequest {
    message: Option<String>,
    alias: Option<String>,
    description: Option<String>,
    priority: Option<String>,
    entity: Option<String>,
    source: Option<String>,
    user: Option<String>,
    note: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    details: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    responders: Vec<serde_json::Value>,
    #[serde(default, rename = "visibleTo")]
    visible_to: Vec<serde_json::Value>,
    #[serde(default)]
    actions: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ActionRequest {
    user: Option<String>,
    source: Option<String>,
    note: Option<String>,
}

/// The `identifierType` query parameter of acknowledge and close.
#[derive(Debug, Deserialize)]
pub struct IdentifierQuery {
    #[serde(rename = "identifierType")]
    identifier_type: Option<String>,
}

/// Parses a create request.
fn parse_create(value: serde_json::Value, now: DateTime<Utc>) -> Result<NormalizedAlert, ApiError> {
    let request: CreateRequest = from_json_value(value)?;
    let message = request
        .message
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError::invalid_field("message", "Message can not be empty."))?;
    if message.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ApiError::invalid_field(
            "message",
            format!("message must be at most {MAX_MESSAGE_CHARS} characters"),
        ));
    }
    let alias = request.alias.filter(|a| !a.trim().is_empty());
    if alias
        .as_deref()
        .is_some_and(|a| a.chars().count() > MAX_ALIAS_CHARS)
    {
        return Err(ApiError::invalid_field(
            "alias",
            format!("alias must be at most {MAX_ALIAS_CHARS} characters"),
        ));
    }
    let severity = match request.priority.as_deref().unwrap_or("P3") {
        "P1" => Severity::Critical,
        "P2" => Severity::High,
        "P3" => Severity::Medium,
        "P4" => Severity::Low,
        "P5" => Severity::Info,
        _ => {
            return Err(ApiError::invalid_field(
                "priority",
                "Priority should be one of [P1, P2, P3, P4, P5]",
            ));
        }
    };
    let mut alert = NormalizedAlert {
        title: message,
        description: request
            .description
            .filter(|d| !d.trim().is_empty())
            .map(|d| d.chars().take(MAX_DESCRIPTION_CHARS).collect()),
        severity,
        tool_severity: Some(request.priority.unwrap_or_else(|| "P3".to_owned())),
        dedup_key: None,
        group_key: None,
        action: AlertAction::Trigger,
        triggered_at: now,
        metadata: serde_json::json!({
            "alias": alias,
            "entity": request.entity,
            "source": request.source,
            "user": request.user,
            "note": request.note,
            "tags": request.tags,
            "details": request.details,
            "responders": request.responders,
            "visible_to": request.visible_to,
            "actions": request.actions,
        }),
    };
    // Without an alias Opsgenie opens a new alert each time; here the alert's content is
    // its alias, so a retried request is the same alert (and, inside the dedup window, the
    // same answer).
    alert.dedup_key =
        Some(alias.unwrap_or_else(|| format!("opsgenie:{}", alert.fingerprint("opsgenie"))));
    Ok(alert)
}

/// Parses an acknowledge or close request on the alert `dedup_key` names.
fn parse_action(
    value: serde_json::Value,
    action: AlertAction,
    dedup_key: String,
    now: DateTime<Utc>,
) -> Result<NormalizedAlert, ApiError> {
    let request: ActionRequest = from_json_value(value)?;
    Ok(NormalizedAlert {
        title: dedup_key.clone(),
        description: None,
        severity: Severity::Info,
        tool_severity: None,
        dedup_key: Some(dedup_key),
        group_key: None,
        action,
        triggered_at: now,
        metadata: serde_json::json!({
            "user": request.user,
            "source": request.source,
            "note": request.note,
        }),
    })
}

/// The key from `Authorization: GenieKey <key>`.
fn genie_key(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("GenieKey")
        .then(|| key.trim())
        .filter(|k| !k.is_empty())
}

/// The Opsgenie integration the request's key belongs to.
async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Integration, ApiError> {
    let unauthorized = || {
        ApiError::unauthorized(
            "Could not authenticate: send Authorization: GenieKey <the integration's key>",
        )
        .with_field("Authorization")
    };
    let key = genie_key(headers).ok_or_else(unauthorized)?;
    let hash = integrations::routing_key_hash(key);
    super::find_integration(state, None, Some(&hash))
        .await?
        .filter(|integration| integration.kind == "opsgenie")
        .ok_or_else(unauthorized)
}

/// `POST /v2/alerts`: creates an alert, or raises the count of the open one with its alias.
#[utoipa::path(
    post, path = "/v2/alerts", tag = "ingest",
    security(("genie_key" = [])),
    request_body(content = serde_json::Value, content_type = "application/json",
                 description = "An Opsgenie create-alert request: message (required), alias, description, priority P1-P5, entity, source, tags, details, ..."),
    responses(
        (status = 202, description = "Stored; notifications queued", body = Queued),
        (status = 401, description = "No or unknown GenieKey", body = Refused),
        (status = 422, description = "A field is invalid", body = Refused),
    )
)]
pub async fn create_alert(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let result = async {
        let integration = authenticate(&state, &headers).await?;
        let body = super::read_body(body, &headers, state.config.ingest_max_body_bytes).await;
        super::accept(
            &state,
            &integration,
            &headers,
            body,
            AcceptOptions::KEYED,
            |value| parse_create(value, Utc::now()).map(|alert| vec![alert]),
        )
        .await
    }
    .await;
    answer(&state, result, started).await
}

/// `POST /v2/alerts/{identifier}/acknowledge`.
#[utoipa::path(
    post, path = "/v2/alerts/{identifier}/acknowledge", tag = "ingest",
    security(("genie_key" = [])),
    params(
        ("identifier" = String, Path, description = "The alert's alias or id"),
        ("identifierType" = Option<String>, Query, description = "`alias` or `id` (the default)"),
    ),
    request_body(content = serde_json::Value, content_type = "application/json",
                 description = "Optional: user, source, note"),
    responses(
        (status = 202, description = "Accepted (an unknown alert is accepted and left alone)", body = Queued),
        (status = 401, description = "No or unknown GenieKey", body = Refused),
        (status = 422, description = "A field is invalid", body = Refused),
    )
)]
pub async fn acknowledge_alert(
    state: State<AppState>,
    identifier: Path<String>,
    query: Query<IdentifierQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    act(
        state,
        identifier,
        query,
        headers,
        body,
        AlertAction::Acknowledge,
    )
    .await
}

/// `POST /v2/alerts/{identifier}/close`.
#[utoipa::path(
    post, path = "/v2/alerts/{identifier}/close", tag = "ingest",
    security(("genie_key" = [])),
    params(
        ("identifier" = String, Path, description = "The alert's alias or id"),
        ("identifierType" = Option<String>, Query, description = "`alias` or `id` (the default)"),
    ),
    request_body(content = serde_json::Value, content_type = "application/json",
                 description = "Optional: user, source, note"),
    responses(
        (status = 202, description = "Accepted (an unknown alert is accepted and left alone)", body = Queued),
        (status = 401, description = "No or unknown GenieKey", body = Refused),
        (status = 422, description = "A field is invalid", body = Refused),
    )
)]
pub async fn close_alert(
    state: State<AppState>,
    identifier: Path<String>,
    query: Query<IdentifierQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    act(
        state,
        identifier,
        query,
        headers,
        body,
        AlertAction::Resolve,
    )
    .await
}

async fn act(
    State(state): State<AppState>,
    Path(identifier): Path<String>,
    Query(query): Query<IdentifierQuery>,
    headers: HeaderMap,
    body: Body,
    action: AlertAction,
) -> Response {
    let started = Instant::now();
    let result = async {
        let integration = authenticate(&state, &headers).await?;
        let dedup_key = match query.identifier_type.as_deref().unwrap_or("id") {
            "alias" => identifier,
            "id" => alias_of(&state, &integration, &identifier).await?,
            other => {
                return Err(ApiError::invalid_field(
                    "identifierType",
                    format!("identifierType {other:?} is not supported: use alias or id"),
                ));
            }
        };
        let body = super::read_body(body, &headers, state.config.ingest_max_body_bytes).await;
        let options = AcceptOptions {
            body_optional: true,
            ..AcceptOptions::KEYED
        };
        super::accept(&state, &integration, &headers, body, options, |value| {
            parse_action(value, action, dedup_key, Utc::now()).map(|alert| vec![alert])
        })
        .await
    }
    .await;
    answer(&state, result, started).await
}

/// The alias (dedup key) of the integration's alert with this id; an id that names no
/// alert gets a key no alert has, so the request is accepted and does nothing.
async fn alias_of(
    state: &AppState,
    integration: &Integration,
    id: &str,
) -> Result<String, ApiError> {
    let unknown = format!("opsgenie:unknown-id:{id}");
    let Ok(id) = Uuid::parse_str(id) else {
        return Ok(unknown);
    };
    let alias = sqlx::query_scalar!(
        "SELECT external_id FROM alert WHERE id = $1 AND integration_id = $2",
        id,
        integration.id
    )
    .fetch_optional(&state.db)
    .await?
    .flatten();
    Ok(alias.unwrap_or(unknown))
}

/// `GET /v2/alerts/requests/{requestId}`: what a request did.
#[utoipa::path(
    get, path = "/v2/alerts/requests/{requestId}", tag = "ingest",
    security(("genie_key" = [])),
    params(("requestId" = Uuid, Path, description = "The requestId a write was answered with")),
    responses(
        (status = 200, body = RequestStatus),
        (status = 401, description = "No or unknown GenieKey", body = Refused),
        (status = 404, description = "No such request for this key", body = Refused),
    )
)]
pub async fn request_status(
    State(state): State<AppState>,
    Path(request_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let result = async {
        let integration = authenticate(&state, &headers).await?;
        let not_found = || ApiError::not_found("Request does not exist").with_field("requestId");
        let id = Uuid::parse_str(&request_id).map_err(|_| not_found())?;
        let row = sqlx::query!(
            r#"SELECT d.status_code, d.error_message, d.processed_at,
                      a.id AS "alert_id?", a.external_id AS "alias?"
               FROM webhook_delivery d
               LEFT JOIN alert a ON a.id = d.alert_id
               WHERE d.id = $1 AND d.integration_id = $2"#,
            id,
            integration.id
        )
        .fetch_optional(&state.db)
        .await?
        .ok_or_else(not_found)?;
        let success = (200..300).contains(&row.status_code);
        let status = match (&row.error_message, row.alert_id) {
            (Some(error), _) => error.clone(),
            (None, Some(_)) => "Processed".to_owned(),
            (None, None) => "Alert does not exist".to_owned(),
        };
        Ok(RequestStatus {
            data: RequestStatusData {
                success,
                is_success: success,
                processed_at: row.processed_at,
                integration_id: integration.id,
                status,
                alert_id: row.alert_id.map(|a| a.to_string()).unwrap_or_default(),
                alias: row.alias.unwrap_or_default(),
            },
            took: started.elapsed().as_secs_f64(),
            request_id: id,
        })
    }
    .await;
    match result {
        Ok(status) => (StatusCode::OK, Json(status)).into_response(),
        Err(error) => refusal(error, started),
    }
}

/// Answers a write: Opsgenie's 202, with the notifications dispatched first.
async fn answer(
    state: &AppState,
    result: Result<Ingested, ApiError>,
    started: Instant,
) -> Response {
    match result {
        Ok(ingested) => {
            outbox::dispatch(state, &ingested.outbox_ids).await;
            let body = Queued {
                result: "Request will be processed".to_owned(),
                took: started.elapsed().as_secs_f64(),
                request_id: ingested.answer.delivery_id,
            };
            (StatusCode::ACCEPTED, Json(body)).into_response()
        }
        Err(error) => refusal(error, started),
    }
}

/// An error in Opsgenie's shape, with our status (401, 404, 413, 415, 422, ...).
fn refusal(error: ApiError, started: Instant) -> Response {
    let status = error.status();
    let problem = error.problem();
    if status.is_server_error() {
        // Logged as every server error is.
        let _ = error.into_response();
    }
    let body = Refused {
        message: problem.detail,
        took: started.elapsed().as_secs_f64(),
        request_id: Uuid::new_v4(),
        field: problem.field,
    };
    let mut response = (status, Json(body)).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("GenieKey"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn priorities_map_to_severities_and_default_to_p3() {
        let alert = parse_create(
            json!({"message": "disk full", "priority": "P1"}),
            Utc::now(),
        )
        .unwrap();
        assert_eq!(alert.severity, Severity::Critical);
        let alert = parse_create(json!({"message": "disk full"}), Utc::now()).unwrap();
        assert_eq!(alert.severity, Severity::Medium);
        let error =
            parse_create(json!({"message": "x", "priority": "P9"}), Utc::now()).unwrap_err();
        assert_eq!(error.problem().field.as_deref(), Some("priority"));
    }

    #[test]
    fn the_alias_is_the_dedup_key_and_content_stands_in_for_a_missing_one() {
        let alert = parse_create(json!({"message": "m", "alias": "db-1"}), Utc::now()).unwrap();
        assert_eq!(alert.dedup_key.as_deref(), Some("db-1"));
        let first = parse_create(json!({"message": "m"}), Utc::now()).unwrap();
        let again = parse_create(json!({"message": "m"}), Utc::now()).unwrap();
        let other = parse_create(json!({"message": "n"}), Utc::now()).unwrap();
        assert_eq!(first.dedup_key, again.dedup_key);
        assert_ne!(first.dedup_key, other.dedup_key);
    }

    #[test]
    fn the_genie_key_scheme_is_read_case_insensitively() {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, "geniekey abc".parse().unwrap());
        assert_eq!(genie_key(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(genie_key(&headers), None);
    }
}
