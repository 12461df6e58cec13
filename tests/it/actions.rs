//! Acting from the message: magic links, Slack and Telegram buttons, and the timeline
//! every path writes to.

use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};
use shared::notify::ChannelKind;
use sqlx::PgPool;
use tocsin_tests::smtp::{Behaviour, FakeSmtp};
use tocsin_tests::{SLACK_SIGNING_SECRET, TestApp, TestResponse, alert_body, read_response};
use tower::ServiceExt;
use uuid::Uuid;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const BOT_TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ";

/// Sends a request to the actions function's router.
async fn actions(app: &TestApp, request: Request<Body>) -> TestResponse {
    let response = shared::actions::router(app.state.clone())
        .oneshot(request)
        .await
        .unwrap();
    read_response(response).await
}

async fn get_link(app: &TestApp, token: &str) -> (u16, String, axum::http::HeaderMap) {
    let response = shared::actions::router(app.state.clone())
        .oneshot(
            Request::get(format!("/a/{token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    (
        status,
        String::from_utf8_lossy(&bytes).into_owned(),
        headers,
    )
}

async fn post_link(state: shared::AppState, token: String) -> (u16, String) {
    let response = shared::actions::router(state)
        .oneshot(
            Request::post(format!("/a/{token}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status().as_u16();
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// Opens an incident; returns its id.
async fn open_incident(app: &TestApp, key: &str) -> Uuid {
    let mut body = alert_body(key);
    body["dedup_key"] = json!(key);
    body["group_key"] = json!(key);
    assert_eq!(app.post_alert(&body).await.status, 202);
    sqlx::query_scalar("SELECT incident_id FROM alert WHERE external_id = $1")
        .bind(key)
        .fetch_one(&app.state.db)
        .await
        .unwrap()
}

async fn incident_status(app: &TestApp, incident: Uuid) -> String {
    sqlx::query_scalar("SELECT status::text FROM incident WHERE id = $1")
        .bind(incident)
        .fetch_one(&app.state.db)
        .await
        .unwrap()
}

/// (action, via) of every timeline entry of the incident.
async fn timeline(app: &TestApp, incident: Uuid) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT action::text, via::text FROM incident_timeline WHERE incident_id = $1 ORDER BY created_at",
    )
    .bind(incident)
    .fetch_all(&app.state.db)
    .await
    .unwrap()
}

/// Every magic-link token in a mail, its quoted-printable soft breaks undone.
fn tokens_in(mail: &str) -> Vec<String> {
    let text = mail.replace("=\r\n", "");
    let mut tokens = Vec::new();
    for (at, _) in text.match_indices("https://tocsin.example.com/a/") {
        let token: String = text[at + 29..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        tokens.push(token);
    }
    tokens
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn opening_every_link_in_an_email_changes_nothing_and_a_post_acts_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let smtp = FakeSmtp::start(Behaviour::default()).await;
    app.add_channel(
        ChannelKind::Email,
        json!({"transport": "smtp", "from": "alerts@example.com", "to": "oncall@example.com",
               "host": "127.0.0.1", "port": smtp.port, "security": "none"}),
    )
    .await;
    let incident = open_incident(&app, "disk-full").await;
    while app.poll_once(0).await > 0 {}
    let mail = &smtp.received()[0].data;
    let tokens = tokens_in(mail);
    // Acknowledge and resolve, each in the text and the HTML part.
    assert_eq!(tokens.len(), 4, "{mail}");
    for token in &tokens {
        let (status, page, headers) = get_link(&app, token).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains("<form method=\"post\""), "{page}");
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(headers["referrer-policy"], "no-referrer");
    }
    assert_eq!(incident_status(&app, incident).await, "TRIGGERED");
    assert!(timeline(&app, incident).await.is_empty());

    // Only the hash is stored.
    let rows: Vec<String> = sqlx::query_scalar("SELECT t::text FROM magic_link_token t")
        .fetch_all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "one token per action, shared by both parts");
    for token in &tokens {
        assert!(rows.iter().all(|row| !row.contains(token.as_str())));
    }

    // A hundred concurrent clicks of the acknowledge link act once.
    let acknowledge = tokens
        .iter()
        .find(|t| {
            mail.replace("=\r\n", "")
                .contains(&format!("Acknowledge: https://tocsin.example.com/a/{t}"))
        })
        .unwrap()
        .clone();
    let clicks = futures::future::join_all(
        (0..100).map(|_| post_link(app.state.clone(), acknowledge.clone())),
    )
    .await;
    let acted = clicks.iter().filter(|(status, _)| *status == 200).count();
    let refused = clicks.iter().filter(|(status, _)| *status == 410).count();
    assert_eq!((acted, refused), (1, 99), "{clicks:?}");
    assert_eq!(incident_status(&app, incident).await, "ACKNOWLEDGED");
    assert_eq!(
        timeline(&app, incident).await,
        vec![("acknowledge".to_owned(), "magic_link".to_owned())]
    );

    // The used link shows it was used; a made-up one is unknown.
    let (status, page, _) = get_link(&app, &acknowledge).await;
    assert_eq!(status, 410, "{page}");
    let (status, _, _) = get_link(&app, &shared::actions::magic::new_token()).await;
    assert_eq!(status, 404);
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn expired_links_are_refused_and_acting_twice_is_reported(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let incident = open_incident(&app, "cpu").await;
    let mut conn = app.state.db.acquire().await.unwrap();
    let expired = shared::actions::magic::issue(
        &mut conn,
        incident,
        None,
        shared::incidents::MagicLinkAction::Acknowledge,
        chrono::Duration::minutes(5),
    )
    .await
    .unwrap();
    sqlx::query("UPDATE magic_link_token SET expires_at = now() - interval '1 minute'")
        .execute(&mut *conn)
        .await
        .unwrap();
    let resolve = shared::actions::magic::issue(
        &mut conn,
        incident,
        None,
        shared::incidents::MagicLinkAction::Resolve,
        chrono::Duration::minutes(5),
    )
    .await
    .unwrap();
    drop(conn);
    let (status, page) = post_link(app.state.clone(), expired.clone()).await;
    assert_eq!(status, 410);
    assert!(page.contains("expired"), "{page}");
    assert_eq!(incident_status(&app, incident).await, "TRIGGERED");

    // Resolved through the API first: the link reports it instead of acting again.
    let key = app
        .create_key(app.workspace_id, shared::tenancy::UserRole::Admin, &[])
        .await
        .key;
    let resolved = app
        .api(
            "POST",
            &format!("/v1/incidents/{incident}/resolve"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(resolved.status, 200);
    let (status, page) = post_link(app.state.clone(), resolve).await;
    assert_eq!(status, 200);
    assert!(page.contains("was already resolved"), "{page}");
    assert_eq!(
        timeline(&app, incident).await,
        vec![("resolve".to_owned(), "api".to_owned())]
    );
    let detail = app
        .api(
            "GET",
            &format!("/v1/incidents/{incident}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(detail.body["timeline"][0]["via"], "api");
    app.cleanup().await;
}

/// A Slack `block_actions` request for `action` on `incident`, signed at `timestamp`.
fn slack_request(
    incident: Uuid,
    action: &str,
    response_url: &str,
    timestamp: i64,
    secret: &str,
) -> Request<Body> {
    let payload = json!({
        "type": "block_actions",
        "user": {"id": "U0123ABCD", "username": "ana"},
        "team": {"id": "T0001"},
        "response_url": response_url,
        "message": {"text": "[CRITICAL] Triggered: cpu", "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "[CRITICAL] Triggered: cpu"}},
            {"type": "actions", "block_id": format!("tocsin:{incident}"), "elements": [
                {"type": "button", "action_id": "acknowledge", "value": incident.to_string()},
                {"type": "button", "action_id": "resolve", "value": incident.to_string()}]}]},
        "actions": [{"type": "button", "action_id": action, "value": incident.to_string(),
                     "block_id": format!("tocsin:{incident}")}],
    });
    let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
    let timestamp = timestamp.to_string();
    let signature = shared::actions::slack::signature(secret, &timestamp, body.as_bytes());
    Request::post("/v1/slack/interactions")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", timestamp)
        .header("x-slack-signature", signature)
        .body(Body::from(body))
        .unwrap()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_slack_button_acknowledges_as_the_mapped_user_and_updates_the_message(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let user: Uuid = sqlx::query_scalar(
        "INSERT INTO app_user (workspace_id, email, display_name) VALUES ($1, 'ana@example.com', 'Ana') RETURNING id",
    )
    .bind(app.workspace_id)
    .fetch_one(&app.state.db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO contact_method (user_id, kind, address) VALUES ($1, 'SLACK', 'U0123ABCD')",
    )
    .bind(user)
    .execute(&app.state.db)
    .await
    .unwrap();
    let incident = open_incident(&app, "cpu").await;
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/actions/T0001/1/abc"))
        .and(body_partial_json(json!({"replace_original": true})))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&slack)
        .await;
    let response_url = format!("{}/actions/T0001/1/abc", slack.uri());
    let now = chrono::Utc::now().timestamp();

    // Refused: a wrong secret, an old timestamp.
    let forged = actions(
        &app,
        slack_request(incident, "acknowledge", &response_url, now, "wrong-secret"),
    )
    .await;
    assert_eq!(forged.status, 401);
    let old = actions(
        &app,
        slack_request(
            incident,
            "acknowledge",
            &response_url,
            now - 600,
            SLACK_SIGNING_SECRET,
        ),
    )
    .await;
    assert_eq!(old.status, 401);
    assert_eq!(incident_status(&app, incident).await, "TRIGGERED");

    let answer = actions(
        &app,
        slack_request(
            incident,
            "acknowledge",
            &response_url,
            now,
            SLACK_SIGNING_SECRET,
        ),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(incident_status(&app, incident).await, "ACKNOWLEDGED");
    let acknowledged_by: Option<Uuid> =
        sqlx::query_scalar("SELECT acknowledged_by_user_id FROM incident WHERE id = $1")
            .bind(incident)
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert_eq!(acknowledged_by, Some(user));
    let update: Value =
        serde_json::from_slice(&slack.received_requests().await.unwrap()[0].body).unwrap();
    let blocks = update["blocks"].as_array().unwrap();
    let buttons = &blocks.iter().find(|b| b["type"] == "actions").unwrap()["elements"];
    assert_eq!(buttons.as_array().unwrap().len(), 1, "only Resolve is left");
    assert_eq!(buttons[0]["action_id"], "resolve");
    assert_eq!(
        blocks.last().unwrap()["elements"][0]["text"],
        ":eyes: Acknowledged by <@U0123ABCD>"
    );
    assert_eq!(
        timeline(&app, incident).await,
        vec![("acknowledge".to_owned(), "slack".to_owned())]
    );
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_telegram_button_acts_answers_the_callback_and_edits_the_message(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let user: Uuid = sqlx::query_scalar(
        "INSERT INTO app_user (workspace_id, email, display_name) VALUES ($1, 'ana@example.com', 'Ana') RETURNING id",
    )
    .bind(app.workspace_id)
    .fetch_one(&app.state.db)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO contact_method (user_id, kind, address) VALUES ($1, 'TELEGRAM', '987654321')",
    )
    .bind(user)
    .execute(&app.state.db)
    .await
    .unwrap();
    let telegram = MockServer::start().await;
    let secret = "s3cret-token_for-the-webhook";
    let channel_id = app
        .add_channel(
            ChannelKind::Telegram,
            json!({"bot_token": BOT_TOKEN, "chat_id": -100123, "api_base_url": telegram.uri(),
               "webhook_secret": secret}),
        )
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{BOT_TOKEN}/setWebhook")))
        .and(body_partial_json(json!({
            "url": format!("https://tocsin.example.com/v1/telegram/{channel_id}/webhook"),
            "secret_token": secret, "allowed_updates": ["callback_query"]})))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"ok": true, "result": true, "description": "Webhook was set"}),
            ),
        )
        .expect(1)
        .mount(&telegram)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{BOT_TOKEN}/answerCallbackQuery")))
        .and(body_partial_json(
            json!({"callback_query_id": "4382bfdwdsb323b2d9", "text": "Acknowledged"}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": true})))
        .expect(1)
        .mount(&telegram)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{BOT_TOKEN}/editMessageText")))
        .and(body_partial_json(
            json!({"chat_id": -100123, "message_id": 4711}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": {}})))
        .expect(1)
        .mount(&telegram)
        .await;
    let key = app
        .create_key(app.workspace_id, shared::tenancy::UserRole::Admin, &[])
        .await
        .key;
    let registered = app
        .api(
            "POST",
            &format!("/v1/notification-channels/{channel_id}/telegram-webhook"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(registered.status, 200, "{}", registered.body);
    assert_eq!(registered.body["description"], "Webhook was set");

    let incident = open_incident(&app, "db").await;
    let update = |token: &str| {
        Request::post(format!("/v1/telegram/{channel_id}/webhook"))
            .header("content-type", "application/json")
            .header("x-telegram-bot-api-secret-token", token)
            .body(Body::from(
                json!({"update_id": 1, "callback_query": {
                    "id": "4382bfdwdsb323b2d9",
                    "from": {"id": 987654321, "is_bot": false, "first_name": "Ana", "username": "ana_oncall"},
                    "message": {"message_id": 4711, "chat": {"id": -100123, "type": "supergroup"},
                                "date": 1700000000, "text": "[CRITICAL] Triggered: db"},
                    "chat_instance": "-1", "data": format!("acknowledge:{incident}")}})
                .to_string(),
            ))
            .unwrap()
    };
    let refused = actions(&app, update("wrong")).await;
    assert_eq!(refused.status, 401);
    assert_eq!(incident_status(&app, incident).await, "TRIGGERED");
    let answer = actions(&app, update(secret)).await;
    assert_eq!(answer.status, 200);
    assert_eq!(incident_status(&app, incident).await, "ACKNOWLEDGED");
    let edit = telegram
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.url.path().ends_with("/editMessageText"))
        .unwrap();
    let edit: Value = serde_json::from_slice(&edit.body).unwrap();
    assert!(
        edit["text"]
            .as_str()
            .unwrap()
            .ends_with("Acknowledged by @ana_oncall"),
        "{edit}"
    );
    assert_eq!(
        edit["reply_markup"]["inline_keyboard"][0][0]["callback_data"],
        format!("resolve:{incident}")
    );
    assert_eq!(
        timeline(&app, incident).await,
        vec![("acknowledge".to_owned(), "telegram".to_owned())]
    );
    app.cleanup().await;
}
