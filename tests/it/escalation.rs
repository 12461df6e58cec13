//! Escalation policies and a person's channel tiers, with the clock handed to the
//! escalator instead of waited for.

use chrono::{Duration, Utc};
use serde_json::json;
use shared::incidents::HumanAction;
use shared::notify::ChannelKind;
use sqlx::PgPool;
use tocsin_tests::{TestApp, alert_body};
use uuid::Uuid;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A service with a policy of `levels` (delay in minutes, target: a channel or a user);
/// the test integration files its alerts under it.
async fn policy(app: &TestApp, levels: &[(i32, Uuid, bool)], repeat_count: i32) -> Uuid {
    let db = &app.state.db;
    let policy: Uuid = sqlx::query_scalar(
        "INSERT INTO escalation_policy (workspace_id, name, repeat_count) VALUES ($1, 'p', $2) RETURNING id",
    )
    .bind(app.workspace_id)
    .bind(repeat_count)
    .fetch_one(db)
    .await
    .unwrap();
    for (index, (delay, target, is_user)) in levels.iter().enumerate() {
        let level: Uuid = sqlx::query_scalar(
            "INSERT INTO escalation_level (escalation_policy_id, level, delay_minutes) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(policy)
        .bind(i32::try_from(index).unwrap() + 1)
        .bind(delay)
        .fetch_one(db)
        .await
        .unwrap();
        let column = if *is_user {
            "user_id"
        } else {
            "notification_channel_id"
        };
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO escalation_target (escalation_level_id, {column}) VALUES ($1, $2)"
        )))
        .bind(level)
        .bind(target)
        .execute(db)
        .await
        .unwrap();
    }
    let service: Uuid = sqlx::query_scalar(
        "INSERT INTO service (workspace_id, name, escalation_policy_id) VALUES ($1, 'checkout', $2) RETURNING id",
    )
    .bind(app.workspace_id)
    .bind(policy)
    .fetch_one(db)
    .await
    .unwrap();
    sqlx::query("UPDATE integration SET default_service_id = $1 WHERE id = $2")
        .bind(service)
        .bind(app.integration_id)
        .execute(db)
        .await
        .unwrap();
    policy
}

async fn trigger(app: &TestApp, key: &str) -> Uuid {
    let mut body = alert_body(key);
    body["dedup_key"] = json!(key);
    body["group_key"] = json!(key);
    let answer = app.post_alert(&body).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    sqlx::query_scalar("SELECT incident_id FROM alert WHERE external_id = $1")
        .bind(key)
        .fetch_one(&app.state.db)
        .await
        .unwrap()
}

/// (channel id, escalation level) of every notification about `incident`.
async fn notified(app: &TestApp, incident: Uuid) -> Vec<(Option<Uuid>, Option<i32>)> {
    sqlx::query_as(
        "SELECT notification_channel_id, escalation_level FROM notification_log
         WHERE incident_id = $1 ORDER BY queued_at, id",
    )
    .bind(incident)
    .fetch_all(&app.state.db)
    .await
    .unwrap()
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn level_two_is_notified_after_the_wait_and_not_after_an_acknowledge(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let first = MockServer::start().await;
    let second = MockServer::start().await;
    for server in [&first, &second] {
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(204))
            .mount(server)
            .await;
    }
    let a = app
        .add_channel(ChannelKind::Webhook, json!({"url": first.uri()}))
        .await;
    let b = app
        .add_channel(ChannelKind::Webhook, json!({"url": second.uri()}))
        .await;
    // A workspace channel that is no target of the policy hears nothing.
    let bystander = MockServer::start().await;
    app.add_channel(ChannelKind::Webhook, json!({"url": bystander.uri()}))
        .await;
    policy(&app, &[(5, a, false), (10, b, false)], 0).await;

    let opened = Utc::now();
    let incident = trigger(&app, "db-down").await;
    assert_eq!(notified(&app, incident).await, vec![(Some(a), Some(1))]);
    let (level, next): (i32, Option<chrono::DateTime<Utc>>) =
        sqlx::query_as("SELECT escalation_level, next_escalation_at FROM incident WHERE id = $1")
            .bind(incident)
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert_eq!(level, 1);
    let next = next.expect("level 2 is scheduled");
    assert!(next >= opened + Duration::minutes(5) && next <= Utc::now() + Duration::minutes(5));

    // A second incident, acknowledged before its wait is over.
    let acknowledged = trigger(&app, "cache-down").await;
    let mut conn = app.state.db.acquire().await.unwrap();
    shared::incidents::act_on_incident(
        &mut conn,
        app.workspace_id,
        acknowledged,
        HumanAction::Acknowledge,
        &shared::incidents::Actor::api(None),
    )
    .await
    .unwrap();
    drop(conn);

    let early = shared::escalation::escalate_due(&app.state, next - Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(early.escalated, 0, "not before the wait is over");
    let due = shared::escalation::escalate_due(&app.state, next + Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(
        due.escalated, 1,
        "only the unacknowledged incident escalates"
    );
    assert_eq!(
        notified(&app, incident).await,
        vec![(Some(a), Some(1)), (Some(b), Some(2))]
    );
    let (level, next): (i32, Option<chrono::DateTime<Utc>>) =
        sqlx::query_as("SELECT escalation_level, next_escalation_at FROM incident WHERE id = $1")
            .bind(incident)
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert_eq!((level, next), (2, None), "the last level, no repeat");
    let acknowledged_levels: Vec<Option<i32>> = notified(&app, acknowledged)
        .await
        .into_iter()
        .map(|(_, level)| level)
        .collect();
    assert!(
        !acknowledged_levels.contains(&Some(2)),
        "{acknowledged_levels:?}"
    );
    // Running again at the same time does nothing more.
    let again = shared::escalation::escalate_due(&app.state, next_or(next) + Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(again.escalated, 0);

    // The workers deliver what was queued: level 1 to the first, level 2 to the second.
    while app.poll_once(0).await > 0 {}
    assert_eq!(second.received_requests().await.unwrap().len(), 1);
    assert!(bystander.received_requests().await.unwrap().is_empty());
    app.cleanup().await;
}

fn next_or(next: Option<chrono::DateTime<Utc>>) -> chrono::DateTime<Utc> {
    next.unwrap_or_else(Utc::now)
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_policy_repeats_its_levels(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let a = app
        .add_channel(ChannelKind::Webhook, json!({"url": "http://127.0.0.1:9/"}))
        .await;
    policy(&app, &[(1, a, false)], 2).await;
    let incident = trigger(&app, "flapping").await;
    let mut now = Utc::now();
    for _ in 0..4 {
        now += Duration::minutes(2);
        shared::escalation::escalate_due(&app.state, now)
            .await
            .unwrap();
    }
    let cycles: Vec<(i32, i32)> = sqlx::query_as(
        "SELECT escalation_level, escalation_cycle FROM notification_log
         WHERE incident_id = $1 ORDER BY queued_at, id",
    )
    .bind(incident)
    .fetch_all(&app.state.db)
    .await
    .unwrap();
    assert_eq!(
        cycles,
        vec![(1, 0), (1, 1), (1, 2)],
        "the first pass and two repeats"
    );
    app.cleanup().await;
}

const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
const AUTH_TOKEN: &str = "0123456789abcdef0123456789abcdef";
const BOT_TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawQ";

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_secondary_tier_is_paged_only_when_every_primary_delivery_failed(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let db = &app.state.db;
    let user: Uuid = sqlx::query_scalar(
        "INSERT INTO app_user (workspace_id, email, display_name, role) VALUES ($1, 'ana@example.com', 'Ana', 'responder') RETURNING id",
    )
    .bind(app.workspace_id)
    .fetch_one(db)
    .await
    .unwrap();
    for (tier, kind) in [
        ("primary", "TELEGRAM"),
        ("primary", "PUSH"),
        ("secondary", "SMS"),
        ("fallback", "VOICE"),
    ] {
        sqlx::query(
            "INSERT INTO user_channel_tier (user_id, tier, channel) VALUES ($1, $2::channel_tier, $3::channel_kind)",
        )
        .bind(user)
        .bind(tier)
        .bind(kind)
        .execute(db)
        .await
        .unwrap();
    }
    for (kind, address) in [
        ("TELEGRAM", "987654321"),
        ("PUSH", "ana-pager"),
        ("SMS", "+15558675310"),
        ("VOICE", "+15558675310"),
    ] {
        sqlx::query(
            "INSERT INTO contact_method (user_id, kind, address) VALUES ($1, $2::channel_kind, $3)",
        )
        .bind(user)
        .bind(kind)
        .bind(address)
        .execute(db)
        .await
        .unwrap();
    }
    let telegram = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"})))
        .mount(&telegram)
        .await;
    let ntfy = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({"code": 40301, "http": 403, "error": "forbidden"})),
        )
        .mount(&ntfy)
        .await;
    let twilio = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!(
            "/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
        )))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"sid": "SM1", "status": "queued"})),
        )
        .expect(1)
        .mount(&twilio)
        .await;
    // The channels carry the credentials; the person's contact methods the addresses.
    app.add_channel(
        ChannelKind::Telegram,
        json!({"bot_token": BOT_TOKEN, "chat_id": "-100999", "api_base_url": telegram.uri()}),
    )
    .await;
    app.add_channel(
        ChannelKind::Push,
        json!({"server_url": ntfy.uri(), "topic": "team-wide"}),
    )
    .await;
    let twilio_config = json!({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from": "+15005550006",
                               "to": "+15550000000", "api_base_url": twilio.uri()});
    app.add_channel(ChannelKind::Sms, twilio_config.clone())
        .await;
    app.add_channel(ChannelKind::Voice, twilio_config).await;
    policy(&app, &[(5, user, true)], 0).await;

    let incident = trigger(&app, "payments").await;
    let tiers = || async {
        sqlx::query_as::<_, (String, String, String, Option<String>)>(
            "SELECT tier::text, channel::text, status::text, destination FROM notification_log
             WHERE incident_id = $1 ORDER BY tier, channel",
        )
        .bind(incident)
        .fetch_all(db)
        .await
        .unwrap()
    };
    let queued = tiers().await;
    assert_eq!(queued.len(), 2, "the primary tier, in parallel: {queued:?}");
    assert!(queued.iter().all(|(tier, ..)| tier == "primary"));

    // Both primary deliveries fail in one batch; the secondary is queued once.
    let event = app.receive_event(5).await;
    assert_eq!(event.records.len(), 2);
    app.run_worker(event).await;
    let after = tiers().await;
    assert_eq!(after.len(), 3, "{after:?}");
    assert_eq!(
        after[2],
        (
            "secondary".to_owned(),
            "SMS".to_owned(),
            "QUEUED".to_owned(),
            Some("+15558675310".to_owned())
        )
    );
    let sent_to = &telegram.received_requests().await.unwrap()[0];
    let body: serde_json::Value = serde_json::from_slice(&sent_to.body).unwrap();
    assert_eq!(
        body["chat_id"], "987654321",
        "the person's chat, not the channel's"
    );
    let text = body["text"].as_str().unwrap();
    assert!(text.contains("checkout"), "the service is named: {text}");
    assert!(text.contains("Escalation level"), "{text}");

    // The SMS goes to the person's number and succeeds: no fallback call.
    while app.poll_once(0).await > 0 {}
    let form: Vec<(String, String)> =
        serde_urlencoded::from_bytes(&twilio.received_requests().await.unwrap()[0].body).unwrap();
    assert!(form.contains(&("To".to_owned(), "+15558675310".to_owned())));
    let last = tiers().await;
    assert_eq!(last.len(), 3);
    assert_eq!(last[2].2, "SENT");
    app.cleanup().await;
}
