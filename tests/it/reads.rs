//! Alerts, incidents and delivery logs through the API: filters, keyset pages, details,
//! acknowledge and resolve with the acting person recorded, and isolation.

use serde_json::json;
use shared::tenancy::{NewApiKey, NewUser, UserRole};
use sqlx::PgPool;
use tocsin_tests::TestApp;
use uuid::Uuid;

/// A responder and a key acting for them.
async fn responder_key(app: &TestApp) -> (Uuid, String) {
    let mut conn = app.state.db.acquire().await.unwrap();
    let user = shared::tenancy::insert_user(
        &mut conn,
        app.workspace_id,
        &NewUser {
            email: "oncall@example.com".into(),
            display_name: "On Call".into(),
            role: UserRole::Responder,
            auth_provider: None,
            auth_subject: None,
            phone: None,
            timezone: None,
        },
    )
    .await
    .unwrap();
    let key = shared::tenancy::insert_api_key(
        &mut conn,
        app.workspace_id,
        &NewApiKey {
            name: "on-call".into(),
            role: Some(UserRole::Responder),
            scopes: vec![],
            expires_at: None,
        },
        UserRole::Admin,
        Some(user.id),
    )
    .await
    .unwrap();
    (user.id, key.key)
}

async fn seed_alerts(app: &TestApp) {
    for (key, severity, at) in [
        ("db", "critical", "2026-11-20T10:00:00Z"),
        ("web", "low", "2026-11-21T10:00:00Z"),
        ("queue", "critical", "2026-11-22T10:00:00Z"),
    ] {
        let body = json!({"title": format!("{key} trouble"), "severity": severity, "dedup_key": key, "triggered_at": at});
        assert_eq!(app.post_alert(&body).await.status, 202);
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn alerts_are_listed_newest_first_filtered_and_paged(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let (_, key) = responder_key(&app).await;
    let key = Some(key.as_str());
    seed_alerts(&app).await;

    let all = app.api("GET", "/v1/alerts", key, None).await;
    assert_eq!(all.status, 200, "{:?}", all.body);
    let titles: Vec<&str> = all.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["queue trouble", "web trouble", "db trouble"]);

    let critical = app
        .api("GET", "/v1/alerts?severity=critical&status=open", key, None)
        .await;
    assert_eq!(critical.body["items"].as_array().unwrap().len(), 2);
    let window = app
        .api(
            "GET",
            "/v1/alerts?since=2026-11-21T00:00:00Z&until=2026-11-22T00:00:00Z",
            key,
            None,
        )
        .await;
    assert_eq!(window.body["items"][0]["title"], "web trouble");
    assert_eq!(window.body["items"].as_array().unwrap().len(), 1);

    let first = app.api("GET", "/v1/alerts?limit=2", key, None).await;
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let rest = app
        .api(
            "GET",
            &format!("/v1/alerts?limit=2&after={cursor}"),
            key,
            None,
        )
        .await;
    assert_eq!(rest.body["items"][0]["title"], "db trouble");
    assert!(rest.body["next_cursor"].is_null());

    for (query, field) in [
        ("status=exploded", "status"),
        ("since=yesterday", "since"),
        ("service_id=x", "service_id"),
    ] {
        let response = app
            .api("GET", &format!("/v1/alerts?{query}"), key, None)
            .await;
        assert_eq!(response.status, 422, "{query}");
        assert_eq!(response.body["field"], field);
    }
    let incidents = app
        .api(
            "GET",
            "/v1/incidents?status=triggered&priority=CRITICAL",
            key,
            None,
        )
        .await;
    assert_eq!(incidents.body["items"].as_array().unwrap().len(), 2);
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_alert_shows_its_deliveries_and_the_integration_its_log(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.create_key(app.workspace_id, UserRole::Admin, &[]).await;
    let body = json!({"title": "Disk", "severity": "high", "dedup_key": "disk"});
    let opened = app.post_alert(&body).await;
    let mut again = body.clone();
    again["description"] = json!("still full");
    app.post_alert(&again).await;
    app.post_raw(&app.integration_id.to_string(), Some("text/plain"), "nope")
        .await;

    let alert_id = opened.body["alert_ids"][0].as_str().unwrap();
    let detail = app
        .api(
            "GET",
            &format!("/v1/alerts/{alert_id}"),
            Some(&admin.key),
            None,
        )
        .await;
    assert_eq!(detail.status, 200);
    assert_eq!(detail.body["alert"]["occurrence_count"], 2);
    assert_eq!(
        detail.body["deliveries"].as_array().unwrap().len(),
        2,
        "both requests that touched it"
    );

    let log = app
        .api(
            "GET",
            &format!("/v1/integrations/{}/deliveries", app.integration_id),
            Some(&admin.key),
            None,
        )
        .await;
    let codes: Vec<i64> = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [415, 202, 202], "newest first, refusals included");
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn acknowledging_and_resolving_through_the_api_records_the_person_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.add_webhook_channel("http://127.0.0.1:9/").await;
    let (user_id, key) = responder_key(&app).await;
    let key = Some(key.as_str());
    let opened = app
        .post_alert(&json!({"title": "API down", "severity": "critical", "dedup_key": "api"}))
        .await;
    let alert_id = opened.body["alert_ids"][0].as_str().unwrap().to_owned();
    let incident_id: Uuid = sqlx::query_scalar("SELECT incident_id FROM alert")
        .fetch_one(&app.state.db)
        .await
        .unwrap();

    let acked = app
        .api(
            "POST",
            &format!("/v1/alerts/{alert_id}/acknowledge"),
            key,
            None,
        )
        .await;
    assert_eq!(acked.status, 200, "{:?}", acked.body);
    assert_eq!(acked.body["changed"], true);
    assert_eq!(acked.body["resource"]["status"], "ACKNOWLEDGED");
    let again = app
        .api(
            "POST",
            &format!("/v1/alerts/{alert_id}/acknowledge"),
            key,
            None,
        )
        .await;
    assert_eq!(again.body["changed"], false, "not done twice");

    let incident = app
        .api("GET", &format!("/v1/incidents/{incident_id}"), key, None)
        .await;
    assert_eq!(incident.body["incident"]["status"], "ACKNOWLEDGED");
    assert_eq!(
        incident.body["incident"]["acknowledged_by_user_id"],
        json!(user_id)
    );
    assert_eq!(incident.body["alerts"].as_array().unwrap().len(), 1);

    let resolved = app
        .api(
            "POST",
            &format!("/v1/incidents/{incident_id}/resolve"),
            key,
            None,
        )
        .await;
    assert_eq!(resolved.body["changed"], true);
    assert_eq!(resolved.body["resource"]["status"], "RESOLVED");
    assert_eq!(
        resolved.body["resource"]["resolved_by_user_id"],
        json!(user_id)
    );
    assert_eq!(
        app.count("alert WHERE status = 'RESOLVED'").await,
        1,
        "its alerts resolve with it"
    );
    let twice = app
        .api(
            "POST",
            &format!("/v1/incidents/{incident_id}/resolve"),
            key,
            None,
        )
        .await;
    assert_eq!(twice.body["changed"], false);

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
            "incident.resolved"
        ]
    );
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn viewers_read_responders_act_and_other_workspaces_see_nothing(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let opened = app
        .post_alert(&json!({"title": "x", "severity": "low", "dedup_key": "x"}))
        .await;
    let alert = format!(
        "/v1/alerts/{}",
        opened.body["alert_ids"][0].as_str().unwrap()
    );
    let viewer = app
        .create_key(app.workspace_id, UserRole::Viewer, &[])
        .await;
    assert_eq!(
        app.api("GET", &alert, Some(&viewer.key), None).await.status,
        200
    );
    assert_eq!(
        app.api(
            "POST",
            &format!("{alert}/acknowledge"),
            Some(&viewer.key),
            None
        )
        .await
        .status,
        403
    );

    let other: Uuid =
        sqlx::query_scalar("INSERT INTO workspace (name) VALUES ('Other') RETURNING id")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    let theirs = app.create_key(other, UserRole::Admin, &[]).await;
    let incident: Uuid = sqlx::query_scalar("SELECT id FROM incident")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    for path in [
        alert.clone(),
        format!("{alert}/resolve"),
        format!("/v1/incidents/{incident}"),
        format!("/v1/incidents/{incident}/acknowledge"),
        format!("/v1/integrations/{}/deliveries", app.integration_id),
    ] {
        let method = if path.ends_with("resolve") || path.ends_with("acknowledge") {
            "POST"
        } else {
            "GET"
        };
        assert_eq!(
            app.api(method, &path, Some(&theirs.key), None).await.status,
            404,
            "{path}"
        );
    }
    let listed = app.api("GET", "/v1/alerts", Some(&theirs.key), None).await;
    assert_eq!(listed.body["items"], json!([]));
    assert_eq!(
        app.count("alert WHERE status = 'OPEN'").await,
        1,
        "untouched"
    );
    app.cleanup().await;
}
