//! The HTTP error type: every handler answers errors as `application/problem+json`
//! (RFC 9457), naming the offending field where there is one. The cause of a server-side
//! failure is logged with its chain; the client sees only a safe message.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answered to an HTTP client.
#[derive(Debug, thiserror::Error)]
#[error("{status} {detail}")]
pub struct ApiError {
    status: StatusCode,
    /// Short machine-readable kind, rendered as the problem `type` (`/problems/{kind}`).
    kind: &'static str,
    detail: String,
    field: Option<String>,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// The body of a problem+json answer.
#[derive(Debug, Serialize, serde::Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's reason phrase.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong, for a person.
    pub detail: String,
    /// The request field at fault (a JSON pointer-like path such as `severity`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            detail: detail.into(),
            field: None,
            source: None,
        }
    }

    /// 400: the body is not what the endpoint reads (for example malformed JSON).
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }

    /// 422: the body parsed, but `field` has a value the endpoint cannot accept.
    pub fn invalid_field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-field", detail).with_field(field)
    }

    /// 404: the addressed resource does not exist (or belongs to another workspace).
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    /// 403: the resource exists but refuses the request.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// 409: the request conflicts with existing data.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", detail)
    }

    /// 413: the body is larger than `limit` bytes.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            format!("the request body exceeds the limit of {limit} bytes"),
        )
    }

    /// 415: the body's media type is not one the endpoint reads.
    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            detail,
        )
        .with_field("content-type")
    }

    /// 502: a provider this request had to ask refused or could not be reached.
    pub fn bad_gateway(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, "bad-gateway", detail)
    }

    /// 501: the request is valid, but this version cannot do it.
    pub fn not_implemented(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_IMPLEMENTED, "not-implemented", detail)
    }

    /// 500: something on our side failed. The cause is logged, never shown.
    pub fn internal(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        let mut error = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the request could not be processed; it is safe to retry",
        );
        error.source = Some(source.into());
        error
    }

    /// 401: no credentials, or credentials that are not valid.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    /// Maps a unique violation of one of `constraints` (constraint, field, detail) to a 409
    /// naming the field; any other error converts as usual.
    pub fn from_unique_violation(error: sqlx::Error, constraints: &[(&str, &str, &str)]) -> Self {
        let violated = error
            .as_database_error()
            .filter(|d| d.is_unique_violation())
            .and_then(|d| d.constraint());
        match constraints
            .iter()
            .find(|(name, ..)| Some(*name) == violated)
        {
            Some((_, field, detail)) => Self::conflict(*detail).with_field(*field),
            None => Self::from(error),
        }
    }

    /// Names the request field at fault.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message shown to the client.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The problem body this error renders.
    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("/problems/{}", self.kind),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            field: self.field.clone(),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        // Constraint violations are the client's doing; everything else is ours.
        if let Some(db) = error.as_database_error() {
            let constraint = db.constraint().map(str::to_owned);
            match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => {
                    let mut e = Self::conflict("a resource with these values already exists");
                    e.field = constraint;
                    return e;
                }
                sqlx::error::ErrorKind::ForeignKeyViolation => {
                    let mut e = Self::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid-reference",
                        "a referenced resource does not exist",
                    );
                    e.field = constraint;
                    return e;
                }
                _ => {}
            }
        }
        Self::internal(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            let source: Option<&(dyn std::error::Error + 'static)> = self
                .source
                .as_deref()
                .map(|s| s as &(dyn std::error::Error + 'static));
            tracing::error!(error = source.map(error_chain), "request failed");
        }
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tocsin\""),
            );
        }
        response
    }
}

/// Renders an error with its whole `source()` chain, for logs.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

/// Adds problem+json answers for unknown paths (404) and wrong methods (405) to a
/// function's finished router (after any `merge`, which refuses two fallbacks).
pub fn with_problem_fallbacks(router: axum::Router) -> axum::Router {
    router
        .fallback(|| async { ApiError::not_found("no route matches this path") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "this path does not accept that method",
            )
        })
}
