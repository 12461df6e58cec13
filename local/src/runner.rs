//! The local runner: one process standing in for API Gateway, the SQS event source
//! mapping and EventBridge, in front of the functions' own handlers.

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use anyhow::Context;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use shared::AppState;
use tokio::task::JoinHandle;

/// How the runner is set up.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where the HTTP functions are served (port 0 picks a free one).
    pub http_addr: SocketAddr,
    /// Long-poll wait per SQS receive, in seconds (SQS allows 0 to 20).
    pub sqs_wait_seconds: i32,
    /// How often the outbox relay runs (its schedule in AWS is every minute).
    pub relay_every: Duration,
    /// Concurrent pollers per queue, as Lambda's SQS event source runs several batches
    /// at once (it starts with five).
    pub pollers: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            http_addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            sqs_wait_seconds: 20,
            relay_every: Duration::from_secs(60),
            pollers: 5,
        }
    }
}

/// Every HTTP function's routes, as API Gateway would route them.
pub fn http_routes(state: &AppState) -> axum::Router {
    shared::error::with_problem_fallbacks(
        shared::ingest::router(state.clone())
            .merge(shared::api::router(state.clone()))
            .merge(shared::actions::router(state.clone())),
    )
}

/// What an SQS-triggered handler returns.
pub type WorkerFuture = Pin<Box<dyn Future<Output = SqsBatchResponse> + Send>>;

/// An SQS-triggered function: the queue it consumes and its handler.
#[derive(Clone)]
struct Consumer {
    function: &'static str,
    queue_url: String,
    handler: fn(AppState, SqsEvent) -> WorkerFuture,
}

fn consumers(state: &AppState) -> Vec<Consumer> {
    vec![Consumer {
        function: "notify-worker",
        queue_url: state.config.notifications_queue_url.clone(),
        handler: notify_worker,
    }]
}

/// A started runner. Dropping it stops nothing; call [`Running::stop`].
pub struct Running {
    /// The address the HTTP functions answer on.
    pub http_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops every task.
    pub fn stop(self) {
        for task in self.tasks {
            task.abort();
        }
    }

    /// Waits until a task ends (they run forever unless one fails).
    pub async fn wait(self) {
        let _ = futures::future::select_all(self.tasks).await;
    }
}

/// Starts the HTTP server, one poller per queue and the schedules.
pub async fn start(state: AppState, options: Options) -> anyhow::Result<Running> {
    let listener = tokio::net::TcpListener::bind(options.http_addr)
        .await
        .with_context(|| format!("binding {}", options.http_addr))?;
    let http_addr = listener.local_addr()?;
    let app = http_routes(&state);
    let mut tasks = vec![tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "HTTP server stopped");
        }
    })];
    tracing::info!(%http_addr, "HTTP functions listening");

    for consumer in consumers(&state) {
        let arn = crate::bootstrap::queue_arn(&state.sqs, &consumer.queue_url).await?;
        for _ in 0..options.pollers.max(1) {
            let (state, consumer, arn) = (state.clone(), consumer.clone(), arn.clone());
            let wait = options.sqs_wait_seconds;
            tasks.push(tokio::spawn(async move {
                poll_queue(state, consumer, arn, wait).await;
            }));
        }
    }

    let relay_state = state.clone();
    let every = options.relay_every;
    tasks.push(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let event = scheduled_event("outbox-relay");
            if let Err(error) = shared::outbox::handle_schedule(&relay_state, event).await {
                tracing::warn!(error = %shared::error::error_chain(&error), "outbox relay failed");
            }
        }
    }));
    let escalator_state = state.clone();
    tasks.push(tokio::spawn(async move {
        // EventBridge runs the escalator every minute; locally every 15 s, so a one-minute
        // level is not late by more than that.
        let mut ticks = tokio::time::interval(Duration::from_secs(15));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(error) = shared::escalation::handle_schedule(&escalator_state).await {
                tracing::warn!(error = %shared::error::error_chain(&error), "escalator failed");
            }
        }
    }));
    Ok(Running { http_addr, tasks })
}

/// Long-polls one queue forever, handing each batch to its consumer.
async fn poll_queue(state: AppState, consumer: Consumer, queue_arn: String, wait_seconds: i32) {
    tracing::info!(function = consumer.function, queue = %consumer.queue_url, "polling");
    loop {
        let polled = poll_once(
            &state,
            &consumer.queue_url,
            &queue_arn,
            wait_seconds,
            consumer.handler,
        )
        .await;
        if let Err(error) = polled {
            tracing::warn!(
                error = format!("{error:#}"),
                "SQS poll failed; retrying in 2 s"
            );
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

/// One receive from `queue_url`, as Lambda's SQS event source mapping does it: up to ten
/// messages become one `SqsEvent`, the handler runs, and the messages it did not report
/// as failed are deleted. Failed ones come back after their visibility timeout, and the
/// queue's redrive policy moves them to the DLQ in the end. Returns how many were received.
pub async fn poll_once(
    state: &AppState,
    queue_url: &str,
    queue_arn: &str,
    wait_seconds: i32,
    handler: fn(AppState, SqsEvent) -> WorkerFuture,
) -> anyhow::Result<usize> {
    let messages = state
        .sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(wait_seconds)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .message_attribute_names("All")
        .send()
        .await
        .context("receiving from SQS")?
        .messages
        .unwrap_or_default();
    if messages.is_empty() {
        return Ok(0);
    }
    let region = state
        .sqs
        .config()
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| "us-east-1".to_owned());
    let event = sqs_event(&messages, queue_arn, &region);
    let response = handler(state.clone(), event).await;
    let failed: HashSet<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    let done: Vec<_> = messages
        .iter()
        .filter(|m| !m.message_id().is_some_and(|id| failed.contains(id)))
        .filter_map(|m| {
            DeleteMessageBatchRequestEntry::builder()
                .id(m.message_id()?)
                .receipt_handle(m.receipt_handle()?)
                .build()
                .ok()
        })
        .collect();
    if !done.is_empty() {
        state
            .sqs
            .delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(done))
            .send()
            .await
            .context("deleting processed messages; they will be delivered again")?;
    }
    Ok(messages.len())
}

/// The notify worker's handler, in the shape [`poll_once`] takes.
pub fn notify_worker(state: AppState, event: SqsEvent) -> WorkerFuture {
    Box::pin(async move { shared::notify::worker::handle_sqs_event(&state, event).await })
}

/// The event Lambda would build from these messages.
pub fn sqs_event(
    messages: &[aws_sdk_sqs::types::Message],
    queue_arn: &str,
    region: &str,
) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|m| {
            let mut record = SqsMessage::default();
            record.message_id = m.message_id.clone();
            record.receipt_handle = m.receipt_handle.clone();
            record.body = m.body.clone();
            record.md5_of_body = m.md5_of_body.clone();
            record.md5_of_message_attributes = m.md5_of_message_attributes.clone();
            record.attributes = m
                .attributes
                .iter()
                .flatten()
                .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                .collect();
            record.event_source = Some("aws:sqs".to_owned());
            record.event_source_arn = Some(queue_arn.to_owned());
            record.aws_region = Some(region.to_owned());
            record
        })
        .collect();
    event
}

/// The event an EventBridge schedule rule named `rule` sends.
pub fn scheduled_event(rule: &str) -> EventBridgeEvent<serde_json::Value> {
    let mut event = EventBridgeEvent::<serde_json::Value>::default();
    event.version = Some("0".to_owned());
    event.id = Some(uuid::Uuid::new_v4().to_string());
    event.detail_type = "Scheduled Event".to_owned();
    event.source = "aws.events".to_owned();
    event.account = Some("123456789012".to_owned());
    event.time = Some(chrono::Utc::now());
    event.region = Some("us-east-1".to_owned());
    event.resources = Some(vec![format!(
        "arn:aws:events:us-east-1:123456789012:rule/tocsin-{rule}"
    )]);
    event.detail = serde_json::json!({});
    event
}
