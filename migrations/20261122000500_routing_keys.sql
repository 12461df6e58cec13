-- PagerDuty-style integrations are found by their routing key, not by id. The key is the
-- integration's secret (stored encrypted); these are its SHA-256, for the lookup. The
-- previous key keeps routing during a rotation's grace period.
ALTER TABLE integration
    ADD COLUMN routing_key_hash          TEXT CHECK (routing_key_hash ~ '^[0-9a-f]{64}$'),
    ADD COLUMN previous_routing_key_hash TEXT CHECK (previous_routing_key_hash ~ '^[0-9a-f]{64}$');
CREATE UNIQUE INDEX integration_routing_key_hash_key ON integration (routing_key_hash);
CREATE INDEX integration_previous_routing_key_hash_idx ON integration (previous_routing_key_hash);
