//! Tocsin's shared crate: configuration, database, errors, and one module per domain.
//!
//! Function crates under `functions/` are entry points only: they build an [`AppState`]
//! once per cold start and hand events to the plain async functions exported here, which
//! the local runner and the tests call the same way.

pub mod actions;
pub mod agent;
pub mod alerts;
pub mod api;
pub mod auth;
pub mod aws;
pub mod config;
pub mod connections;
pub mod contacts;
pub mod crypto;
pub mod db;
pub mod error;
pub mod escalation;
pub mod http;
pub mod inbox;
pub mod incidents;
pub mod ingest;
pub mod jobs;
pub mod notify;
pub mod outbox;
pub mod rules;
pub mod services;
pub mod state;
pub mod telemetry;
pub mod tenancy;

pub use db::MIGRATOR;
pub use error::ApiError;
pub use state::AppState;
