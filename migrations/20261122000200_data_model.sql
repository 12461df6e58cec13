-- The complete data model of the five seed systems (see docs/data-model.md for the map
-- from each seed model to its table). Extends the walking skeleton's tables.

-- ---------------------------------------------------------------------------------------
-- Tenancy and access (SPEC section 2; seed 004 User)
-- ---------------------------------------------------------------------------------------

CREATE TYPE user_role AS ENUM ('admin', 'responder', 'viewer');

-- A person: dashboard operator, responder or reviewer. `user` is reserved in SQL.
CREATE TABLE app_user (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id  UUID NOT NULL REFERENCES workspace (id) ON DELETE CASCADE,
    email         TEXT NOT NULL CHECK (email ~ '^[^@\s]+@[^@\s]+$' AND length(email) <= 320),
    display_name  TEXT NOT NULL CHECK (length(btrim(display_name)) BETWEEN 1 AND 200),
    role          user_role NOT NULL DEFAULT 'responder',
    -- OIDC identity (seed 004 authProvider / authSubject); `local` for API-key-only users.
    auth_provider TEXT NOT NULL DEFAULT 'local' CHECK (length(auth_provider) BETWEEN 1 AND 100),
    auth_subject  TEXT CHECK (length(auth_subject) <= 255),
    -- E.164, for SMS and voice.
    phone         TEXT CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    timezone      TEXT NOT NULL DEFAULT 'UTC' CHECK (length(timezone) BETWEEN 1 AND 64),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX app_user_workspace_email_key ON app_user (workspace_id, lower(email));
CREATE UNIQUE INDEX app_user_auth_identity_key ON app_user (auth_provider, auth_subject)
    WHERE auth_subject IS NOT NULL;

-- Bearer credentials for the API. Only a SHA-256 of the key is stored; `prefix` is the
-- visible start of the key, to tell keys apart in lists.
CREATE TABLE api_key (
    id                 UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id       UUID NOT NULL REFERENCES workspace (id) ON DELETE CASCADE,
    name               TEXT NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    prefix             TEXT NOT NULL CHECK (length(prefix) BETWEEN 8 AND 32),
    key_hash           TEXT NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    -- The role the key acts with; scopes narrow it further.
    role               user_role NOT NULL,
    scopes             TEXT[] NOT NULL DEFAULT '{}',
    created_by_user_id UUID REFERENCES app_user (id) ON DELETE SET NULL,
    expires_at         TIMESTAMPTZ,
    revoked_at         TIMESTAMPTZ,
    last_used_at       TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX api_key_workspace_id_idx ON api_key (workspace_id);

-- ---------------------------------------------------------------------------------------
-- Teams, services, escalation (seed 001)
-- ---------------------------------------------------------------------------------------

CREATE TABLE team (
    id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id UUID NOT NULL REFERENCES workspace (id) ON DELETE CASCADE,
    name         TEXT NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    description  TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT team_workspace_name_key UNIQUE (workspace_id, name)
);

CREATE TABLE team_member (
    team_id    UUID NOT NULL REFERENCES team (id) ON DELETE CASCADE,
    user_id    UUID NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_member_user_id_idx ON team_member (user_id);

CREATE TABLE escalation_policy (
    id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id UUID NOT NULL REFERENCES workspace (id) ON DELETE CASCADE,
    name         TEXT NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    description  TEXT,
    -- How many times the whole policy repeats after its last level while unacknowledged.
    repeat_count INTEGER NOT NULL DEFAULT 0 CHECK (repeat_count BETWEEN 0 AND 10),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT escalation_policy_workspace_name_key UNIQUE (workspace_id, name)
);

-- One step of a policy: whom to notify, and how long to wait before the next step.
CREATE TABLE escalation_level (
    id                   UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    escalation_policy_id UUID NOT NULL REFERENCES escalation_policy (id) ON DELETE CASCADE,
    level                INTEGER NOT NULL CHECK (level >= 1),
    delay_minutes        INTEGER NOT NULL CHECK (delay_minutes BETWEEN 0 AND 1440),
    CONSTRAINT escalation_level_policy_level_key UNIQUE (escalation_policy_id, level)
);

CREATE TABLE escalation_target (
    id                      UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    escalation_level_id     UUID NOT NULL REFERENCES escalation_level (id) ON DELETE CASCADE,
    user_id                 UUID REFERENCES app_user (id) ON DELETE CASCADE,
    notification_channel_id UUID REFERENCES notification_channel (id) ON DELETE CASCADE,
    CONSTRAINT escalation_target_one_target CHECK (num_nonnulls(user_id, notification_channel_id) = 1)
);
CREATE INDEX escalation_target_escalation_level_id_idx ON escalation_target (escalation_level_id);

CREATE TABLE service (
    id                   UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id         UUID NOT NULL REFERENCES workspace (id) ON DELETE CASCADE,
    team_id              UUID REFERENCES team (id) ON DELETE SET NULL,
    escalation_policy_id UUID REFERENCES escalation_policy (id) ON DELETE SET NULL,
    name                 TEXT NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    description          TEXT,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT service_workspace_name_key UNIQUE (workspace_id, name)
);

-- Seed 001 ChannelEscalationConfig: per user, which channels to try in which tier.
CREATE TYPE channel_tier AS ENUM ('primary', 'secondary', 'fallback');

CREATE TABLE user_channel_tier (
    user_id    UUID NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    tier       channel_tier NOT NULL,
    channel    channel_kind NOT NULL,
    PRIMARY KEY (user_id, tier, channel)
);

-- How to reach a person on each kind of channel (email address, phone, ntfy topic, ...).
CREATE TABLE contact_method (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     UUID NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    kind        channel_kind NOT NULL,
    address     TEXT NOT NULL CHECK (length(btrim(address)) BETWEEN 1 AND 500),
    verified_at TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT contact_method_user_kind_address_key UNIQUE (user_id, kind, address)
);

-- ---------------------------------------------------------------------------------------
-- Incidents (seed 001) and the rest of seed 003's integration
-- ---------------------------------------------------------------------------------------

CREATE TYPE incident_status AS ENUM ('TRIGGERED', 'ACKNOWLEDGED', 'RESOLVED');

CREATE TABLE incident (
    id                      UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id            UUID NOT NULL REFERENCES workspace (id) ON DELETE CASCADE,
    service_id              UUID REFERENCES service (id) ON DELETE SET NULL,
    team_id                 UUID REFERENCES team (id) ON DELETE SET NULL,
    escalation_policy_id    UUID REFERENCES escalation_policy (id) ON DELETE SET NULL,
    title                   TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 1024),
    -- Seed 001 NotificationPayload.priority.
    priority                alert_severity NOT NULL,
    status                  incident_status NOT NULL DEFAULT 'TRIGGERED',
    -- What groups alerts into this incident (Alertmanager groupKey, ...).
    group_key               TEXT CHECK (length(group_key) <= 1024),
    alert_count             INTEGER NOT NULL DEFAULT 0 CHECK (alert_count >= 0),
    escalation_level        INTEGER NOT NULL DEFAULT 0 CHECK (escalation_level >= 0),
    next_escalation_at      TIMESTAMPTZ,
    dashboard_url           TEXT CHECK (length(dashboard_url) <= 2048),
    triggered_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    acknowledged_at         TIMESTAMPTZ,
    acknowledged_by_user_id UUID REFERENCES app_user (id) ON DELETE SET NULL,
    resolved_at             TIMESTAMPTZ,
    resolved_by_user_id     UUID REFERENCES app_user (id) ON DELETE SET NULL,
    created_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at              TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX incident_workspace_id_status_triggered_at_idx ON incident (workspace_id, status, triggered_at);
CREATE INDEX incident_service_id_idx ON incident (service_id);
-- At most one open incident per service and group key: concurrent alerts join it.
CREATE UNIQUE INDEX incident_open_group_key
    ON incident (workspace_id, coalesce(service_id, '00000000-0000-0000-0000-000000000000'::uuid), group_key)
    WHERE status <> 'RESOLVED' AND group_key IS NOT NULL;
CREATE INDEX incident_next_escalation_at_idx ON incident (next_escalation_at)
    WHERE status = 'TRIGGERED' AND next_escalation_at IS NOT NULL;

-- Seed 003 Integration's signature configuration, the secret (AES-256-GCM ciphertext),
-- a previous secret that still verifies during a rotation's grace period, and routing.
ALTER TABLE integration
    ADD COLUMN webhook_secret_ciphertext        BYTEA,
    ADD COLUMN previous_secret_ciphertext       BYTEA,
    ADD COLUMN previous_secret_expires_at       TIMESTAMPTZ,
    ADD COLUMN signature_header                 TEXT NOT NULL DEFAULT 'X-Webhook-Signature'
        CHECK (signature_header ~ '^[A-Za-z0-9-]{1,100}$'),
    ADD COLUMN signature_algorithm              TEXT NOT NULL DEFAULT 'sha256'
        CHECK (signature_algorithm IN ('sha1', 'sha256', 'sha512')),
    ADD COLUMN signature_format                 TEXT NOT NULL DEFAULT 'hex'
        CHECK (signature_format IN ('hex', 'base64')),
    ADD COLUMN signature_prefix                 TEXT CHECK (length(signature_prefix) <= 50),
    ADD COLUMN signature_timestamp_header       TEXT CHECK (signature_timestamp_header ~ '^[A-Za-z0-9-]{1,100}$'),
    ADD COLUMN signature_tolerance_seconds      INTEGER NOT NULL DEFAULT 300
        CHECK (signature_tolerance_seconds BETWEEN 1 AND 86400),
    ADD COLUMN default_service_id               UUID REFERENCES service (id) ON DELETE SET NULL,
    ADD COLUMN severity_mapping                 JSONB NOT NULL DEFAULT '{}'::jsonb
        CHECK (jsonb_typeof(severity_mapping) = 'object' AND pg_column_size(severity_mapping) <= 65536);

-- Seed 002 rule alerts share the alert table: an alert comes from an integration or from
-- a rule over a container. FIRING is OPEN/ACKNOWLEDGED, RESOLVED is RESOLVED/CLOSED, and
-- startedAt is triggered_at (the rule_alert view shows them in the seed's terms).
CREATE TYPE container_state AS ENUM ('running', 'exited', 'restarting');
CREATE TYPE alert_rule_condition AS ENUM ('CONTAINER_DOWN', 'RESTART_LOOP', 'CPU_USAGE', 'MEMORY_USAGE');

CREATE TABLE container (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id     UUID NOT NULL REFERENCES workspace (id) ON DELETE CASCADE,
    name             TEXT NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 255),
    host             TEXT CHECK (length(host) <= 255),
    image            TEXT CHECK (length(image) <= 1024),
    labels           JSONB NOT NULL DEFAULT '{}'::jsonb
                         CHECK (jsonb_typeof(labels) = 'object' AND pg_column_size(labels) <= 65536),
    last_state       container_state,
    last_reported_at TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT container_workspace_name_key UNIQUE (workspace_id, name)
);

-- What containers report; what the rule evaluator reads. Kept for a retention period.
CREATE TABLE container_metric_sample (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    container_id   UUID NOT NULL REFERENCES container (id) ON DELETE CASCADE,
    state          container_state NOT NULL,
    cpu_percent    DOUBLE PRECISION CHECK (cpu_percent >= 0),
    memory_percent DOUBLE PRECISION CHECK (memory_percent BETWEEN 0 AND 100),
    restart_count  INTEGER CHECK (restart_count >= 0),
    recorded_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX container_metric_sample_container_id_recorded_at_idx
    ON container_metric_sample (container_id, recorded_at);

CREATE TABLE alert_rule (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id     UUID NOT NULL REFERENCES workspace (id) ON DELETE CASCADE,
    name             TEXT NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    condition        alert_rule_condition NOT NULL,
    -- Percent for CPU/memory, restarts for a restart loop, unused for CONTAINER_DOWN.
    threshold        DOUBLE PRECISION CHECK (threshold >= 0),
    -- Minutes the condition must hold (seed: duration).
    duration_minutes INTEGER NOT NULL CHECK (duration_minutes BETWEEN 0 AND 10080),
    severity         alert_severity NOT NULL DEFAULT 'HIGH',
    -- Label selector; {} is every container of the workspace.
    scope            JSONB NOT NULL DEFAULT '{}'::jsonb
                         CHECK (jsonb_typeof(scope) = 'object' AND pg_column_size(scope) <= 65536),
    enabled          BOOLEAN NOT NULL DEFAULT true,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT alert_rule_workspace_name_key UNIQUE (workspace_id, name),
    CONSTRAINT alert_rule_threshold_needed CHECK (condition = 'CONTAINER_DOWN' OR threshold IS NOT NULL)
);

ALTER TABLE alert
    ALTER COLUMN integration_id DROP NOT NULL,
    ADD COLUMN incident_id  UUID REFERENCES incident (id) ON DELETE SET NULL,
    ADD COLUMN service_id   UUID REFERENCES service (id) ON DELETE SET NULL,
    ADD COLUMN rule_id      UUID REFERENCES alert_rule (id) ON DELETE CASCADE,
    ADD COLUMN container_id UUID REFERENCES container (id) ON DELETE CASCADE,
    ADD CONSTRAINT alert_has_origin CHECK (
        (integration_id IS NOT NULL AND rule_id IS NULL AND container_id IS NULL)
        OR (integration_id IS NULL AND rule_id IS NOT NULL AND container_id IS NOT NULL));
CREATE INDEX alert_incident_id_idx ON alert (incident_id);
-- At most one firing alert per (rule, container).
CREATE UNIQUE INDEX alert_firing_rule_container_key ON alert (rule_id, container_id)
    WHERE rule_id IS NOT NULL AND status IN ('OPEN', 'ACKNOWLEDGED');

CREATE VIEW rule_alert AS
SELECT id, workspace_id, rule_id, container_id,
       CASE WHEN status IN ('OPEN', 'ACKNOWLEDGED') THEN 'FIRING' ELSE 'RESOLVED' END AS status,
       triggered_at AS started_at, resolved_at, created_at
FROM alert
WHERE rule_id IS NOT NULL;

-- Seed 002 Webhook: where alert and incident events are posted, signed.
CREATE TABLE outgoing_webhook (
    id                   UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id         UUID NOT NULL REFERENCES workspace (id) ON DELETE CASCADE,
    url                  TEXT NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2048),
    -- AES-256-GCM ciphertext of the signing secret (seed: optional).
    secret_ciphertext    BYTEA,
    is_active            BOOLEAN NOT NULL DEFAULT true,
    event_types          TEXT[] NOT NULL DEFAULT '{alert.firing,alert.resolved}',
    consecutive_failures INTEGER NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    disabled_at          TIMESTAMPTZ,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX outgoing_webhook_workspace_id_idx ON outgoing_webhook (workspace_id);

-- ---------------------------------------------------------------------------------------
-- Notifications (seed 001): the rest of NotificationLog, magic links, OAuth connections
-- ---------------------------------------------------------------------------------------

ALTER TABLE notification_log
    ADD COLUMN incident_id UUID REFERENCES incident (id) ON DELETE CASCADE,
    ADD COLUMN user_id     UUID REFERENCES app_user (id) ON DELETE CASCADE;
CREATE INDEX notification_log_incident_id_channel_idx ON notification_log (incident_id, channel);
CREATE INDEX notification_log_user_id_status_idx ON notification_log (user_id, status);
CREATE INDEX notification_log_incident_id_user_id_channel_idx
    ON notification_log (incident_id, user_id, channel);

CREATE TYPE magic_link_action AS ENUM ('acknowledge', 'resolve');

-- One-time action links. Only the token's SHA-256 is stored.
CREATE TABLE magic_link_token (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash  TEXT NOT NULL CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    incident_id UUID NOT NULL REFERENCES incident (id) ON DELETE CASCADE,
    -- The recipient the link was sent to: who acts when it is used.
    user_id     UUID REFERENCES app_user (id) ON DELETE CASCADE,
    action      magic_link_action NOT NULL,
    used        BOOLEAN NOT NULL DEFAULT false,
    used_at     TIMESTAMPTZ,
    expires_at  TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT magic_link_token_token_hash_key UNIQUE (token_hash),
    CONSTRAINT magic_link_token_used_at_when_used CHECK (used = (used_at IS NOT NULL))
);
-- The seed's three indexes: token_hash (the unique constraint's index serves it),
-- (incident_id, action) and expires_at.
CREATE INDEX magic_link_token_incident_id_action_idx ON magic_link_token (incident_id, action);
CREATE INDEX magic_link_token_expires_at_idx ON magic_link_token (expires_at);

-- Per-user OAuth connections; tokens are AES-256-GCM ciphertext.
CREATE TABLE slack_connection (
    id                       UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id                  UUID NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    access_token_ciphertext  BYTEA NOT NULL,
    refresh_token_ciphertext BYTEA,
    token_expires_at         TIMESTAMPTZ,
    slack_user_id            TEXT NOT NULL,
    slack_team_id            TEXT NOT NULL,
    slack_email              TEXT,
    is_active                BOOLEAN NOT NULL DEFAULT true,
    last_used_at             TIMESTAMPTZ,
    created_at               TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at               TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT slack_connection_user_id_key UNIQUE (user_id),
    CONSTRAINT slack_connection_slack_user_id_key UNIQUE (slack_user_id)
);

CREATE TABLE teams_connection (
    id                       UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id                  UUID NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    access_token_ciphertext  BYTEA NOT NULL,
    refresh_token_ciphertext BYTEA,
    token_expires_at         TIMESTAMPTZ,
    teams_user_id            TEXT NOT NULL,
    teams_tenant_id          TEXT NOT NULL,
    teams_email              TEXT,
    is_active                BOOLEAN NOT NULL DEFAULT true,
    last_used_at             TIMESTAMPTZ,
    created_at               TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at               TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT teams_connection_user_id_key UNIQUE (user_id),
    CONSTRAINT teams_connection_teams_user_id_key UNIQUE (teams_user_id)
);

-- ---------------------------------------------------------------------------------------
-- Ops agent (seed 000)
-- ---------------------------------------------------------------------------------------

CREATE TYPE update_policy AS ENUM ('auto_patch', 'auto_minor', 'notify_only', 'disabled');

CREATE TABLE deployment (
    id                       UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id             UUID NOT NULL REFERENCES workspace (id) ON DELETE CASCADE,
    name                     TEXT NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    image                    TEXT NOT NULL CHECK (length(image) BETWEEN 1 AND 1024),
    current_tag              TEXT NOT NULL CHECK (length(current_tag) BETWEEN 1 AND 128),
    -- Container registry tags API the agent reads available versions from.
    version_source_url       TEXT CHECK (version_source_url ~ '^https?://'),
    deploy_hook_url          TEXT CHECK (deploy_hook_url ~ '^https?://'),
    health_check_url         TEXT CHECK (health_check_url ~ '^https?://'),
    -- Where the backup worker reads the data to back up.
    backup_source_url        TEXT CHECK (backup_source_url ~ '^https?://'),
    -- Seed 000's seven fields.
    update_policy            update_policy NOT NULL DEFAULT 'notify_only',
    latest_available_version TEXT,
    last_version_check_at    TIMESTAMPTZ,
    backup_enabled           BOOLEAN NOT NULL DEFAULT false,
    backup_schedule          TEXT CHECK (length(backup_schedule) BETWEEN 9 AND 100),
    last_backup_at           TIMESTAMPTZ,
    previous_image_tag       TEXT,
    -- Consecutive failed agent actions; at the limit the circuit breaker opens.
    consecutive_failures     INTEGER NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    circuit_open_until       TIMESTAMPTZ,
    created_at               TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at               TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT deployment_workspace_name_key UNIQUE (workspace_id, name),
    CONSTRAINT deployment_schedule_when_enabled CHECK (NOT backup_enabled OR backup_schedule IS NOT NULL)
);

CREATE TYPE ops_agent_run_status AS ENUM ('running', 'completed', 'failed', 'circuit_broken');

CREATE TABLE ops_agent_run (
    id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Seed 000 tenantId.
    workspace_id UUID NOT NULL REFERENCES workspace (id) ON DELETE CASCADE,
    started_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    completed_at TIMESTAMPTZ,
    status       ops_agent_run_status NOT NULL DEFAULT 'running',
    summary      TEXT,
    actions_json JSONB CHECK (jsonb_typeof(actions_json) = 'array' AND pg_column_size(actions_json) <= 65536),
    token_usage  INTEGER CHECK (token_usage >= 0),
    error        TEXT
);
CREATE INDEX ops_agent_run_workspace_id_started_at_idx ON ops_agent_run (workspace_id, started_at);

CREATE TYPE backup_status AS ENUM ('pending', 'completed', 'failed');

CREATE TABLE backup_record (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    deployment_id UUID NOT NULL REFERENCES deployment (id) ON DELETE CASCADE,
    status        backup_status NOT NULL DEFAULT 'pending',
    data_size     BIGINT CHECK (data_size >= 0),
    storage_path  TEXT,
    -- `system`, or the id of the user who asked.
    triggered_by  TEXT NOT NULL CHECK (length(triggered_by) BETWEEN 1 AND 100),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    completed_at  TIMESTAMPTZ,
    error         TEXT
);
CREATE INDEX backup_record_deployment_id_created_at_idx ON backup_record (deployment_id, created_at);

-- ---------------------------------------------------------------------------------------
-- Support inbox (seed 004). The seed's Account is the workspace; index names are the seed's.
-- ---------------------------------------------------------------------------------------

CREATE TYPE support_channel_type AS ENUM ('email', 'chat', 'shopify', 'slack');
CREATE TYPE message_direction AS ENUM ('inbound', 'outbound', 'system');
CREATE TYPE draft_status AS ENUM ('pending', 'sent', 'superseded', 'archived');
CREATE TYPE draft_action_type AS ENUM ('approve', 'edit', 'reject');
CREATE TYPE job_type AS ENUM ('crawl', 'ingest_goldens', 'corrections_sync');
CREATE TYPE job_status AS ENUM ('queued', 'running', 'succeeded', 'failed');

-- Seed 004 Channel (named so it does not collide with notification channels).
CREATE TABLE support_channel (
    id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id UUID NOT NULL REFERENCES workspace (id) ON DELETE CASCADE,
    type         support_channel_type NOT NULL,
    external_id  TEXT NOT NULL CHECK (length(external_id) BETWEEN 1 AND 255),
    name         TEXT NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    metadata     JSONB NOT NULL DEFAULT '{}'::jsonb
                     CHECK (jsonb_typeof(metadata) = 'object' AND pg_column_size(metadata) <= 65536),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT support_channel_external_id_key UNIQUE (external_id)
);
CREATE INDEX idx_channel_account_type ON support_channel (workspace_id, type);

CREATE TABLE conversation (
    id             UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id   UUID NOT NULL REFERENCES workspace (id) ON DELETE CASCADE,
    channel_id     UUID NOT NULL REFERENCES support_channel (id) ON DELETE CASCADE,
    external_id    TEXT NOT NULL CHECK (length(external_id) BETWEEN 1 AND 255),
    subject        TEXT,
    status         TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'pending', 'closed')),
    customer_email TEXT,
    customer_name  TEXT,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT conversation_external_id_key UNIQUE (external_id)
);
CREATE INDEX idx_conversation_account_status ON conversation (workspace_id, status);
CREATE INDEX idx_conversation_channel_created ON conversation (channel_id, created_at);

CREATE TABLE message (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id UUID NOT NULL REFERENCES conversation (id) ON DELETE CASCADE,
    external_id     TEXT,
    direction       message_direction NOT NULL,
    subject         TEXT,
    body_text       TEXT NOT NULL,
    body_html       TEXT,
    sent_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Set by the retention job when the body was moved to the archive.
    archived_at     TIMESTAMPTZ,
    metadata        JSONB NOT NULL DEFAULT '{}'::jsonb
                        CHECK (jsonb_typeof(metadata) = 'object' AND pg_column_size(metadata) <= 65536)
);
CREATE INDEX idx_message_conversation_sent ON message (conversation_id, sent_at);

CREATE TABLE draft (
    id                 UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id    UUID NOT NULL REFERENCES conversation (id) ON DELETE CASCADE,
    trigger_message_id UUID REFERENCES message (id) ON DELETE SET NULL,
    author_user_id     UUID REFERENCES app_user (id) ON DELETE SET NULL,
    model_key          TEXT NOT NULL,
    prompt_version     TEXT NOT NULL,
    status             draft_status NOT NULL DEFAULT 'pending',
    suggested_text     TEXT NOT NULL,
    suggested_html     TEXT,
    top_sources        JSONB NOT NULL DEFAULT '[]'::jsonb
                           CHECK (jsonb_typeof(top_sources) = 'array' AND pg_column_size(top_sources) <= 65536),
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT draft_trigger_message_id_key UNIQUE (trigger_message_id)
);
CREATE INDEX idx_draft_conversation_status ON draft (conversation_id, status);
CREATE INDEX idx_draft_status_created ON draft (status, created_at);

CREATE TABLE draft_action (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    draft_id    UUID NOT NULL REFERENCES draft (id) ON DELETE CASCADE,
    -- Checked at commit: deleting a reviewer alone is refused, keeping the audit trail,
    -- while deleting the workspace removes the actions through their drafts first.
    user_id     UUID NOT NULL REFERENCES app_user (id) ON DELETE NO ACTION
                    DEFERRABLE INITIALLY DEFERRED,
    type        draft_action_type NOT NULL,
    final_text  TEXT,
    final_html  TEXT,
    -- The id the channel gave the outbound message (seed: sentMsgId).
    sent_msg_id TEXT,
    notes       TEXT,
    -- An operations array that replays the edit.
    diff_json   JSONB CHECK (jsonb_typeof(diff_json) = 'array' AND pg_column_size(diff_json) <= 65536),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    message_id  UUID REFERENCES message (id) ON DELETE SET NULL
);
CREATE INDEX idx_action_draft ON draft_action (draft_id);
CREATE INDEX idx_action_user_created ON draft_action (user_id, created_at);

CREATE TABLE learning_sample (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    draft_id        UUID NOT NULL REFERENCES draft (id) ON DELETE CASCADE,
    action_id       UUID NOT NULL REFERENCES draft_action (id) ON DELETE CASCADE,
    diff_json       JSONB NOT NULL CHECK (pg_column_size(diff_json) <= 65536),
    embeddings_json JSONB,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT learning_sample_draft_id_key UNIQUE (draft_id),
    CONSTRAINT learning_sample_action_id_key UNIQUE (action_id)
);
CREATE INDEX learning_sample_created_at_idx ON learning_sample (created_at);

CREATE TABLE attachment (
    id         UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    message_id UUID NOT NULL REFERENCES message (id) ON DELETE CASCADE,
    file_name  TEXT NOT NULL CHECK (length(file_name) BETWEEN 1 AND 255),
    mime_type  TEXT NOT NULL CHECK (length(mime_type) BETWEEN 3 AND 255),
    size_bytes BIGINT NOT NULL CHECK (size_bytes >= 0),
    -- The object's key in the data bucket (seed: fileUrl); handed out as presigned URLs.
    s3_key     TEXT NOT NULL CHECK (length(s3_key) BETWEEN 1 AND 1024),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_attachment_message ON attachment (message_id);

CREATE TABLE job_run (
    id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id UUID NOT NULL REFERENCES workspace (id) ON DELETE CASCADE,
    type         job_type NOT NULL,
    status       job_status NOT NULL DEFAULT 'queued',
    started_at   TIMESTAMPTZ,
    finished_at  TIMESTAMPTZ,
    error        TEXT,
    metrics      JSONB CHECK (pg_column_size(metrics) <= 65536),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_jobrun_account_type_created ON job_run (workspace_id, type, created_at);

CREATE TABLE source_document (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id    UUID NOT NULL REFERENCES workspace (id) ON DELETE CASCADE,
    source_url      TEXT NOT NULL CHECK (length(source_url) BETWEEN 1 AND 2048),
    title           TEXT,
    hash            TEXT,
    indexed_at      TIMESTAMPTZ NOT NULL,
    next_refresh_at TIMESTAMPTZ,
    metadata        JSONB NOT NULL DEFAULT '{}'::jsonb
                        CHECK (jsonb_typeof(metadata) = 'object' AND pg_column_size(metadata) <= 65536),
    CONSTRAINT source_document_source_url_key UNIQUE (source_url)
);

-- Seed 004 Notification: the in-app feed ("Draft ready", "Ingest failed").
CREATE TABLE feed_item (
    id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id UUID NOT NULL REFERENCES workspace (id) ON DELETE CASCADE,
    user_id      UUID REFERENCES app_user (id) ON DELETE CASCADE,
    type         TEXT NOT NULL CHECK (length(type) BETWEEN 1 AND 100),
    payload      JSONB NOT NULL DEFAULT '{}'::jsonb CHECK (pg_column_size(payload) <= 65536),
    read_at      TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX idx_notification_account_created ON feed_item (workspace_id, created_at);
CREATE INDEX idx_notification_user_created ON feed_item (user_id, created_at);
