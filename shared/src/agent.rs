//! The ops agent (seed 000): deployments with their update and backup policy, agent runs
//! and backup records.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

/// What the agent may do when a newer version appears (`update_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "update_policy", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum UpdatePolicy {
    /// Apply patch releases.
    AutoPatch,
    /// Apply minor and patch releases.
    AutoMinor,
    /// Tell people, change nothing (the default).
    NotifyOnly,
    /// Do not even check.
    Disabled,
}

/// How an agent cycle ended (`ops_agent_run_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "ops_agent_run_status", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum OpsAgentRunStatus {
    Running,
    Completed,
    Failed,
    /// Repeated failures opened the circuit breaker: no automatic action was taken.
    CircuitBroken,
}

/// Where a backup is (`backup_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "backup_status", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum BackupStatus {
    Pending,
    Completed,
    Failed,
}

/// Something the agent looks after.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Deployment {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub name: String,
    pub image: String,
    pub current_tag: String,
    pub version_source_url: Option<String>,
    pub deploy_hook_url: Option<String>,
    pub health_check_url: Option<String>,
    pub update_policy: UpdatePolicy,
    pub latest_available_version: Option<String>,
    pub last_version_check_at: Option<DateTime<Utc>>,
    pub backup_enabled: bool,
    /// Cron expression.
    pub backup_schedule: Option<String>,
    pub last_backup_at: Option<DateTime<Utc>>,
    pub previous_image_tag: Option<String>,
}

/// One of the workspace's deployments.
pub async fn find_deployment(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<Deployment>, sqlx::Error> {
    sqlx::query_as!(
        Deployment,
        r#"SELECT id, workspace_id, name, image, current_tag, version_source_url, deploy_hook_url,
                  health_check_url, update_policy AS "update_policy: UpdatePolicy",
                  latest_available_version, last_version_check_at, backup_enabled, backup_schedule,
                  last_backup_at, previous_image_tag
           FROM deployment WHERE workspace_id = $1 AND id = $2"#,
        workspace_id,
        id,
    )
    .fetch_optional(&mut *conn)
    .await
}

/// One agent cycle.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OpsAgentRun {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub status: OpsAgentRunStatus,
    pub summary: Option<String>,
    pub actions_json: Option<serde_json::Value>,
    pub token_usage: Option<i32>,
    pub error: Option<String>,
}

/// The workspace's most recent agent runs, newest first.
pub async fn recent_runs(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    limit: i64,
) -> Result<Vec<OpsAgentRun>, sqlx::Error> {
    sqlx::query_as!(
        OpsAgentRun,
        r#"SELECT id, workspace_id, started_at, completed_at, status AS "status: OpsAgentRunStatus",
                  summary, actions_json, token_usage, error
           FROM ops_agent_run WHERE workspace_id = $1 ORDER BY started_at DESC LIMIT $2"#,
        workspace_id,
        limit,
    )
    .fetch_all(&mut *conn)
    .await
}

/// One backup of a deployment.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BackupRecord {
    pub id: Uuid,
    pub deployment_id: Uuid,
    pub status: BackupStatus,
    /// Bytes.
    pub data_size: Option<i64>,
    pub storage_path: Option<String>,
    /// `system`, or the id of the user who asked.
    pub triggered_by: String,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

/// A deployment's backups, newest first (the deployment must be the workspace's).
pub async fn backups(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    deployment_id: Uuid,
) -> Result<Vec<BackupRecord>, sqlx::Error> {
    sqlx::query_as!(
        BackupRecord,
        r#"SELECT b.id, b.deployment_id, b.status AS "status: BackupStatus", b.data_size,
                  b.storage_path, b.triggered_by, b.created_at, b.completed_at, b.error
           FROM backup_record b JOIN deployment d ON d.id = b.deployment_id
           WHERE d.workspace_id = $1 AND b.deployment_id = $2
           ORDER BY b.created_at DESC"#,
        workspace_id,
        deployment_id,
    )
    .fetch_all(&mut *conn)
    .await
}
