//! Integrations through the API: secrets shown once and stored encrypted, signatures,
//! tokens, Standard Webhooks, rotation with a grace period, validation and isolation.

use axum::body::Body;
use axum::http::Request;
use serde_json::json;
use shared::ingest::verify::{sign_hmac, sign_standard_webhooks};
use shared::tenancy::UserRole;
use sqlx::PgPool;
use tocsin_tests::{TestApp, TestResponse, alert_body};

async fn create(app: &TestApp, key: &str, body: serde_json::Value) -> TestResponse {
    app.api("POST", "/v1/integrations", Some(key), Some(body))
        .await
}

async fn post(app: &TestApp, id: &str, headers: &[(&str, String)], body: &str) -> TestResponse {
    let mut request = Request::post(format!("/v1/integrations/{id}/webhook"))
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    app.request(request.body(Body::from(body.to_owned())).unwrap())
        .await
}

fn signature(secret: &str, body: &str) -> String {
    hex::encode(sign_hmac("sha256", secret, None, body.as_bytes()))
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_secret_is_shown_once_stored_encrypted_and_verifies_signed_requests(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.create_key(app.workspace_id, UserRole::Admin, &[]).await;
    let created = create(
        &app,
        &admin.key,
        json!({"name": "scripts", "type": "generic"}),
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    let id = created.body["integration"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(created.body["integration"]["verification"], "hmac");
    assert_eq!(
        created.body["integration"]["webhook_path"],
        format!("/v1/integrations/{id}/webhook")
    );

    let shown = app
        .api(
            "GET",
            &format!("/v1/integrations/{id}"),
            Some(&admin.key),
            None,
        )
        .await;
    assert!(
        !shown.body.to_string().contains(&secret),
        "never shown again"
    );
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT webhook_secret_ciphertext FROM integration WHERE id = $1::uuid")
            .bind(&id)
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert!(
        !stored.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "ciphertext only"
    );
    let context = shared::ingest::integrations::secret_context(id.parse().unwrap());
    assert_eq!(
        app.state.cipher.open_text(&stored, &context).unwrap(),
        secret,
        "and it decrypts back"
    );

    let body = alert_body("signed").to_string();
    let unsigned = post(&app, &id, &[], &body).await;
    assert_eq!(unsigned.status, 401);
    assert_eq!(unsigned.content_type(), "application/problem+json");
    let good = post(
        &app,
        &id,
        &[("x-webhook-signature", signature(&secret, &body))],
        &body,
    )
    .await;
    assert_eq!(good.status, 202, "{:?}", good.body);
    let tampered = post(
        &app,
        &id,
        &[("x-webhook-signature", signature(&secret, &body))],
        &body.replace("signed", "forged"),
    )
    .await;
    assert_eq!(tampered.status, 401);
    let wrong = post(
        &app,
        &id,
        &[("x-webhook-signature", signature("not the secret", &body))],
        &body,
    )
    .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(
        app.count("webhook_delivery WHERE status_code = 401").await,
        3,
        "refusals are recorded"
    );
    assert_eq!(app.count("alert").await, 1);
    let headers: serde_json::Value =
        sqlx::query_scalar("SELECT headers FROM webhook_delivery WHERE status_code = 202")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert_eq!(headers["x-webhook-signature"], "[redacted]");
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_rotated_secret_keeps_the_old_one_valid_for_the_grace_period(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.create_key(app.workspace_id, UserRole::Admin, &[]).await;
    let created = create(
        &app,
        &admin.key,
        json!({"name": "rotating", "type": "generic"}),
    )
    .await;
    let old = created.body["secret"].as_str().unwrap().to_owned();
    let id = created.body["integration"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rotated = app
        .api(
            "POST",
            &format!("/v1/integrations/{id}/rotate-secret"),
            Some(&admin.key),
            Some(json!({"grace_period_minutes": 60})),
        )
        .await;
    assert_eq!(rotated.status, 200, "{:?}", rotated.body);
    let new = rotated.body["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert!(rotated.body["integration"]["previous_secret_expires_at"].is_string());

    for (n, secret) in [&old, &new].into_iter().enumerate() {
        let body = alert_body(&format!("during grace {n}")).to_string();
        let response = post(
            &app,
            &id,
            &[("x-webhook-signature", signature(secret, &body))],
            &body,
        )
        .await;
        assert_eq!(
            response.status, 202,
            "secret {n} verifies during the grace period"
        );
    }
    sqlx::query("UPDATE integration SET previous_secret_expires_at = now() - interval '1 second'")
        .execute(&app.state.db)
        .await
        .unwrap();
    let body = alert_body("after grace").to_string();
    assert_eq!(
        post(
            &app,
            &id,
            &[("x-webhook-signature", signature(&old, &body))],
            &body
        )
        .await
        .status,
        401
    );
    assert_eq!(
        post(
            &app,
            &id,
            &[("x-webhook-signature", signature(&new, &body))],
            &body
        )
        .await
        .status,
        202
    );
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn tools_that_cannot_sign_send_a_token_and_standard_webhooks_is_a_preset(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.create_key(app.workspace_id, UserRole::Admin, &[]).await;
    let am = create(
        &app,
        &admin.key,
        json!({"name": "prometheus", "type": "alertmanager"}),
    )
    .await;
    assert_eq!(am.body["integration"]["verification"], "token");
    let token = am.body["secret"].as_str().unwrap().to_owned();
    let id = am.body["integration"]["id"].as_str().unwrap().to_owned();
    let body = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/alertmanager/firing.json"
    ))
    .unwrap();
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("alertmanager:{token}"));
    assert_eq!(
        post(
            &app,
            &id,
            &[("authorization", format!("Bearer {token}"))],
            &body
        )
        .await
        .status,
        202
    );
    assert_eq!(
        post(
            &app,
            &id,
            &[("authorization", format!("Basic {basic}"))],
            &body
        )
        .await
        .status,
        202
    );
    assert_eq!(
        post(
            &app,
            &id,
            &[("authorization", "Bearer nope".to_owned())],
            &body
        )
        .await
        .status,
        401
    );

    let sw = create(
        &app,
        &admin.key,
        json!({"name": "svix", "type": "generic", "verification": "standard_webhooks"}),
    )
    .await;
    let secret = sw.body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let id = sw.body["integration"]["id"].as_str().unwrap().to_owned();
    let body = alert_body("standard").to_string();
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let signed = [
        ("webhook-id", "msg_1".to_owned()),
        ("webhook-timestamp", timestamp.clone()),
        (
            "webhook-signature",
            sign_standard_webhooks(&secret, "msg_1", &timestamp, body.as_bytes()),
        ),
    ];
    assert_eq!(post(&app, &id, &signed, &body).await.status, 202);
    let stale = (chrono::Utc::now().timestamp() - 600).to_string();
    let old = [
        ("webhook-id", "msg_2".to_owned()),
        ("webhook-timestamp", stale.clone()),
        (
            "webhook-signature",
            sign_standard_webhooks(&secret, "msg_2", &stale, body.as_bytes()),
        ),
    ];
    assert_eq!(
        post(&app, &id, &old, &body).await.status,
        401,
        "an old timestamp is refused"
    );
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn integration_settings_are_validated_and_isolated_per_workspace(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.create_key(app.workspace_id, UserRole::Admin, &[]).await;
    let cases = [
        (json!({"name": "x", "type": "nagios"}), "type"),
        (json!({"name": " ", "type": "generic"}), "name"),
        (
            json!({"name": "x", "type": "generic", "signature_algorithm": "md5"}),
            "signature_algorithm",
        ),
        (
            json!({"name": "x", "type": "generic", "signature_header": "X Sig"}),
            "signature_header",
        ),
        (
            json!({"name": "x", "type": "generic", "deduplication_window_minutes": -1}),
            "deduplication_window_minutes",
        ),
        (
            json!({"name": "x", "type": "generic", "severity_mapping": {"P1": "URGENT"}}),
            "severity_mapping.P1",
        ),
        (
            json!({"name": "x", "type": "generic", "verification": "magic"}),
            "verification",
        ),
        (
            json!({"name": "x", "type": "generic", "default_service_id": uuid::Uuid::new_v4()}),
            "default_service_id",
        ),
    ];
    for (body, field) in cases {
        let response = create(&app, &admin.key, body.clone()).await;
        assert_eq!(response.status, 422, "{body}: {:?}", response.body);
        assert_eq!(response.body["field"], field, "{body}");
    }
    assert_eq!(
        create(&app, &admin.key, json!({"name": "dup", "type": "generic"}))
            .await
            .status,
        201
    );
    let duplicate = create(&app, &admin.key, json!({"name": "dup", "type": "datadog"})).await;
    assert_eq!(duplicate.status, 409);
    assert_eq!(duplicate.body["field"], "name");

    let viewer = app
        .create_key(app.workspace_id, UserRole::Viewer, &[])
        .await;
    assert_eq!(
        app.api("GET", "/v1/integrations", Some(&viewer.key), None)
            .await
            .status,
        200
    );
    assert_eq!(
        create(&app, &viewer.key, json!({"name": "v", "type": "generic"}))
            .await
            .status,
        403
    );

    let other: uuid::Uuid =
        sqlx::query_scalar("INSERT INTO workspace (name) VALUES ('Other') RETURNING id")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    let theirs = app.create_key(other, UserRole::Admin, &[]).await;
    let path = format!("/v1/integrations/{}", app.integration_id);
    for (method, body) in [
        ("GET", None),
        ("PATCH", Some(json!({"name": "mine now"}))),
        ("DELETE", None),
    ] {
        let response = app.api(method, &path, Some(&theirs.key), body).await;
        assert_eq!(response.status, 404, "{method}");
    }
    let rotate = app
        .api(
            "POST",
            &format!("{path}/rotate-secret"),
            Some(&theirs.key),
            Some(json!({})),
        )
        .await;
    assert_eq!(rotate.status, 404);
    let patched = app
        .api(
            "PATCH",
            &path,
            Some(&admin.key),
            Some(json!({"is_active": false})),
        )
        .await;
    assert_eq!(patched.body["is_active"], false);
    assert_eq!(
        app.api("DELETE", &path, Some(&admin.key), None)
            .await
            .status,
        204
    );
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_signed_grafana_group_with_a_resolved_alert_is_accepted(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let admin = app.create_key(app.workspace_id, UserRole::Admin, &[]).await;
    let created = create(
        &app,
        &admin.key,
        json!({"name": "grafana", "type": "grafana", "signature_timestamp_header": "X-Grafana-Alerting-Signature-Timestamp"}),
    )
    .await;
    assert_eq!(
        created.body["integration"]["signature_header"],
        "X-Grafana-Alerting-Signature"
    );
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    let id = created.body["integration"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/grafana/mixed.json"
    ))
    .unwrap();
    let sign = |ts: &str, body: &str| {
        hex::encode(sign_hmac(
            "sha256",
            &secret,
            Some((ts, ":")),
            body.as_bytes(),
        ))
    };

    let now = chrono::Utc::now().timestamp().to_string();
    let signed = [
        ("x-grafana-alerting-signature", sign(&now, &body)),
        ("x-grafana-alerting-signature-timestamp", now.clone()),
    ];
    let response = post(&app, &id, &signed, &body).await;
    assert_eq!(response.status, 202, "{:?}", response.body);
    // The firing alert opened; the resolved one named no open alert.
    let (status, severity, metadata): (String, String, serde_json::Value) =
        sqlx::query_as("SELECT status::text, severity::text, metadata FROM alert")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert_eq!((status.as_str(), severity.as_str()), ("OPEN", "MEDIUM"));
    assert_eq!(metadata["values"], json!({"B": 44.23, "C": 1}));
    assert!(
        metadata["value_string"]
            .as_str()
            .unwrap()
            .contains("var='B'")
    );
    assert_eq!(metadata["org_id"], 1);

    let old = (chrono::Utc::now().timestamp() - 3600).to_string();
    let stale = [
        ("x-grafana-alerting-signature", sign(&old, &body)),
        ("x-grafana-alerting-signature-timestamp", old.clone()),
    ];
    assert_eq!(
        post(&app, &id, &stale, &body).await.status,
        401,
        "outside the tolerance"
    );
    let dotted = [
        (
            "x-grafana-alerting-signature",
            hex::encode(sign_hmac(
                "sha256",
                &secret,
                Some((&now, ".")),
                body.as_bytes(),
            )),
        ),
        ("x-grafana-alerting-signature-timestamp", now.clone()),
    ];
    assert_eq!(
        post(&app, &id, &dotted, &body).await.status,
        401,
        "Grafana signs timestamp:body"
    );
    app.cleanup().await;
}
