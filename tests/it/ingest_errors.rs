//! Bad requests get a problem+json answer naming what is wrong, and write nothing but
//! their own audit record.

use serde_json::json;
use sqlx::PgPool;
use tocsin_tests::{TestApp, TestResponse, alert_body};

/// Asserts the answer is a problem of `status` naming `field`, and that no alert,
/// notification or job was written.
async fn assert_refused(app: &TestApp, response: &TestResponse, status: u16, field: Option<&str>) {
    assert_eq!(response.status.as_u16(), status, "{:?}", response.body);
    assert_eq!(response.content_type(), "application/problem+json");
    assert_eq!(response.body["status"], status);
    assert!(
        response.body["type"]
            .as_str()
            .unwrap()
            .starts_with("/problems/")
    );
    assert!(!response.body["detail"].as_str().unwrap().is_empty());
    assert_eq!(
        response.body["field"].as_str(),
        field,
        "{:?}",
        response.body
    );
    assert_eq!(app.count("alert").await, 0);
    assert_eq!(app.count("notification_log").await, 0);
    assert_eq!(app.count("outbox_message").await, 0);
}

/// The one audit record a refused request leaves.
async fn recorded_status(app: &TestApp) -> (i32, Option<String>) {
    sqlx::query_as("SELECT status_code, error_message FROM webhook_delivery WHERE alert_id IS NULL")
        .fetch_one(&app.state.db)
        .await
        .expect("exactly one delivery record")
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn malformed_json_is_a_400_naming_the_position(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.add_webhook_channel("http://127.0.0.1:9/").await;
    let response = app
        .post_raw(
            &app.integration_id.to_string(),
            Some("application/json"),
            "{\"title\": ",
        )
        .await;
    assert_refused(&app, &response, 400, None).await;
    assert!(response.body["detail"].as_str().unwrap().contains("line 1"));
    let (status, error) = recorded_status(&app).await;
    assert_eq!(status, 400);
    assert!(error.unwrap().starts_with("the body is not valid JSON"));
    let raw: serde_json::Value = sqlx::query_scalar("SELECT raw_payload FROM webhook_delivery")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(
        raw,
        json!("{\"title\": "),
        "the unparseable body is kept as text"
    );
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_wrong_or_missing_content_type_is_a_415(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let body = alert_body("x").to_string();
    let id = app.integration_id.to_string();
    let response = app.post_raw(&id, Some("text/plain"), body.clone()).await;
    assert_refused(&app, &response, 415, Some("content-type")).await;
    let response = app.post_raw(&id, None, body).await;
    assert_refused(&app, &response, 415, Some("content-type")).await;
    assert_eq!(
        app.count("webhook_delivery WHERE status_code = 415").await,
        2
    );
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_json_media_type_with_parameters_or_suffix_is_accepted(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let id = app.integration_id.to_string();
    for content_type in [
        "application/json; charset=utf-8",
        "application/vnd.tool+json",
    ] {
        let response = app
            .post_raw(&id, Some(content_type), alert_body("x").to_string())
            .await;
        assert_eq!(response.status, 202, "{content_type}");
    }
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_unknown_integration_is_a_404(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let body = alert_body("x").to_string();
    for id in [uuid::Uuid::new_v4().to_string(), "not-a-uuid".to_owned()] {
        let response = app
            .post_raw(&id, Some("application/json"), body.clone())
            .await;
        assert_refused(&app, &response, 404, None).await;
    }
    assert_eq!(
        app.count("webhook_delivery").await,
        0,
        "nothing to attach a record to"
    );
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_oversized_body_is_a_413(pool: PgPool) {
    let app = TestApp::with_config(pool, |c| c.ingest_max_body_bytes = 1024).await;
    let mut body = alert_body("big");
    body["padding"] = json!("x".repeat(2000));
    let response = app.post_alert(&body).await;
    assert_refused(&app, &response, 413, None).await;
    assert!(
        response.body["detail"]
            .as_str()
            .unwrap()
            .contains("1024 bytes")
    );
    let (status, _) = recorded_status(&app).await;
    assert_eq!(status, 413);
    // Without a Content-Length the limit holds while streaming.
    let stream = futures_stream(vec![vec![b' '; 800], vec![b' '; 800]]);
    let response = app
        .post_raw(
            &app.integration_id.to_string(),
            Some("application/json"),
            stream,
        )
        .await;
    assert_eq!(response.status, 413);
    app.cleanup().await;
}

/// A body sent in chunks, without a Content-Length.
fn futures_stream(chunks: Vec<Vec<u8>>) -> axum::body::Body {
    axum::body::Body::from_stream(futures::stream::iter(
        chunks.into_iter().map(Ok::<_, std::io::Error>),
    ))
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn each_invalid_field_is_a_422_naming_it(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let cases = [
        (json!({"severity": "HIGH"}), "title"),
        (json!({"title": "   ", "severity": "HIGH"}), "title"),
        (json!({"title": "x"}), "severity"),
        (json!({"title": "x", "severity": "apocalyptic"}), "severity"),
        (
            json!({"title": "x", "severity": "LOW", "triggered_at": "soon"}),
            "triggered_at",
        ),
        (
            json!({"title": "x", "severity": "LOW", "details": "not an object"}),
            "details",
        ),
        (json!([1, 2]), ""),
    ];
    for (body, field) in cases {
        let response = app.post_alert(&body).await;
        assert_refused(&app, &response, 422, Some(field)).await;
    }
    assert_eq!(
        app.count("webhook_delivery WHERE status_code = 422").await,
        7
    );
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_disabled_integration_refuses_alerts(pool: PgPool) {
    let app = TestApp::new(pool).await;
    sqlx::query("UPDATE integration SET is_active = false")
        .execute(&app.state.db)
        .await
        .unwrap();
    let response = app.post_alert(&alert_body("x")).await;
    assert_refused(&app, &response, 403, None).await;
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn secret_headers_are_not_stored(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let request =
        axum::http::Request::post(format!("/v1/integrations/{}/webhook", app.integration_id))
            .header("content-type", "application/json")
            .header("authorization", "Bearer sk_live_abcdef")
            .header("x-signature", "sha256=abcdef")
            .header("idempotency-key", "delivery-42")
            .body(axum::body::Body::from(alert_body("x").to_string()))
            .unwrap();
    assert_eq!(app.request(request).await.status, 202);
    let (headers, key): (serde_json::Value, Option<String>) =
        sqlx::query_as("SELECT headers, idempotency_key FROM webhook_delivery")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert_eq!(headers["authorization"], "[redacted]");
    assert_eq!(headers["x-signature"], "[redacted]");
    assert!(!headers.to_string().contains("sk_live_abcdef"));
    assert_eq!(key.as_deref(), Some("delivery-42"));
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_body_too_large_for_the_database_is_kept_in_s3(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let mut body = alert_body("large");
    body["padding"] = json!("y".repeat(100_000));
    let text = body.to_string();
    let response = app
        .post_raw(
            &app.integration_id.to_string(),
            Some("application/json"),
            text.clone(),
        )
        .await;
    assert_eq!(response.status, 202);
    let (inline, key): (Option<serde_json::Value>, Option<String>) =
        sqlx::query_as("SELECT raw_payload, raw_payload_s3_key FROM webhook_delivery")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert_eq!(inline, None);
    let key = key.expect("an S3 key");
    let object = app
        .state
        .s3
        .get_object()
        .bucket(tocsin_tests::TEST_BUCKET)
        .key(&key)
        .send()
        .await
        .unwrap();
    let stored = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(stored.as_ref(), text.as_bytes());
    app.cleanup().await;
}
