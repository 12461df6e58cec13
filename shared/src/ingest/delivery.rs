//! The audit record of every request an integration endpoint received (`webhook_delivery`).

use axum::http::HeaderMap;
use sqlx::PgConnection;
use uuid::Uuid;

/// What replaces a secret-bearing header's value in the audit record.
pub const REDACTED: &str = "[redacted]";

/// Headers whose names say they carry a credential. Anything containing one of these
/// words is redacted, whatever the tool calls it (`X-Grafana-Signature`, `X-Api-Key`, ...).
const SECRET_WORDS: &[&str] = &[
    "authorization",
    "cookie",
    "token",
    "secret",
    "signature",
    "api-key",
    "apikey",
    "password",
    "auth",
    "genie",
    "credential",
    "session",
];

/// Headers kept even though a word above matches them.
const NOT_SECRET: &[&str] = &["idempotency-key"];

/// The request's headers as a JSON object (lower-case names, repeated headers as arrays),
/// with every secret-bearing value replaced by [`REDACTED`].
pub fn sanitize_headers(headers: &HeaderMap) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    for name in headers.keys() {
        let key = name.as_str().to_ascii_lowercase();
        let secret = !NOT_SECRET.contains(&key.as_str())
            && SECRET_WORDS.iter().any(|word| key.contains(word));
        let values: Vec<serde_json::Value> = headers
            .get_all(name)
            .iter()
            .map(|v| {
                if secret {
                    REDACTED.into()
                } else {
                    String::from_utf8_lossy(v.as_bytes()).into_owned().into()
                }
            })
            .collect();
        let value = match <[serde_json::Value; 1]>::try_from(values) {
            Ok([single]) => single,
            Err(many) => serde_json::Value::Array(many),
        };
        object.insert(key, value);
    }
    serde_json::Value::Object(object)
}

/// One row of `webhook_delivery`.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub integration_id: Uuid,
    pub idempotency_key: Option<String>,
    pub content_fingerprint: String,
    pub raw_payload: Option<serde_json::Value>,
    pub raw_payload_s3_key: Option<String>,
    pub headers: serde_json::Value,
    pub status_code: u16,
    pub error_message: Option<String>,
    pub alert_id: Option<Uuid>,
    /// The answer given, for an accepted request.
    pub response_body: Option<serde_json::Value>,
    /// For a repeat: the delivery whose answer it got.
    pub duplicate_of: Option<Uuid>,
}

/// Writes the audit record of one request, with the alerts it opened or changed, in one
/// statement.
pub async fn record_delivery(
    conn: &mut PgConnection,
    delivery: &NewDelivery,
    alert_ids: &[Uuid],
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"WITH delivery AS (
             INSERT INTO webhook_delivery
                 (id, workspace_id, integration_id, idempotency_key, content_fingerprint,
                  raw_payload, raw_payload_s3_key, headers, status_code, error_message, alert_id,
                  response_body, duplicate_of)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             RETURNING id)
           INSERT INTO webhook_delivery_alert (webhook_delivery_id, alert_id)
           SELECT delivery.id, linked.alert_id
           FROM delivery CROSS JOIN UNNEST($14::uuid[]) AS linked (alert_id)
           ON CONFLICT DO NOTHING"#,
        delivery.id,
        delivery.workspace_id,
        delivery.integration_id,
        delivery.idempotency_key,
        delivery.content_fingerprint,
        delivery.raw_payload,
        delivery.raw_payload_s3_key,
        delivery.headers,
        i32::from(delivery.status_code),
        delivery.error_message,
        delivery.alert_id,
        delivery.response_body,
        delivery.duplicate_of,
        alert_ids,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn secret_headers_are_redacted_and_others_kept() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", HeaderValue::from_static("Bearer s3cr3t"));
        headers.insert("x-grafana-signature", HeaderValue::from_static("abc"));
        headers.insert("cookie", HeaderValue::from_static("session=1"));
        headers.insert("x-api-key", HeaderValue::from_static("k"));
        headers.insert("idempotency-key", HeaderValue::from_static("req-1"));
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.append("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        headers.append("x-forwarded-for", HeaderValue::from_static("10.0.0.2"));
        let json = sanitize_headers(&headers);
        assert_eq!(json["authorization"], REDACTED);
        assert_eq!(json["x-grafana-signature"], REDACTED);
        assert_eq!(json["cookie"], REDACTED);
        assert_eq!(json["x-api-key"], REDACTED);
        assert_eq!(json["idempotency-key"], "req-1");
        assert_eq!(json["content-type"], "application/json");
        assert_eq!(
            json["x-forwarded-for"],
            serde_json::json!(["10.0.0.1", "10.0.0.2"])
        );
        assert!(!json.to_string().contains("s3cr3t"));
    }
}

/// A `webhook_delivery` row as the API shows it (headers already redacted when stored).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct DeliveryRecord {
    pub id: Uuid,
    pub integration_id: Uuid,
    pub idempotency_key: Option<String>,
    pub content_fingerprint: String,
    pub raw_payload: Option<serde_json::Value>,
    /// Key of the body in the data bucket, when it was too large to keep inline.
    pub raw_payload_s3_key: Option<String>,
    pub headers: serde_json::Value,
    pub status_code: i32,
    pub error_message: Option<String>,
    /// For a repeat: the delivery whose answer it got.
    pub duplicate_of: Option<Uuid>,
    pub alert_id: Option<Uuid>,
    pub processed_at: chrono::DateTime<chrono::Utc>,
}

/// A page of the deliveries of one of the workspace's integrations, newest first; or,
/// with `alert_id`, the deliveries that opened or changed that alert.
pub async fn list_deliveries(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    integration_id: Option<Uuid>,
    alert_id: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<DeliveryRecord>, sqlx::Error> {
    sqlx::query_as!(
        DeliveryRecord,
        r#"SELECT d.id, d.integration_id, d.idempotency_key, d.content_fingerprint, d.raw_payload,
                  d.raw_payload_s3_key, d.headers, d.status_code, d.error_message, d.duplicate_of,
                  d.alert_id, d.processed_at
           FROM webhook_delivery d
           WHERE d.workspace_id = $1
             AND ($2::uuid IS NULL OR d.integration_id = $2)
             AND ($3::uuid IS NULL OR EXISTS (SELECT 1 FROM webhook_delivery_alert l
                                              WHERE l.webhook_delivery_id = d.id AND l.alert_id = $3))
             AND ($4::uuid IS NULL OR (d.created_at, d.id) < (SELECT created_at, id FROM webhook_delivery
                                                              WHERE id = $4 AND workspace_id = $1))
           ORDER BY d.created_at DESC, d.id DESC
           LIMIT $5"#,
        workspace_id,
        integration_id,
        alert_id,
        after,
        limit,
    )
    .fetch_all(&mut *conn)
    .await
}
