//! Tocsin's integration tests: one binary, one module per area.

// A failed unwrap is a failed test, which is what a test helper should do.
#![allow(clippy::unwrap_used)]

mod actions;
mod api;
mod aws;
mod channels;
mod connections;
mod data_model;
mod delivery;
mod escalation;
mod formats;
mod ingest_errors;
mod integrations;
mod lifecycle;
mod opsgenie;
mod outbox;
mod pagerduty;
mod people;
mod providers;
mod reads;
mod runner;
mod sentry;
mod services;
mod slice;
