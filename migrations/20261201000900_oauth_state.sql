-- OAuth connections (issue 6): the sign-ins in flight that connect a person's Slack or
-- Microsoft Teams account. The tokens themselves live in slack_connection and
-- teams_connection.

-- One row per authorize redirect. The `state` sent to the provider is 256 random bits;
-- only its SHA-256 is stored. The callback uses it once (`used_at`), before `expires_at`
-- (ten minutes), for the provider it was issued for, and acts for `user_id`.
CREATE TABLE oauth_state (
    id                       UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    state_hash               TEXT NOT NULL CHECK (state_hash ~ '^[0-9a-f]{64}$'),
    user_id                  UUID NOT NULL REFERENCES app_user (id) ON DELETE CASCADE,
    provider                 TEXT NOT NULL CHECK (provider IN ('slack', 'microsoft')),
    -- The PKCE code verifier (RFC 7636), AES-256-GCM ciphertext; NULL for Slack, whose
    -- OAuth v2 does not support PKCE.
    code_verifier_ciphertext BYTEA,
    expires_at               TIMESTAMPTZ NOT NULL,
    used_at                  TIMESTAMPTZ,
    created_at               TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT oauth_state_state_hash_key UNIQUE (state_hash)
);
-- Starting a sign-in clears the person's expired ones.
CREATE INDEX oauth_state_user_id_idx ON oauth_state (user_id);
