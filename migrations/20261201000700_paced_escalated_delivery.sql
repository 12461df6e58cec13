-- Pacing, per-person delivery and escalation (issue 5).

-- Rate limits shared by every worker: one row per provider destination (a Telegram chat,
-- a bot, a Slack channel, a Twilio number). `next_slot_at` is when the next message to it
-- may go; each send reserves a slot with one UPDATE and moves it on by the interval.
CREATE TABLE rate_limit_slot (
    key          TEXT PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 300),
    next_slot_at TIMESTAMPTZ NOT NULL
);

-- A message to a person: which of their contact addresses it went to, in which tier of
-- their channel escalation, and in which pass of the escalation policy.
ALTER TABLE notification_log
    ADD COLUMN destination      TEXT CHECK (length(destination) <= 500),
    ADD COLUMN tier             channel_tier,
    ADD COLUMN escalation_cycle INTEGER NOT NULL DEFAULT 0 CHECK (escalation_cycle >= 0);

-- One message per person, channel kind and tier in each escalation step: when two
-- primary deliveries fail at once, the secondary tier is still queued only once.
CREATE UNIQUE INDEX notification_log_person_step_key
    ON notification_log (incident_id, user_id, escalation_level, escalation_cycle, tier, channel)
    WHERE user_id IS NOT NULL AND tier IS NOT NULL;

-- A level's targets in the order they were given.
ALTER TABLE escalation_target
    ADD COLUMN position INTEGER NOT NULL DEFAULT 0 CHECK (position >= 0);

-- How many times the policy has been run through (`escalation_policy.repeat_count`).
ALTER TABLE incident
    ADD COLUMN escalation_cycle INTEGER NOT NULL DEFAULT 0 CHECK (escalation_cycle >= 0);

-- A message that is not about an alert (seed 000 sendNotification, the ops agent): what
-- it says is kept on the row itself.
ALTER TYPE notification_event ADD VALUE 'notification';
ALTER TABLE notification_log
    ADD COLUMN title    TEXT CHECK (length(title) BETWEEN 1 AND 1024),
    ADD COLUMN body     TEXT CHECK (length(body) <= 10000),
    ADD COLUMN severity alert_severity;
