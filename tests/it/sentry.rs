//! Sentry integration platform webhooks: metric alerts through critical, warning and
//! resolved; an issue alert resolved by the issue's own event; resources that are not
//! alerts; signatures with Sentry's client secret; malformed payloads.

use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};
use shared::ingest::verify::sign_hmac;
use shared::tenancy::UserRole;
use sqlx::PgPool;
use tocsin_tests::{TestApp, TestResponse};

/// A Sentry internal integration's client secret, which Sentry generates and the user
/// copies into Tocsin.
const CLIENT_SECRET: &str = "5f3a0c2b9e8d4f1a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a";

fn fixture(name: &str) -> Value {
    let path = format!("{}/fixtures/sentry/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn sentry_integration(app: &TestApp) -> String {
    let admin = app.create_key(app.workspace_id, UserRole::Admin, &[]).await;
    let created = app
        .api(
            "POST",
            "/v1/integrations",
            Some(&admin.key),
            Some(json!({"name": "sentry", "type": "sentry", "secret": CLIENT_SECRET})),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.body["secret"], CLIENT_SECRET);
    let integration = &created.body["integration"];
    assert_eq!(integration["verification"], "hmac");
    assert_eq!(integration["signature_header"], "Sentry-Hook-Signature");
    integration["id"].as_str().unwrap().to_owned()
}

async fn post(app: &TestApp, id: &str, resource: &str, body: &Value, secret: &str) -> TestResponse {
    let bytes = body.to_string();
    let signature = hex::encode(sign_hmac("sha256", secret, None, bytes.as_bytes()));
    let request = Request::post(format!("/v1/integrations/{id}/webhook"))
        .header("content-type", "application/json")
        .header("sentry-hook-resource", resource)
        .header("sentry-hook-timestamp", "1763629440")
        .header("sentry-hook-signature", signature)
        .header("request-id", uuid::Uuid::new_v4().to_string())
        .body(Body::from(bytes))
        .unwrap();
    app.request(request).await
}

async fn alerts(app: &TestApp) -> Vec<(String, String, String, String, i32)> {
    sqlx::query_as(
        "SELECT external_id, title, status::text, severity::text, occurrence_count
         FROM alert ORDER BY created_at, id",
    )
    .fetch_all(&app.state.db)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_metric_alert_goes_critical_warning_resolved_as_one_alert(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let id = sentry_integration(&app).await;
    let critical = post(
        &app,
        &id,
        "metric_alert",
        &fixture("metric_alert_critical"),
        CLIENT_SECRET,
    )
    .await;
    assert_eq!(critical.status, 202, "{:?}", critical.body);
    let key = "sentry:metric_alert:917".to_owned();
    let title = "Checkout errors".to_owned();
    assert_eq!(
        alerts(&app).await,
        [(
            key.clone(),
            title.clone(),
            "OPEN".into(),
            "CRITICAL".into(),
            1
        )]
    );
    let (description, web_url): (String, String) =
        sqlx::query_as("SELECT description, metadata->>'web_url' FROM alert")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert!(description.starts_with("1204 events"), "{description}");
    assert!(web_url.ends_with("?alert=917"));

    post(
        &app,
        &id,
        "metric_alert",
        &fixture("metric_alert_warning"),
        CLIENT_SECRET,
    )
    .await;
    assert_eq!(
        alerts(&app).await,
        [(
            key.clone(),
            title.clone(),
            "OPEN".into(),
            "MEDIUM".into(),
            2
        )]
    );
    post(
        &app,
        &id,
        "metric_alert",
        &fixture("metric_alert_resolved"),
        CLIENT_SECRET,
    )
    .await;
    assert_eq!(alerts(&app).await[0].2, "RESOLVED");
    assert_eq!(app.count("incident WHERE status = 'RESOLVED'").await, 1);
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn resolving_the_issue_in_sentry_resolves_what_its_issue_alert_opened(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let id = sentry_integration(&app).await;
    assert_eq!(
        post(
            &app,
            &id,
            "event_alert",
            &fixture("event_alert"),
            CLIENT_SECRET
        )
        .await
        .status,
        202
    );
    assert_eq!(
        alerts(&app).await,
        [(
            "sentry:issue:4102938475".into(),
            "KeyError: 'card_token'".into(),
            "OPEN".into(),
            "HIGH".into(),
            1
        )]
    );
    assert_eq!(
        post(
            &app,
            &id,
            "issue",
            &fixture("issue_resolved"),
            CLIENT_SECRET
        )
        .await
        .status,
        202
    );
    assert_eq!(alerts(&app).await[0].2, "RESOLVED");

    // Installing the integration, comments and other resources are accepted and open nothing.
    let installation = json!({"action": "created", "data": {"installation": {"uuid": "x"}}});
    let answer = post(&app, &id, "installation", &installation, CLIENT_SECRET).await;
    assert_eq!(answer.status, 202);
    assert_eq!(answer.body["alert_ids"], json!([]));
    assert_eq!(app.count("alert").await, 1);
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn sentry_signatures_and_malformed_payloads_are_refused(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let id = sentry_integration(&app).await;
    let body = fixture("metric_alert_critical");
    let wrong = post(
        &app,
        &id,
        "metric_alert",
        &body,
        "not-the-client-secret-at-all",
    )
    .await;
    assert_eq!(wrong.status, 401, "{:?}", wrong.body);

    let mut tampered_request = body.clone();
    let signature = hex::encode(sign_hmac(
        "sha256",
        CLIENT_SECRET,
        None,
        body.to_string().as_bytes(),
    ));
    tampered_request["action"] = json!("resolved");
    let request = Request::post(format!("/v1/integrations/{id}/webhook"))
        .header("content-type", "application/json")
        .header("sentry-hook-resource", "metric_alert")
        .header("sentry-hook-signature", signature)
        .body(Body::from(tampered_request.to_string()))
        .unwrap();
    assert_eq!(app.request(request).await.status, 401);

    let mut no_id = body.clone();
    no_id["data"]["metric_alert"]
        .as_object_mut()
        .unwrap()
        .remove("id");
    let mut odd_action = body.clone();
    odd_action["action"] = json!("exploded");
    let mut no_issue = fixture("event_alert");
    no_issue["data"]["event"]
        .as_object_mut()
        .unwrap()
        .remove("issue_id");
    for (resource, body, field) in [
        ("metric_alert", no_id, "data.metric_alert.id"),
        ("metric_alert", odd_action, "action"),
        ("event_alert", no_issue, "data.event.issue_id"),
        ("issue", json!([1, 2]), ""),
    ] {
        let answer = post(&app, &id, resource, &body, CLIENT_SECRET).await;
        assert_eq!(answer.status, 422, "{body}");
        assert_eq!(answer.body["field"], field, "{:?}", answer.body);
    }
    assert_eq!(app.count("alert").await, 0);
    assert_eq!(
        app.count("webhook_delivery").await,
        6,
        "every refusal is recorded"
    );
    app.cleanup().await;
}
