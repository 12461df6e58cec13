//! `ingest`: the HTTP endpoints monitoring tools post alerts to.

use shared::AppState;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let state = AppState::from_env().await?;
    lambda_http::run(shared::error::with_problem_fallbacks(
        shared::ingest::router(state),
    ))
    .await
}
