//! Providers end to end: an alert is ingested, the worker sends it, and a wiremock server
//! checks the request the way the provider would, then answers as the provider does.

use serde_json::{Value, json};
use shared::notify::ChannelKind;
use sqlx::PgPool;
use tocsin_tests::{TestApp, alert_body};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const BOT_TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ";

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
    app.add_channel( ChannelKind::Telegram, json!({"bot_token": BOT_TOKEN, "chat_id": -1001234567890_i64, "api_base_url": telegram.uri()})).await;
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
    app.add_channel( ChannelKind::Telegram, json!({"bot_token": BOT_TOKEN, "chat_id": "@tocsin_alerts", "api_base_url": telegram.uri()})).await;
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
    app.add_channel(
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
    app.add_channel(
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
    app.add_channel(
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

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn teams_gets_an_adaptive_card_and_connector_errors_in_a_200_are_caught(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let teams = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/workflows/hook"))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(202))
        .up_to_n_times(1)
        .mount(&teams)
        .await;
    // Legacy Office 365 connectors answer 200 with the real status in the text.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            "Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0,server=msgapi",
        ))
        .mount(&teams)
        .await;
    app.add_channel(
        ChannelKind::Teams,
        json!({"webhook_url": format!("{}/workflows/hook", teams.uri())}),
    )
    .await;
    notify(&app, "latency p99 > 2s").await;
    let sent = body_of(&teams.received_requests().await.unwrap()[0]);
    assert_eq!(sent["type"], "message");
    let attachment = &sent["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachment["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(
        card["body"][0]["text"],
        "[CRITICAL] Triggered: latency p99 > 2s"
    );
    assert_eq!(card["body"][1]["type"], "FactSet");
    // Incoming webhooks cannot post back: the card links to the magic-link pages.
    let actions = card["actions"].as_array().unwrap();
    let titles: Vec<&str> = actions
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Acknowledge", "Resolve"]);
    for action in actions {
        assert_eq!(action["type"], "Action.OpenUrl");
        assert!(
            action["url"]
                .as_str()
                .unwrap()
                .starts_with("https://tocsin.example.com/a/"),
            "{action}"
        );
    }
    assert_eq!(app.notification_logs().await[0].status, "SENT");

    notify(&app, "second").await;
    let logs = app.notification_logs().await;
    assert_eq!(logs[1].status, "QUEUED", "a 429 inside a 200 is retried");
    assert!(logs[1].error.as_deref().unwrap().contains("429"));
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn ntfy_gets_priority_from_severity_and_a_click_url(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let ntfy = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/"))
        .and(header("authorization", "Bearer tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2"))
        .and(body_partial_json(
            json!({"topic": "oncall-alerts", "priority": 5, "tags": ["rotating_light"]}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"id": "sPs71M8A2T", "time": 1700000000, "event": "message", "topic": "oncall-alerts"}),
        ))
        .up_to_n_times(1)
        .mount(&ntfy)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(403).set_body_json(
            json!({"code": 40301, "http": 403, "error": "forbidden", "link": "https://ntfy.sh/docs/publish/#authentication"}),
        ))
        .mount(&ntfy)
        .await;
    app.add_channel(
        ChannelKind::Push,
        json!({"server_url": ntfy.uri(), "topic": "oncall-alerts", "access_token": "tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2"}),
    )
    .await;
    notify(&app, "db down").await;
    let sent = body_of(&ntfy.received_requests().await.unwrap()[0]);
    assert_eq!(sent["title"], "[CRITICAL] Triggered: db down");
    assert!(
        sent["message"]
            .as_str()
            .unwrap()
            .contains("Severity: CRITICAL")
    );
    let logs = app.notification_logs().await;
    assert_eq!(logs[0].status, "SENT");

    notify(&app, "second").await;
    let logs = app.notification_logs().await;
    assert_eq!(logs[1].status, "FAILED", "403 forbidden is permanent");
    assert_eq!(
        logs[1].error.as_deref(),
        Some("ntfy answered 403 Forbidden: forbidden (40301)")
    );
    app.cleanup().await;
}

const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const AUTH_TOKEN: &str = "0123456789abcdef0123456789abcdef";

/// Posts a Twilio status callback for `notification_id`, signed with `token`.
async fn twilio_callback(
    app: &TestApp,
    notification_id: uuid::Uuid,
    fields: &[(&str, &str)],
    token: &str,
) -> tocsin_tests::TestResponse {
    let path = format!("/v1/callbacks/twilio?notification_id={notification_id}");
    let url = format!("https://tocsin.example.com{path}");
    let owned: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let signature = shared::notify::twilio::signature(token, &url, &owned);
    let request = axum::http::Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signature)
        .body(axum::body::Body::from(
            serde_urlencoded::to_string(fields).unwrap(),
        ))
        .unwrap();
    let response = tower::ServiceExt::oneshot(shared::api::router(app.state.clone()), request)
        .await
        .unwrap();
    tocsin_tests::read_response(response).await
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn twilio_sms_sends_form_fields_and_its_signed_callback_marks_delivery(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let twilio = MockServer::start().await;
    let expected_auth = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{ACCOUNT_SID}:{AUTH_TOKEN}")
        )
    );
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
        )))
        .and(header("authorization", expected_auth.as_str()))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "sid": "SM1f0e8ae6ade43cb3c0ce4525424e404f", "status": "queued",
            "account_sid": ACCOUNT_SID, "to": "+15558675310"})))
        .expect(1)
        .mount(&twilio)
        .await;
    app.add_channel(
        ChannelKind::Sms,
        json!({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from": "+15005550006",
               "to": "+15558675310", "api_base_url": twilio.uri()}),
    )
    .await;
    notify(&app, "payments failing").await;
    let request = &twilio.received_requests().await.unwrap()[0];
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&request.body).unwrap();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(field("To"), "+15558675310");
    assert_eq!(field("From"), "+15005550006");
    assert!(field("Body").starts_with("[CRITICAL] Triggered: payments failing"));
    let log = &app.notification_logs().await[0];
    assert_eq!(log.status, "SENT");
    assert_eq!(
        field("StatusCallback"),
        format!(
            "https://tocsin.example.com/v1/callbacks/twilio?notification_id={}",
            log.id
        )
    );

    // A forged callback is refused and changes nothing.
    let sid = "SM1f0e8ae6ade43cb3c0ce4525424e404f";
    let fields = [
        ("MessageSid", sid),
        ("MessageStatus", "delivered"),
        ("AccountSid", ACCOUNT_SID),
    ];
    let forged = twilio_callback(&app, log.id, &fields, "ffffffffffffffffffffffffffffffff").await;
    assert_eq!(forged.status, 403);
    assert_eq!(app.notification_logs().await[0].status, "SENT");

    // "sent" is progress; "delivered" moves the row on; a repeat changes nothing.
    let progress = [("MessageSid", sid), ("MessageStatus", "sent")];
    assert_eq!(
        twilio_callback(&app, log.id, &progress, AUTH_TOKEN)
            .await
            .status,
        204
    );
    assert_eq!(app.notification_logs().await[0].status, "SENT");
    assert_eq!(
        twilio_callback(&app, log.id, &fields, AUTH_TOKEN)
            .await
            .status,
        204
    );
    assert_eq!(
        twilio_callback(&app, log.id, &fields, AUTH_TOKEN)
            .await
            .status,
        204
    );
    let row: (String, Option<chrono::DateTime<chrono::Utc>>) =
        sqlx::query_as("SELECT status::text, delivered_at FROM notification_log")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert_eq!(row.0, "DELIVERED");
    assert!(row.1.is_some());
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn twilio_calls_read_twiml_and_an_invalid_number_fails_at_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let twilio = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json"
        )))
        .respond_with(ResponseTemplate::new(201).set_body_json(
            json!({"sid": "CA42ed11f93dc08b952027ffbc406d0868", "status": "queued"}),
        ))
        .up_to_n_times(1)
        .mount(&twilio)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "code": 21211, "message": "The 'To' number +15005550001 is not a valid phone number.",
            "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400})))
        .mount(&twilio)
        .await;
    app.add_channel(
        ChannelKind::Voice,
        json!({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from": "+15005550006",
               "to": "+15558675310", "api_base_url": twilio.uri()}),
    )
    .await;
    notify(&app, "R&D <cluster> down").await;
    let request = &twilio.received_requests().await.unwrap()[0];
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&request.body).unwrap();
    let twiml = &form.iter().find(|(k, _)| k == "Twiml").unwrap().1;
    assert!(twiml.starts_with("<?xml"), "{twiml}");
    assert!(twiml.contains("R&amp;D &lt;cluster&gt; down"), "{twiml}");
    assert!(
        form.iter()
            .any(|(k, v)| k == "StatusCallbackEvent" && v == "completed")
    );
    let logs = app.notification_logs().await;
    assert_eq!(logs[0].status, "SENT");

    notify(&app, "second").await;
    let logs = app.notification_logs().await;
    assert_eq!(logs[1].status, "FAILED");
    assert!(
        logs[1].error.as_deref().unwrap().contains("21211"),
        "{:?}",
        logs[1].error
    );
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn email_goes_through_ses_and_an_unverified_sender_fails_at_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let domain = format!("{}.tocsin.test", uuid::Uuid::new_v4().simple());
    app.state
        .ses
        .create_email_identity()
        .email_identity(&domain)
        .send()
        .await
        .unwrap();
    app.add_channel(
        ChannelKind::Email,
        json!({"transport": "ses", "from": format!("Tocsin <alerts@{domain}>"), "to": ["oncall@example.com"]}),
    )
    .await;
    notify(&app, "SES works").await;
    let logs = app.notification_logs().await;
    assert_eq!(logs[0].status, "SENT", "{:?}", logs[0].error);
    let message_id: Option<String> =
        sqlx::query_scalar("SELECT provider_message_id FROM notification_log")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert!(message_id.is_some());

    sqlx::query("DELETE FROM notification_channel")
        .execute(&app.state.db)
        .await
        .unwrap();
    app.add_channel(
        ChannelKind::Email,
        json!({"transport": "ses", "from": "alerts@unverified.tocsin.test", "to": "oncall@example.com"}),
    )
    .await;
    notify(&app, "SES refuses").await;
    let logs = app.notification_logs().await;
    assert_eq!(logs[1].status, "FAILED");
    assert!(
        logs[1]
            .error
            .as_deref()
            .unwrap()
            .contains("MessageRejected"),
        "{:?}",
        logs[1].error
    );
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn email_goes_through_smtp_with_text_and_html_parts(pool: PgPool) {
    use tocsin_tests::smtp::{Behaviour, FakeSmtp};
    let app = TestApp::new(pool).await;
    let smtp = FakeSmtp::start(Behaviour {
        credentials: Some(("tocsin".to_owned(), "s3cret-pass".to_owned())),
        unknown_mailboxes: vec!["nobody@example.com".to_owned()],
        defer_first: 1,
    })
    .await;
    let config = |to: &str| {
        json!({"transport": "smtp", "from": "Tocsin <alerts@example.com>", "to": [to],
               "host": "127.0.0.1", "port": smtp.port, "security": "none",
               "username": "tocsin", "password": "s3cret-pass"})
    };
    app.add_channel(ChannelKind::Email, config("oncall@example.com"))
        .await;
    // The first MAIL FROM is deferred (451): transient, retried, then sent.
    let event = notify(&app, "Disk <full> & slow").await;
    assert_eq!(app.notification_logs().await[0].status, "QUEUED");
    app.run_worker(event).await;
    assert_eq!(app.notification_logs().await[0].status, "SENT");
    let received = smtp.received();
    assert_eq!(received.len(), 1);
    let mail = &received[0];
    assert_eq!(mail.user.as_deref(), Some("tocsin"));
    assert_eq!(mail.mail_from, "alerts@example.com");
    assert_eq!(mail.rcpt_to, vec!["oncall@example.com"]);
    assert!(
        mail.data
            .contains("Subject: [CRITICAL] Triggered: Disk <full> & slow"),
        "{}",
        mail.data
    );
    assert!(mail.data.contains("Content-Type: multipart/alternative"));
    assert!(
        mail.data
            .contains("Content-Type: text/plain; charset=utf-8")
    );
    assert!(mail.data.contains("Content-Type: text/html; charset=utf-8"));
    assert!(
        mail.data.contains("Disk &lt;full&gt; &amp; slow"),
        "the HTML part escapes"
    );

    sqlx::query("DELETE FROM notification_channel")
        .execute(&app.state.db)
        .await
        .unwrap();
    app.add_channel(ChannelKind::Email, config("nobody@example.com"))
        .await;
    notify(&app, "unknown mailbox").await;
    let logs = app.notification_logs().await;
    assert_eq!(logs[1].status, "FAILED", "550 is permanent");
    assert!(
        logs[1].error.as_deref().unwrap().contains("User unknown"),
        "{:?}",
        logs[1].error
    );
    app.cleanup().await;
}
