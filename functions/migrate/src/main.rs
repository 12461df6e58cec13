//! `migrate`: applies the database migrations. Invoked once per deploy (see the README);
//! the event is ignored.

use lambda_runtime::{LambdaEvent, service_fn};
use shared::AppState;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::telemetry::init();
    let state = AppState::from_env().await?;
    let state = &state;
    lambda_runtime::run(service_fn(
        move |_event: LambdaEvent<serde_json::Value>| async move {
            let applied = shared::db::migrate(&state.db).await?;
            tracing::info!(
                latest = applied.last(),
                count = applied.len(),
                "migrations applied"
            );
            Ok::<_, lambda_runtime::Error>(serde_json::json!({ "applied": applied }))
        },
    ))
    .await
}
