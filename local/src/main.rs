//! `tocsin-local`: run Tocsin on this machine. See the README's quick start.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tocsin_local::{bootstrap, echo_sink, runner};

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
    Migrate,
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
    /// Load the demo data (safe to run again).
    Seed,
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
            let state = shared::AppState::from_env().await?;
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
        Command::Migrate => {
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
        Command::Seed => {
            let pool = pool_from_env().await?;
            sqlx::raw_sql(include_str!("../seed/demo.sql"))
                .execute(&pool)
                .await
                .context("loading local/seed/demo.sql")?;
            tracing::info!("demo data loaded");
        }
    }
    Ok(())
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
