//! The transactional outbox: a job written with its rows reaches SQS even when the
//! process dies between the commit and the send.

use axum::http::HeaderMap;
use sqlx::PgPool;
use tocsin_tests::{TestApp, alert_body};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn provider_expecting_one_call() -> MockServer {
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&provider)
        .await;
    provider
}

fn json_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    headers
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn a_crash_between_commit_and_send_is_repaired_by_the_relay(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let provider = provider_expecting_one_call().await;
    app.add_webhook_channel(&provider.uri()).await;

    // Everything the endpoint does up to and including the commit, then "crash": the
    // jobs are never handed to SQS by the request.
    let ingested = shared::ingest::accept_webhook(
        &app.state,
        &app.integration_id.to_string(),
        &json_headers(),
        Ok(alert_body("crash").to_string().into()),
    )
    .await
    .unwrap();
    assert_eq!(ingested.outbox_ids.len(), 1);
    assert_eq!(
        app.receive_event(1).await.records.len(),
        0,
        "nothing reached SQS"
    );

    let report = shared::outbox::relay_pending(&app.state).await.unwrap();
    assert_eq!(report.sent, 1);
    assert_eq!(app.poll_once(5).await, 1);
    assert_eq!(app.notification_logs().await[0].status, "SENT");
    assert_eq!(
        app.count("outbox_message WHERE dispatched_at IS NULL")
            .await,
        0
    );
    assert_eq!(
        shared::outbox::relay_pending(&app.state)
            .await
            .unwrap()
            .sent,
        0,
        "a dispatched job is not sent again"
    );
    provider.verify().await;
    app.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn jobs_sqs_refused_stay_in_the_outbox_until_the_relay_sends_them(pool: PgPool) {
    // The request's own send goes to a queue that does not exist.
    let broken = TestApp::with_config(pool.clone(), |c| {
        c.notifications_queue_url = format!("{}-missing", c.notifications_queue_url);
    })
    .await;
    let provider = provider_expecting_one_call().await;
    broken.add_webhook_channel(&provider.uri()).await;
    assert_eq!(broken.post_alert(&alert_body("sqs down")).await.status, 202);
    let (attempts, error): (i32, Option<String>) = sqlx::query_as(
        "SELECT attempts, last_error FROM outbox_message WHERE dispatched_at IS NULL",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(attempts, 1);
    assert!(error.is_some());

    // SQS is back: the relay, with the right queue, delivers the job.
    let mut config = tocsin_tests::test_config(&broken.queue);
    config.notifications_queue_url = broken.queue.url.clone();
    let fixed =
        shared::AppState::new(config, pool, &tocsin_tests::local_sdk_config().await).unwrap();
    assert_eq!(shared::outbox::relay_pending(&fixed).await.unwrap().sent, 1);
    assert_eq!(broken.poll_once(5).await, 1);
    assert_eq!(broken.notification_logs().await[0].status, "SENT");
    provider.verify().await;
    broken.cleanup().await;
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_relay_leaves_fresh_jobs_to_the_request_that_wrote_them(pool: PgPool) {
    let app = TestApp::with_config(pool, |c| {
        c.outbox_relay_grace = std::time::Duration::from_secs(300);
    })
    .await;
    app.add_webhook_channel("http://127.0.0.1:9/").await;
    shared::ingest::accept_webhook(
        &app.state,
        &app.integration_id.to_string(),
        &json_headers(),
        Ok(alert_body("fresh").to_string().into()),
    )
    .await
    .unwrap();
    assert_eq!(
        shared::outbox::relay_pending(&app.state)
            .await
            .unwrap()
            .sent,
        0
    );
    sqlx::query("UPDATE outbox_message SET created_at = now() - interval '10 minutes'")
        .execute(&app.state.db)
        .await
        .unwrap();
    assert_eq!(
        shared::outbox::relay_pending(&app.state)
            .await
            .unwrap()
            .sent,
        1
    );
    app.cleanup().await;
}
