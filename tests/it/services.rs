//! `/v1/services` and `/v1/escalation-policies`: CRUD, references checked within the
//! workspace, levels in order and replaced whole, through the `api` router.

use serde_json::{Value, json};
use shared::tenancy::UserRole;
use sqlx::PgPool;
use tocsin_tests::TestApp;
use uuid::Uuid;

async fn admin_key(app: &TestApp) -> String {
    app.create_key(app.workspace_id, UserRole::Admin, &[])
        .await
        .key
}

async fn create_user(app: &TestApp, key: &str, email: &str) -> String {
    let created = app
        .api(
            "POST",
            "/v1/users",
            Some(key),
            Some(json!({"email": email, "display_name": "On call"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    created.body["id"].as_str().unwrap().to_owned()
}

async fn create_channel(app: &TestApp, key: &str) -> String {
    let created = app
        .api(
            "POST",
            "/v1/notification-channels",
            Some(key),
            Some(json!({"provider": "teams", "name": "ops room",
                        "config": {"webhook_url": "https://example.com/hook"}})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    created.body["id"].as_str().unwrap().to_owned()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn services_are_created_listed_changed_and_deleted(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let key = admin_key(&app).await;
    let user = create_user(&app, &key, "oncall@example.com").await;
    let policy = app
        .api(
            "POST",
            "/v1/escalation-policies",
            Some(&key),
            Some(json!({"name": "default",
                        "levels": [{"delay_minutes": 5, "targets": [{"user_id": user}]}]})),
        )
        .await;
    assert_eq!(policy.status, 201, "{}", policy.body);
    let policy_id = policy.body["id"].as_str().unwrap().to_owned();

    let created = app
        .api(
            "POST",
            "/v1/services",
            Some(&key),
            Some(
                json!({"name": " checkout ", "description": "Pays for things",
                        "escalation_policy_id": policy_id}),
            ),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(created.body["name"], "checkout");
    assert_eq!(created.body["description"], "Pays for things");
    assert_eq!(created.body["escalation_policy_id"], policy_id.as_str());
    assert_eq!(created.body["team_id"], Value::Null);

    let duplicate = app
        .api(
            "POST",
            "/v1/services",
            Some(&key),
            Some(json!({"name": "checkout"})),
        )
        .await;
    assert_eq!(duplicate.status, 409, "{}", duplicate.body);
    assert_eq!(duplicate.body["field"], "name");

    let unknown_policy = app
        .api(
            "POST",
            "/v1/services",
            Some(&key),
            Some(json!({"name": "search", "escalation_policy_id": Uuid::new_v4()})),
        )
        .await;
    assert_eq!(unknown_policy.status, 422, "{}", unknown_policy.body);
    assert_eq!(unknown_policy.body["field"], "escalation_policy_id");
    let unknown_team = app
        .api(
            "POST",
            "/v1/services",
            Some(&key),
            Some(json!({"name": "search", "team_id": Uuid::new_v4()})),
        )
        .await;
    assert_eq!(unknown_team.status, 422, "{}", unknown_team.body);
    assert_eq!(unknown_team.body["field"], "team_id");
    assert_eq!(app.count("service").await, 1);

    let second = app
        .api(
            "POST",
            "/v1/services",
            Some(&key),
            Some(json!({"name": "search"})),
        )
        .await;
    assert_eq!(second.status, 201, "{}", second.body);
    let first_page = app
        .api("GET", "/v1/services?limit=1", Some(&key), None)
        .await;
    assert_eq!(first_page.status, 200);
    assert_eq!(first_page.body["items"][0]["name"], "checkout");
    let cursor = first_page.body["next_cursor"].as_str().unwrap().to_owned();
    let next_page = app
        .api(
            "GET",
            &format!("/v1/services?limit=1&after={cursor}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(next_page.body["items"][0]["name"], "search");
    assert_eq!(next_page.body["next_cursor"], Value::Null);

    // A viewer reads, but does not change.
    let viewer = app
        .create_key(app.workspace_id, UserRole::Viewer, &[])
        .await
        .key;
    let path = format!("/v1/services/{id}");
    assert_eq!(app.api("GET", &path, Some(&viewer), None).await.status, 200);
    let refused = app
        .api("PATCH", &path, Some(&viewer), Some(json!({"name": "x"})))
        .await;
    assert_eq!(refused.status, 403);

    // Absent fields stay; null clears.
    let renamed = app
        .api(
            "PATCH",
            &path,
            Some(&key),
            Some(json!({"name": "payments"})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(renamed.body["name"], "payments");
    assert_eq!(renamed.body["escalation_policy_id"], policy_id.as_str());
    assert_eq!(renamed.body["description"], "Pays for things");
    let cleared = app
        .api(
            "PATCH",
            &path,
            Some(&key),
            Some(json!({"escalation_policy_id": null})),
        )
        .await;
    assert_eq!(cleared.status, 200, "{}", cleared.body);
    assert_eq!(cleared.body["escalation_policy_id"], Value::Null);
    assert_eq!(cleared.body["name"], "payments");
    let taken = app
        .api("PATCH", &path, Some(&key), Some(json!({"name": "search"})))
        .await;
    assert_eq!(taken.status, 409);
    assert_eq!(taken.body["field"], "name");

    // Deleting a policy leaves its services without one.
    let again = app
        .api(
            "PATCH",
            &path,
            Some(&key),
            Some(json!({"escalation_policy_id": policy_id})),
        )
        .await;
    assert_eq!(again.body["escalation_policy_id"], policy_id.as_str());
    let deleted_policy = app
        .api(
            "DELETE",
            &format!("/v1/escalation-policies/{policy_id}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(deleted_policy.status, 204);
    let orphan = app.api("GET", &path, Some(&key), None).await;
    assert_eq!(orphan.body["escalation_policy_id"], Value::Null);

    let deleted = app.api("DELETE", &path, Some(&key), None).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(app.api("GET", &path, Some(&key), None).await.status, 404);
    assert_eq!(app.api("DELETE", &path, Some(&key), None).await.status, 404);
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn escalation_policies_keep_their_levels_in_order(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let key = admin_key(&app).await;
    let first = create_user(&app, &key, "first@example.com").await;
    let second = create_user(&app, &key, "second@example.com").await;
    let channel = create_channel(&app, &key).await;

    let created = app
        .api(
            "POST",
            "/v1/escalation-policies",
            Some(&key),
            Some(json!({
                "name": "checkout on-call",
                "description": "Day and night",
                "repeat_count": 2,
                "levels": [
                    {"delay_minutes": 10, "targets": [{"user_id": first}]},
                    {"delay_minutes": 30, "targets": [{"notification_channel_id": channel},
                                                      {"user_id": second}]}
                ]
            })),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let expected_levels = json!([
        {"level": 1, "delay_minutes": 10, "targets": [{"user_id": first}]},
        {"level": 2, "delay_minutes": 30, "targets": [{"notification_channel_id": channel},
                                                      {"user_id": second}]}
    ]);
    assert_eq!(created.body["levels"], expected_levels);
    assert_eq!(created.body["repeat_count"], 2);
    assert_eq!(created.body["name"], "checkout on-call");

    let path = format!("/v1/escalation-policies/{id}");
    let read = app.api("GET", &path, Some(&key), None).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["levels"], expected_levels);
    let listed = app
        .api("GET", "/v1/escalation-policies", Some(&key), None)
        .await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["items"][0]["levels"], expected_levels);
    assert_eq!(app.count("escalation_level").await, 2);
    assert_eq!(app.count("escalation_target").await, 3);

    let duplicate = app
        .api(
            "POST",
            "/v1/escalation-policies",
            Some(&key),
            Some(json!({"name": "checkout on-call",
                        "levels": [{"delay_minutes": 0, "targets": [{"user_id": first}]}]})),
        )
        .await;
    assert_eq!(duplicate.status, 409, "{}", duplicate.body);
    assert_eq!(duplicate.body["field"], "name");

    // A new set of levels replaces the old one whole; the rest stays.
    let replaced = app
        .api(
            "PATCH",
            &path,
            Some(&key),
            Some(json!({"levels": [{"delay_minutes": 0,
                                    "targets": [{"user_id": second}, {"user_id": first}]}]})),
        )
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    assert_eq!(
        replaced.body["levels"],
        json!([{"level": 1, "delay_minutes": 0,
                "targets": [{"user_id": second}, {"user_id": first}]}])
    );
    assert_eq!(replaced.body["repeat_count"], 2);
    assert_eq!(replaced.body["description"], "Day and night");
    assert_eq!(app.count("escalation_level").await, 1);
    assert_eq!(app.count("escalation_target").await, 2);

    // Without levels, a patch leaves them alone.
    let renamed = app
        .api(
            "PATCH",
            &path,
            Some(&key),
            Some(json!({"name": "payments on-call", "repeat_count": 0, "description": null})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    assert_eq!(renamed.body["name"], "payments on-call");
    assert_eq!(renamed.body["repeat_count"], 0);
    assert_eq!(renamed.body["description"], Value::Null);
    assert_eq!(renamed.body["levels"].as_array().unwrap().len(), 1);

    let deleted = app.api("DELETE", &path, Some(&key), None).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(app.count("escalation_level").await, 0);
    assert_eq!(app.count("escalation_target").await, 0);
    assert_eq!(app.api("GET", &path, Some(&key), None).await.status, 404);
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn bad_escalation_policies_are_refused_naming_the_field(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let key = admin_key(&app).await;
    let user = create_user(&app, &key, "oncall@example.com").await;
    let channel = create_channel(&app, &key).await;
    let other_workspace: Uuid =
        sqlx::query_scalar("INSERT INTO workspace (name) VALUES ('Other') RETURNING id")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    let their_user: Uuid = sqlx::query_scalar(
        "INSERT INTO app_user (workspace_id, email, display_name) VALUES ($1, 'them@example.com', 'Them') RETURNING id",
    )
    .bind(other_workspace)
    .fetch_one(&app.state.db)
    .await
    .unwrap();

    let ok_level = json!({"delay_minutes": 5, "targets": [{"user_id": user}]});
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"name": "p", "levels": [ok_level, {"delay_minutes": 5,
                                                      "targets": [{"user_id": Uuid::new_v4()}]}]}),
            "levels[1].targets[0].user_id",
        ),
        (
            json!({"name": "p", "levels": [ok_level, {"delay_minutes": 5,
                                                      "targets": [{"user_id": their_user}]}]}),
            "levels[1].targets[0].user_id",
        ),
        (
            json!({"name": "p", "levels": [{"delay_minutes": 5000,
                                            "targets": [{"user_id": user}]}]}),
            "levels[0].delay_minutes",
        ),
        (
            json!({"name": "p", "levels": [{"delay_minutes": 5,
                                            "targets": [{"user_id": user},
                                                        {"notification_channel_id": Uuid::new_v4()}]}]}),
            "levels[0].targets[1].notification_channel_id",
        ),
        (
            json!({"name": "p", "levels": [{"delay_minutes": 5,
                                            "targets": [{"user_id": user,
                                                         "notification_channel_id": channel}]}]}),
            "levels[0].targets[0]",
        ),
        (
            json!({"name": "p", "levels": [{"delay_minutes": 5, "targets": [{}]}]}),
            "levels[0].targets[0]",
        ),
        (
            json!({"name": "p", "levels": [{"delay_minutes": 5,
                                            "targets": [{"user_id": user}, {"user_id": user}]}]}),
            "levels[0].targets[1]",
        ),
        (
            json!({"name": "p", "levels": [{"delay_minutes": 5, "targets": []}]}),
            "levels[0].targets",
        ),
        (json!({"name": "p", "levels": []}), "levels"),
        (json!({"name": "p"}), "levels"),
        (
            json!({"name": "", "levels": [{"delay_minutes": 5, "targets": [{"user_id": user}]}]}),
            "name",
        ),
        (
            json!({"name": "p", "repeat_count": 11,
                   "levels": [{"delay_minutes": 5, "targets": [{"user_id": user}]}]}),
            "repeat_count",
        ),
        (
            json!({"name": "p", "levels": [{"delay_minutes": 5,
                                            "targets": [{"user_id": "not a uuid"}]}]}),
            "levels[0].targets[0].user_id",
        ),
    ];
    for (body, field) in cases {
        let response = app
            .api(
                "POST",
                "/v1/escalation-policies",
                Some(&key),
                Some(body.clone()),
            )
            .await;
        assert_eq!(response.status, 422, "{body}: {}", response.body);
        assert_eq!(response.body["field"], field, "{body}: {}", response.body);
    }
    assert_eq!(app.count("escalation_policy").await, 0);

    // A refused replacement leaves the levels as they were.
    let created = app
        .api(
            "POST",
            "/v1/escalation-policies",
            Some(&key),
            Some(json!({"name": "p", "levels": [ok_level]})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let path = format!(
        "/v1/escalation-policies/{}",
        created.body["id"].as_str().unwrap()
    );
    let refused = app
        .api(
            "PATCH",
            &path,
            Some(&key),
            Some(json!({"name": "renamed", "levels": [{"delay_minutes": -1,
                                                       "targets": [{"user_id": user}]}]})),
        )
        .await;
    assert_eq!(refused.status, 422);
    assert_eq!(refused.body["field"], "levels[0].delay_minutes");
    let kept = app.api("GET", &path, Some(&key), None).await;
    assert_eq!(kept.body["name"], "p");
    assert_eq!(kept.body["levels"][0]["delay_minutes"], 5);

    // Another workspace's policy is not found.
    let theirs = app.create_key(other_workspace, UserRole::Admin, &[]).await;
    assert_eq!(
        app.api("GET", &path, Some(&theirs.key), None).await.status,
        404
    );
    app.cleanup().await;
}
