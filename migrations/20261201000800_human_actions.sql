-- Acting from the message (issue 6): the incident timeline and where actions come from.

CREATE TYPE action_channel AS ENUM (
    'api', 'magic_link', 'slack', 'telegram', 'teams', 'integration');

-- Every acknowledge and resolve that changed an incident, once, with who and how.
CREATE TABLE incident_timeline (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    incident_id   UUID NOT NULL REFERENCES incident (id) ON DELETE CASCADE,
    action        magic_link_action NOT NULL,
    actor_user_id UUID REFERENCES app_user (id) ON DELETE SET NULL,
    -- Who acted, as the channel knows them (a Slack or Telegram user id), for the record.
    actor_label   TEXT CHECK (length(actor_label) <= 200),
    via           action_channel NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX incident_timeline_incident_id_created_at_idx
    ON incident_timeline (incident_id, created_at);
-- Each action happens to an incident once: a second acknowledge is reported, not recorded.
CREATE UNIQUE INDEX incident_timeline_incident_id_action_key
    ON incident_timeline (incident_id, action);
