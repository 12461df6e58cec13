//! The support inbox (seed 004): channels, conversations, messages, AI drafts and the
//! human actions on them, learning samples, attachments, job runs, source documents and
//! the in-app feed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

/// Where customer messages come from (seed 004 `ChannelType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "support_channel_type", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum SupportChannelType {
    Email,
    Chat,
    Shopify,
    Slack,
}

/// Seed 004 `MessageDirection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "message_direction", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum MessageDirection {
    Inbound,
    Outbound,
    System,
}

/// Seed 004 `DraftStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "draft_status", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum DraftStatus {
    Pending,
    Sent,
    Superseded,
    Archived,
}

/// Seed 004 `ActionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "draft_action_type", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum DraftActionType {
    Approve,
    Edit,
    Reject,
}

/// Seed 004 `JobType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "job_type", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum JobType {
    Crawl,
    IngestGoldens,
    CorrectionsSync,
}

/// Seed 004 `JobStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type, ToSchema)]
#[sqlx(type_name = "job_status", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
}

/// A draft waiting for review, with its conversation: one row of the review queue.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PendingDraft {
    pub draft_id: Uuid,
    pub conversation_id: Uuid,
    pub subject: Option<String>,
    pub customer_email: Option<String>,
    pub model_key: String,
    pub suggested_text: String,
    pub top_sources: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// The draft review queue: the workspace's pending drafts, oldest first.
pub async fn review_queue(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    limit: i64,
) -> Result<Vec<PendingDraft>, sqlx::Error> {
    sqlx::query_as!(
        PendingDraft,
        r#"SELECT d.id AS draft_id, c.id AS conversation_id, c.subject, c.customer_email,
                  d.model_key, d.suggested_text, d.top_sources, d.created_at
           FROM draft d JOIN conversation c ON c.id = d.conversation_id
           WHERE c.workspace_id = $1 AND d.status = 'pending'
           ORDER BY d.created_at
           LIMIT $2"#,
        workspace_id,
        limit,
    )
    .fetch_all(&mut *conn)
    .await
}

/// A message in a conversation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Message {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub external_id: Option<String>,
    pub direction: MessageDirection,
    pub subject: Option<String>,
    pub body_text: String,
    pub body_html: Option<String>,
    pub sent_at: DateTime<Utc>,
}

/// A conversation's messages in order (the conversation must be the workspace's).
pub async fn conversation_messages(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    conversation_id: Uuid,
) -> Result<Vec<Message>, sqlx::Error> {
    sqlx::query_as!(
        Message,
        r#"SELECT m.id, m.conversation_id, m.external_id, m.direction AS "direction: MessageDirection",
                  m.subject, m.body_text, m.body_html, m.sent_at
           FROM message m JOIN conversation c ON c.id = m.conversation_id
           WHERE c.workspace_id = $1 AND m.conversation_id = $2
           ORDER BY m.sent_at, m.id"#,
        workspace_id,
        conversation_id,
    )
    .fetch_all(&mut *conn)
    .await
}

/// An ingestion job (crawl, goldens, corrections sync).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobRun {
    pub id: Uuid,
    pub workspace_id: Uuid,
    #[serde(rename = "type")]
    pub job_type: JobType,
    pub status: JobStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub metrics: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
}

/// The ingestion monitor: the workspace's recent job runs, newest first.
pub async fn recent_job_runs(
    conn: &mut PgConnection,
    workspace_id: Uuid,
    limit: i64,
) -> Result<Vec<JobRun>, sqlx::Error> {
    sqlx::query_as!(
        JobRun,
        r#"SELECT id, workspace_id, type AS "job_type: JobType", status AS "status: JobStatus",
                  started_at, finished_at, error, metrics, created_at
           FROM job_run WHERE workspace_id = $1 ORDER BY created_at DESC LIMIT $2"#,
        workspace_id,
        limit,
    )
    .fetch_all(&mut *conn)
    .await
}
