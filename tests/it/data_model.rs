//! The schema holds every seed's model: asked of PostgreSQL's catalog, and exercised.

use sqlx::{PgPool, Row};

/// Indexes and unique constraints the seeds name or imply: (name, table, columns as the
/// index definition prints them).
const INDEXES: &[(&str, &str, &str)] = &[
    // Seed 004, by the seed's own names.
    (
        "idx_channel_account_type",
        "support_channel",
        "(workspace_id, type)",
    ),
    (
        "idx_conversation_account_status",
        "conversation",
        "(workspace_id, status)",
    ),
    (
        "idx_conversation_channel_created",
        "conversation",
        "(channel_id, created_at)",
    ),
    (
        "idx_message_conversation_sent",
        "message",
        "(conversation_id, sent_at)",
    ),
    (
        "idx_draft_conversation_status",
        "draft",
        "(conversation_id, status)",
    ),
    ("idx_draft_status_created", "draft", "(status, created_at)"),
    ("idx_action_draft", "draft_action", "(draft_id)"),
    (
        "idx_action_user_created",
        "draft_action",
        "(user_id, created_at)",
    ),
    ("idx_attachment_message", "attachment", "(message_id)"),
    (
        "idx_jobrun_account_type_created",
        "job_run",
        "(workspace_id, type, created_at)",
    ),
    (
        "idx_notification_account_created",
        "feed_item",
        "(workspace_id, created_at)",
    ),
    (
        "idx_notification_user_created",
        "feed_item",
        "(user_id, created_at)",
    ),
    (
        "support_channel_external_id_key",
        "support_channel",
        "(external_id)",
    ),
    (
        "conversation_external_id_key",
        "conversation",
        "(external_id)",
    ),
    (
        "draft_trigger_message_id_key",
        "draft",
        "(trigger_message_id)",
    ),
    (
        "learning_sample_draft_id_key",
        "learning_sample",
        "(draft_id)",
    ),
    (
        "learning_sample_action_id_key",
        "learning_sample",
        "(action_id)",
    ),
    (
        "source_document_source_url_key",
        "source_document",
        "(source_url)",
    ),
    // Seed 003.
    (
        "integration_workspace_name_key",
        "integration",
        "(workspace_id, name)",
    ),
    ("integration_type_idx", "integration", "(type)"),
    ("integration_is_active_idx", "integration", "(is_active)"),
    (
        "alert_integration_id_triggered_at_idx",
        "alert",
        "(integration_id, triggered_at)",
    ),
    (
        "alert_status_triggered_at_idx",
        "alert",
        "(status, triggered_at)",
    ),
    (
        "alert_severity_triggered_at_idx",
        "alert",
        "(severity, triggered_at)",
    ),
    ("alert_external_id_idx", "alert", "(external_id)"),
    (
        "webhook_delivery_integration_id_idempotency_key_idx",
        "webhook_delivery",
        "(integration_id, idempotency_key)",
    ),
    (
        "webhook_delivery_integration_id_fingerprint_created_at_idx",
        "webhook_delivery",
        "(integration_id, content_fingerprint, created_at)",
    ),
    (
        "webhook_delivery_integration_id_created_at_idx",
        "webhook_delivery",
        "(integration_id, created_at)",
    ),
    (
        "webhook_delivery_alert_id_idx",
        "webhook_delivery",
        "(alert_id)",
    ),
    // Seed 001.
    (
        "notification_log_incident_id_channel_idx",
        "notification_log",
        "(incident_id, channel)",
    ),
    (
        "notification_log_user_id_status_idx",
        "notification_log",
        "(user_id, status)",
    ),
    (
        "notification_log_incident_id_user_id_channel_idx",
        "notification_log",
        "(incident_id, user_id, channel)",
    ),
    (
        "magic_link_token_token_hash_key",
        "magic_link_token",
        "(token_hash)",
    ),
    (
        "magic_link_token_incident_id_action_idx",
        "magic_link_token",
        "(incident_id, action)",
    ),
    (
        "magic_link_token_expires_at_idx",
        "magic_link_token",
        "(expires_at)",
    ),
    (
        "slack_connection_user_id_key",
        "slack_connection",
        "(user_id)",
    ),
    (
        "slack_connection_slack_user_id_key",
        "slack_connection",
        "(slack_user_id)",
    ),
    (
        "teams_connection_user_id_key",
        "teams_connection",
        "(user_id)",
    ),
    (
        "teams_connection_teams_user_id_key",
        "teams_connection",
        "(teams_user_id)",
    ),
    // Tenancy.
    (
        "app_user_workspace_email_key",
        "app_user",
        "(workspace_id, lower(email))",
    ),
    ("api_key_key_hash_key", "api_key", "(key_hash)"),
];

const UNIQUE_NAMES: &[&str] = &[
    "support_channel_external_id_key",
    "conversation_external_id_key",
    "draft_trigger_message_id_key",
    "learning_sample_draft_id_key",
    "learning_sample_action_id_key",
    "source_document_source_url_key",
    "integration_workspace_name_key",
    "magic_link_token_token_hash_key",
    "slack_connection_user_id_key",
    "slack_connection_slack_user_id_key",
    "teams_connection_user_id_key",
    "teams_connection_teams_user_id_key",
    "app_user_workspace_email_key",
    "api_key_key_hash_key",
];

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn every_seed_index_and_unique_constraint_exists(pool: PgPool) {
    for (name, table, columns) in INDEXES {
        let row = sqlx::query("SELECT tablename, indexdef FROM pg_indexes WHERE indexname = $1")
            .bind(name)
            .fetch_optional(&pool)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("index {name} is missing"));
        let on: String = row.get("tablename");
        let definition: String = row.get("indexdef");
        assert_eq!(&on, table, "{name} is on the wrong table");
        assert!(
            definition.ends_with(columns),
            "{name}: {definition} should end with {columns}"
        );
        let unique = definition.starts_with("CREATE UNIQUE INDEX");
        assert_eq!(unique, UNIQUE_NAMES.contains(name), "{name}: {definition}");
    }
}

/// Every enum type and its values, in order, as the seeds list them.
const ENUMS: &[(&str, &[&str])] = &[
    (
        "alert_severity",
        &["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"],
    ),
    (
        "alert_status",
        &["OPEN", "ACKNOWLEDGED", "RESOLVED", "CLOSED"],
    ),
    (
        "channel_kind",
        &[
            "EMAIL", "SMS", "PUSH", "SLACK", "TEAMS", "VOICE", "TELEGRAM", "DISCORD", "WEBHOOK",
        ],
    ),
    (
        "delivery_status",
        &["QUEUED", "SENDING", "SENT", "DELIVERED", "FAILED"],
    ),
    ("user_role", &["admin", "responder", "viewer"]),
    ("channel_tier", &["primary", "secondary", "fallback"]),
    (
        "incident_status",
        &["TRIGGERED", "ACKNOWLEDGED", "RESOLVED"],
    ),
    ("magic_link_action", &["acknowledge", "resolve"]),
    ("container_state", &["running", "exited", "restarting"]),
    (
        "alert_rule_condition",
        &[
            "CONTAINER_DOWN",
            "RESTART_LOOP",
            "CPU_USAGE",
            "MEMORY_USAGE",
        ],
    ),
    (
        "update_policy",
        &["auto_patch", "auto_minor", "notify_only", "disabled"],
    ),
    (
        "ops_agent_run_status",
        &["running", "completed", "failed", "circuit_broken"],
    ),
    ("backup_status", &["pending", "completed", "failed"]),
    (
        "support_channel_type",
        &["email", "chat", "shopify", "slack"],
    ),
    ("message_direction", &["inbound", "outbound", "system"]),
    (
        "draft_status",
        &["pending", "sent", "superseded", "archived"],
    ),
    ("draft_action_type", &["approve", "edit", "reject"]),
    ("job_type", &["crawl", "ingest_goldens", "corrections_sync"]),
    ("job_status", &["queued", "running", "succeeded", "failed"]),
];

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn every_enum_value_is_accepted_and_an_unknown_one_refused(pool: PgPool) {
    for (type_name, values) in ENUMS {
        let stored: Vec<String> = sqlx::query_scalar(
            "SELECT e.enumlabel::text FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid
             WHERE t.typname = $1 ORDER BY e.enumsortorder",
        )
        .bind(type_name)
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(&stored, values, "{type_name}");
        for value in *values {
            let sql = format!("SELECT $1::{type_name}::text");
            let back: String = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(value)
                .fetch_one(&pool)
                .await
                .unwrap();
            assert_eq!(&back, value);
        }
        let sql = format!("SELECT 'NOT_A_VALUE'::{type_name}");
        let refused = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .unwrap_err();
        assert_eq!(
            refused
                .as_database_error()
                .and_then(|e| e.code())
                .as_deref(),
            Some("22P02"),
            "{type_name}"
        );
    }
}

/// The Rust enums name exactly the database's values.
#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_rust_enums_round_trip_through_the_database(pool: PgPool) {
    async fn round_trip<T>(pool: &PgPool, type_name: &str, values: &[T])
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Postgres>
            + sqlx::Encode<'static, sqlx::Postgres>
            + sqlx::Type<sqlx::Postgres>
            + PartialEq
            + std::fmt::Debug
            + Copy
            + Unpin
            + Send
            + Sync
            + 'static,
    {
        let expected = ENUMS.iter().find(|(name, _)| *name == type_name).unwrap().1;
        assert_eq!(
            values.len(),
            expected.len(),
            "{type_name} has a Rust variant per value"
        );
        for value in values {
            // One statement text per type: a prepared statement keeps its parameter type.
            let sql = format!("SELECT $1::{type_name}");
            let back: T = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(*value)
                .fetch_one(pool)
                .await
                .unwrap_or_else(|e| panic!("{type_name} {value:?}: {e}"));
            assert_eq!(back, *value);
        }
    }
    use shared::agent::*;
    use shared::alerts::*;
    use shared::inbox::*;
    use shared::incidents::*;
    use shared::notify::*;
    use shared::rules::*;
    use shared::tenancy::UserRole;
    round_trip(&pool, "alert_severity", &Severity::ALL).await;
    round_trip(
        &pool,
        "alert_status",
        &[
            AlertStatus::Open,
            AlertStatus::Acknowledged,
            AlertStatus::Resolved,
            AlertStatus::Closed,
        ],
    )
    .await;
    round_trip(
        &pool,
        "channel_kind",
        &[
            ChannelKind::Email,
            ChannelKind::Sms,
            ChannelKind::Push,
            ChannelKind::Slack,
            ChannelKind::Teams,
            ChannelKind::Voice,
            ChannelKind::Telegram,
            ChannelKind::Discord,
            ChannelKind::Webhook,
        ],
    )
    .await;
    round_trip(
        &pool,
        "delivery_status",
        &[
            DeliveryStatus::Queued,
            DeliveryStatus::Sending,
            DeliveryStatus::Sent,
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
        ],
    )
    .await;
    round_trip(
        &pool,
        "user_role",
        &[UserRole::Admin, UserRole::Responder, UserRole::Viewer],
    )
    .await;
    round_trip(
        &pool,
        "channel_tier",
        &[
            ChannelTier::Primary,
            ChannelTier::Secondary,
            ChannelTier::Fallback,
        ],
    )
    .await;
    round_trip(
        &pool,
        "incident_status",
        &[
            IncidentStatus::Triggered,
            IncidentStatus::Acknowledged,
            IncidentStatus::Resolved,
        ],
    )
    .await;
    round_trip(
        &pool,
        "magic_link_action",
        &[MagicLinkAction::Acknowledge, MagicLinkAction::Resolve],
    )
    .await;
    round_trip(
        &pool,
        "container_state",
        &[
            ContainerState::Running,
            ContainerState::Exited,
            ContainerState::Restarting,
        ],
    )
    .await;
    round_trip(
        &pool,
        "alert_rule_condition",
        &[
            RuleCondition::ContainerDown,
            RuleCondition::RestartLoop,
            RuleCondition::CpuUsage,
            RuleCondition::MemoryUsage,
        ],
    )
    .await;
    round_trip(
        &pool,
        "update_policy",
        &[
            UpdatePolicy::AutoPatch,
            UpdatePolicy::AutoMinor,
            UpdatePolicy::NotifyOnly,
            UpdatePolicy::Disabled,
        ],
    )
    .await;
    round_trip(
        &pool,
        "ops_agent_run_status",
        &[
            OpsAgentRunStatus::Running,
            OpsAgentRunStatus::Completed,
            OpsAgentRunStatus::Failed,
            OpsAgentRunStatus::CircuitBroken,
        ],
    )
    .await;
    round_trip(
        &pool,
        "backup_status",
        &[
            BackupStatus::Pending,
            BackupStatus::Completed,
            BackupStatus::Failed,
        ],
    )
    .await;
    round_trip(
        &pool,
        "support_channel_type",
        &[
            SupportChannelType::Email,
            SupportChannelType::Chat,
            SupportChannelType::Shopify,
            SupportChannelType::Slack,
        ],
    )
    .await;
    round_trip(
        &pool,
        "message_direction",
        &[
            MessageDirection::Inbound,
            MessageDirection::Outbound,
            MessageDirection::System,
        ],
    )
    .await;
    round_trip(
        &pool,
        "draft_status",
        &[
            DraftStatus::Pending,
            DraftStatus::Sent,
            DraftStatus::Superseded,
            DraftStatus::Archived,
        ],
    )
    .await;
    round_trip(
        &pool,
        "draft_action_type",
        &[
            DraftActionType::Approve,
            DraftActionType::Edit,
            DraftActionType::Reject,
        ],
    )
    .await;
    round_trip(
        &pool,
        "job_type",
        &[
            JobType::Crawl,
            JobType::IngestGoldens,
            JobType::CorrectionsSync,
        ],
    )
    .await;
    round_trip(
        &pool,
        "job_status",
        &[
            JobStatus::Queued,
            JobStatus::Running,
            JobStatus::Succeeded,
            JobStatus::Failed,
        ],
    )
    .await;
}

async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn load_demo(pool: &PgPool) {
    sqlx::raw_sql(include_str!("../../local/seed/demo.sql"))
        .execute(pool)
        .await
        .unwrap();
}

/// Every table the demo data fills, so a newcomer finds a row of each seed entity.
const DEMO_TABLES: &[&str] = &[
    "workspace",
    "app_user",
    "contact_method",
    "user_channel_tier",
    "team",
    "team_member",
    "escalation_policy",
    "escalation_level",
    "escalation_target",
    "service",
    "integration",
    "notification_channel",
    "incident",
    "alert",
    "webhook_delivery",
    "notification_log",
    "magic_link_token",
    "slack_connection",
    "container",
    "container_metric_sample",
    "alert_rule",
    "outgoing_webhook",
    "deployment",
    "ops_agent_run",
    "backup_record",
    "support_channel",
    "conversation",
    "message",
    "attachment",
    "draft",
    "draft_action",
    "learning_sample",
    "job_run",
    "source_document",
    "feed_item",
];

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn the_demo_data_loads_twice_and_fills_every_seed_table(pool: PgPool) {
    load_demo(&pool).await;
    let mut first = Vec::new();
    for table in DEMO_TABLES {
        let rows = count(&pool, table).await;
        assert!(rows > 0, "the demo data has no {table}");
        first.push(rows);
    }
    load_demo(&pool).await;
    for (table, rows) in DEMO_TABLES.iter().zip(first) {
        assert_eq!(
            count(&pool, table).await,
            rows,
            "loading again changed {table}"
        );
    }
    let firing: String = sqlx::query_scalar("SELECT status FROM rule_alert")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        firing, "FIRING",
        "the rule_alert view speaks seed 002's terms"
    );
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn deleting_a_parent_removes_what_the_seeds_cascade(pool: PgPool) {
    load_demo(&pool).await;
    // Seed 001: connections and contact methods go with their user.
    sqlx::query("DELETE FROM app_user WHERE email = 'rui@demo.tocsin.dev'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(count(&pool, "slack_connection").await, 0);
    assert_eq!(count(&pool, "contact_method").await, 0);
    assert_eq!(count(&pool, "user_channel_tier").await, 0);
    // Seed 000: backups go with their deployment.
    sqlx::query("DELETE FROM deployment")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(count(&pool, "backup_record").await, 0);
    // Seed 001: notification logs and magic links go with their incident.
    sqlx::query("DELETE FROM incident")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(count(&pool, "magic_link_token").await, 0);
    assert_eq!(
        count(&pool, "notification_log WHERE incident_id IS NOT NULL").await,
        0
    );
    // Seed 002: rule alerts and samples go with their container.
    sqlx::query("DELETE FROM container")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(count(&pool, "container_metric_sample").await, 0);
    assert_eq!(count(&pool, "alert WHERE rule_id IS NOT NULL").await, 0);
    // Seed 000 (and tenancy): everything goes with the workspace.
    sqlx::query("DELETE FROM workspace")
        .execute(&pool)
        .await
        .unwrap();
    for table in DEMO_TABLES {
        assert_eq!(
            count(&pool, table).await,
            0,
            "{table} kept rows of a deleted workspace"
        );
    }
}

#[sqlx::test(migrator = "shared::MIGRATOR")]
async fn constraints_refuse_what_the_seeds_rule_out(pool: PgPool) {
    load_demo(&pool).await;
    let refusals = [
        // A second Slack connection for one user.
        "INSERT INTO slack_connection (user_id, access_token_ciphertext, slack_user_id, slack_team_id)
         SELECT user_id, '\\x00', 'U0OTHER', 'T0' FROM slack_connection",
        // A draft action by nobody.
        "INSERT INTO draft_action (draft_id, user_id, type) SELECT id, gen_random_uuid(), 'approve' FROM draft LIMIT 1",
        // A rule without the threshold its condition needs.
        "INSERT INTO alert_rule (workspace_id, name, condition, duration_minutes)
         SELECT id, 'no threshold', 'CPU_USAGE', 5 FROM workspace",
        // An alert from neither an integration nor a rule.
        "INSERT INTO alert (workspace_id, title, severity, source, triggered_at)
         SELECT id, 'orphan', 'LOW', 'x', now() FROM workspace",
        // A backup schedule missing while backups are on.
        "UPDATE deployment SET backup_schedule = NULL",
        // A JSON payload over the 64 KB limit.
        "UPDATE message SET metadata = jsonb_build_object('blob', repeat(md5(random()::text), 4000))",
        // A second firing alert for one (rule, container).
        "INSERT INTO alert (workspace_id, rule_id, container_id, title, severity, source, triggered_at)
         SELECT workspace_id, rule_id, container_id, 'again', 'LOW', 'x', now() FROM alert WHERE rule_id IS NOT NULL",
    ];
    for sql in refusals {
        let error = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
        assert!(error.is_err(), "accepted: {sql}");
    }
    let policy: String = sqlx::query_scalar(
        "INSERT INTO deployment (workspace_id, name, image, current_tag)
         SELECT id, 'defaults', 'img', '1.0.0' FROM workspace RETURNING update_policy::text || '/' || backup_enabled",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(policy, "notify_only/false", "seed 000's defaults");
}
