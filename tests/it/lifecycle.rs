//! Idempotency, deduplication, the alert lifecycle and incidents (seed 003, SPEC 3).

use axum::body::Body;
use axum::http::Request;
use serde_json::json;
use sqlx::PgPool;
use tocsin_tests::{TestApp, alert_body};

async fn post_with_key(
    app: &TestApp,
    key: &str,
    body: &serde_json::Value,
) -> tocsin_tests::TestResponse {
    let request = Request::post(format!("/v1/integrations/{}/webhook", app.integration_id))
        .header("content-type", "application/json")
        .header("idempotency-key", key)
        .body(Body::from(body.to_string()))
        .unwrap();
    app.request(request).await
}

async fn scalar(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&app.state.db)
        .await
        .unwrap()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_repeated_idempotency_key_is_answered_as_the_first_time_without_new_effects(
    pool: PgPool,
) {
    let app = TestApp::new(pool).await;
    app.add_webhook_channel("http://127.0.0.1:9/").await;
    let first = post_with_key(&app, "delivery-1", &alert_body("Disk full")).await;
    assert_eq!(first.status, 202);
    // Even another body: the key says it is the same request.
    let second = post_with_key(&app, "delivery-1", &alert_body("Disk still full")).await;
    assert_eq!(second.status, 202);
    assert_eq!(second.body, first.body, "the same answer");
    assert_eq!(app.count("alert").await, 1);
    assert_eq!(app.count("notification_log").await, 1);
    assert_eq!(
        app.count("webhook_delivery").await,
        2,
        "both requests are recorded"
    );
    assert_eq!(
        app.count("webhook_delivery WHERE duplicate_of IS NOT NULL AND alert_id IS NULL")
            .await,
        1
    );
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn identical_content_is_a_repeat_inside_the_window_and_new_after_it(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let body = json!({"title": "Backup job failed", "severity": "high"});
    let first = app.post_alert(&body).await;
    let second = app.post_alert(&body).await;
    assert_eq!(second.body, first.body);
    assert_eq!(app.count("alert").await, 1);

    // The integration's window is 15 minutes: age the first delivery past it.
    sqlx::query("UPDATE webhook_delivery SET created_at = now() - interval '16 minutes'")
        .execute(&app.state.db)
        .await
        .unwrap();
    let third = app.post_alert(&body).await;
    assert_eq!(third.status, 202);
    assert_ne!(third.body["alert_ids"], first.body["alert_ids"]);
    assert_eq!(
        app.count("alert").await,
        2,
        "the window expired: a new alert"
    );
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn fifty_concurrent_identical_requests_create_one_alert(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.add_webhook_channel("http://127.0.0.1:9/").await;
    for body in [
        json!({"title": "No dedup key", "severity": "low"}),
        alert_body("With a dedup key"),
    ] {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let router = shared::ingest::router(app.state.clone());
            let uri = format!("/v1/integrations/{}/webhook", app.integration_id);
            let body = body.to_string();
            tasks.spawn(async move {
                use tower::ServiceExt;
                let request = Request::post(uri)
                    .header("content-type", "application/json")
                    .body(Body::from(body))
                    .unwrap();
                router.oneshot(request).await.unwrap().status()
            });
        }
        let statuses = tasks.join_all().await;
        assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
    }
    assert_eq!(
        app.count("alert").await,
        2,
        "one alert per distinct request"
    );
    assert_eq!(app.count("incident").await, 2);
    assert_eq!(
        app.count("notification_log").await,
        2,
        "one notification per new incident"
    );
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn concurrent_triggers_with_one_dedup_key_keep_one_open_alert(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..20 {
        let router = shared::ingest::router(app.state.clone());
        let uri = format!("/v1/integrations/{}/webhook", app.integration_id);
        // Different descriptions: not repeats, but the same alert.
        let body = json!({"title": "Queue backlog", "severity": "high", "dedup_key": "queue", "description": format!("depth {n}")});
        tasks.spawn(async move {
            use tower::ServiceExt;
            let request = Request::post(uri)
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap();
            router.oneshot(request).await.unwrap().status()
        });
    }
    assert!(tasks.join_all().await.iter().all(|s| *s == 202));
    assert_eq!(app.count("alert").await, 1);
    assert_eq!(
        scalar(&app, "SELECT occurrence_count::bigint FROM alert").await,
        20
    );
    // A request that lost the race to open the alert started over: the incident counted
    // the alert once, and the alert is in it.
    assert_eq!(app.count("incident").await, 1);
    assert_eq!(
        scalar(&app, "SELECT alert_count::bigint FROM incident").await,
        1
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT count(*) FROM alert a JOIN incident i ON i.id = a.incident_id"
        )
        .await,
        1
    );
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_alert_lives_through_trigger_acknowledge_resolve_and_opens_anew_after(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.add_webhook_channel("http://127.0.0.1:9/").await;
    let event = |action: &str, description: &str| json!({"title": "API latency", "severity": "high", "dedup_key": "latency", "action": action, "description": description});
    let opened = app.post_alert(&event("trigger", "p99 2s")).await;
    let alert_id = opened.body["alert_ids"][0].clone();
    assert_eq!(
        opened.body["notifications_queued"], 1,
        "a new incident is announced"
    );

    let again = app.post_alert(&event("trigger", "p99 3s")).await;
    assert_eq!(
        again.body["alert_ids"][0], alert_id,
        "the open alert is updated"
    );
    assert_eq!(again.body["notifications_queued"], 0);
    assert_eq!(
        scalar(&app, "SELECT occurrence_count::bigint FROM alert").await,
        2
    );

    let acked = app
        .post_alert(&json!({"dedup_key": "latency", "action": "acknowledge"}))
        .await;
    assert_eq!(acked.status, 202, "{:?}", acked.body);
    assert_eq!(acked.body["notifications_queued"], 1);
    assert_eq!(scalar(&app, "SELECT count(*) FROM incident WHERE status = 'ACKNOWLEDGED' AND acknowledged_at IS NOT NULL").await, 1);

    let resolved = app
        .post_alert(&json!({"dedup_key": "latency", "action": "resolve"}))
        .await;
    assert_eq!(resolved.body["alert_ids"][0], alert_id);
    assert_eq!(resolved.body["notifications_queued"], 1);
    assert_eq!(
        scalar(
            &app,
            "SELECT count(*) FROM alert WHERE status = 'RESOLVED' AND resolved_at IS NOT NULL"
        )
        .await,
        1
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT count(*) FROM incident WHERE status = 'RESOLVED'"
        )
        .await,
        1
    );

    // The same trigger as the first: not a repeat any more, since the alert changed since.
    let reopened = app.post_alert(&event("trigger", "p99 2s")).await;
    assert_ne!(
        reopened.body["alert_ids"][0], alert_id,
        "a new alert after resolve"
    );
    assert_eq!(app.count("incident").await, 2);

    let unknown = app
        .post_alert(&json!({"dedup_key": "never-seen", "action": "resolve"}))
        .await;
    assert_eq!(unknown.status, 202, "resolving an unknown key is accepted");
    assert_eq!(unknown.body["alert_ids"], json!([]));
    let events: Vec<String> =
        sqlx::query_scalar("SELECT event::text FROM notification_log ORDER BY queued_at, id")
            .fetch_all(&app.state.db)
            .await
            .unwrap();
    assert_eq!(
        events,
        [
            "incident.triggered",
            "incident.acknowledged",
            "incident.resolved",
            "incident.triggered"
        ]
    );
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn alerts_with_one_group_key_share_an_incident_until_all_resolve(pool: PgPool) {
    let app = TestApp::new(pool).await;
    for host in ["web-1", "web-2"] {
        let body = json!({"title": format!("Disk full on {host}"), "severity": "medium", "dedup_key": host, "group_key": "disk"});
        assert_eq!(app.post_alert(&body).await.status, 202);
    }
    assert_eq!(app.count("incident").await, 1);
    assert_eq!(
        scalar(&app, "SELECT alert_count::bigint FROM incident").await,
        2
    );
    app.post_alert(&json!({"dedup_key": "web-1", "action": "resolve"}))
        .await;
    assert_eq!(
        scalar(
            &app,
            "SELECT count(*) FROM incident WHERE status = 'TRIGGERED'"
        )
        .await,
        1,
        "web-2 still open"
    );
    app.post_alert(&json!({"dedup_key": "web-2", "action": "resolve"}))
        .await;
    assert_eq!(
        scalar(
            &app,
            "SELECT count(*) FROM incident WHERE status = 'RESOLVED' AND resolved_at IS NOT NULL"
        )
        .await,
        1
    );
    app.cleanup().await;
}

async fn alertmanager_app(pool: PgPool) -> TestApp {
    let app = TestApp::new(pool).await;
    sqlx::query("UPDATE integration SET type = 'alertmanager' WHERE id = $1")
        .bind(app.integration_id)
        .execute(&app.state.db)
        .await
        .unwrap();
    app
}

fn fixture(name: &str) -> serde_json::Value {
    let path = format!(
        "{}/fixtures/alertmanager/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_alertmanager_group_fires_resolves_per_alert_and_closes_its_incident(pool: PgPool) {
    let app = alertmanager_app(pool).await;
    let firing = app.post_alert(&fixture("firing")).await;
    assert_eq!(firing.status, 202, "{:?}", firing.body);
    assert_eq!(firing.body["alert_ids"].as_array().unwrap().len(), 2);
    assert_eq!(app.count("incident").await, 1, "groupKey groups the alerts");
    let (title, severity, key, group): (String, String, String, String) = sqlx::query_as(
        "SELECT title, severity::text, external_id, group_key FROM alert ORDER BY triggered_at LIMIT 1",
    )
    .fetch_one(&app.state.db)
    .await
    .unwrap();
    assert_eq!(title, "checkout-api-1 answers 5xx for 4.2% of requests");
    assert_eq!(severity, "CRITICAL");
    assert_eq!(key, "c0ffee0000000001");
    assert_eq!(group, "{}:{alertname=\"HighErrorRate\"}");
    let second_title: String =
        sqlx::query_scalar("SELECT title FROM alert WHERE external_id = 'c0ffee0000000002'")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert_eq!(
        second_title, "HighErrorRate on checkout-api-2:8080",
        "alertname and instance without a summary"
    );

    // The group still fires, but one of its alerts resolved.
    let mixed = app.post_alert(&fixture("mixed")).await;
    assert_eq!(mixed.status, 202);
    assert_eq!(
        scalar(&app, "SELECT count(*) FROM alert WHERE status = 'RESOLVED'").await,
        1
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT occurrence_count::bigint FROM alert WHERE external_id = 'c0ffee0000000002'"
        )
        .await,
        2
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT count(*) FROM incident WHERE status = 'TRIGGERED'"
        )
        .await,
        1
    );

    let resolved = app.post_alert(&fixture("resolved")).await;
    assert_eq!(resolved.status, 202);
    assert_eq!(
        scalar(&app, "SELECT count(*) FROM alert WHERE status = 'RESOLVED'").await,
        2
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT count(*) FROM incident WHERE status = 'RESOLVED'"
        )
        .await,
        1
    );
    let truncated: serde_json::Value =
        sqlx::query_scalar("SELECT metadata -> 'truncated_alerts' FROM alert LIMIT 1")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert_eq!(truncated, json!(0));
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_malformed_alertmanager_body_names_the_field(pool: PgPool) {
    let app = alertmanager_app(pool).await;
    let mut bad_status = fixture("firing");
    bad_status["alerts"][1]["status"] = json!("exploded");
    let mut no_name = fixture("firing");
    no_name["alerts"][0]["labels"] = json!({});
    no_name["alerts"][0]["annotations"] = json!({});
    let cases = [
        (json!({"version": "4"}), "alerts"),
        (json!({"alerts": []}), "alerts"),
        (json!({"alerts": "many"}), "alerts"),
        (bad_status, "alerts[1].status"),
        (no_name, "alerts[0].labels.alertname"),
        (json!([1]), ""),
    ];
    for (body, field) in cases {
        let response = app.post_alert(&body).await;
        assert_eq!(response.status, 422, "{body}");
        assert_eq!(response.body["field"], field, "{body}: {:?}", response.body);
    }
    assert_eq!(app.count("alert").await, 0);
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_alertmanager_group_with_oversized_keys_is_stored_not_refused(pool: PgPool) {
    let app = alertmanager_app(pool).await;
    let mut body = fixture("firing");
    body["groupKey"] = json!("g".repeat(5000));
    body["alerts"][0]["fingerprint"] = json!("f".repeat(1000));
    let response = app.post_alert(&body).await;
    assert_eq!(response.status, 202, "{:?}", response.body);
    let (key, group): (String, String) =
        sqlx::query_as("SELECT external_id, group_key FROM alert ORDER BY triggered_at LIMIT 1")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert_eq!((key.len(), group.len()), (64, 64), "hashed to fit");
    // The same oversized key names the same alert next time.
    body["alerts"][0]["status"] = json!("resolved");
    app.post_alert(&body).await;
    assert_eq!(
        scalar(&app, "SELECT count(*) FROM alert WHERE status = 'RESOLVED'").await,
        1
    );
    app.cleanup().await;
}
