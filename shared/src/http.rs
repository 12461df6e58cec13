//! Request extractors shared by the HTTP functions, answering every rejection as
//! problem+json (axum's own rejections are plain text).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::ApiError;

/// Largest JSON body the API reads.
pub const MAX_JSON_BODY: usize = 256 * 1024;

/// Checks the request declares a JSON body (`application/json` or `application/*+json`).
pub fn require_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(ApiError::unsupported_media_type(
            "the Content-Type header is missing; send application/json",
        ));
    };
    let essence = value
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        Ok(())
    } else {
        Err(ApiError::unsupported_media_type(format!(
            "Content-Type {essence:?} is not accepted; send application/json"
        )))
    }
}

/// Parses JSON text: 400 when it is not JSON (with the position).
pub fn parse_json_value(body: &[u8]) -> Result<serde_json::Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body is not valid JSON: {e} (line {}, column {})",
            e.line(),
            e.column()
        ))
    })
}

/// Reads a JSON value into `T`: 422 naming the field that does not fit.
pub fn from_json_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let message = e.inner().to_string();
        let path = e.path().to_string();
        // serde reports a missing field at the enclosing object's path.
        let field = match message
            .strip_prefix("missing field `")
            .and_then(|m| m.split('`').next())
        {
            Some(missing) if path == "." => missing.to_owned(),
            Some(missing) => format!("{path}.{missing}"),
            None => path,
        };
        ApiError::invalid_field(field.clone(), format!("{field}: {message}"))
    })
}

/// A JSON request body, rejected as problem+json: 415 for another content type, 413 when
/// too large, 400 for malformed JSON, 422 naming the field that does not fit.
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        require_json_content_type(request.headers())?;
        let body = Limited::new(request.into_body(), MAX_JSON_BODY)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<LengthLimitError>() {
                    ApiError::payload_too_large(MAX_JSON_BODY)
                } else {
                    ApiError::bad_request("the request body could not be read")
                }
            })?
            .to_bytes();
        from_json_value(parse_json_value(&body)?).map(JsonBody)
    }
}

/// Parses a path id: 404 when it is not a UUID (no such resource can exist).
pub fn parse_id(raw: &str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found(format!("no {what} has the id {raw:?}")))
}

/// Keyset pagination: `?limit=50&after=<id of the last item seen>`.
#[derive(Debug, Clone, Copy, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1 to 200 (default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub after: Option<Uuid>,
}

impl PageParams {
    /// Default page size.
    pub const DEFAULT_LIMIT: i64 = 50;
    /// Largest page size.
    pub const MAX_LIMIT: i64 = 200;

    /// The page size.
    pub fn limit(&self) -> i64 {
        self.limit.unwrap_or(Self::DEFAULT_LIMIT)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PageParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|e| ApiError::bad_request(format!("the query string is malformed: {e}")))?;
        let mut params = PageParams {
            limit: None,
            after: None,
        };
        for (name, value) in pairs {
            match name.as_str() {
                "limit" => {
                    let limit = value
                        .parse::<i64>()
                        .ok()
                        .filter(|l| (1..=Self::MAX_LIMIT).contains(l))
                        .ok_or_else(|| {
                            ApiError::invalid_field(
                                "limit",
                                format!(
                                    "limit must be a whole number from 1 to {}",
                                    Self::MAX_LIMIT
                                ),
                            )
                        })?;
                    params.limit = Some(limit);
                }
                "after" => {
                    let after = Uuid::parse_str(&value).map_err(|_| {
                        ApiError::invalid_field(
                            "after",
                            "after must be the next_cursor of a previous page",
                        )
                    })?;
                    params.after = Some(after);
                }
                _ => {}
            }
        }
        Ok(params)
    }
}

/// A request's query string, read with typed getters that name the field they refuse.
#[derive(Debug, Default)]
pub struct QueryParams(std::collections::HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|e| ApiError::bad_request(format!("the query string is malformed: {e}")))?;
        Ok(Self(pairs.into_iter().collect()))
    }
}

impl QueryParams {
    /// The parameter `name` read as `T` (through serde, so enums take their API names).
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, ApiError> {
        let Some(raw) = self.0.get(name) else {
            return Ok(None);
        };
        // Enum values are accepted in any case (`open` or `OPEN`).
        [raw.clone(), raw.to_uppercase(), raw.to_lowercase()]
            .into_iter()
            .find_map(|candidate| serde_json::from_value(serde_json::Value::String(candidate)).ok())
            .map(Some)
            .ok_or_else(|| {
                ApiError::invalid_field(name, format!("{name} has an invalid value: {raw:?}"))
            })
    }
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `after` to get the next page; absent on the last page.
    pub next_cursor: Option<Uuid>,
}

impl<T> Page<T> {
    /// A page from the items read with `params.limit() + 1` (the extra one tells whether a
    /// next page exists); `id` gives an item's cursor.
    pub fn from_overfetch(mut items: Vec<T>, params: &PageParams, id: impl Fn(&T) -> Uuid) -> Self {
        let limit = usize::try_from(params.limit()).unwrap_or(usize::MAX);
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(id)
        } else {
            None
        };
        Self { items, next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        email: String,
        nested: Option<Nested>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Nested {
        count: u8,
    }

    fn field(value: serde_json::Value) -> Option<String> {
        from_json_value::<Body>(value).unwrap_err().problem().field
    }

    #[test]
    fn missing_and_mistyped_fields_are_named() {
        assert_eq!(field(serde_json::json!({})).as_deref(), Some("email"));
        assert_eq!(
            field(serde_json::json!({"email": 3})).as_deref(),
            Some("email")
        );
        assert_eq!(
            field(serde_json::json!({"email": "a@b.c", "nested": {"count": "x"}})).as_deref(),
            Some("nested.count")
        );
        assert_eq!(
            field(serde_json::json!({"email": "a@b.c", "nested": {}})).as_deref(),
            Some("nested.count")
        );
    }

    #[test]
    fn a_page_knows_whether_another_follows() {
        let params = PageParams {
            limit: Some(2),
            after: None,
        };
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        let page = Page::from_overfetch(ids.clone(), &params, |id| *id);
        assert_eq!(page.items, ids[..2]);
        assert_eq!(page.next_cursor, Some(ids[1]));
        let last = Page::from_overfetch(ids[..2].to_vec(), &params, |id| *id);
        assert_eq!(last.next_cursor, None);
    }
}
