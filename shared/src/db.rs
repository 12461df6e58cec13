//! The database: the embedded migrations and the pool.

use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::config::Config;

/// Every migration under `migrations/`, embedded in the binary. Applied by the `migrate`
/// function (a deploy step in AWS, `tocsin-local migrate` locally), never on cold start.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// How long a pooled connection may sit idle before it is pinged on its next use.
const PING_AFTER_IDLE: Duration = Duration::from_secs(30);

/// A small pool that connects on first use, so a cold start does not wait for the
/// database and an instance that never touches it never connects.
///
/// A connection idle for longer than [`PING_AFTER_IDLE`] (a Lambda instance thawed after a
/// pause, a local runner between bursts) is pinged before use and replaced if the server
/// has dropped it. One in steady use is not: sqlx's default pings on every acquire, a round
/// trip per acquire that made up about a tenth of an ingest request's cost (`make bench`).
pub fn lazy_pool(config: &Config) -> Result<sqlx::PgPool, sqlx::Error> {
    let options: PgConnectOptions = config.database_url.expose_secret().parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(config.db_max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_AFTER_IDLE {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .connect_lazy_with(options))
}

/// Applies every pending migration; returns the versions now applied.
pub async fn migrate(pool: &sqlx::PgPool) -> Result<Vec<i64>, sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await?;
    Ok(MIGRATOR.iter().map(|m| m.version).collect())
}
