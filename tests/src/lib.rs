//! Helpers for Tocsin's integration tests. Every test gets its own PostgreSQL database
//! (`#[sqlx::test]`) and its own SQS queue pair on the local AWS endpoint, so tests run in
//! parallel without seeing each other's messages.

pub mod smtp;

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use shared::AppState;
use shared::config::Config;
use sqlx::PgPool;
use tocsin_local::bootstrap::{self, QueuePair};
use tower::ServiceExt;
use uuid::Uuid;

/// The Slack app signing secret of the test configuration.
pub const SLACK_SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

/// The bucket every test shares (objects are keyed by workspace, which is per test).
pub const TEST_BUCKET: &str = "tocsin-test-data";

/// The AWS SDK configuration for the local endpoint. Refuses to run against real AWS.
pub async fn local_sdk_config() -> aws_config::SdkConfig {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "AWS_ENDPOINT_URL is not set: run the tests with `make test`, which starts the local AWS endpoint"
    );
    shared::aws::load_sdk_config().await
}

/// Configuration for tests: no retry delays, three attempts, a 1 MiB body limit.
pub fn test_config(queue: &QueuePair) -> Config {
    Config {
        database_url: "postgres://unused-the-pool-is-given".into(),
        db_max_connections: 5,
        notifications_queue_url: queue.url.clone(),
        data_bucket: TEST_BUCKET.to_owned(),
        ingest_max_body_bytes: 1024 * 1024,
        notify_max_attempts: 3,
        notify_retry_base: Duration::ZERO,
        notify_retry_max: Duration::ZERO,
        provider_timeout: Duration::from_secs(2),
        notify_pace_max_wait: Duration::from_secs(10),
        outbox_relay_grace: Duration::ZERO,
        encryption_key: "test-encryption-key-0123456789-abcdefghij".into(),
        bootstrap_token: None,
        public_base_url: Some("https://tocsin.example.com".to_owned()),
        magic_link_ttl_minutes: 1440,
        slack_signing_secret: Some(SLACK_SIGNING_SECRET.into()),
        slack_client_id: Some("slack-client-id".to_owned()),
        slack_client_secret: Some("slack-client-secret".into()),
        microsoft_client_id: Some("ms-client-id".to_owned()),
        microsoft_client_secret: Some("ms-client-secret".into()),
        microsoft_tenant: "organizations".to_owned(),
        // Nothing listens there: a test that talks to a provider points these at its
        // wiremock server with `TestApp::with_config`.
        slack_api_base_url: "http://127.0.0.1:9".to_owned(),
        microsoft_login_base_url: "http://127.0.0.1:9".to_owned(),
        microsoft_graph_base_url: "http://127.0.0.1:9".to_owned(),
    }
}

/// One test's world: its database, queue, and a workspace with a generic integration.
pub struct TestApp {
    pub state: AppState,
    pub queue: QueuePair,
    pub queue_arn: String,
    pub workspace_id: Uuid,
    pub integration_id: Uuid,
}

impl TestApp {
    /// A test world with the default test configuration.
    pub async fn new(pool: PgPool) -> Self {
        Self::with_config(pool, |_| {}).await
    }

    /// A test world whose configuration `adjust` changes.
    pub async fn with_config(pool: PgPool, adjust: impl FnOnce(&mut Config)) -> Self {
        Self::with_queue(pool, 3, 0, adjust).await
    }

    /// A test world whose queue moves a message to its DLQ after `max_receive_count`
    /// receives and hides a received message for `visibility_timeout` seconds, and whose
    /// configuration `adjust` changes.
    pub async fn with_queue(
        pool: PgPool,
        max_receive_count: u32,
        visibility_timeout: u32,
        adjust: impl FnOnce(&mut Config),
    ) -> Self {
        let sdk_config = local_sdk_config().await;
        let sqs = aws_sdk_sqs::Client::new(&sdk_config);
        let name = format!("test-{}", Uuid::new_v4().simple());
        // Visibility 0: a message reported as failed can be received again at once, so
        // tests drive redelivery themselves instead of waiting for a timeout.
        let queue = bootstrap::create_queue_pair(
            &sqs,
            &name,
            &format!("{name}-dlq"),
            max_receive_count,
            visibility_timeout,
        )
        .await
        .expect("creating the test queue");
        bootstrap::create_bucket(&shared::aws::s3_client(&sdk_config), TEST_BUCKET)
            .await
            .expect("creating the test bucket");
        let mut config = test_config(&queue);
        adjust(&mut config);
        let state = AppState::new(config, pool, &sdk_config).expect("building the state");
        let workspace_id: Uuid =
            sqlx::query_scalar("INSERT INTO workspace (name) VALUES ('Test') RETURNING id")
                .fetch_one(&state.db)
                .await
                .expect("creating the workspace");
        let integration_id: Uuid = sqlx::query_scalar(
            "INSERT INTO integration (workspace_id, name, type) VALUES ($1, 'test-generic', 'generic') RETURNING id",
        )
        .bind(workspace_id)
        .fetch_one(&state.db)
        .await
        .expect("creating the integration");
        let queue_arn = queue.arn.clone();
        Self {
            state,
            queue,
            queue_arn,
            workspace_id,
            integration_id,
        }
    }

    /// Adds an enabled channel of `kind` through the same checks as the API (its
    /// credentials sealed); panics on a config the provider refuses.
    pub async fn add_channel(
        &self,
        kind: shared::notify::ChannelKind,
        config: serde_json::Value,
    ) -> Uuid {
        let mut conn = self.state.db.acquire().await.expect("a connection");
        shared::notify::channels::insert_channel(
            &mut conn,
            &self.state.cipher,
            self.workspace_id,
            kind,
            "test",
            &config,
        )
        .await
        .expect("creating the channel")
    }

    /// Adds an enabled webhook channel posting to `url`.
    pub async fn add_webhook_channel(&self, url: &str) -> Uuid {
        sqlx::query_scalar(
            "INSERT INTO notification_channel (workspace_id, provider, name, config)
             VALUES ($1, 'WEBHOOK', 'test hook', jsonb_build_object('url', $2::text)) RETURNING id",
        )
        .bind(self.workspace_id)
        .bind(url)
        .fetch_one(&self.state.db)
        .await
        .expect("creating the channel")
    }

    /// Sends a request through the ingest router, as API Gateway would.
    pub async fn request(&self, request: Request<Body>) -> TestResponse {
        let response = shared::ingest::router(self.state.clone())
            .oneshot(request)
            .await
            .expect("the router is infallible");
        read_response(response).await
    }

    /// Sends a request to the `api` function's router, with `key` as the bearer token and
    /// `body` as JSON.
    pub async fn api(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> TestResponse {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        let body = match body {
            Some(json) => {
                request = request.header("content-type", "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        let response =
            shared::error::with_problem_fallbacks(shared::api::router(self.state.clone()))
                .oneshot(request.body(body).expect("a valid request"))
                .await
                .expect("the router is infallible");
        read_response(response).await
    }

    /// Creates an API key in `workspace_id` acting as `role`, narrowed to `scopes`.
    pub async fn create_key(
        &self,
        workspace_id: Uuid,
        role: shared::tenancy::UserRole,
        scopes: &[&str],
    ) -> shared::tenancy::CreatedApiKey {
        let mut conn = self.state.db.acquire().await.expect("a connection");
        let new_key = shared::tenancy::NewApiKey {
            name: format!("test {role:?} key"),
            role: Some(role),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            expires_at: None,
        };
        shared::tenancy::insert_api_key(
            &mut conn,
            workspace_id,
            &new_key,
            shared::tenancy::UserRole::Admin,
            None,
        )
        .await
        .expect("creating the key")
    }

    /// Creates an API key in this test's workspace acting for `user_id` (its creator) with
    /// `role`, as that person would create one for themselves.
    pub async fn create_key_for_user(
        &self,
        user_id: Uuid,
        role: shared::tenancy::UserRole,
    ) -> shared::tenancy::CreatedApiKey {
        let mut conn = self.state.db.acquire().await.expect("a connection");
        let new_key = shared::tenancy::NewApiKey {
            name: format!("test {role:?} key of {user_id}"),
            role: Some(role),
            scopes: Vec::new(),
            expires_at: None,
        };
        shared::tenancy::insert_api_key(
            &mut conn,
            self.workspace_id,
            &new_key,
            shared::tenancy::UserRole::Admin,
            Some(user_id),
        )
        .await
        .expect("creating the key")
    }

    /// POSTs `body` as JSON to this test's integration.
    pub async fn post_alert(&self, body: &serde_json::Value) -> TestResponse {
        self.post_raw(
            &self.integration_id.to_string(),
            Some("application/json"),
            body.to_string(),
        )
        .await
    }

    /// POSTs raw bytes to `integration`'s webhook endpoint.
    pub async fn post_raw(
        &self,
        integration: &str,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> TestResponse {
        let mut request = Request::post(format!("/v1/integrations/{integration}/webhook"));
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        self.request(request.body(body.into()).expect("a valid request"))
            .await
    }

    /// Receives what is waiting in this test's queue, as one SQS event (long-polls up to
    /// `wait_seconds` for the first message).
    pub async fn receive_event(&self, wait_seconds: i32) -> SqsEvent {
        let messages = self
            .state
            .sqs
            .receive_message()
            .queue_url(&self.queue.url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait_seconds)
            .send()
            .await
            .expect("receiving from SQS")
            .messages
            .unwrap_or_default();
        tocsin_local::runner::sqs_event(&messages, &self.queue_arn, "us-east-1")
    }

    /// Runs the notify worker on `event`.
    pub async fn run_worker(&self, event: SqsEvent) -> SqsBatchResponse {
        shared::notify::worker::handle_sqs_event(&self.state, event).await
    }

    /// One poll of the queue by the local runner's loop: receive, run the worker, delete
    /// the successes. Returns how many messages it received.
    pub async fn poll_once(&self, wait_seconds: i32) -> usize {
        tocsin_local::runner::poll_once(
            &self.state,
            &self.queue.url,
            &self.queue_arn,
            wait_seconds,
            tocsin_local::runner::notify_worker,
        )
        .await
        .expect("polling the queue")
    }

    /// The notification log rows of this test's workspace, oldest first.
    pub async fn notification_logs(&self) -> Vec<LogRow> {
        sqlx::query_as(
            "SELECT id, status::text AS status, attempt_count, provider_status, error
             FROM notification_log WHERE workspace_id = $1 ORDER BY queued_at, id",
        )
        .bind(self.workspace_id)
        .fetch_all(&self.state.db)
        .await
        .expect("reading notification_log")
    }

    /// Rows in `table_and_filter` (a table name, optionally with a WHERE clause; test
    /// code only, never user input).
    pub async fn count(&self, table_and_filter: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM {table_and_filter}");
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&self.state.db)
            .await
            .expect("counting rows")
    }

    /// Deletes this test's queues.
    pub async fn cleanup(&self) {
        for url in [&self.queue.url, &self.queue.dlq_url] {
            let _ = self.state.sqs.delete_queue().queue_url(url).send().await;
        }
    }
}

/// Reads a router's response whole.
pub async fn read_response(response: axum::response::Response) -> TestResponse {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("reading the body")
        .to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    TestResponse {
        status,
        headers,
        body,
    }
}

/// A response read whole.
#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
}

impl TestResponse {
    /// The response's Content-Type.
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// A `notification_log` row as tests look at it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LogRow {
    pub id: Uuid,
    pub status: String,
    pub attempt_count: i32,
    pub provider_status: Option<String>,
    pub error: Option<String>,
}

/// A generic alert body.
pub fn alert_body(title: &str) -> serde_json::Value {
    serde_json::json!({
        "title": title,
        "severity": "critical",
        "description": "Checkout answers 502 for 4% of requests",
        "dedup_key": "checkout-5xx",
        "details": {"service": "checkout"}
    })
}
