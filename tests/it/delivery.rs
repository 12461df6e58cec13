//! Delivery under load and faults: seed 000 notices, per-destination pacing, and a
//! provider that fails a third of the time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use sha2::{Digest, Sha256};
use shared::notify::pace::{Limit, Pace, reserve};
use shared::notify::{ChannelKind, Notice, NoticeSeverity};
use sqlx::PgPool;
use tocsin_tests::TestApp;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Queues one notice for every enabled channel and hands the jobs to SQS.
async fn send(app: &TestApp, title: &str) -> usize {
    let mut tx = app.state.db.begin().await.unwrap();
    let announced = shared::notify::send_notification(
        &mut tx,
        app.workspace_id,
        &Notice {
            title: title.to_owned(),
            body: Some("Nightly backup of db-1 finished with warnings.".to_owned()),
            severity: NoticeSeverity::Warning,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    shared::outbox::dispatch(&app.state, &announced.outbox_ids).await;
    announced.notifications
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_notice_fans_out_to_every_enabled_channel_without_an_alert(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .expect(2)
        .mount(&receiver)
        .await;
    app.add_channel(ChannelKind::Webhook, json!({"url": receiver.uri()}))
        .await;
    app.add_channel(
        ChannelKind::Webhook,
        json!({"url": format!("{}/second", receiver.uri())}),
    )
    .await;
    let disabled = MockServer::start().await;
    app.add_channel(ChannelKind::Webhook, json!({"url": disabled.uri()}))
        .await;
    sqlx::query("UPDATE notification_channel SET enabled = false WHERE config->>'url' = $1")
        .bind(disabled.uri())
        .execute(&app.state.db)
        .await
        .unwrap();

    assert_eq!(send(&app, "Backup finished").await, 2);
    while app.poll_once(0).await > 0 {}
    let requests = receiver.received_requests().await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(body["type"], "notification", "{body}");
    assert_eq!(body["notice"]["title"], "Backup finished");
    assert_eq!(body["notice"]["severity"], "MEDIUM");
    assert!(body["alert"].is_null());
    let logs = app.notification_logs().await;
    assert!(logs.iter().all(|l| l.status == "SENT"), "{logs:?}");
    let severity: Option<String> =
        sqlx::query_scalar("SELECT DISTINCT severity::text FROM notification_log")
            .fetch_one(&app.state.db)
            .await
            .unwrap();
    assert_eq!(
        severity.as_deref(),
        Some("MEDIUM"),
        "warning is stored as MEDIUM"
    );
    assert!(disabled.received_requests().await.unwrap().is_empty());
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn reservations_take_distinct_slots_and_a_far_slot_is_not_taken(pool: PgPool) {
    let limits = [Limit {
        key: "telegram:1:chat:2".to_owned(),
        interval: Duration::from_secs(1),
    }];
    let max_wait = Duration::from_millis(1500);
    let mut waits = Vec::new();
    for _ in 0..3 {
        waits.push(reserve(&pool, &limits, max_wait).await.unwrap());
    }
    let Pace::Go { wait: first } = waits[0] else {
        panic!("{waits:?}")
    };
    let Pace::Go { wait: second } = waits[1] else {
        panic!("{waits:?}")
    };
    assert!(first < Duration::from_millis(100), "{waits:?}");
    assert!(
        second > Duration::from_millis(800) && second <= Duration::from_secs(1),
        "{waits:?}"
    );
    assert!(
        matches!(waits[2], Pace::Later { delay } if delay > max_wait),
        "the third slot is two seconds away: {waits:?}"
    );
    // The refused reservation did not move the slot on.
    let next: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM next_slot_at - now())::float8 FROM rate_limit_slot",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(next <= 2.0, "{next}");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_burst_to_one_destination_is_paced_by_its_limit(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .expect(4)
        .mount(&receiver)
        .await;
    app.add_channel(
        ChannelKind::Webhook,
        json!({"url": receiver.uri(), "max_per_second": 5}),
    )
    .await;
    for n in 0..4 {
        send(&app, &format!("notice {n}")).await;
    }
    // One batch: the four run concurrently and are spread 200 ms apart.
    let event = app.receive_event(5).await;
    assert_eq!(event.records.len(), 4);
    app.run_worker(event).await;
    let slots: Vec<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM sent_at)::float8 FROM notification_log ORDER BY sent_at",
    )
    .fetch_all(&app.state.db)
    .await
    .unwrap();
    assert_eq!(slots.len(), 4);
    for pair in slots.windows(2) {
        assert!(pair[1] - pair[0] >= 0.15, "{slots:?}");
    }
    app.cleanup().await;
}

/// A provider that answers 500 to 20% of requests, 429 to 10% and times out on 5%,
/// decided by a hash of the message id and how often it was seen, so a run is
/// reproducible whatever order the requests come in. It counts the successes per id.
#[derive(Clone, Default)]
struct Faulty {
    seen: Arc<Mutex<HashMap<String, u32>>>,
    successes: Arc<Mutex<HashMap<String, u32>>>,
}

impl Respond for Faulty {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let id = request.headers["webhook-id"]
            .to_str()
            .unwrap_or_default()
            .to_owned();
        let attempt = {
            let mut seen = self.seen.lock().unwrap();
            let count = seen.entry(id.clone()).or_default();
            *count += 1;
            *count
        };
        let roll = Sha256::digest(format!("{id}/{attempt}").as_bytes())[0] % 100;
        match roll {
            0..20 => ResponseTemplate::new(500),
            20..30 => ResponseTemplate::new(429).insert_header("retry-after", "0"),
            30..35 => ResponseTemplate::new(200).set_delay(Duration::from_secs(1)),
            _ => {
                *self.successes.lock().unwrap().entry(id).or_default() += 1;
                ResponseTemplate::new(200)
            }
        }
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_thousand_notifications_through_faults_are_each_sent_exactly_once(pool: PgPool) {
    // Up to 20 attempts; the queue's redrive allows as many receives. A received message
    // stays hidden from the other workers until it is done or retried.
    let app = TestApp::with_queue(pool, 20, 60, |config| {
        config.notify_max_attempts = 20;
        config.provider_timeout = Duration::from_millis(200);
    })
    .await;
    let provider = MockServer::start().await;
    let faulty = Faulty::default();
    Mock::given(method("POST"))
        .respond_with(faulty.clone())
        .mount(&provider)
        .await;
    app.add_channel(ChannelKind::Webhook, json!({"url": provider.uri()}))
        .await;
    let mut tx = app.state.db.begin().await.unwrap();
    let mut outbox_ids = Vec::new();
    for n in 0..1000 {
        let announced = shared::notify::send_notification(
            &mut tx,
            app.workspace_id,
            &Notice {
                title: format!("notice {n}"),
                body: None,
                severity: NoticeSeverity::Info,
            },
        )
        .await
        .unwrap();
        outbox_ids.extend(announced.outbox_ids);
    }
    tx.commit().await.unwrap();
    shared::outbox::dispatch(&app.state, &outbox_ids).await;

    // Four workers, as Lambda would run them, until no row is left to send.
    let unfinished = || async {
        app.count("notification_log WHERE status IN ('QUEUED', 'SENDING')")
            .await
    };
    futures::future::join_all((0..4).map(|_| async {
        while unfinished().await > 0 {
            app.poll_once(1).await;
        }
    }))
    .await;

    let statuses: Vec<(String, i64)> =
        sqlx::query_as("SELECT status::text, count(*) FROM notification_log GROUP BY status")
            .fetch_all(&app.state.db)
            .await
            .unwrap();
    assert_eq!(statuses, vec![("SENT".to_owned(), 1000)]);
    let seen = faulty.seen.lock().unwrap().clone();
    let successes = faulty.successes.lock().unwrap().clone();
    assert_eq!(successes.len(), 1000);
    assert!(successes.values().all(|n| *n == 1), "one success per row");
    let requests: u32 = seen.values().sum();
    assert!(requests > 1300, "the faults were met: {requests} requests");
    let attempts: i64 = sqlx::query_scalar("SELECT sum(attempt_count) FROM notification_log")
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert_eq!(
        attempts,
        i64::from(requests),
        "every request is an attempt on record"
    );
    app.cleanup().await;
}
