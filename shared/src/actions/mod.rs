//! The `actions` function (seed 001's interactive half): acting on an incident from the
//! message that announced it. Magic links (`GET`/`POST /a/{token}`) for email, SMS,
//! Teams, Discord and push; Slack's interactivity endpoint for its buttons; a Telegram bot
//! webhook for its inline keyboard. Every path acts through
//! [`crate::incidents::act_on_incident`], so each change lands once on the incident's
//! timeline and stops its escalation, and acting on an incident already in that state is
//! reported back instead of done twice. It also answers the OAuth callback that connects
//! a person's Slack or Microsoft Teams account (`GET /v1/oauth/{provider}/callback`).

pub mod magic;
pub mod oauth;
pub mod pages;
pub mod slack;
pub mod telegram;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::Duration;
use uuid::Uuid;

use crate::incidents::{self, Actor, HumanAction, MagicLinkAction};
use crate::state::AppState;

/// The `actions` function's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/a/{token}", get(show_link).post(use_link))
        .route("/v1/slack/interactions", post(slack::interactions))
        .route("/v1/oauth/{provider}/callback", get(oauth::callback))
        .route("/v1/telegram/{channel_id}/webhook", post(telegram::webhook))
        .with_state(state)
}

/// The words for an action: (button label, past tense).
pub fn words(action: MagicLinkAction) -> (&'static str, &'static str) {
    match action {
        MagicLinkAction::Acknowledge => ("Acknowledge", "acknowledged"),
        MagicLinkAction::Resolve => ("Resolve", "resolved"),
    }
}

impl From<MagicLinkAction> for HumanAction {
    fn from(action: MagicLinkAction) -> Self {
        match action {
            MagicLinkAction::Acknowledge => HumanAction::Acknowledge,
            MagicLinkAction::Resolve => HumanAction::Resolve,
        }
    }
}

/// The magic links of a message: (label, URL) for each action it offers, issued for the
/// recipient. None without a public base URL (links would point nowhere).
pub async fn issue_links(
    state: &AppState,
    incident_id: Uuid,
    user_id: Option<Uuid>,
    actions: &[(&'static str, MagicLinkAction)],
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let Some(base) = state.config.public_base_url.as_deref() else {
        return Ok(Vec::new());
    };
    if actions.is_empty() {
        return Ok(Vec::new());
    }
    let ttl = Duration::minutes(i64::from(state.config.magic_link_ttl_minutes));
    let mut tx = state.db.begin().await?;
    let mut links = Vec::with_capacity(actions.len());
    for (label, action) in actions {
        let token = magic::issue(&mut tx, incident_id, user_id, *action, ttl).await?;
        links.push(((*label).to_owned(), magic::link(base, &token)));
    }
    tx.commit().await?;
    Ok(links)
}

/// `GET /a/{token}`: the confirmation page. Never changes anything, so link scanners
/// that open every link act on nothing.
async fn show_link(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let mut conn = match state.db.acquire().await {
        Ok(conn) => conn,
        Err(error) => return unavailable(&error),
    };
    match magic::peek(&mut conn, &token).await {
        Ok(Some(info)) if info.used_at.is_some() => pages::message(
            StatusCode::GONE,
            "This link was used",
            "Each link works once, and this one has been used. The incident's page or a newer message has the current state.",
        ),
        Ok(Some(info)) if info.expires_at <= chrono::Utc::now() => expired(),
        Ok(Some(info)) => pages::confirm(words(info.action).0, &info.incident_title, &token),
        Ok(None) => unknown(),
        Err(error) => unavailable(&error),
    }
}

/// `POST /a/{token}`: uses the token and acts, in one transaction.
async fn use_link(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match use_link_inner(&state, &token).await {
        Ok(response) => response,
        Err(error) => unavailable(&error),
    }
}

async fn use_link_inner(state: &AppState, token: &str) -> Result<Response, sqlx::Error> {
    let mut tx = state.db.begin().await?;
    let info = match magic::consume(&mut tx, token).await? {
        magic::Consumed::Fresh(info) => info,
        magic::Consumed::Used(_) => {
            return Ok(pages::message(
                StatusCode::GONE,
                "This link was used",
                "Each link works once, and this one has already been used.",
            ));
        }
        magic::Consumed::Expired(_) => return Ok(expired()),
        magic::Consumed::Unknown => return Ok(unknown()),
    };
    let actor = Actor {
        user_id: info.user_id,
        label: None,
        via: incidents::ActionChannel::MagicLink,
    };
    let outcome = incidents::act_on_incident(
        &mut tx,
        info.workspace_id,
        info.incident_id,
        info.action.into(),
        &actor,
    )
    .await?;
    let (label, done) = words(info.action);
    let response = match &outcome {
        Some(outcome) if outcome.changed => pages::message(
            StatusCode::OK,
            &format!("Incident {done}"),
            &format!("\u{201c}{}\u{201d} is now {done}.", info.incident_title),
        ),
        Some(_) => {
            let state_now = incidents::describe_state(&mut tx, info.incident_id).await?;
            pages::message(
                StatusCode::OK,
                &format!("Nothing to {}", label.to_lowercase()),
                &format!("\u{201c}{}\u{201d} {state_now}.", info.incident_title),
            )
        }
        None => unknown(),
    };
    tx.commit().await?;
    if let Some(outcome) = outcome {
        crate::outbox::dispatch(state, &outcome.outbox_ids).await;
    }
    Ok(response)
}

fn expired() -> Response {
    pages::message(
        StatusCode::GONE,
        "This link has expired",
        "Links in notifications work for a limited time. The latest message about the incident has fresh ones.",
    )
}

fn unknown() -> Response {
    pages::message(
        StatusCode::NOT_FOUND,
        "Unknown link",
        "This link is not one Tocsin sent, or its incident no longer exists.",
    )
}

fn unavailable(error: &sqlx::Error) -> Response {
    tracing::error!(error = %crate::error::error_chain(error), "magic link could not be processed");
    pages::message(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again in a moment",
        "Tocsin could not process this link just now. Nothing was changed.",
    )
}
