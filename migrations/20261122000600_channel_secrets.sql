-- Secrets of a notification channel (bot tokens, webhook URLs that carry a token, signing
-- secrets) live apart from its public config: one AES-256-GCM sealed JSON object, bound to
-- the channel's id. The API never returns them.
ALTER TABLE notification_channel ADD COLUMN secrets_ciphertext BYTEA;
