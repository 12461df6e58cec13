//! PagerDuty Events API v2 at `POST /v2/enqueue`: PagerDuty's dedup rules one by one, its
//! answers and its errors.

use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};
use shared::tenancy::UserRole;
use sqlx::PgPool;
use tocsin_tests::{TestApp, TestResponse};

async fn pagerduty_integration(app: &TestApp, name: &str) -> String {
    let admin = app.create_key(app.workspace_id, UserRole::Admin, &[]).await;
    let created = app
        .api(
            "POST",
            "/v1/integrations",
            Some(&admin.key),
            Some(json!({"name": name, "type": "pagerduty"})),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let key = created.body["secret"].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 32, "PagerDuty routing keys are 32 characters");
    key
}

async fn enqueue(app: &TestApp, event: &Value) -> TestResponse {
    let request = Request::post("/v2/enqueue")
        .header("content-type", "application/json")
        .body(Body::from(event.to_string()))
        .unwrap();
    app.request(request).await
}

fn trigger(routing_key: &str, dedup_key: Option<&str>, summary: &str, severity: &str) -> Value {
    let mut event = json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "payload": {"summary": summary, "source": "db-1.prod", "severity": severity,
                    "component": "postgres", "group": "prod-datapipe", "class": "disk",
                    "custom_details": {"free_space": "1%"}},
        "client": "Prometheus", "client_url": "http://prometheus:9090"
    });
    if let Some(key) = dedup_key {
        event["dedup_key"] = json!(key);
    }
    event
}

fn action(routing_key: &str, action: &str, dedup_key: &str) -> Value {
    json!({"routing_key": routing_key, "event_action": action, "dedup_key": dedup_key})
}

async fn statuses(app: &TestApp) -> Vec<(String, String, i32)> {
    sqlx::query_as(
        "SELECT external_id, status::text, occurrence_count FROM alert ORDER BY created_at, id",
    )
    .fetch_all(&app.state.db)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn pagerduty_dedup_rules_hold_one_by_one(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let key = pagerduty_integration(&app, "pd-a").await;

    // A trigger is answered as PagerDuty answers.
    let first = enqueue(
        &app,
        &trigger(&key, Some("disk-db-1"), "Disk full on db-1", "critical"),
    )
    .await;
    assert_eq!(first.status, 202);
    assert_eq!(
        first.body,
        json!({"status": "success", "message": "Event processed", "dedup_key": "disk-db-1"})
    );

    // A trigger for an open alert updates it.
    enqueue(
        &app,
        &trigger(
            &key,
            Some("disk-db-1"),
            "Disk full on db-1 (99%)",
            "critical",
        ),
    )
    .await;
    assert_eq!(
        statuses(&app).await,
        [("disk-db-1".into(), "OPEN".into(), 2)]
    );

    // A dedup key matches events on the same routing key only.
    let other = pagerduty_integration(&app, "pd-b").await;
    enqueue(
        &app,
        &trigger(&other, Some("disk-db-1"), "Disk full elsewhere", "warning"),
    )
    .await;
    assert_eq!(app.count("alert").await, 2);

    // Acknowledge and resolve act on the open alert.
    assert_eq!(
        enqueue(&app, &action(&key, "acknowledge", "disk-db-1"))
            .await
            .status,
        202
    );
    assert_eq!(statuses(&app).await[0].1, "ACKNOWLEDGED");
    let resolved = enqueue(&app, &action(&key, "resolve", "disk-db-1")).await;
    assert_eq!(resolved.body["dedup_key"], "disk-db-1");
    assert_eq!(statuses(&app).await[0].1, "RESOLVED");

    // After a resolve, a trigger opens a new alert.
    enqueue(
        &app,
        &trigger(&key, Some("disk-db-1"), "Disk full on db-1", "critical"),
    )
    .await;
    let all = statuses(&app).await;
    assert_eq!(all.len(), 3);
    assert_eq!(all[2], ("disk-db-1".into(), "OPEN".into(), 1));

    // Acknowledging or resolving an unknown key is accepted and does nothing.
    for verb in ["acknowledge", "resolve"] {
        let response = enqueue(&app, &action(&key, verb, "never-triggered")).await;
        assert_eq!(response.status, 202);
        assert_eq!(response.body["dedup_key"], "never-triggered");
    }
    assert_eq!(app.count("alert").await, 3);

    // A trigger without a dedup key gets one, and the alert is found by it.
    let generated = enqueue(&app, &trigger(&key, None, "No key given", "info")).await;
    let dedup_key = generated.body["dedup_key"].as_str().unwrap().to_owned();
    assert!(!dedup_key.is_empty());
    let resolve = enqueue(&app, &action(&key, "resolve", &dedup_key)).await;
    assert_eq!(resolve.status, 202);
    assert_eq!(
        app.count(&format!(
            "alert WHERE external_id = '{dedup_key}' AND status = 'RESOLVED'"
        ))
        .await,
        1
    );
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn severities_map_and_the_payload_is_kept(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let key = pagerduty_integration(&app, "pd").await;
    for (severity, expected) in [
        ("critical", "CRITICAL"),
        ("error", "HIGH"),
        ("warning", "MEDIUM"),
        ("info", "INFO"),
    ] {
        enqueue(&app, &trigger(&key, Some(severity), "s", severity)).await;
        let stored: String =
            sqlx::query_scalar("SELECT severity::text FROM alert WHERE external_id = $1")
                .bind(severity)
                .fetch_one(&app.state.db)
                .await
                .unwrap();
        assert_eq!(stored, expected, "{severity}");
    }
    let metadata: Value =
        sqlx::query_scalar("SELECT metadata FROM alert WHERE external_id = 'error'")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert_eq!(metadata["source"], "db-1.prod");
    assert_eq!(metadata["custom_details"]["free_space"], "1%");
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn invalid_events_get_pagerduty_style_errors(pool: PgPool) {
    let app = TestApp::with_config(pool, |c| c.ingest_max_body_bytes = 512 * 1024).await;
    let key = pagerduty_integration(&app, "pd").await;
    let mut no_summary = trigger(&key, None, "x", "critical");
    no_summary["payload"]["summary"] = json!("");
    let mut no_source = trigger(&key, None, "x", "critical");
    no_source["payload"]
        .as_object_mut()
        .unwrap()
        .remove("source");
    let cases = [
        (
            json!({"routing_key": "short", "event_action": "trigger"}),
            "Length of 'routing_key' is incorrect (should be 32 characters)",
        ),
        (
            json!({"event_action": "trigger"}),
            "'routing_key' is missing",
        ),
        (
            trigger(&"0".repeat(32), None, "x", "critical"),
            "'routing_key' does not belong to any integration",
        ),
        (
            trigger(&key, None, "x", "fatal"),
            "'payload.severity' must be one of critical, error, warning or info",
        ),
        (no_summary, "'payload.summary' is missing or blank"),
        (no_source, "'payload.source' is missing or blank"),
        (
            json!({"routing_key": key, "event_action": "snooze"}),
            "'event_action' must be one of trigger, acknowledge or resolve",
        ),
        (
            json!({"routing_key": key, "event_action": "resolve"}),
            "'dedup_key' is required to acknowledge or resolve",
        ),
        (
            json!({"routing_key": key, "event_action": "trigger"}),
            "'payload' is missing",
        ),
    ];
    for (event, message) in cases {
        let response = enqueue(&app, &event).await;
        assert_eq!(response.status, 400, "{event}");
        assert_eq!(response.body["status"], "invalid event");
        assert_eq!(response.body["message"], "Event object is invalid");
        assert_eq!(response.body["errors"], json!([message]), "{event}");
    }
    let malformed = app
        .request(
            Request::post("/v2/enqueue")
                .header("content-type", "application/json")
                .body(Body::from("{"))
                .unwrap(),
        )
        .await;
    assert_eq!(malformed.status, 400);
    let mut huge = trigger(&key, None, "x", "critical");
    huge["payload"]["custom_details"] = json!({"blob": "z".repeat(520 * 1024)});
    let response = enqueue(&app, &huge).await;
    assert_eq!(response.status, 413, "PagerDuty's 512 KB limit");
    assert_eq!(response.body["status"], "invalid event");
    assert_eq!(app.count("alert").await, 0);
    assert!(
        app.count("webhook_delivery WHERE status_code = 422 OR status_code = 400")
            .await
            >= 5,
        "refusals of a known integration are recorded"
    );
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_rotated_routing_key_keeps_routing_during_the_grace_period(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.create_key(app.workspace_id, UserRole::Admin, &[]).await;
    let created = app
        .api(
            "POST",
            "/v1/integrations",
            Some(&admin.key),
            Some(json!({"name": "pd", "type": "pagerduty"})),
        )
        .await;
    let old = created.body["secret"].as_str().unwrap().to_owned();
    let id = created.body["integration"]["id"].as_str().unwrap();
    let rotated = app
        .api(
            "POST",
            &format!("/v1/integrations/{id}/rotate-secret"),
            Some(&admin.key),
            Some(json!({})),
        )
        .await;
    let new = rotated.body["secret"].as_str().unwrap().to_owned();
    assert_eq!(
        enqueue(&app, &trigger(&old, Some("a"), "old key", "info"))
            .await
            .status,
        202
    );
    assert_eq!(
        enqueue(&app, &trigger(&new, Some("b"), "new key", "info"))
            .await
            .status,
        202
    );
    sqlx::query("UPDATE integration SET previous_secret_expires_at = now() - interval '1 second'")
        .execute(&app.state.db)
        .await
        .unwrap();
    assert_eq!(
        enqueue(&app, &trigger(&old, Some("c"), "old key", "info"))
            .await
            .status,
        400
    );
    app.cleanup().await;
}
