-- The walking skeleton: the tables one alert needs on its way from a monitoring tool's
-- webhook to a delivered notification. Later migrations extend these; see docs/data-model.md.

-- Tenancy: the seeds' Workspace, Tenant, Organization and Account are all this table.
CREATE TABLE workspace (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name        TEXT NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Seed 003 Integration: a monitoring tool that posts alerts to Tocsin.
CREATE TABLE integration (
    id                           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id                 UUID NOT NULL REFERENCES workspace (id) ON DELETE CASCADE,
    name                         TEXT NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    type                         TEXT NOT NULL CHECK (type IN (
                                     'alertmanager', 'grafana', 'pagerduty', 'datadog',
                                     'newrelic', 'sentry', 'opsgenie', 'generic')),
    is_active                    BOOLEAN NOT NULL DEFAULT true,
    deduplication_window_minutes INTEGER NOT NULL DEFAULT 15
                                     CHECK (deduplication_window_minutes BETWEEN 0 AND 10080),
    created_at                   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at                   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT integration_workspace_name_key UNIQUE (workspace_id, name)
);
CREATE INDEX integration_type_idx ON integration (type);
CREATE INDEX integration_is_active_idx ON integration (is_active);

CREATE TYPE alert_severity AS ENUM ('CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'INFO');
CREATE TYPE alert_status AS ENUM ('OPEN', 'ACKNOWLEDGED', 'RESOLVED', 'CLOSED');

-- Seed 003 Alert: one normalized alert.
CREATE TABLE alert (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id    UUID NOT NULL REFERENCES workspace (id) ON DELETE CASCADE,
    integration_id  UUID NOT NULL REFERENCES integration (id) ON DELETE CASCADE,
    title           TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 1024),
    description     TEXT CHECK (length(description) <= 65536),
    severity        alert_severity NOT NULL,
    status          alert_status NOT NULL DEFAULT 'OPEN',
    -- The integration's name at the time the alert arrived (seed: "Integration name").
    source          TEXT NOT NULL,
    -- The tool's id for the alert; the dedup key.
    external_id     TEXT CHECK (length(external_id) <= 255),
    triggered_at    TIMESTAMPTZ NOT NULL,
    acknowledged_at TIMESTAMPTZ,
    resolved_at     TIMESTAMPTZ,
    closed_at       TIMESTAMPTZ,
    metadata        JSONB NOT NULL DEFAULT '{}'::jsonb
                        CHECK (jsonb_typeof(metadata) = 'object' AND pg_column_size(metadata) <= 65536),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX alert_integration_id_triggered_at_idx ON alert (integration_id, triggered_at);
CREATE INDEX alert_status_triggered_at_idx ON alert (status, triggered_at);
CREATE INDEX alert_severity_triggered_at_idx ON alert (severity, triggered_at);
CREATE INDEX alert_external_id_idx ON alert (external_id);
CREATE INDEX alert_workspace_id_triggered_at_idx ON alert (workspace_id, triggered_at);

-- Seed 003 WebhookDelivery: every request an integration's endpoint received, rejected ones
-- included, for audit and idempotency.
CREATE TABLE webhook_delivery (
    id                  UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id        UUID NOT NULL REFERENCES workspace (id) ON DELETE CASCADE,
    integration_id      UUID NOT NULL REFERENCES integration (id) ON DELETE CASCADE,
    idempotency_key     TEXT CHECK (length(idempotency_key) <= 255),
    -- SHA-256 (hex) of the normalized alert; of the raw body when it did not parse.
    content_fingerprint TEXT NOT NULL CHECK (content_fingerprint ~ '^[0-9a-f]{64}$'),
    -- The body as received: JSON when it parsed, a JSON string of the text when it did not,
    -- NULL when it went to S3 (raw_payload_s3_key) or was refused unread (over the limit).
    raw_payload         JSONB CHECK (pg_column_size(raw_payload) <= 65536),
    raw_payload_s3_key  TEXT,
    -- Request headers with every secret-bearing value redacted.
    headers             JSONB NOT NULL DEFAULT '{}'::jsonb,
    status_code         INTEGER NOT NULL CHECK (status_code BETWEEN 100 AND 599),
    error_message       TEXT,
    processed_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    alert_id            UUID REFERENCES alert (id) ON DELETE SET NULL,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX webhook_delivery_integration_id_idempotency_key_idx
    ON webhook_delivery (integration_id, idempotency_key);
CREATE INDEX webhook_delivery_integration_id_fingerprint_created_at_idx
    ON webhook_delivery (integration_id, content_fingerprint, created_at);
CREATE INDEX webhook_delivery_integration_id_created_at_idx
    ON webhook_delivery (integration_id, created_at);
CREATE INDEX webhook_delivery_alert_id_idx ON webhook_delivery (alert_id);

-- Seed 001's NotificationChannel enum (plus the providers seed 000 names): the kind of
-- destination. Stored upper-case; the API writes it lower-case, as seed 000 does.
CREATE TYPE channel_kind AS ENUM (
    'EMAIL', 'SMS', 'PUSH', 'SLACK', 'TEAMS', 'VOICE', 'TELEGRAM', 'DISCORD', 'WEBHOOK');

-- Seed 000 NotificationChannel: a workspace's destination for notifications.
CREATE TABLE notification_channel (
    id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id UUID NOT NULL REFERENCES workspace (id) ON DELETE CASCADE,
    provider     channel_kind NOT NULL,
    name         TEXT NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    config       JSONB NOT NULL DEFAULT '{}'::jsonb
                     CHECK (jsonb_typeof(config) = 'object' AND pg_column_size(config) <= 65536),
    enabled      BOOLEAN NOT NULL DEFAULT true,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX notification_channel_workspace_id_enabled_idx
    ON notification_channel (workspace_id, enabled);

CREATE TYPE delivery_status AS ENUM ('QUEUED', 'SENDING', 'SENT', 'DELIVERED', 'FAILED');

-- Seed 001 NotificationLog: one message to one destination, and everything that happened
-- to it. The incident and user columns arrive with the data-model migration.
CREATE TABLE notification_log (
    id                      UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id            UUID NOT NULL REFERENCES workspace (id) ON DELETE CASCADE,
    alert_id                UUID REFERENCES alert (id) ON DELETE CASCADE,
    notification_channel_id UUID REFERENCES notification_channel (id) ON DELETE SET NULL,
    channel                 channel_kind NOT NULL,
    status                  delivery_status NOT NULL DEFAULT 'QUEUED',
    -- The provider's id for the message (seed: providerId).
    provider_message_id     TEXT,
    -- What the provider answered last (for HTTP providers, the status line).
    provider_status         TEXT,
    error                   TEXT,
    attempt_count           INTEGER NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
    escalation_level        INTEGER CHECK (escalation_level >= 0),
    queued_at               TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at                 TIMESTAMPTZ,
    delivered_at            TIMESTAMPTZ,
    failed_at               TIMESTAMPTZ,
    last_attempt_at         TIMESTAMPTZ,
    next_attempt_at         TIMESTAMPTZ,
    -- While SENDING: until when the attempt that claimed the row owns it. A redelivered
    -- job leaves a row alone until then, and takes it over after (the attempt died).
    locked_until            TIMESTAMPTZ,
    created_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at              TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX notification_log_alert_id_channel_idx ON notification_log (alert_id, channel);
CREATE INDEX notification_log_workspace_id_status_idx ON notification_log (workspace_id, status);
CREATE INDEX notification_log_notification_channel_id_idx ON notification_log (notification_channel_id);

-- Transactional outbox: jobs written in the same transaction as the rows they act on, sent
-- to SQS after commit, and re-sent by the outbox relay if that send never happened.
CREATE TABLE outbox_message (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue         TEXT NOT NULL CHECK (queue IN ('notifications')),
    body          JSONB NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    dispatched_at TIMESTAMPTZ,
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT
);
CREATE INDEX outbox_message_pending_idx ON outbox_message (created_at) WHERE dispatched_at IS NULL;
