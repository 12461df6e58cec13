//! `tocsin-admin`, run as an operator would, against a fresh database.

use std::process::Command;

use sqlx::PgPool;

/// Runs `tocsin-admin` with `args` against the database of `pool`.
fn admin(pool: &PgPool, args: &[&str]) -> std::process::Output {
    let options = pool.connect_options();
    let url = format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().expect("a test database")
    );
    Command::new(env!("CARGO_BIN_EXE_tocsin-admin"))
        .args(args)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("running tocsin-admin")
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn create_workspace_prints_a_working_admin_key_once(pool: PgPool) {
    let output = admin(
        &pool,
        &[
            "create-workspace",
            "--name",
            "Acme",
            "--admin-email",
            "ops@acme.test",
            "--admin-name",
            "Acme Ops",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(created["workspace"]["name"], "Acme");
    assert_eq!(created["admin"]["role"], "admin");
    let key = created["api_key"]["key"].as_str().unwrap();
    let (role, hash): (String, String) =
        sqlx::query_as("SELECT role::text, key_hash FROM api_key WHERE prefix = $1")
            .bind(&key[..12])
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(role, "admin");
    assert_eq!(
        hash,
        shared::auth::hash_api_key(key),
        "only the hash is stored"
    );

    let workspace = created["workspace"]["id"].as_str().unwrap();
    let output = admin(
        &pool,
        &[
            "create-api-key",
            "--workspace",
            workspace,
            "--name",
            "CI",
            "--role",
            "viewer",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(created["api_key"]["role"], "viewer");
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn bad_input_is_refused_with_the_flag_named_and_nothing_written(pool: PgPool) {
    let output = admin(
        &pool,
        &[
            "create-workspace",
            "--name",
            "Acme",
            "--admin-email",
            "nope",
            "--admin-name",
            "Ops",
        ],
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--admin-email"), "{stderr}");
    let workspaces: i64 = sqlx::query_scalar("SELECT count(*) FROM workspace")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(workspaces, 0, "the transaction was rolled back");
}
