-- How an integration's requests are authenticated: HMAC signature, the Standard Webhooks
-- scheme, a token for tools that cannot sign, or nothing (integrations made before
-- secrets existed). Every way but `none` needs the (encrypted) secret.
ALTER TABLE integration
    ADD COLUMN verification TEXT NOT NULL DEFAULT 'none'
        CHECK (verification IN ('none', 'hmac', 'standard_webhooks', 'token')),
    ADD CONSTRAINT integration_secret_when_verified
        CHECK (verification = 'none' OR webhook_secret_ciphertext IS NOT NULL);
