//! `GET /v1/oauth/{provider}/callback`: where Slack and the Microsoft identity platform
//! send the person's browser back after they consented (`?code=..&state=..`) or declined
//! (`?error=access_denied&state=..`). The page says how it went; the work is
//! [`crate::connections::finish`]. The code and state are never logged, and the page is
//! sent with no Referer, so they do not leak from the address bar either.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::pages;
use crate::connections::{self, FinishError, OAuthProvider};
use crate::state::AppState;

/// The query of a callback.
#[derive(Debug, Default, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// The OAuth redirect URI of both providers.
pub(super) async fn callback(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(provider) = OAuthProvider::parse(&provider) else {
        return pages::message(
            StatusCode::NOT_FOUND,
            "Unknown sign-in",
            "Tocsin connects Slack and Microsoft Teams accounts only.",
        );
    };
    // Unreadable (a field given twice, say) reads as empty: an invalid sign-in.
    let query: CallbackQuery =
        serde_urlencoded::from_str(query.as_deref().unwrap_or_default()).unwrap_or_default();
    let state_param = query.state.as_deref().unwrap_or_default();
    let label = provider.label();
    if let Some(error) = query.error.as_deref() {
        return declined(&state, provider, state_param, error).await;
    }
    let Some(code) = query.code.as_deref().filter(|c| !c.is_empty()) else {
        return invalid();
    };
    match connections::finish(&state, provider, code, state_param).await {
        Ok(_) => pages::message(
            StatusCode::OK,
            &format!("{label} connected"),
            &format!("Your {label} account is now connected to Tocsin. You can close this page."),
        ),
        Err(FinishError::InvalidState) => invalid(),
        Err(FinishError::Refused(reason)) => {
            tracing::warn!(provider = provider.as_str(), %reason, "the provider refused an OAuth code");
            pages::message(
                StatusCode::BAD_GATEWAY,
                &format!("{label} was not connected"),
                &format!("{reason}. Start connecting again from Tocsin."),
            )
        }
        Err(FinishError::AlreadyConnected) => pages::message(
            StatusCode::CONFLICT,
            &format!("{label} was not connected"),
            &format!(
                "This {label} account is already connected to another Tocsin user. They can disconnect it first."
            ),
        ),
        Err(FinishError::NotConfigured(reason)) => pages::message(
            StatusCode::NOT_IMPLEMENTED,
            &format!("{label} connections are off"),
            &reason,
        ),
        Err(error @ (FinishError::Decrypt(_) | FinishError::Database(_))) => {
            tracing::error!(provider = provider.as_str(), error = %crate::error::error_chain(&error), "an OAuth callback could not be processed");
            unavailable()
        }
    }
}

/// The person declined at the provider, or the provider ended the sign-in with an error.
/// The state is used either way, so the sign-in cannot be finished later.
async fn declined(
    state: &AppState,
    provider: OAuthProvider,
    state_param: &str,
    error: &str,
) -> Response {
    let label = provider.label();
    match connections::decline(state, provider, state_param).await {
        Ok(false) => invalid(),
        Ok(true) if error == "access_denied" => pages::message(
            StatusCode::OK,
            &format!("{label} was not connected"),
            "You declined, so nothing was connected. You can close this page.",
        ),
        Ok(true) => {
            // An OAuth error code (RFC 6749 4.1.2.1), shown only when it has that shape.
            let shown = if !error.is_empty()
                && error.len() <= 64
                && error.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            {
                error
            } else {
                "an error"
            };
            tracing::warn!(
                provider = provider.as_str(),
                error = shown,
                "the provider ended an OAuth sign-in with an error"
            );
            pages::message(
                StatusCode::BAD_GATEWAY,
                &format!("{label} was not connected"),
                &format!(
                    "{} answered {shown}. Start connecting again from Tocsin.",
                    provider.issuer()
                ),
            )
        }
        Err(error) => {
            tracing::error!(error = %crate::error::error_chain(&error), "an OAuth callback could not be processed");
            unavailable()
        }
    }
}

fn invalid() -> Response {
    pages::message(
        StatusCode::BAD_REQUEST,
        "This sign-in link is not valid",
        "It was already used, it expired (a sign-in must finish within ten minutes), or Tocsin did not start it. Start connecting again from Tocsin.",
    )
}

fn unavailable() -> Response {
    pages::message(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again in a moment",
        "Tocsin could not finish connecting your account just now. Start connecting again from Tocsin.",
    )
}
