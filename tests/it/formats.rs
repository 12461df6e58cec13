//! Datadog and New Relic payloads from their documented defaults: firing, resolved and
//! malformed, and a tool payload too large for the alert's metadata.

use serde_json::{Value, json};
use sqlx::PgPool;
use tocsin_tests::TestApp;

async fn app_of_type(pool: PgPool, kind: &str) -> TestApp {
    let app = TestApp::new(pool).await;
    sqlx::query("UPDATE integration SET type = $2 WHERE id = $1")
        .bind(app.integration_id)
        .bind(kind)
        .execute(&app.state.db)
        .await
        .unwrap();
    app
}

fn fixture(path: &str) -> Value {
    let path = format!("{}/fixtures/{path}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn alerts(app: &TestApp) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "SELECT external_id, status::text, severity::text FROM alert ORDER BY created_at, id",
    )
    .fetch_all(&app.state.db)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn datadog_triggers_and_recovers_with_or_without_the_optional_fields(pool: PgPool) {
    let app = app_of_type(pool, "datadog").await;
    assert_eq!(
        app.post_alert(&fixture("datadog/triggered")).await.status,
        202
    );
    assert_eq!(
        alerts(&app).await,
        [("98765432".into(), "OPEN".into(), "HIGH".into())]
    );
    let (title, triggered_at): (String, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("SELECT title, triggered_at FROM alert")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert_eq!(
        title, "CPU high on web-1",
        "the transition prefix is not part of the title"
    );
    assert_eq!(triggered_at.timestamp_millis(), 1_732_262_400_000);
    assert_eq!(
        app.post_alert(&fixture("datadog/recovered")).await.status,
        202
    );
    assert_eq!(alerts(&app).await[0].1, "RESOLVED");

    // The default payload alone: transition from the title, dedup key from the title.
    assert_eq!(
        app.post_alert(&fixture("datadog/default_triggered"))
            .await
            .status,
        202
    );
    assert_eq!(
        alerts(&app).await[1],
        ("CPU high on web-1".into(), "OPEN".into(), "HIGH".into())
    );
    assert_eq!(
        app.post_alert(&fixture("datadog/default_recovered"))
            .await
            .status,
        202
    );
    assert_eq!(alerts(&app).await[1].1, "RESOLVED");

    let mut no_title = fixture("datadog/triggered");
    no_title.as_object_mut().unwrap().remove("title");
    let mut odd = fixture("datadog/triggered");
    odd["alert_transition"] = json!("Exploded");
    for (body, field) in [
        (no_title, "title"),
        (odd, "alert_transition"),
        (json!(["x"]), ""),
    ] {
        let response = app.post_alert(&body).await;
        assert_eq!(response.status, 422, "{body}");
        assert_eq!(response.body["field"], field);
    }
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn new_relic_workflow_and_legacy_payloads_follow_their_states(pool: PgPool) {
    let app = app_of_type(pool, "newrelic").await;
    let key = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d".to_owned();
    assert_eq!(
        app.post_alert(&fixture("newrelic/workflow_activated"))
            .await
            .status,
        202
    );
    assert_eq!(
        alerts(&app).await,
        [(key.clone(), "OPEN".into(), "CRITICAL".into())]
    );
    app.post_alert(&fixture("newrelic/workflow_acknowledged"))
        .await;
    assert_eq!(alerts(&app).await[0].1, "ACKNOWLEDGED");
    app.post_alert(&fixture("newrelic/workflow_closed")).await;
    assert_eq!(alerts(&app).await[0].1, "RESOLVED");

    assert_eq!(
        app.post_alert(&fixture("newrelic/legacy_open"))
            .await
            .status,
        202
    );
    assert_eq!(
        alerts(&app).await[1],
        ("4321".into(), "OPEN".into(), "CRITICAL".into())
    );
    app.post_alert(&fixture("newrelic/legacy_closed")).await;
    assert_eq!(alerts(&app).await[1].1, "RESOLVED");

    let mut no_id = fixture("newrelic/workflow_activated");
    no_id.as_object_mut().unwrap().remove("id");
    let mut paused = fixture("newrelic/workflow_activated");
    paused["state"] = json!("PAUSED");
    for (body, field) in [(no_id, "id"), (paused, "state")] {
        let response = app.post_alert(&body).await;
        assert_eq!(response.status, 422, "{body}");
        assert_eq!(response.body["field"], field);
    }
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_tool_payload_too_large_for_metadata_is_kept_in_the_delivery_only(pool: PgPool) {
    let app = app_of_type(pool, "datadog").await;
    let mut big = fixture("datadog/triggered");
    big["body"] = json!("x".repeat(100_000));
    let response = app.post_alert(&big).await;
    assert_eq!(response.status, 202, "{:?}", response.body);
    let metadata: Value = sqlx::query_scalar("SELECT metadata FROM alert")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(metadata["truncated"], true);
    let description: String = sqlx::query_scalar("SELECT description FROM alert")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(
        description.chars().count(),
        65_536,
        "cut to the column's limit"
    );
    assert_eq!(
        app.count("webhook_delivery WHERE raw_payload_s3_key IS NOT NULL")
            .await,
        1
    );
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_integrations_severity_mapping_overrides_the_formats(pool: PgPool) {
    let app = app_of_type(pool, "datadog").await;
    // Datadog's P2 is HIGH by default; this team calls P2 critical, and `warning` (its
    // alert type) never decides because the priority is mapped first.
    sqlx::query("UPDATE integration SET severity_mapping = '{\"p2\": \"critical\"}' WHERE id = $1")
        .bind(app.integration_id)
        .execute(&app.state.db)
        .await
        .unwrap();
    let mut body = fixture("datadog/triggered");
    body["alert_priority"] = json!("P2");
    assert_eq!(app.post_alert(&body).await.status, 202);
    // An unmapped priority keeps the format's severity.
    let mut other = fixture("datadog/triggered");
    other["alert_priority"] = json!("P4");
    other["alert_id"] = json!("other");
    assert_eq!(app.post_alert(&other).await.status, 202);
    let severities: Vec<String> =
        sqlx::query_scalar("SELECT severity::text FROM alert ORDER BY created_at, id")
            .fetch_all(&app.state.db)
            .await
            .unwrap();
    assert_eq!(severities, ["CRITICAL", "LOW"]);
    app.cleanup().await;
}
