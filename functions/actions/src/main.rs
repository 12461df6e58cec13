//! `actions`: acting on incidents from the messages that announced them (magic links,
//! Slack buttons, Telegram buttons). Public: each request proves itself (a one-time
//! token, Slack's signature, Telegram's secret token).

use shared::AppState;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init();
    let state = AppState::from_env().await?;
    lambda_http::run(shared::error::with_problem_fallbacks(
        shared::actions::router(state),
    ))
    .await
}
