-- Alert lifecycle and deduplication: repeats of an open alert update it instead of opening
-- another, requests that repeat an earlier one are answered as it was, and incidents
-- collect the alerts of one service and group key.

ALTER TABLE alert
    ADD COLUMN occurrence_count INTEGER NOT NULL DEFAULT 1 CHECK (occurrence_count >= 1),
    ADD COLUMN last_seen_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- What groups the alert with others into one incident (Alertmanager groupKey, ...).
    ADD COLUMN group_key        TEXT CHECK (length(group_key) <= 1024);

-- At most one open alert per integration and dedup key: a repeat trigger updates it, and
-- concurrent identical triggers cannot open two (INSERT ... ON CONFLICT on this index).
CREATE UNIQUE INDEX alert_open_dedup_key ON alert (integration_id, external_id)
    WHERE integration_id IS NOT NULL AND external_id IS NOT NULL
      AND status IN ('OPEN', 'ACKNOWLEDGED');

-- The answer an accepted request got, so a repeat (same Idempotency-Key, or the same
-- content inside the dedup window) is answered exactly the same. NULL for refusals.
ALTER TABLE webhook_delivery
    ADD COLUMN response_body JSONB,
    -- For a repeat: the delivery whose answer it got.
    ADD COLUMN duplicate_of  UUID REFERENCES webhook_delivery (id) ON DELETE SET NULL;
CREATE INDEX webhook_delivery_integration_id_accepted_idempotency_key_idx
    ON webhook_delivery (integration_id, idempotency_key, created_at)
    WHERE response_body IS NOT NULL AND duplicate_of IS NULL;

-- Every alert a delivery created or changed (a delivery can carry many: an Alertmanager
-- group); `webhook_delivery.alert_id` keeps the first, as the seed has it.
CREATE TABLE webhook_delivery_alert (
    webhook_delivery_id UUID NOT NULL REFERENCES webhook_delivery (id) ON DELETE CASCADE,
    alert_id            UUID NOT NULL REFERENCES alert (id) ON DELETE CASCADE,
    PRIMARY KEY (webhook_delivery_id, alert_id)
);
CREATE INDEX webhook_delivery_alert_alert_id_idx ON webhook_delivery_alert (alert_id);

-- What a notification says happened.
CREATE TYPE notification_event AS ENUM (
    'alert.triggered', 'incident.triggered', 'incident.acknowledged', 'incident.resolved');
ALTER TABLE notification_log
    ADD COLUMN event notification_event NOT NULL DEFAULT 'alert.triggered';
