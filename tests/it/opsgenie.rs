//! The Opsgenie Alert API at `/v2/alerts`: GenieKey authentication, create with alias
//! dedup, acknowledge and close by alias or id, the request status, and Opsgenie-shaped
//! errors.

use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};
use shared::tenancy::UserRole;
use sqlx::PgPool;
use tocsin_tests::{TestApp, TestResponse};

async fn integration(app: &TestApp, kind: &str) -> String {
    let admin = app.create_key(app.workspace_id, UserRole::Admin, &[]).await;
    let created = app
        .api(
            "POST",
            "/v1/integrations",
            Some(&admin.key),
            Some(json!({"name": format!("{kind} source"), "type": kind})),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    created.body["secret"].as_str().unwrap().to_owned()
}

async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> TestResponse {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(key) = key {
        request = request.header("authorization", format!("GenieKey {key}"));
    }
    let body = match body {
        Some(body) => {
            request = request.header("content-type", "application/json");
            Body::from(body.to_string())
        }
        None => Body::empty(),
    };
    app.request(request.body(body).unwrap()).await
}

async fn alerts(app: &TestApp) -> Vec<(String, String, String, i32)> {
    sqlx::query_as(
        "SELECT external_id, status::text, severity::text, occurrence_count
         FROM alert ORDER BY created_at, id",
    )
    .fetch_all(&app.state.db)
    .await
    .unwrap()
}

fn create(alias: &str, priority: &str) -> Value {
    json!({
        "message": "Disk almost full on db-1",
        "alias": alias,
        "description": "/var/lib/postgresql is 97% full",
        "priority": priority,
        "entity": "db-1",
        "source": "cron",
        "tags": ["disk", "prod"],
        "details": {"mount": "/var/lib/postgresql", "used": "97%"},
        "responders": [{"name": "dba", "type": "team"}],
        "user": "Monitoring script"
    })
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn create_acknowledge_close_and_reopen_by_alias_and_id(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let key = integration(&app, "opsgenie").await;
    assert!(
        uuid::Uuid::parse_str(&key).is_ok(),
        "Opsgenie keys are UUIDs: {key}"
    );

    let created = send(
        &app,
        "POST",
        "/v2/alerts",
        Some(&key),
        Some(&create("db-1-disk", "P1")),
    )
    .await;
    assert_eq!(created.status, 202, "{:?}", created.body);
    assert_eq!(created.body["result"], "Request will be processed");
    assert!(created.body["took"].is_number());
    let request_id = created.body["requestId"].as_str().unwrap().to_owned();
    assert_eq!(
        alerts(&app).await,
        [("db-1-disk".into(), "OPEN".into(), "CRITICAL".into(), 1)]
    );
    let (tags, mount): (Value, String) =
        sqlx::query_as("SELECT metadata->'tags', metadata->'details'->>'mount' FROM alert")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert_eq!(tags, json!(["disk", "prod"]));
    assert_eq!(mount, "/var/lib/postgresql");

    // The request status names the alert and its alias.
    let status = send(
        &app,
        "GET",
        &format!("/v2/alerts/requests/{request_id}"),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(status.status, 200, "{:?}", status.body);
    assert_eq!(status.body["data"]["success"], true);
    assert_eq!(status.body["data"]["alias"], "db-1-disk");
    let alert_id = status.body["data"]["alertId"].as_str().unwrap().to_owned();

    // The same alias while open raises the count.
    let mut again = create("db-1-disk", "P1");
    again["description"] = json!("/var/lib/postgresql is 98% full");
    assert_eq!(
        send(&app, "POST", "/v2/alerts", Some(&key), Some(&again))
            .await
            .status,
        202
    );
    assert_eq!(alerts(&app).await[0].3, 2);

    // Acknowledge by alias with no body at all, as curl -X POST sends it.
    let ack = send(
        &app,
        "POST",
        "/v2/alerts/db-1-disk/acknowledge?identifierType=alias",
        Some(&key),
        None,
    )
    .await;
    assert_eq!(ack.status, 202, "{:?}", ack.body);
    assert_eq!(alerts(&app).await[0].1, "ACKNOWLEDGED");

    // Close by id (the default identifier type), with a note.
    let note = json!({"user": "Dana", "source": "laptop", "note": "freed 40 GB"});
    let close = send(
        &app,
        "POST",
        &format!("/v2/alerts/{alert_id}/close"),
        Some(&key),
        Some(&note),
    )
    .await;
    assert_eq!(close.status, 202, "{:?}", close.body);
    assert_eq!(alerts(&app).await[0].1, "RESOLVED");

    // After a close, the alias opens a new alert.
    assert_eq!(
        send(
            &app,
            "POST",
            "/v2/alerts",
            Some(&key),
            Some(&create("db-1-disk", "P4"))
        )
        .await
        .status,
        202
    );
    let all = alerts(&app).await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[1], ("db-1-disk".into(), "OPEN".into(), "LOW".into(), 1));

    // Acknowledging an alias nobody has open is accepted and does nothing.
    let unknown = send(
        &app,
        "POST",
        "/v2/alerts/nope/acknowledge?identifierType=alias",
        Some(&key),
        None,
    )
    .await;
    assert_eq!(unknown.status, 202);
    let request_id = unknown.body["requestId"].as_str().unwrap();
    let status = send(
        &app,
        "GET",
        &format!("/v2/alerts/requests/{request_id}"),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(status.body["data"]["status"], "Alert does not exist");
    assert_eq!(status.body["data"]["alertId"], "");
    assert_eq!(alerts(&app).await[1].1, "OPEN");
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_create_without_alias_retried_is_one_alert_with_one_answer(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let key = integration(&app, "opsgenie").await;
    let body = json!({"message": "Backup job failed"});
    let first = send(&app, "POST", "/v2/alerts", Some(&key), Some(&body)).await;
    let retry = send(&app, "POST", "/v2/alerts", Some(&key), Some(&body)).await;
    assert_eq!(first.status, 202);
    assert_eq!(retry.body["requestId"], first.body["requestId"]);
    let all = alerts(&app).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].2, "MEDIUM", "P3 is the default priority");
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn opsgenie_refusals_have_its_shape_and_name_the_field(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let key = integration(&app, "opsgenie").await;
    let pagerduty_key = integration(&app, "pagerduty").await;
    let body = create("a", "P2");

    for auth in [
        None,
        Some("9c5f2a3e-0000-4000-8000-000000000000"),
        Some(pagerduty_key.as_str()),
    ] {
        let refused = send(&app, "POST", "/v2/alerts", auth, Some(&body)).await;
        assert_eq!(refused.status, 401, "{auth:?}");
        assert_eq!(refused.headers["www-authenticate"], "GenieKey");
        assert!(
            refused.body["message"]
                .as_str()
                .unwrap()
                .contains("GenieKey")
        );
        assert!(refused.body["requestId"].is_string());
    }
    let mut no_message = body.clone();
    no_message["message"] = json!("  ");
    let mut bad_priority = body.clone();
    bad_priority["priority"] = json!("P9");
    let mut long_message = body.clone();
    long_message["message"] = json!("x".repeat(131));
    for (body, field) in [
        (no_message, "message"),
        (bad_priority, "priority"),
        (long_message, "message"),
    ] {
        let refused = send(&app, "POST", "/v2/alerts", Some(&key), Some(&body)).await;
        assert_eq!(refused.status, 422, "{body}");
        assert_eq!(refused.body["field"], field);
        assert!(refused.body["message"].is_string());
    }
    let tiny = send(
        &app,
        "POST",
        "/v2/alerts/12/close?identifierType=tiny",
        Some(&key),
        None,
    )
    .await;
    assert_eq!(tiny.status, 422);
    assert_eq!(tiny.body["field"], "identifierType");
    let not_json = Request::post("/v2/alerts")
        .header("authorization", format!("GenieKey {key}"))
        .header("content-type", "text/plain")
        .body(Body::from("message=hi"))
        .unwrap();
    assert_eq!(app.request(not_json).await.status, 415);
    let unknown = send(
        &app,
        "GET",
        &format!("/v2/alerts/requests/{}", uuid::Uuid::new_v4()),
        Some(&key),
        None,
    )
    .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(app.count("alert").await, 0);
    // Refusals after authentication are recorded against the integration.
    assert_eq!(
        app.count("webhook_delivery WHERE status_code >= 400").await,
        4
    );
    app.cleanup().await;
}
