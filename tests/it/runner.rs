//! The local runner, started for real: HTTP on a port, the SQS poller, the worker.

use std::time::Duration;

use sqlx::PgPool;
use tocsin_tests::{TestApp, alert_body};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Answers 200 and hands every request it receives to the test.
struct Forward(tokio::sync::mpsc::UnboundedSender<Request>);

impl Respond for Forward {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let _ = self.0.send(request.clone());
        ResponseTemplate::new(200)
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_local_runner_serves_an_alert_and_delivers_it(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let (tx, mut received) = tokio::sync::mpsc::unbounded_channel();
    let provider = MockServer::start().await;
    Mock::given(wiremock::matchers::method("POST"))
        .respond_with(Forward(tx))
        .mount(&provider)
        .await;
    app.add_webhook_channel(&provider.uri()).await;

    let options = tocsin_local::runner::Options {
        http_addr: "127.0.0.1:0".parse().unwrap(),
        sqs_wait_seconds: 1,
        relay_every: Duration::from_secs(3600),
        pollers: 2,
    };
    let running = tocsin_local::runner::start(app.state.clone(), options)
        .await
        .unwrap();
    let url = format!(
        "http://{}/v1/integrations/{}/webhook",
        running.http_addr, app.integration_id
    );
    let client = reqwest::Client::new();
    let wrong_method = client.get(&url).send().await.unwrap();
    assert_eq!(wrong_method.status(), 405);
    assert_eq!(
        wrong_method.headers()["content-type"],
        "application/problem+json"
    );
    let unknown = client
        .post(format!("http://{}/v1/nothing-here", running.http_addr))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.headers()["content-type"],
        "application/problem+json"
    );

    let response = client
        .post(url)
        .json(&alert_body("Through the runner"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);

    let request = tokio::time::timeout(Duration::from_secs(30), received.recv())
        .await
        .expect("the provider was called within 30 s")
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["alert"]["title"], "Through the runner");

    // The worker records SENT right after the provider answers.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let logs = app.notification_logs().await;
        if logs[0].status == "SENT" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {}",
            logs[0].status
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    running.stop();
    assert!(received.try_recv().is_err(), "delivered exactly once");
    app.cleanup().await;
}
