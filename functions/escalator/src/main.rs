//! `escalator`: every minute, takes the next escalation step of every unacknowledged
//! incident whose step is due (see `shared::escalation`).

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use shared::AppState;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let state = AppState::from_env().await?;
    let state = &state;
    lambda_runtime::run(service_fn(
        move |_event: LambdaEvent<EventBridgeEvent<serde_json::Value>>| async move {
            shared::escalation::handle_schedule(state)
                .await
                .map(|report| {
                    serde_json::json!({"escalated": report.escalated, "notifications": report.notifications})
                })
                .map_err(lambda_runtime::Error::from)
        },
    ))
    .await
}
