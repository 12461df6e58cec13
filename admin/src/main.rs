//! `tocsin-admin`: what an operator runs against a deployment's database, locally or
//! against AWS. The database comes from `DATABASE_URL`, or from the secret named by
//! `DATABASE_URL_SECRET_ID` (read with your AWS credentials), as the functions do.

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;
use shared::tenancy::{self, NewApiKey, UserRole};

#[derive(Parser)]
#[command(version, about = "Operator commands for a Tocsin deployment")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a workspace, its first admin and an admin API key; prints them as JSON
    /// (the key is shown this once).
    CreateWorkspace {
        #[arg(long)]
        name: String,
        #[arg(long)]
        admin_email: String,
        #[arg(long)]
        admin_name: String,
    },
    /// Create another API key in a workspace; prints it as JSON (shown this once).
    CreateApiKey {
        #[arg(long)]
        workspace: uuid::Uuid,
        #[arg(long)]
        name: String,
        /// admin, responder or viewer.
        #[arg(long, default_value = "admin")]
        role: String,
    },
    /// Apply the database migrations.
    Migrate,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::telemetry::init();
    let cli = Cli::parse();
    let pool = connect().await?;
    let output = match cli.command {
        Command::CreateWorkspace {
            name,
            admin_email,
            admin_name,
        } => {
            let mut tx = pool.begin().await?;
            let created = tenancy::bootstrap_workspace(&mut tx, &name, &admin_email, &admin_name)
                .await
                .map_err(problem)?;
            tx.commit().await?;
            serde_json::to_value(created)?
        }
        Command::CreateApiKey {
            workspace,
            name,
            role,
        } => {
            let role: UserRole = serde_json::from_value(serde_json::Value::String(role))
                .context("--role must be admin, responder or viewer")?;
            let mut tx = pool.begin().await?;
            tenancy::get_workspace(&mut tx, workspace)
                .await
                .map_err(problem)?;
            let new_key = NewApiKey {
                name,
                role: Some(role),
                scopes: Vec::new(),
                expires_at: None,
            };
            let created =
                tenancy::insert_api_key(&mut tx, workspace, &new_key, UserRole::Admin, None)
                    .await
                    .map_err(problem)?;
            tx.commit().await?;
            serde_json::to_value(created)?
        }
        Command::Migrate => {
            let applied = shared::db::migrate(&pool).await?;
            serde_json::json!({ "applied": applied })
        }
    };
    #[allow(clippy::print_stdout)]
    {
        println!("{}", serde_json::to_string_pretty(&output)?);
    }
    Ok(())
}

/// An API error as a command-line error: its message, and the field at fault.
fn problem(error: shared::ApiError) -> anyhow::Error {
    let problem = error.problem();
    match problem.field {
        Some(field) => anyhow::anyhow!("{} (--{})", problem.detail, field.replace('_', "-")),
        None => anyhow::anyhow!(problem.detail),
    }
}

async fn connect() -> anyhow::Result<sqlx::PgPool> {
    let sdk_config = shared::aws::load_sdk_config().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&sdk_config);
    let url = shared::config::database_url_from_lookup(|name| std::env::var(name).ok(), &secrets)
        .await
        .context("set DATABASE_URL or DATABASE_URL_SECRET_ID")?;
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(url.expose_secret())
        .await
        .context("connecting to the database")
}
