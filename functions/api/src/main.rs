//! `api`: the authenticated REST API and its OpenAPI document.

use shared::AppState;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let state = AppState::from_env().await?;
    lambda_http::run(shared::error::with_problem_fallbacks(shared::api::router(
        state,
    )))
    .await
}
