//! The `api` function: API keys, roles and scopes, tenant isolation, users, OpenAPI.

use serde_json::json;
use shared::tenancy::UserRole;
use sqlx::PgPool;
use tocsin_tests::TestApp;
use uuid::Uuid;

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_openapi_document_describes_every_endpoint(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let response = app.api("GET", "/v1/openapi.json", None, None).await;
    assert_eq!(response.status, 200);
    let document = response.body;
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        document["openapi"]
    );
    for path in [
        "/v1/workspaces",
        "/v1/workspace",
        "/v1/users",
        "/v1/users/{id}",
        "/v1/api-keys",
        "/v1/api-keys/{id}",
        "/v1/integrations/{id}/webhook",
        "/v1/integrations",
        "/v1/integrations/{id}",
        "/v1/integrations/{id}/rotate-secret",
        "/v2/enqueue",
        "/v2/alerts",
        "/v2/alerts/{identifier}/acknowledge",
        "/v2/alerts/{identifier}/close",
        "/v2/alerts/requests/{requestId}",
        "/v1/alerts",
        "/v1/alerts/{id}",
        "/v1/alerts/{id}/acknowledge",
        "/v1/incidents/{id}/resolve",
        "/v1/integrations/{id}/deliveries",
        "/v1/notification-channels",
        "/v1/notification-channels/{id}",
        "/v1/notification-channels/{id}/test",
        "/v1/notification-channels/{id}/health",
        "/v1/notifications",
        "/v1/callbacks/twilio",
        "/v1/services",
        "/v1/services/{id}",
        "/v1/escalation-policies",
        "/v1/escalation-policies/{id}",
        "/v1/users/{user_id}/contact-methods",
        "/v1/users/{user_id}/contact-methods/{id}",
        "/v1/users/{user_id}/channel-tiers",
        "/v1/users/{user_id}/connections",
        "/v1/users/{user_id}/connections/{provider}",
        "/v1/notification-channels/{id}/telegram-webhook",
    ] {
        assert!(
            document["paths"][path].is_object(),
            "{path} is not documented"
        );
    }
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert!(document["components"]["schemas"]["Problem"].is_object());
    assert_eq!(
        document["components"]["securitySchemes"]["genie_key"]["name"],
        "Authorization"
    );
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn missing_wrong_expired_and_revoked_keys_are_refused(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let missing = app.api("GET", "/v1/users", None, None).await;
    assert_eq!(missing.status, 401);
    assert_eq!(missing.content_type(), "application/problem+json");
    assert_eq!(
        missing.headers["www-authenticate"],
        "Bearer realm=\"tocsin\""
    );

    let wrong = app.api("GET", "/v1/users", Some("tsn_0000"), None).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.body["detail"], "the API key is not valid");
    let basic = app.api("GET", "/v1/users", None, None).await;
    assert_eq!(basic.status, 401);

    let expired = app.create_key(app.workspace_id, UserRole::Admin, &[]).await;
    sqlx::query("UPDATE api_key SET expires_at = now() - interval '1 second' WHERE id = $1")
        .bind(expired.api_key.id)
        .execute(&app.state.db)
        .await
        .unwrap();
    let response = app.api("GET", "/v1/users", Some(&expired.key), None).await;
    assert_eq!(response.status, 401);
    assert_eq!(response.body["detail"], "the API key has expired");

    let admin = app.create_key(app.workspace_id, UserRole::Admin, &[]).await;
    let doomed = app.create_key(app.workspace_id, UserRole::Admin, &[]).await;
    assert_eq!(
        app.api("GET", "/v1/users", Some(&doomed.key), None)
            .await
            .status,
        200
    );
    let path = format!("/v1/api-keys/{}", doomed.api_key.id);
    let revoked = app.api("DELETE", &path, Some(&admin.key), None).await;
    assert_eq!(revoked.status, 200);
    assert!(revoked.body["revoked_at"].is_string());
    let response = app.api("GET", "/v1/users", Some(&doomed.key), None).await;
    assert_eq!(response.status, 401);
    assert_eq!(response.body["detail"], "the API key has been revoked");
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_created_key_is_shown_once_and_only_its_hash_is_stored(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.create_key(app.workspace_id, UserRole::Admin, &[]).await;
    let created = app
        .api(
            "POST",
            "/v1/api-keys",
            Some(&admin.key),
            Some(json!({"name": "CI", "role": "viewer"})),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let key = created.body["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("tsn_"));
    assert_eq!(created.body["api_key"]["prefix"], &key[..12]);

    let stored: Vec<String> = sqlx::query_scalar("SELECT row_to_json(api_key)::text FROM api_key")
        .fetch_all(&app.state.db)
        .await
        .unwrap();
    for row in &stored {
        assert!(
            !row.contains(&key[4..]),
            "a key's secret part is stored: {row}"
        );
    }
    let id = created.body["api_key"]["id"].as_str().unwrap();
    let listed = app
        .api("GET", &format!("/v1/api-keys/{id}"), Some(&admin.key), None)
        .await;
    assert_eq!(listed.status, 200);
    assert!(
        listed.body.get("key").is_none(),
        "the key is never shown again"
    );
    assert!(!listed.body.to_string().contains(&key[4..]));

    let used = app.api("GET", "/v1/users", Some(&key), None).await;
    assert_eq!(used.status, 200, "the new viewer key works");
    let last_used: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT last_used_at FROM api_key WHERE id = $1::uuid")
            .bind(id)
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert!(last_used.is_some());
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn roles_and_scopes_decide_what_a_key_may_do(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let viewer = app
        .create_key(app.workspace_id, UserRole::Viewer, &[])
        .await;
    let responder = app
        .create_key(app.workspace_id, UserRole::Responder, &[])
        .await;
    let read_only_admin = app
        .create_key(app.workspace_id, UserRole::Admin, &["users:read"])
        .await;
    let new_user = json!({"email": "new@example.com", "display_name": "New"});

    assert_eq!(
        app.api("GET", "/v1/users", Some(&viewer.key), None)
            .await
            .status,
        200
    );
    assert_eq!(
        app.api("GET", "/v1/workspace", Some(&viewer.key), None)
            .await
            .status,
        200
    );
    for key in [&viewer.key, &responder.key, &read_only_admin.key] {
        let response = app
            .api("POST", "/v1/users", Some(key), Some(new_user.clone()))
            .await;
        assert_eq!(response.status, 403, "{:?}", response.body);
        assert_eq!(response.content_type(), "application/problem+json");
    }
    assert_eq!(
        app.api("GET", "/v1/api-keys", Some(&responder.key), None)
            .await
            .status,
        403
    );
    assert_eq!(
        app.api("GET", "/v1/users", Some(&read_only_admin.key), None)
            .await
            .status,
        200
    );
    assert_eq!(
        app.api("GET", "/v1/api-keys", Some(&read_only_admin.key), None)
            .await
            .status,
        403
    );
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn another_workspaces_resources_answer_404(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let ours = app.create_key(app.workspace_id, UserRole::Admin, &[]).await;
    let other_workspace: Uuid =
        sqlx::query_scalar("INSERT INTO workspace (name) VALUES ('Other') RETURNING id")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    let theirs = app.create_key(other_workspace, UserRole::Admin, &[]).await;
    let their_user = app
        .api(
            "POST",
            "/v1/users",
            Some(&theirs.key),
            Some(json!({"email": "them@example.com", "display_name": "Them"})),
        )
        .await;
    assert_eq!(their_user.status, 201);
    let user_path = format!("/v1/users/{}", their_user.body["id"].as_str().unwrap());
    let key_path = format!("/v1/api-keys/{}", theirs.api_key.id);

    for (method, path, body) in [
        ("GET", &user_path, None),
        (
            "PATCH",
            &user_path,
            Some(json!({"display_name": "Hijacked"})),
        ),
        ("DELETE", &user_path, None),
        ("GET", &key_path, None),
        ("DELETE", &key_path, None),
    ] {
        let response = app.api(method, path, Some(&ours.key), body).await;
        assert_eq!(response.status, 404, "{method} {path}: {:?}", response.body);
        assert_eq!(response.content_type(), "application/problem+json");
    }
    let listed = app.api("GET", "/v1/users", Some(&ours.key), None).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 0);
    let still = app.api("GET", &user_path, Some(&theirs.key), None).await;
    assert_eq!(still.body["display_name"], "Them", "untouched");
    assert_eq!(
        app.api("GET", "/v1/users", Some(&theirs.key), None)
            .await
            .status,
        200,
        "their key still works"
    );
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn users_are_validated_unique_by_email_and_paginated(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.create_key(app.workspace_id, UserRole::Admin, &[]).await;
    let key = Some(admin.key.as_str());
    let cases = [
        (json!({"display_name": "No email"}), "email"),
        (
            json!({"email": "not-an-email", "display_name": "x"}),
            "email",
        ),
        (
            json!({"email": "a@example.com", "display_name": "  "}),
            "display_name",
        ),
        (
            json!({"email": "a@example.com", "display_name": "x", "role": "owner"}),
            "role",
        ),
        (
            json!({"email": "a@example.com", "display_name": "x", "phone": "12345"}),
            "phone",
        ),
        (
            json!({"email": "a@example.com", "display_name": "x", "timezone": "Mars/Base"}),
            "",
        ),
    ];
    for (body, field) in cases {
        let response = app.api("POST", "/v1/users", key, Some(body.clone())).await;
        if field.is_empty() {
            // A well-formed IANA-looking name is accepted.
            assert_eq!(response.status, 201, "{body}");
            continue;
        }
        assert_eq!(response.status, 422, "{body}: {:?}", response.body);
        assert_eq!(response.body["field"], field, "{body}");
    }
    let duplicate = app
        .api(
            "POST",
            "/v1/users",
            key,
            Some(json!({"email": "A@Example.com", "display_name": "Dup"})),
        )
        .await;
    assert_eq!(duplicate.status, 409);
    assert_eq!(duplicate.body["field"], "email");
    let not_json = app.api("POST", "/v1/users", key, None).await;
    assert_eq!(not_json.status, 415);

    for n in 0..3 {
        let body = json!({"email": format!("p{n}@example.com"), "display_name": format!("P{n}"), "phone": "+351 912 345 678"});
        assert_eq!(
            app.api("POST", "/v1/users", key, Some(body)).await.status,
            201
        );
    }
    let first = app.api("GET", "/v1/users?limit=2", key, None).await;
    assert_eq!(first.body["items"].as_array().unwrap().len(), 2);
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = app
        .api(
            "GET",
            &format!("/v1/users?limit=2&after={cursor}"),
            key,
            None,
        )
        .await;
    assert_eq!(
        second.body["items"].as_array().unwrap().len(),
        2,
        "4 users in all"
    );
    assert!(second.body["next_cursor"].is_null());
    assert_eq!(
        app.api("GET", "/v1/users?limit=0", key, None).await.body["field"],
        "limit"
    );
    assert_eq!(
        app.api("GET", "/v1/users?after=x", key, None).await.body["field"],
        "after"
    );

    let id = first.body["items"][0]["id"].as_str().unwrap();
    let patched = app
        .api(
            "PATCH",
            &format!("/v1/users/{id}"),
            key,
            Some(json!({"role": "viewer", "phone": null})),
        )
        .await;
    assert_eq!(patched.status, 200);
    assert_eq!(patched.body["role"], "viewer");
    assert!(patched.body["phone"].is_null());
    assert_eq!(
        app.api("DELETE", &format!("/v1/users/{id}"), key, None)
            .await
            .status,
        204
    );
    assert_eq!(
        app.api("GET", &format!("/v1/users/{id}"), key, None)
            .await
            .status,
        404
    );
    assert_eq!(
        app.api("GET", "/v1/users/not-a-uuid", key, None)
            .await
            .status,
        404
    );
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_workspace_is_bootstrapped_with_the_operator_token_only(pool: PgPool) {
    let body = json!({"name": "Acme", "admin_email": "ops@acme.test", "admin_name": "Ops"});
    let disabled = TestApp::new(pool.clone()).await;
    let response = disabled
        .api(
            "POST",
            "/v1/workspaces",
            Some("anything"),
            Some(body.clone()),
        )
        .await;
    assert_eq!(response.status, 403);
    disabled.cleanup().await;

    let app =
        TestApp::with_config(pool, |c| c.bootstrap_token = Some("operator-token".into())).await;
    let wrong = app
        .api("POST", "/v1/workspaces", Some("guess"), Some(body.clone()))
        .await;
    assert_eq!(wrong.status, 401);
    let invalid = app
        .api(
            "POST",
            "/v1/workspaces",
            Some("operator-token"),
            Some(json!({"name": "x", "admin_email": "nope", "admin_name": "y"})),
        )
        .await;
    assert_eq!(invalid.status, 422);
    assert_eq!(invalid.body["field"], "admin_email");
    assert_eq!(
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM workspace WHERE name = 'x'")
            .fetch_one(&app.state.db)
            .await
            .unwrap(),
        0,
        "nothing half written"
    );

    let created = app
        .api("POST", "/v1/workspaces", Some("operator-token"), Some(body))
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let key = created.body["api_key"]["key"].as_str().unwrap();
    let workspace = app.api("GET", "/v1/workspace", Some(key), None).await;
    assert_eq!(workspace.body["name"], "Acme");
    let users = app.api("GET", "/v1/users", Some(key), None).await;
    assert_eq!(users.body["items"][0]["role"], "admin");
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_user_who_reviewed_drafts_is_kept_for_the_audit_trail(pool: PgPool) {
    let app = TestApp::new(pool).await;
    sqlx::raw_sql(include_str!("../../local/seed/demo.sql"))
        .execute(&app.state.db)
        .await
        .unwrap();
    let demo: Uuid = "00000000-0000-4000-8000-000000000001".parse().unwrap();
    let admin = app.create_key(demo, UserRole::Admin, &[]).await;
    let sam = "/v1/users/00000000-0000-4000-8000-000000000014";
    let response = app.api("DELETE", sam, Some(&admin.key), None).await;
    assert_eq!(response.status, 409, "{:?}", response.body);
    assert_eq!(
        app.api("GET", sam, Some(&admin.key), None).await.status,
        200
    );
    app.cleanup().await;
}
