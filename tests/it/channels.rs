//! `/v1/notification-channels`: CRUD with write-only secrets, the test message and the
//! health check, through the `api` router.

use serde_json::{Value, json};
use shared::tenancy::UserRole;
use sqlx::PgPool;
use tocsin_tests::TestApp;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const BOT_TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ";

async fn admin_key(app: &TestApp) -> String {
    app.create_key(app.workspace_id, UserRole::Admin, &[])
        .await
        .key
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn channels_are_created_listed_changed_and_deleted_with_their_secrets_masked(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let key = admin_key(&app).await;
    let telegram = MockServer::start().await;
    let created = app
        .api(
            "POST",
            "/v1/notification-channels",
            Some(&key),
            Some(json!({"provider": "telegram", "name": " On-call chat ",
                        "config": {"bot_token": BOT_TOKEN, "chat_id": -1001234567890_i64,
                                   "api_base_url": telegram.uri()}})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let body = &created.body;
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(body["name"], "On-call chat");
    assert_eq!(body["provider"], "telegram");
    assert_eq!(body["enabled"], true);
    assert_eq!(body["config"]["bot_token"], "********");
    assert_eq!(body["config"]["chat_id"], "-1001234567890");
    assert!(!created.body.to_string().contains("AAHdq"));

    let list = app
        .api("GET", "/v1/notification-channels", Some(&key), None)
        .await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    assert!(!list.body.to_string().contains("AAHdq"));
    let stored: (String, Option<Vec<u8>>) =
        sqlx::query_as("SELECT config::text, secrets_ciphertext FROM notification_channel")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert!(!stored.0.contains("AAHdq"));
    let sealed = stored.1.expect("the token is sealed");
    assert!(!String::from_utf8_lossy(&sealed).contains("AAHdq"));

    // A new config without the token (or with the mask) keeps the stored token.
    let changed = app
        .api(
            "PATCH",
            &format!("/v1/notification-channels/{id}"),
            Some(&key),
            Some(
                json!({"config": {"bot_token": "********", "chat_id": "@tocsin_oncall",
                                   "api_base_url": telegram.uri()}, "enabled": false}),
            ),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(changed.body["config"]["chat_id"], "@tocsin_oncall");
    assert_eq!(changed.body["config"]["bot_token"], "********");
    assert_eq!(changed.body["enabled"], false);

    // The test message goes out with the kept token, though the channel is disabled.
    Mock::given(method("POST"))
        .and(path(format!("/bot{BOT_TOKEN}/sendMessage")))
        .and(body_partial_json(json!({"chat_id": "@tocsin_oncall"})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "result": {"message_id": 77}})),
        )
        .expect(1)
        .mount(&telegram)
        .await;
    let tested = app
        .api(
            "POST",
            &format!("/v1/notification-channels/{id}/test"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(tested.status, 200, "{}", tested.body);
    assert_eq!(tested.body["sent"], true);
    assert_eq!(tested.body["provider_message_id"], "77");

    // A bad config is refused whole, naming the field; nothing changes.
    let refused = app
        .api(
            "PATCH",
            &format!("/v1/notification-channels/{id}"),
            Some(&key),
            Some(json!({"name": "renamed", "config": {"chat_id": "not a chat"}})),
        )
        .await;
    assert_eq!(refused.status, 422);
    assert_eq!(refused.body["field"], "config.chat_id");
    let name: String = sqlx::query_scalar("SELECT name FROM notification_channel")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(name, "On-call chat");

    // Removing the token with null leaves a config that cannot send: refused.
    let removed = app
        .api(
            "PATCH",
            &format!("/v1/notification-channels/{id}"),
            Some(&key),
            Some(json!({"config": {"bot_token": null, "chat_id": 1}})),
        )
        .await;
    assert_eq!(removed.status, 422);
    assert_eq!(removed.body["field"], "config.bot_token");

    let deleted = app
        .api(
            "DELETE",
            &format!("/v1/notification-channels/{id}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204);
    let gone = app
        .api(
            "GET",
            &format!("/v1/notification-channels/{id}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(gone.status, 404);
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn bad_channels_are_refused_naming_the_field(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let key = admin_key(&app).await;
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"provider": "pigeon", "name": "x", "config": {}}),
            "provider",
        ),
        (
            json!({"provider": "slack", "name": "", "config": {"webhook_url": "https://hooks.slack.com/services/T/B/x"}}),
            "name",
        ),
        (
            json!({"provider": "slack", "name": "x", "config": {"webhook_url": "nope"}}),
            "config.webhook_url",
        ),
        (
            json!({"provider": "email", "name": "x", "config": {"transport": "ses", "from": "a@b.example", "to": ["not an address"]}}),
            "config.to",
        ),
        (
            json!({"provider": "email", "name": "x", "config": {"transport": "ses", "from": "a@b.example", "to": "c@d.example", "host": "smtp.example.com"}}),
            "config.host",
        ),
        (
            json!({"provider": "email", "name": "x", "config": {"transport": "smtp", "from": "a@b.example", "to": "c@d.example", "host": "smtp.example.com", "username": "u"}}),
            "config.password",
        ),
        (
            json!({"provider": "sms", "name": "x", "config": {"account_sid": "AC0123456789abcdef0123456789abcdef", "auth_token": "0123456789abcdef0123456789abcdef", "from": "+15005550006", "to": "0170 1234"}}),
            "config.to",
        ),
        (
            json!({"provider": "push", "name": "x", "config": {"topic": "has spaces"}}),
            "config.topic",
        ),
        (
            json!({"provider": "webhook", "name": "x", "config": {"url": "https://example.com", "max_per_second": 0}}),
            "config.max_per_second",
        ),
        (
            json!({"provider": "teams", "name": "x", "config": {}}),
            "config.webhook_url",
        ),
    ];
    for (body, field) in cases {
        let answer = app
            .api(
                "POST",
                "/v1/notification-channels",
                Some(&key),
                Some(body.clone()),
            )
            .await;
        assert_eq!(answer.status, 422, "{body}: {}", answer.body);
        assert_eq!(answer.content_type(), "application/problem+json");
        assert_eq!(answer.body["field"], field, "{body}");
    }
    assert_eq!(app.count("notification_channel").await, 0);

    // Viewers read channels but do not change them.
    let viewer = app
        .create_key(app.workspace_id, UserRole::Viewer, &[])
        .await
        .key;
    let forbidden = app
        .api(
            "POST",
            "/v1/notification-channels",
            Some(&viewer),
            Some(json!({"provider": "teams", "name": "x", "config": {"webhook_url": "https://example.com/hook"}})),
        )
        .await;
    assert_eq!(forbidden.status, 403);
    let listed = app
        .api("GET", "/v1/notification-channels", Some(&viewer), None)
        .await;
    assert_eq!(listed.status, 200);
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_test_message_reports_the_provider_error_and_health_asks_the_provider(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let key = admin_key(&app).await;
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": false, "error": "channel_not_found"})),
        )
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/auth.test"))
        .and(wiremock::matchers::header(
            "authorization",
            "Bearer xoxb-1-2-abc",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"ok": true, "team": "Tocsin", "user": "tocsin_bot", "team_id": "T1", "user_id": "U1"}),
        ))
        .mount(&slack)
        .await;
    let created = app
        .api(
            "POST",
            "/v1/notification-channels",
            Some(&key),
            Some(json!({"provider": "slack", "name": "ops",
                        "config": {"bot_token": "xoxb-1-2-abc", "channel": "C0NOPE",
                                   "api_base_url": slack.uri()}})),
        )
        .await;
    let id = created.body["id"].as_str().unwrap().to_owned();
    let tested = app
        .api(
            "POST",
            &format!("/v1/notification-channels/{id}/test"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(tested.status, 200);
    assert_eq!(tested.body["sent"], false);
    assert_eq!(tested.body["retryable"], false);
    assert_eq!(tested.body["error"], "Slack answered channel_not_found");
    let health = app
        .api(
            "GET",
            &format!("/v1/notification-channels/{id}/health"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["checked"], true);
    assert_eq!(health.body["healthy"], true);
    assert!(!health.body.to_string().contains("xoxb-1-2-abc"));
    app.cleanup().await;
}

/// Everything the tracing subscriber of one test wrote.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn secrets_never_reach_an_answer_or_a_log_line(pool: PgPool) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .finish();
    // The test's runtime is single-threaded: every task it spawns logs here.
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = TestApp::new(pool).await;
    let key = admin_key(&app).await;
    let telegram = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(
                json!({"ok": false, "error_code": 401, "description": "Unauthorized"}),
            ),
        )
        .mount(&telegram)
        .await;
    let slack_hook = "http://127.0.0.1:9/services/T000/B000/XXXXslacksecretXXXX";
    let mut answers = Vec::new();
    for (provider, config) in [
        (
            "telegram",
            json!({"bot_token": BOT_TOKEN, "chat_id": 42, "api_base_url": telegram.uri()}),
        ),
        ("slack", json!({"webhook_url": slack_hook})),
    ] {
        let created = app
            .api(
                "POST",
                "/v1/notification-channels",
                Some(&key),
                Some(json!({"provider": provider, "name": provider, "config": config})),
            )
            .await;
        assert_eq!(created.status, 201);
        let id = created.body["id"].as_str().unwrap().to_owned();
        // A refused token, and a webhook that cannot be reached.
        let tested = app
            .api(
                "POST",
                &format!("/v1/notification-channels/{id}/test"),
                Some(&key),
                None,
            )
            .await;
        assert_eq!(tested.body["sent"], false, "{}", tested.body);
        answers.push(created.body.to_string());
        answers.push(tested.body.to_string());
    }
    // And through the worker, which logs each attempt.
    assert_eq!(
        app.post_alert(&tocsin_tests::alert_body("x")).await.status,
        202
    );
    while app.poll_once(0).await > 0 {}

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("notification"), "the worker logged: {logs}");
    for secret in [
        BOT_TOKEN,
        "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ",
        "XXXXslacksecretXXXX",
    ] {
        assert!(!logs.contains(secret), "{secret} is in the logs:\n{logs}");
        for answer in &answers {
            assert!(!answer.contains(secret), "{secret} is in {answer}");
        }
    }
    app.cleanup().await;
}
