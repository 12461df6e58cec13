//! Providers end to end: an alert is ingested, the worker sends it, and a wiremock server
//! checks the request the way the provider would, then answers as the provider does.

use serde_json::{Value, json};
use shared::notify::ChannelKind;
use shared::notify::channels::insert_channel;
use sqlx::PgPool;
use tocsin_tests::{TestApp, alert_body};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const BOT_TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ";

async fn channel(app: &TestApp, kind: ChannelKind, config: Value) -> uuid::Uuid {
    let mut conn = app.state.db.acquire().await.unwrap();
    insert_channel(
        &mut conn,
        &app.state.cipher,
        app.workspace_id,
        kind,
        "test",
        &config,
    )
    .await
    .unwrap()
}

/// Ingests an alert (a new one for each title) and runs the worker once on its
/// notification; returns the SQS event, to deliver again as SQS would after a retry.
async fn notify(app: &TestApp, title: &str) -> aws_lambda_events::event::sqs::SqsEvent {
    let mut body = alert_body(title);
    body["severity"] = json!("CRITICAL");
    body["dedup_key"] = json!(title);
    assert_eq!(app.post_alert(&body).await.status, 202);
    let event = app.receive_event(5).await;
    app.run_worker(event.clone()).await;
    event
}

fn body_of(request: &Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn telegram_gets_escaped_markdown_v2_and_buttons(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let telegram = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{BOT_TOKEN}/sendMessage")))
        .and(body_partial_json(
            json!({"chat_id": "-1001234567890", "parse_mode": "MarkdownV2"}),
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "result": {"message_id": 4711}})),
        )
        .expect(1)
        .mount(&telegram)
        .await;
    channel(&app, ChannelKind::Telegram, json!({"bot_token": BOT_TOKEN, "chat_id": -1001234567890_i64, "api_base_url": telegram.uri()})).await;
    notify(&app, "CPU > 90% on web-1 (prod.eu) [x]!").await;

    let requests = telegram.received_requests().await.unwrap();
    let sent = body_of(&requests[0]);
    let text = sent["text"].as_str().unwrap();
    assert!(
        text.starts_with(
            "*\\[CRITICAL\\] Triggered: CPU \\> 90% on web\\-1 \\(prod\\.eu\\) \\[x\\]\\!*"
        ),
        "{text}"
    );
    let buttons = &sent["reply_markup"]["inline_keyboard"][0];
    assert_eq!(buttons[0]["text"], "Acknowledge");
    assert!(
        buttons[0]["callback_data"]
            .as_str()
            .unwrap()
            .starts_with("acknowledge:")
    );
    assert!(buttons[1]["callback_data"].as_str().unwrap().len() <= 64);
    let logs = app.notification_logs().await;
    assert_eq!(logs[0].status, "SENT");
    let message_id: Option<String> =
        sqlx::query_scalar("SELECT provider_message_id FROM notification_log")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert_eq!(message_id.as_deref(), Some("4711"));
    // The token is sealed, not in the channel's config.
    let stored: String = sqlx::query_scalar("SELECT config::text FROM notification_channel")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert!(!stored.contains(BOT_TOKEN), "{stored}");
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn telegram_errors_are_classified(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let telegram = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({
            "ok": false, "error_code": 429, "description": "Too Many Requests: retry after 7",
            "parameters": {"retry_after": 7}})))
        .up_to_n_times(1)
        .mount(&telegram)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "ok": false, "error_code": 400, "description": "Bad Request: chat not found"})))
        .mount(&telegram)
        .await;
    channel(&app, ChannelKind::Telegram, json!({"bot_token": BOT_TOKEN, "chat_id": "@tocsin_alerts", "api_base_url": telegram.uri()})).await;
    let event = notify(&app, "first").await;
    let logs = app.notification_logs().await;
    assert_eq!(logs[0].status, "QUEUED", "a 429 is retried");
    assert!(
        logs[0]
            .error
            .as_deref()
            .unwrap()
            .contains("Too Many Requests")
    );
    let next: (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) =
        sqlx::query_as("SELECT next_attempt_at, last_attempt_at FROM notification_log")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert!(
        next.0 - next.1 >= chrono::Duration::seconds(7),
        "retry_after is honoured"
    );

    // SQS delivers it again once the wait is over.
    app.run_worker(event).await;
    let logs = app.notification_logs().await;
    assert_eq!(logs[0].status, "FAILED", "chat not found is permanent");
    assert_eq!(
        logs[0].error.as_deref(),
        Some("Telegram answered 400 Bad Request: Bad Request: chat not found")
    );
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn slack_bots_post_blocks_with_buttons_and_their_errors_are_classified(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .and(header("authorization", "Bearer xoxb-1-2-abc"))
        .and(body_partial_json(json!({"channel": "C024BE91L"})))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"ok": true, "channel": "C024BE91L", "ts": "1503435956.000247"}),
            ),
        )
        .up_to_n_times(1)
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": "invalid_auth"})),
        )
        .mount(&slack)
        .await;
    channel(
        &app,
        ChannelKind::Slack,
        json!({"bot_token": "xoxb-1-2-abc", "channel": "C024BE91L", "api_base_url": slack.uri()}),
    )
    .await;
    notify(&app, "Disk <full> & slow").await;
    let sent = body_of(&slack.received_requests().await.unwrap()[0]);
    assert_eq!(sent["blocks"][0]["type"], "header");
    assert_eq!(
        sent["text"],
        "[CRITICAL] Triggered: Disk &lt;full&gt; &amp; slow"
    );
    let actions = sent["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "actions")
        .unwrap();
    assert_eq!(actions["elements"][0]["action_id"], "acknowledge");
    assert_eq!(actions["elements"][1]["action_id"], "resolve");
    let logs = app.notification_logs().await;
    assert_eq!(logs[0].status, "SENT");

    notify(&app, "second").await;
    let logs = app.notification_logs().await;
    assert_eq!(logs[1].status, "FAILED");
    assert_eq!(
        logs[1].error.as_deref(),
        Some("Slack answered invalid_auth")
    );
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn discord_waits_for_the_message_id_and_honours_its_rate_limit(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let discord = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/webhooks/1/tok"))
        .and(query_param("wait", "true"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "2")
                .insert_header("x-ratelimit-reset-after", "3.5")
                .set_body_json(json!({"message": "You are being rate limited.", "retry_after": 12.5, "global": false})),
        )
        .up_to_n_times(1)
        .mount(&discord)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/webhooks/1/tok"))
        .and(query_param("wait", "true"))
        .and(body_partial_json(
            json!({"allowed_mentions": {"parse": []}}),
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": "1234567890123", "channel_id": "9"})),
        )
        .mount(&discord)
        .await;
    channel(
        &app,
        ChannelKind::Discord,
        json!({"webhook_url": format!("{}/api/webhooks/1/tok", discord.uri())}),
    )
    .await;
    let event = notify(&app, "queue depth").await;
    let wait: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM next_attempt_at - last_attempt_at)::float8 FROM notification_log",
    )
    .fetch_one(&app.state.db)
    .await
    .unwrap();
    assert!(
        wait >= 12.5,
        "the body's retry_after is the longest wait: {wait}"
    );
    app.run_worker(event).await;
    let sent = body_of(&discord.received_requests().await.unwrap()[1]);
    assert_eq!(
        sent["embeds"][0]["title"],
        "[CRITICAL] Triggered: queue depth"
    );
    assert_eq!(sent["embeds"][0]["color"], 0xD0212E);
    let message_id: Option<String> =
        sqlx::query_scalar("SELECT provider_message_id FROM notification_log")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert_eq!(message_id.as_deref(), Some("1234567890123"));
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn webhooks_are_signed_the_standard_webhooks_way(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&receiver)
        .await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    channel(
        &app,
        ChannelKind::Webhook,
        json!({"url": receiver.uri(), "secret": secret}),
    )
    .await;
    notify(&app, "signed").await;
    let request = &receiver.received_requests().await.unwrap()[0];
    let header = |name: &str| request.headers[name].to_str().unwrap().to_owned();
    let (id, timestamp) = (header("webhook-id"), header("webhook-timestamp"));
    let expected =
        shared::ingest::verify::sign_standard_webhooks(secret, &id, &timestamp, &request.body);
    assert_eq!(header("webhook-signature"), expected);
    assert!(expected.starts_with("v1,"));
    // Verifies with our own Standard Webhooks verifier too, as a receiver would.
    let now = chrono::Utc::now().timestamp();
    assert!((now - timestamp.parse::<i64>().unwrap()).abs() < 60);
    assert_eq!(app.notification_logs().await[0].status, "SENT");
    app.cleanup().await;
}
