-- The index for repeats by Idempotency-Key holds only rows that have a key. Unrestricted, it
-- was small enough (the key is null in most rows) that a planner without statistics chose it
-- for the lookup by content fingerprint too, reading every delivery of the integration in
-- the dedup window instead of probing (integration_id, content_fingerprint, created_at).
DROP INDEX webhook_delivery_integration_id_accepted_idempotency_key_idx;
CREATE INDEX webhook_delivery_integration_id_accepted_idempotency_key_idx
    ON webhook_delivery (integration_id, idempotency_key, created_at)
    WHERE idempotency_key IS NOT NULL AND response_body IS NOT NULL AND duplicate_of IS NULL;
