//! `tocsin-local`: run Tocsin on this machine. See the README's quick start.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tocsin_local::{bench, bootstrap, echo_sink, runner};

#[derive(Parser)]
#[command(
    version,
    about = "Runs Tocsin's functions locally against PostgreSQL and a local AWS endpoint"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP functions, poll the queues and fire the schedules.
    Run {
        /// Address of the HTTP functions.
        #[arg(long, env = "TOCSIN_HTTP_ADDR", default_value = "127.0.0.1:3000")]
        addr: SocketAddr,
        /// Also serve a webhook echo sink here (the demo channel posts to it).
        #[arg(long, env = "TOCSIN_ECHO_SINK_ADDR")]
        echo_sink: Option<SocketAddr>,
        /// Seconds between outbox relay runs.
        #[arg(long, default_value_t = 15)]
        relay_every: u64,
    },
    /// Create the database if missing and apply the migrations (what the `migrate`
    /// function does in AWS).
    Migrate {
        /// Drop and recreate the database first (`make test` does, on its own database).
        #[arg(long)]
        recreate: bool,
    },
    /// Create the queues, bucket and secret on the local AWS endpoint; print their
    /// environment as NAME=value lines.
    Bootstrap {
        /// The stage, as in template.yaml.
        #[arg(long, default_value = "dev")]
        stage: String,
        /// The account id the local endpoint reports (moto's default).
        #[arg(long, default_value = "123456789012")]
        account: String,
    },
    /// Load the demo data (safe to run again) and print a fresh admin API key for the demo
    /// workspace (the previous demo key is revoked).
    Seed,
    /// Measure against a baseline taken in the same run (`make bench`).
    #[command(subcommand)]
    Bench(Bench),
}

#[derive(Subcommand)]
enum Bench {
    /// The ingest router over loopback HTTP against pgbench single-row INSERTs.
    Ingest {
        /// Concurrent connections (and pgbench clients).
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// Seconds measured, after the warm-up.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 2)]
        warmup: u64,
        /// Share of requests that repeat the previous one exactly.
        #[arg(long, default_value_t = 0.1)]
        duplicates: f64,
        /// The pgbench binary.
        #[arg(long, env = "PGBENCH", default_value = "pgbench")]
        pgbench: std::path::PathBuf,
    },
    /// Alert-to-provider latency through the local runner, and pacing against a
    /// rate-limited provider.
    Notify {
        /// Alerts in the burst.
        #[arg(long, default_value_t = 1000)]
        alerts: usize,
        /// Connections posting them.
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// Notices sent to the rate-limited provider.
        #[arg(long, default_value_t = 300)]
        paced: usize,
        /// Requests a second the rate-limited provider allows.
        #[arg(long, default_value_t = 30)]
        allowed_per_second: u32,
        /// Notify-worker pollers (concurrent Lambda batches).
        #[arg(long, default_value_t = 10)]
        pollers: usize,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::telemetry::init();
    match Cli::parse().command {
        Command::Run {
            addr,
            echo_sink,
            relay_every,
        } => {
            let sdk_config = shared::aws::load_sdk_config().await;
            let secrets = aws_sdk_secretsmanager::Client::new(&sdk_config);
            let mut config = shared::config::Config::from_env(&secrets).await?;
            // Links and provider callbacks point at this runner unless told otherwise.
            config
                .public_base_url
                .get_or_insert_with(|| format!("http://{addr}"));
            let db = shared::db::lazy_pool(&config)?;
            let state = shared::AppState::new(config, db, &sdk_config)?;
            if let Some(sink) = echo_sink {
                tokio::spawn(async move {
                    if let Err(error) = echo_sink::serve(sink).await {
                        tracing::error!(%error, "echo sink stopped");
                    }
                });
            }
            let options = runner::Options {
                http_addr: addr,
                relay_every: Duration::from_secs(relay_every.max(1)),
                ..runner::Options::default()
            };
            let running = runner::start(state, options).await?;
            tokio::select! {
                () = running.wait() => anyhow::bail!("a runner task stopped"),
                result = tokio::signal::ctrl_c() => result.context("waiting for Ctrl-C")?,
            }
            tracing::info!("stopped");
        }
        Command::Migrate { recreate } => {
            if recreate {
                use sqlx::migrate::MigrateDatabase;
                let url = std::env::var("DATABASE_URL").context("DATABASE_URL is required")?;
                sqlx::Postgres::drop_database(&url)
                    .await
                    .context("dropping DATABASE_URL's database")?;
            }
            let pool = pool_from_env().await?;
            let applied = shared::db::migrate(&pool).await?;
            tracing::info!(
                count = applied.len(),
                latest = applied.last(),
                "migrations applied"
            );
        }
        Command::Bootstrap { stage, account } => {
            let database_url = std::env::var("DATABASE_URL").context("DATABASE_URL is required")?;
            let sdk_config = shared::aws::load_sdk_config().await;
            let names = bootstrap::Names::for_stage(&stage, &account);
            let created = bootstrap::bootstrap(&sdk_config, &names, &database_url).await?;
            #[allow(clippy::print_stdout)]
            {
                print!("{}", created.env_lines());
            }
        }
        Command::Bench(Bench::Notify {
            alerts,
            connections,
            paced,
            allowed_per_second,
            pollers,
        }) => {
            let sdk_config = shared::aws::load_sdk_config().await;
            let secrets = aws_sdk_secretsmanager::Client::new(&sdk_config);
            let mut config = shared::config::Config::from_env(&secrets).await?;
            config.db_max_connections = u32::try_from(connections + pollers * 10)?;
            let db = shared::db::lazy_pool(&config)?;
            let state = shared::AppState::new(config, db, &sdk_config)?;
            let options = tocsin_local::bench_notify::NotifyOptions {
                alerts,
                connections,
                paced,
                allowed_per_second,
                pollers,
            };
            tocsin_local::bench_notify::notify(state, options).await?;
        }
        Command::Bench(Bench::Ingest {
            connections,
            seconds,
            warmup,
            duplicates,
            pgbench,
        }) => {
            anyhow::ensure!(
                (0.0..1.0).contains(&duplicates),
                "--duplicates must be at least 0 and below 1"
            );
            let sdk_config = shared::aws::load_sdk_config().await;
            let secrets = aws_sdk_secretsmanager::Client::new(&sdk_config);
            let mut config = shared::config::Config::from_env(&secrets).await?;
            // One connection per concurrent request, as that many Lambda instances have.
            config.db_max_connections = u32::try_from(connections)?.max(2);
            let db = shared::db::lazy_pool(&config)?;
            let state = shared::AppState::new(config, db, &sdk_config)?;
            let options = bench::IngestOptions {
                connections,
                seconds,
                warmup_seconds: warmup,
                duplicate_share: duplicates,
                pgbench,
            };
            bench::ingest(state, options).await?;
        }
        Command::Seed => {
            let pool = pool_from_env().await?;
            sqlx::raw_sql(include_str!("../seed/demo.sql"))
                .execute(&pool)
                .await
                .context("loading local/seed/demo.sql")?;
            let key = demo_api_key(&pool).await?;
            tracing::info!("demo data loaded");
            #[allow(clippy::print_stdout)]
            {
                println!("{key}");
            }
        }
    }
    Ok(())
}

/// The demo workspace, as `local/seed/demo.sql` creates it.
const DEMO_WORKSPACE: uuid::Uuid = uuid::Uuid::from_u128(0x00000000_0000_4000_8000_000000000001);
/// The demo admin, Ada.
const DEMO_ADMIN: uuid::Uuid = uuid::Uuid::from_u128(0x00000000_0000_4000_8000_000000000011);
const DEMO_KEY_NAME: &str = "make run demo key";

/// Revokes the previous demo key and creates a new one: only hashes are stored, so a key
/// can be printed only when it is made.
async fn demo_api_key(pool: &sqlx::PgPool) -> anyhow::Result<String> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "UPDATE api_key SET revoked_at = now()
         WHERE workspace_id = $1 AND name = $2 AND revoked_at IS NULL",
    )
    .bind(DEMO_WORKSPACE)
    .bind(DEMO_KEY_NAME)
    .execute(&mut *tx)
    .await?;
    let new_key = shared::tenancy::NewApiKey {
        name: DEMO_KEY_NAME.to_owned(),
        role: Some(shared::tenancy::UserRole::Admin),
        scopes: Vec::new(),
        expires_at: None,
    };
    let created = shared::tenancy::insert_api_key(
        &mut tx,
        DEMO_WORKSPACE,
        &new_key,
        shared::tenancy::UserRole::Admin,
        Some(DEMO_ADMIN),
    )
    .await
    .map_err(|e| anyhow::anyhow!(e.problem().detail))?;
    tx.commit().await?;
    Ok(created.key)
}

async fn pool_from_env() -> anyhow::Result<sqlx::PgPool> {
    use sqlx::migrate::MigrateDatabase;
    let url = std::env::var("DATABASE_URL").context("DATABASE_URL is required")?;
    if !sqlx::Postgres::database_exists(&url)
        .await
        .context("connecting to DATABASE_URL's server")?
    {
        sqlx::Postgres::create_database(&url)
            .await
            .context("creating DATABASE_URL's database")?;
        tracing::info!("database created");
    }
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&url)
        .await
        .context("connecting to DATABASE_URL")
}
