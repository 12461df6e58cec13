//! `outbox-relay`: on a schedule, sends the outbox jobs whose request never confirmed them.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{LambdaEvent, service_fn};
use shared::AppState;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let state = AppState::from_env().await?;
    let state = &state;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent<serde_json::Value>>| async move {
            shared::outbox::handle_schedule(state, event.payload)
                .await
                .map_err(lambda_runtime::Error::from)
        },
    ))
    .await
}
