//! The walking skeleton's slice: webhook in, notification out, through real PostgreSQL,
//! real SQS (local endpoint) and a fake provider over HTTP.

use serde_json::json;
use sqlx::PgPool;
use tocsin_tests::{TestApp, alert_body};
use wiremock::matchers::{body_partial_json, header, header_exists, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_alert_posted_to_the_webhook_is_delivered_to_the_channel(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let provider = MockServer::start().await;
    app.add_webhook_channel(&format!("{}/hooks/ops", provider.uri()))
        .await;
    let response = app.post_alert(&alert_body("Checkout is failing")).await;
    assert_eq!(response.status, 202, "{:?}", response.body);
    let alert_id = response.body["alert_ids"][0].as_str().unwrap().to_owned();
    assert_eq!(response.body["notifications_queued"], 1);
    let logs = app.notification_logs().await;
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].status, "QUEUED");

    Mock::given(method("POST"))
        .and(path("/hooks/ops"))
        .and(header("content-type", "application/json"))
        .and(header("webhook-id", logs[0].id.to_string().as_str()))
        .and(header_exists("user-agent"))
        .and(body_partial_json(json!({
            "type": "incident.triggered",
            "notification_id": logs[0].id,
            "incident": {"title": "Checkout is failing", "priority": "CRITICAL", "status": "TRIGGERED", "alert_count": 1},
            "alert": {
                "id": alert_id,
                "title": "Checkout is failing",
                "severity": "CRITICAL",
                "status": "OPEN",
                "description": "Checkout answers 502 for 4% of requests",
                "external_id": "checkout-5xx",
                "source": "test-generic",
                "metadata": {"details": {"service": "checkout"}}
            }
        })))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&provider)
        .await;

    let event = app.receive_event(5).await;
    assert_eq!(event.records.len(), 1, "one job reached SQS");
    let answer = app.run_worker(event).await;
    assert!(answer.batch_item_failures.is_empty(), "{answer:?}");

    let logs = app.notification_logs().await;
    assert_eq!(logs[0].status, "SENT");
    assert_eq!(logs[0].attempt_count, 1);
    assert_eq!(logs[0].provider_status.as_deref(), Some("200 OK"));
    assert_eq!(
        app.count("webhook_delivery WHERE status_code = 202 AND alert_id IS NOT NULL")
            .await,
        1
    );
    provider.verify().await;
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_provider_error_is_retried_once_and_then_sent(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let provider = MockServer::start().await;
    app.add_webhook_channel(&provider.uri()).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("upstream exploded"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&provider)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&provider)
        .await;
    assert_eq!(app.post_alert(&alert_body("flaky")).await.status, 202);

    assert_eq!(app.poll_once(5).await, 1);
    let logs = app.notification_logs().await;
    assert_eq!(logs[0].status, "QUEUED", "back in the queue after a 500");
    assert_eq!(logs[0].attempt_count, 1);
    assert_eq!(
        logs[0].error.as_deref(),
        Some("the provider answered 500 Internal Server Error: upstream exploded")
    );

    // The failed record was not deleted: SQS hands it out again.
    assert_eq!(app.poll_once(5).await, 1);
    let logs = app.notification_logs().await;
    assert_eq!(logs[0].status, "SENT");
    assert_eq!(logs[0].attempt_count, 2);
    assert_eq!(logs[0].error, None);
    assert_eq!(app.poll_once(1).await, 0, "nothing left in the queue");
    provider.verify().await;
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_provider_that_always_fails_ends_failed_after_the_maximum_attempts(pool: PgPool) {
    let app = TestApp::new(pool).await; // three attempts in the test configuration
    let provider = MockServer::start().await;
    app.add_webhook_channel(&provider.uri()).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .expect(3)
        .mount(&provider)
        .await;
    assert_eq!(app.post_alert(&alert_body("down")).await.status, 202);

    for _ in 0..3 {
        assert_eq!(app.poll_once(5).await, 1);
    }
    let logs = app.notification_logs().await;
    assert_eq!(logs[0].status, "FAILED");
    assert_eq!(logs[0].attempt_count, 3);
    assert_eq!(
        logs[0].error.as_deref(),
        Some("the provider answered 503 Service Unavailable (gave up after 3 attempts)")
    );
    assert_eq!(app.poll_once(1).await, 0, "the job was deleted once FAILED");
    provider.verify().await;
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_client_error_fails_at_once_without_retrying(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let provider = MockServer::start().await;
    app.add_webhook_channel(&provider.uri()).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(404).set_body_string("no such hook"))
        .expect(1)
        .mount(&provider)
        .await;
    assert_eq!(app.post_alert(&alert_body("gone")).await.status, 202);
    assert_eq!(app.poll_once(5).await, 1);
    let logs = app.notification_logs().await;
    assert_eq!(logs[0].status, "FAILED");
    assert_eq!(logs[0].attempt_count, 1);
    assert_eq!(logs[0].provider_status.as_deref(), Some("404 Not Found"));
    assert_eq!(app.poll_once(1).await, 0);
    provider.verify().await;
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_same_sqs_message_delivered_twice_calls_the_provider_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let provider = MockServer::start().await;
    app.add_webhook_channel(&provider.uri()).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&provider)
        .await;
    assert_eq!(app.post_alert(&alert_body("once")).await.status, 202);
    let event = app.receive_event(5).await;
    assert_eq!(event.records.len(), 1);

    let first = app.run_worker(event.clone()).await;
    let second = app.run_worker(event).await;
    assert!(first.batch_item_failures.is_empty());
    assert!(
        second.batch_item_failures.is_empty(),
        "a redelivery of a SENT row is acknowledged"
    );
    assert_eq!(app.notification_logs().await[0].attempt_count, 1);
    provider.verify().await;
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn concurrent_deliveries_of_one_job_call_the_provider_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let provider = MockServer::start().await;
    app.add_webhook_channel(&provider.uri()).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&provider)
        .await;
    assert_eq!(app.post_alert(&alert_body("race")).await.status, 202);
    let event = app.receive_event(5).await;
    let answers = futures_join(&app, event, 8).await;
    // Exactly one attempt sent; the others saw it in flight or finished.
    assert_eq!(app.notification_logs().await[0].status, "SENT");
    assert!(answers.iter().any(|a| a.batch_item_failures.is_empty()));
    provider.verify().await;
    app.cleanup().await;
}

async fn futures_join(
    app: &TestApp,
    event: aws_lambda_events::event::sqs::SqsEvent,
    copies: usize,
) -> Vec<aws_lambda_events::event::sqs::SqsBatchResponse> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..copies {
        let state = app.state.clone();
        let event = event.clone();
        tasks.spawn(async move { shared::notify::worker::handle_sqs_event(&state, event).await });
    }
    tasks.join_all().await
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_workspace_without_enabled_channels_queues_nothing(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let channel = app.add_webhook_channel("http://127.0.0.1:9/never").await;
    sqlx::query("UPDATE notification_channel SET enabled = false WHERE id = $1")
        .bind(channel)
        .execute(&app.state.db)
        .await
        .unwrap();
    let response = app.post_alert(&alert_body("quiet")).await;
    assert_eq!(response.status, 202);
    assert_eq!(response.body["notifications_queued"], 0);
    assert_eq!(app.count("notification_log").await, 0);
    assert_eq!(app.receive_event(1).await.records.len(), 0);
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn an_unusable_message_reaches_the_dlq(pool: PgPool) {
    let app = TestApp::new(pool).await; // the test queue moves a message after 3 receives
    app.state
        .sqs
        .send_message()
        .queue_url(&app.queue.url)
        .message_body("{\"type\":\"no_such_job\"}")
        .send()
        .await
        .unwrap();
    for _ in 0..3 {
        assert_eq!(
            app.poll_once(5).await,
            1,
            "the poison message is reported failed"
        );
    }
    assert_eq!(app.poll_once(1).await, 0, "it left the queue");
    let dead = app
        .state
        .sqs
        .receive_message()
        .queue_url(&app.queue.dlq_url)
        .wait_time_seconds(5)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body(), Some("{\"type\":\"no_such_job\"}"));
    app.cleanup().await;
}
