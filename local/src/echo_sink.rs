//! A webhook receiver for demos: answers 200 to every POST, logs what arrived, and lists
//! the last requests at `GET /`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::routing::{get, post};

/// Requests kept for `GET /`.
const KEEP: usize = 100;

type Received = Arc<Mutex<VecDeque<serde_json::Value>>>;

/// The sink's router.
pub fn router() -> Router {
    let received: Received = Arc::default();
    Router::new()
        .route("/", get(list))
        .route("/{*path}", post(receive))
        .with_state(received)
}

/// Serves the sink on `addr` until the task is dropped.
pub async fn serve(addr: SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "echo sink listening");
    axum::serve(listener, router()).await?;
    Ok(())
}

async fn receive(
    State(received): State<Received>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> &'static str {
    let body: serde_json::Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| String::from_utf8_lossy(&body).into_owned().into());
    let webhook_id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    tracing::info!(path = %uri.path(), webhook_id, body = %body, "echo sink received a webhook");
    let entry = serde_json::json!({
        "received_at": chrono::Utc::now(),
        "path": uri.path(),
        "webhook_id": webhook_id,
        "body": body,
    });
    if let Ok(mut list) = received.lock() {
        if list.len() == KEEP {
            list.pop_front();
        }
        list.push_back(entry);
    }
    "ok"
}

async fn list(State(received): State<Received>) -> axum::Json<serde_json::Value> {
    let list: Vec<_> = received
        .lock()
        .map(|l| l.iter().rev().cloned().collect())
        .unwrap_or_default();
    axum::Json(serde_json::Value::Array(list))
}
