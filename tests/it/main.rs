//! Tocsin's integration tests: one binary, one module per area.

mod ingest_errors;
mod outbox;
mod runner;
mod slice;
