//! `/v1/users/{user_id}/contact-methods` and `/v1/users/{user_id}/channel-tiers`: a
//! person's addresses checked for their kind, their tiers, and who may manage them.

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

async fn create_user(app: &TestApp, key: &str, email: &str) -> Uuid {
    let created = app
        .api(
            "POST",
            "/v1/users",
            Some(key),
            Some(json!({"email": email, "display_name": "Someone", "role": "responder"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    created.body["id"].as_str().unwrap().parse().unwrap()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn contact_methods_are_added_listed_and_removed(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let key = admin_key(&app).await;
    let user = create_user(&app, &key, "ann@example.com").await;
    let path = format!("/v1/users/{user}/contact-methods");

    let mut ids = Vec::new();
    for (kind, address) in [
        ("email", " ann@example.com "),
        ("sms", "+351912345678"),
        ("voice", "+351912345678"),
        ("push", "ann-oncall"),
        ("slack", "U0123ABCD"),
        ("telegram", "@ann_oncall"),
    ] {
        let created = app
            .api(
                "POST",
                &path,
                Some(&key),
                Some(json!({"kind": kind, "address": address})),
            )
            .await;
        assert_eq!(created.status, 201, "{kind}: {}", created.body);
        assert_eq!(created.body["kind"], kind);
        assert_eq!(created.body["address"], address.trim());
        assert_eq!(created.body["user_id"], user.to_string());
        assert_eq!(created.body["verified_at"], Value::Null);
        ids.push(created.body["id"].as_str().unwrap().to_owned());
    }

    let duplicate = app
        .api(
            "POST",
            &path,
            Some(&key),
            Some(json!({"kind": "sms", "address": "+351912345678"})),
        )
        .await;
    assert_eq!(duplicate.status, 409, "{}", duplicate.body);
    assert_eq!(duplicate.body["field"], "address");

    for (kind, address, field) in [
        ("email", "ann.example.com", "address"),
        ("sms", "912345678", "address"),
        ("voice", "+0912345678", "address"),
        ("push", "ann on call", "address"),
        ("slack", "#oncall", "address"),
        ("telegram", "@ann", "address"),
        ("email", "   ", "address"),
        ("teams", "ann@example.com", "kind"),
        ("webhook", "https://example.com/hook", "kind"),
        ("discord", "ann#1234", "kind"),
        ("fax", "+351912345678", "kind"),
    ] {
        let refused = app
            .api(
                "POST",
                &path,
                Some(&key),
                Some(json!({"kind": kind, "address": address})),
            )
            .await;
        assert_eq!(refused.status, 422, "{kind} {address}: {}", refused.body);
        assert_eq!(refused.body["field"], field, "{kind} {address}");
    }
    let teams = app
        .api(
            "POST",
            &path,
            Some(&key),
            Some(json!({"kind": "teams", "address": "ann@example.com"})),
        )
        .await;
    assert!(
        teams.body["detail"]
            .as_str()
            .unwrap()
            .contains("Teams connection"),
        "{}",
        teams.body
    );

    let listed = app.api("GET", &path, Some(&key), None).await;
    assert_eq!(listed.status, 200);
    let items = listed.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 6);
    assert_eq!(items[0]["kind"], "email");
    let page = app
        .api("GET", &format!("{path}?limit=4"), Some(&key), None)
        .await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 4);
    assert_eq!(page.body["next_cursor"], ids[3].as_str());

    let deleted = app
        .api("DELETE", &format!("{path}/{}", ids[0]), Some(&key), None)
        .await;
    assert_eq!(deleted.status, 204);
    let again = app
        .api("DELETE", &format!("{path}/{}", ids[0]), Some(&key), None)
        .await;
    assert_eq!(again.status, 404);
    assert_eq!(
        app.count(&format!("contact_method WHERE user_id = '{user}'"))
            .await,
        5
    );

    // Someone who is not a person of this workspace is not found.
    let nobody = format!("/v1/users/{}/contact-methods", Uuid::new_v4());
    assert_eq!(app.api("GET", &nobody, Some(&key), None).await.status, 404);
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_person_manages_their_own_contact_methods_only(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let key = admin_key(&app).await;
    let ann = create_user(&app, &key, "ann@example.com").await;
    let bob = create_user(&app, &key, "bob@example.com").await;
    let anns_key = app.create_key_for_user(ann, UserRole::Responder).await.key;
    let viewer_key = app.create_key_for_user(ann, UserRole::Viewer).await.key;
    let own = format!("/v1/users/{ann}/contact-methods");
    let others = format!("/v1/users/{bob}/contact-methods");

    let created = app
        .api(
            "POST",
            &own,
            Some(&anns_key),
            Some(json!({"kind": "email", "address": "ann@example.com"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let listed = app.api("GET", &own, Some(&anns_key), None).await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    // Even a viewer key changes its own person's methods.
    let by_viewer = app
        .api(
            "POST",
            &own,
            Some(&viewer_key),
            Some(json!({"kind": "sms", "address": "+351912345678"})),
        )
        .await;
    assert_eq!(by_viewer.status, 201, "{}", by_viewer.body);
    let removed = app
        .api("DELETE", &format!("{own}/{id}"), Some(&anns_key), None)
        .await;
    assert_eq!(removed.status, 204);
    let tiers = app
        .api(
            "PUT",
            &format!("/v1/users/{ann}/channel-tiers"),
            Some(&anns_key),
            Some(json!({"primary": ["sms"]})),
        )
        .await;
    assert_eq!(tiers.status, 200, "{}", tiers.body);

    // Another person's: reading is allowed to responders (users:read), changing is not.
    let bobs = app
        .api(
            "POST",
            &others,
            Some(&key),
            Some(json!({"kind": "email", "address": "bob@example.com"})),
        )
        .await;
    assert_eq!(bobs.status, 201);
    let bobs_id = bobs.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.api("GET", &others, Some(&anns_key), None).await.status,
        200
    );
    let refused = app
        .api(
            "POST",
            &others,
            Some(&anns_key),
            Some(json!({"kind": "email", "address": "ann@example.com"})),
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(
        app.api(
            "DELETE",
            &format!("{others}/{bobs_id}"),
            Some(&anns_key),
            None
        )
        .await
        .status,
        403
    );
    assert_eq!(
        app.api(
            "PUT",
            &format!("/v1/users/{bob}/channel-tiers"),
            Some(&anns_key),
            Some(json!({"primary": ["sms"]})),
        )
        .await
        .status,
        403
    );
    // Ann's own method ids do not reach Bob's.
    assert_eq!(
        app.api("DELETE", &format!("{own}/{bobs_id}"), Some(&anns_key), None)
            .await
            .status,
        404
    );
    assert_eq!(app.count("contact_method").await, 2);
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn channel_tiers_default_until_set_and_take_each_kind_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let key = admin_key(&app).await;
    let user = create_user(&app, &key, "ann@example.com").await;
    let path = format!("/v1/users/{user}/channel-tiers");

    let default = app.api("GET", &path, Some(&key), None).await;
    assert_eq!(default.status, 200, "{}", default.body);
    assert_eq!(
        default.body,
        json!({"primary": ["email", "slack", "push"], "secondary": ["sms"],
               "fallback": ["voice"], "default": true})
    );

    let tiers = json!({"primary": ["sms", "telegram"], "secondary": ["email"],
                       "fallback": ["voice"]});
    let put = app.api("PUT", &path, Some(&key), Some(tiers)).await;
    assert_eq!(put.status, 200, "{}", put.body);
    let expected = json!({"primary": ["sms", "telegram"], "secondary": ["email"],
                          "fallback": ["voice"], "default": false});
    assert_eq!(put.body, expected);
    let read = app.api("GET", &path, Some(&key), None).await;
    assert_eq!(read.body, expected);
    assert_eq!(app.count("user_channel_tier").await, 4);

    for (body, field) in [
        (
            json!({"primary": ["email", "sms"], "secondary": ["sms"]}),
            "secondary[0]",
        ),
        (json!({"primary": ["email", "email"]}), "primary[1]"),
        (
            json!({"primary": [], "secondary": [], "fallback": []}),
            "primary",
        ),
        (json!({}), "primary"),
        (json!({"fallback": ["webhook"]}), "fallback[0]"),
        (json!({"primary": ["pigeon"]}), "primary[0]"),
    ] {
        let refused = app.api("PUT", &path, Some(&key), Some(body.clone())).await;
        assert_eq!(refused.status, 422, "{body}: {}", refused.body);
        assert_eq!(refused.body["field"], field, "{body}: {}", refused.body);
    }
    // Nothing refused changed what was stored.
    assert_eq!(app.api("GET", &path, Some(&key), None).await.body, expected);

    let nobody = format!("/v1/users/{}/channel-tiers", Uuid::new_v4());
    assert_eq!(app.api("GET", &nobody, Some(&key), None).await.status, 404);
    app.cleanup().await;
}
