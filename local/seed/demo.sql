-- Demo data for `make run`: realistic rows for each of the five seed systems, in one
-- workspace. Fixed ids keep the printed curl valid; ON CONFLICT makes loading it again a
-- no-op. The demo admin API key is created by `tocsin-local seed`, not here, so no key
-- is ever written down.

-- Tenancy ------------------------------------------------------------------------------
INSERT INTO workspace (id, name)
VALUES ('00000000-0000-4000-8000-000000000001', 'Demo')
ON CONFLICT (id) DO NOTHING;

INSERT INTO app_user (id, workspace_id, email, display_name, role, auth_provider, auth_subject, phone, timezone) VALUES
  ('00000000-0000-4000-8000-000000000011', '00000000-0000-4000-8000-000000000001', 'ada@demo.tocsin.dev', 'Ada Admin', 'admin', 'oidc:demo', 'ada', NULL, 'Europe/Lisbon'),
  ('00000000-0000-4000-8000-000000000012', '00000000-0000-4000-8000-000000000001', 'rui@demo.tocsin.dev', 'Rui Responder', 'responder', 'oidc:demo', 'rui', '+351912345678', 'Europe/Lisbon'),
  ('00000000-0000-4000-8000-000000000013', '00000000-0000-4000-8000-000000000001', 'vera@demo.tocsin.dev', 'Vera Viewer', 'viewer', 'oidc:demo', 'vera', NULL, 'UTC'),
  ('00000000-0000-4000-8000-000000000014', '00000000-0000-4000-8000-000000000001', 'sam@demo.tocsin.dev', 'Sam Support', 'responder', 'oidc:demo', 'sam', NULL, 'America/New_York')
ON CONFLICT (id) DO NOTHING;

INSERT INTO contact_method (id, user_id, kind, address, verified_at) VALUES
  ('00000000-0000-4000-8000-000000000021', '00000000-0000-4000-8000-000000000012', 'EMAIL', 'rui@demo.tocsin.dev', now()),
  ('00000000-0000-4000-8000-000000000022', '00000000-0000-4000-8000-000000000012', 'SMS', '+351912345678', now()),
  ('00000000-0000-4000-8000-000000000023', '00000000-0000-4000-8000-000000000012', 'PUSH', 'tocsin-demo-rui', now())
ON CONFLICT (id) DO NOTHING;

INSERT INTO user_channel_tier (user_id, tier, channel) VALUES
  ('00000000-0000-4000-8000-000000000012', 'primary', 'EMAIL'),
  ('00000000-0000-4000-8000-000000000012', 'primary', 'SLACK'),
  ('00000000-0000-4000-8000-000000000012', 'primary', 'PUSH'),
  ('00000000-0000-4000-8000-000000000012', 'secondary', 'SMS'),
  ('00000000-0000-4000-8000-000000000012', 'fallback', 'VOICE')
ON CONFLICT DO NOTHING;

-- Teams, services, escalation (seed 001) ---------------------------------------------------
INSERT INTO team (id, workspace_id, name, description)
VALUES ('00000000-0000-4000-8000-000000000031', '00000000-0000-4000-8000-000000000001', 'Platform', 'Runs checkout and the workers')
ON CONFLICT (id) DO NOTHING;
INSERT INTO team_member (team_id, user_id) VALUES
  ('00000000-0000-4000-8000-000000000031', '00000000-0000-4000-8000-000000000011'),
  ('00000000-0000-4000-8000-000000000031', '00000000-0000-4000-8000-000000000012')
ON CONFLICT DO NOTHING;

INSERT INTO escalation_policy (id, workspace_id, name, description, repeat_count)
VALUES ('00000000-0000-4000-8000-000000000041', '00000000-0000-4000-8000-000000000001', 'Platform default', 'On-call first, then the team lead', 1)
ON CONFLICT (id) DO NOTHING;
INSERT INTO escalation_level (id, escalation_policy_id, level, delay_minutes) VALUES
  ('00000000-0000-4000-8000-000000000042', '00000000-0000-4000-8000-000000000041', 1, 0),
  ('00000000-0000-4000-8000-000000000043', '00000000-0000-4000-8000-000000000041', 2, 15)
ON CONFLICT (id) DO NOTHING;

INSERT INTO service (id, workspace_id, team_id, escalation_policy_id, name, description)
VALUES ('00000000-0000-4000-8000-000000000051', '00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000031',
        '00000000-0000-4000-8000-000000000041', 'checkout', 'Customer checkout API')
ON CONFLICT (id) DO NOTHING;

-- Ingestion (seed 003) and notification channels (seed 000) -------------------------------
INSERT INTO integration (id, workspace_id, name, type, default_service_id) VALUES
  ('00000000-0000-4000-8000-000000000101', '00000000-0000-4000-8000-000000000001', 'demo-generic', 'generic', '00000000-0000-4000-8000-000000000051'),
  ('00000000-0000-4000-8000-000000000102', '00000000-0000-4000-8000-000000000001', 'alertmanager-prod', 'alertmanager', '00000000-0000-4000-8000-000000000051')
ON CONFLICT (id) DO NOTHING;

INSERT INTO notification_channel (id, workspace_id, provider, name, config)
VALUES ('00000000-0000-4000-8000-000000000201', '00000000-0000-4000-8000-000000000001',
        'WEBHOOK', 'Echo sink', '{"url": "http://127.0.0.1:3001/demo-webhook"}')
ON CONFLICT (id) DO NOTHING;

INSERT INTO escalation_target (id, escalation_level_id, user_id, notification_channel_id) VALUES
  ('00000000-0000-4000-8000-000000000044', '00000000-0000-4000-8000-000000000042', '00000000-0000-4000-8000-000000000012', NULL),
  ('00000000-0000-4000-8000-000000000045', '00000000-0000-4000-8000-000000000043', '00000000-0000-4000-8000-000000000011', NULL),
  ('00000000-0000-4000-8000-000000000046', '00000000-0000-4000-8000-000000000043', NULL, '00000000-0000-4000-8000-000000000201')
ON CONFLICT (id) DO NOTHING;

-- An incident with two alerts and its notifications (seed 001) ------------------------------
INSERT INTO incident (id, workspace_id, service_id, team_id, escalation_policy_id, title, priority, status, group_key,
                      alert_count, escalation_level, dashboard_url, triggered_at, acknowledged_at, acknowledged_by_user_id)
VALUES ('00000000-0000-4000-8000-000000000301', '00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000051',
        '00000000-0000-4000-8000-000000000031', '00000000-0000-4000-8000-000000000041', 'Checkout 5xx above 2%', 'CRITICAL',
        'ACKNOWLEDGED', '{}:{alertname="Checkout5xx"}', 2, 1, 'https://grafana.demo.tocsin.dev/d/checkout',
        now() - interval '40 minutes', now() - interval '35 minutes', '00000000-0000-4000-8000-000000000012')
ON CONFLICT (id) DO NOTHING;

INSERT INTO alert (id, workspace_id, integration_id, incident_id, service_id, title, description, severity, status, source,
                   external_id, triggered_at, acknowledged_at, metadata) VALUES
  ('00000000-0000-4000-8000-000000000311', '00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000102',
   '00000000-0000-4000-8000-000000000301', '00000000-0000-4000-8000-000000000051', 'Checkout5xx on checkout-api-1',
   'HTTP 5xx ratio 3.1% over 5m', 'CRITICAL', 'ACKNOWLEDGED', 'alertmanager-prod', 'a1b2c3d4e5f60718',
   now() - interval '40 minutes', now() - interval '35 minutes', '{"labels": {"alertname": "Checkout5xx", "instance": "checkout-api-1"}}'),
  ('00000000-0000-4000-8000-000000000312', '00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000102',
   '00000000-0000-4000-8000-000000000301', '00000000-0000-4000-8000-000000000051', 'Checkout5xx on checkout-api-2',
   'HTTP 5xx ratio 2.4% over 5m', 'CRITICAL', 'ACKNOWLEDGED', 'alertmanager-prod', '0718a1b2c3d4e5f6',
   now() - interval '38 minutes', now() - interval '35 minutes', '{"labels": {"alertname": "Checkout5xx", "instance": "checkout-api-2"}}')
ON CONFLICT (id) DO NOTHING;

INSERT INTO webhook_delivery (id, workspace_id, integration_id, idempotency_key, content_fingerprint, raw_payload, headers,
                              status_code, processed_at, alert_id) VALUES
  ('00000000-0000-4000-8000-000000000321', '00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000102',
   NULL, 'f1d2d2f924e986ac86fdf7b36c94bcdf32beec15a38359c82f7f9e5a4f6b8f3c',
   '{"version": "4", "status": "firing", "alerts": [{"labels": {"alertname": "Checkout5xx"}}]}',
   '{"content-type": "application/json", "authorization": "[redacted]"}', 202, now() - interval '40 minutes',
   '00000000-0000-4000-8000-000000000311')
ON CONFLICT (id) DO NOTHING;

INSERT INTO notification_log (id, workspace_id, incident_id, user_id, alert_id, channel, status, provider_message_id,
                              provider_status, error, attempt_count, escalation_level, queued_at, sent_at, delivered_at,
                              failed_at, last_attempt_at, event) VALUES
  ('00000000-0000-4000-8000-000000000331', '00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000301',
   '00000000-0000-4000-8000-000000000012', '00000000-0000-4000-8000-000000000311', 'EMAIL', 'DELIVERED',
   '010f018c-demo-ses-message', '200 OK', NULL, 1, 1, now() - interval '40 minutes', now() - interval '40 minutes',
   now() - interval '39 minutes', NULL, now() - interval '40 minutes', 'incident.triggered'),
  ('00000000-0000-4000-8000-000000000332', '00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000301',
   '00000000-0000-4000-8000-000000000012', '00000000-0000-4000-8000-000000000311', 'SLACK', 'FAILED',
   NULL, '200 OK', 'Slack answered ok=false: channel_not_found', 1, 1, now() - interval '40 minutes', NULL, NULL,
   now() - interval '40 minutes', now() - interval '40 minutes', 'incident.triggered'),
  ('00000000-0000-4000-8000-000000000333', '00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000301',
   '00000000-0000-4000-8000-000000000012', '00000000-0000-4000-8000-000000000311', 'SMS', 'SENT',
   'SM5f2b7f3e0d8c4f6aa0e1demo', '201 Created', NULL, 2, 1, now() - interval '39 minutes', now() - interval '38 minutes',
   NULL, NULL, now() - interval '38 minutes', 'incident.triggered')
ON CONFLICT (id) DO NOTHING;

-- A used acknowledge link (only the hash of a random token) and a Slack connection whose
-- tokens are placeholders of the ciphertext shape (nonce + sealed bytes).
INSERT INTO magic_link_token (id, token_hash, incident_id, user_id, action, used, used_at, expires_at)
VALUES ('00000000-0000-4000-8000-000000000341', encode(sha256(gen_random_uuid()::text::bytea), 'hex'),
        '00000000-0000-4000-8000-000000000301', '00000000-0000-4000-8000-000000000012', 'acknowledge', true,
        now() - interval '35 minutes', now() + interval '23 hours')
ON CONFLICT (id) DO NOTHING;

INSERT INTO slack_connection (id, user_id, access_token_ciphertext, slack_user_id, slack_team_id, slack_email, last_used_at)
VALUES ('00000000-0000-4000-8000-000000000351', '00000000-0000-4000-8000-000000000012', decode(md5(random()::text) || md5(random()::text), 'hex'),
        'U0DEMORUI', 'T0DEMO', 'rui@demo.tocsin.dev', now() - interval '35 minutes')
ON CONFLICT (id) DO NOTHING;

-- Container rules (seed 002) -----------------------------------------------------------------
INSERT INTO container (id, workspace_id, name, host, image, labels, last_state, last_reported_at) VALUES
  ('00000000-0000-4000-8000-000000000401', '00000000-0000-4000-8000-000000000001', 'checkout-api-1', 'node-a',
   'ghcr.io/demo/checkout-api:1.4.2', '{"service": "checkout"}', 'running', now() - interval '1 minute'),
  ('00000000-0000-4000-8000-000000000402', '00000000-0000-4000-8000-000000000001', 'mailer-worker-1', 'node-b',
   'ghcr.io/demo/mailer:2.0.1', '{"service": "mailer"}', 'restarting', now() - interval '1 minute')
ON CONFLICT (id) DO NOTHING;

INSERT INTO container_metric_sample (container_id, state, cpu_percent, memory_percent, restart_count, recorded_at)
SELECT c.id, s.state::container_state, s.cpu, s.mem, s.restarts, now() - make_interval(mins => s.ago)
FROM (VALUES
  ('00000000-0000-4000-8000-000000000401'::uuid, 'running', 41.5, 62.0, 0, 3),
  ('00000000-0000-4000-8000-000000000401'::uuid, 'running', 44.0, 62.5, 0, 2),
  ('00000000-0000-4000-8000-000000000401'::uuid, 'running', 39.2, 63.1, 0, 1),
  ('00000000-0000-4000-8000-000000000402'::uuid, 'restarting', 3.0, 12.0, 5, 3),
  ('00000000-0000-4000-8000-000000000402'::uuid, 'restarting', 2.1, 11.0, 7, 2),
  ('00000000-0000-4000-8000-000000000402'::uuid, 'restarting', 1.4, 10.5, 9, 1)
) AS s(container_id, state, cpu, mem, restarts, ago)
JOIN container c ON c.id = s.container_id
WHERE NOT EXISTS (SELECT 1 FROM container_metric_sample WHERE container_id = s.container_id);

INSERT INTO alert_rule (id, workspace_id, name, condition, threshold, duration_minutes, severity) VALUES
  ('00000000-0000-4000-8000-000000000411', '00000000-0000-4000-8000-000000000001', 'CPU above 90% for 5 min', 'CPU_USAGE', 90, 5, 'HIGH'),
  ('00000000-0000-4000-8000-000000000412', '00000000-0000-4000-8000-000000000001', 'Restart loop', 'RESTART_LOOP', 3, 2, 'CRITICAL'),
  ('00000000-0000-4000-8000-000000000413', '00000000-0000-4000-8000-000000000001', 'Container down', 'CONTAINER_DOWN', NULL, 1, 'CRITICAL')
ON CONFLICT (id) DO NOTHING;

INSERT INTO alert (id, workspace_id, rule_id, container_id, title, severity, status, source, triggered_at)
VALUES ('00000000-0000-4000-8000-000000000421', '00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000412',
        '00000000-0000-4000-8000-000000000402', 'Restart loop on mailer-worker-1', 'CRITICAL', 'OPEN', 'rule:Restart loop',
        now() - interval '2 minutes')
ON CONFLICT (id) DO NOTHING;

INSERT INTO outgoing_webhook (id, workspace_id, url, event_types)
VALUES ('00000000-0000-4000-8000-000000000431', '00000000-0000-4000-8000-000000000001', 'http://127.0.0.1:3001/outgoing',
        '{alert.firing,alert.resolved,incident.triggered}')
ON CONFLICT (id) DO NOTHING;

-- Ops agent (seed 000) -------------------------------------------------------------------------
INSERT INTO deployment (id, workspace_id, name, image, current_tag, version_source_url, deploy_hook_url, health_check_url,
                        update_policy, latest_available_version, last_version_check_at, backup_enabled, backup_schedule,
                        last_backup_at, previous_image_tag)
VALUES ('00000000-0000-4000-8000-000000000501', '00000000-0000-4000-8000-000000000001', 'checkout-api',
        'ghcr.io/demo/checkout-api', '1.4.2', 'http://127.0.0.1:3001/registry/checkout-api/tags',
        'http://127.0.0.1:3001/deploy/checkout-api', 'http://127.0.0.1:3001/health/checkout-api', 'auto_patch', '1.4.3',
        now() - interval '10 minutes', true, '0 3 * * *', now() - interval '1 day', '1.4.1')
ON CONFLICT (id) DO NOTHING;

INSERT INTO ops_agent_run (id, workspace_id, started_at, completed_at, status, summary, actions_json, token_usage)
VALUES ('00000000-0000-4000-8000-000000000511', '00000000-0000-4000-8000-000000000001', now() - interval '10 minutes',
        now() - interval '9 minutes', 'completed',
        'checkout-api 1.4.3 is available; policy auto_patch allows it, update scheduled after the nightly backup.',
        '[{"type": "version_check", "deployment": "checkout-api", "current": "1.4.2", "latest": "1.4.3"}]', 412)
ON CONFLICT (id) DO NOTHING;

INSERT INTO backup_record (id, deployment_id, status, data_size, storage_path, triggered_by, created_at, completed_at, error) VALUES
  ('00000000-0000-4000-8000-000000000521', '00000000-0000-4000-8000-000000000501', 'completed', 734003200,
   's3://tocsin-dev-123456789012-data/backups/checkout-api/2026-11-21.tar.zst', 'system', now() - interval '1 day',
   now() - interval '1 day' + interval '4 minutes', NULL),
  ('00000000-0000-4000-8000-000000000522', '00000000-0000-4000-8000-000000000501', 'failed', NULL, NULL,
   '00000000-0000-4000-8000-000000000011', now() - interval '2 days', now() - interval '2 days',
   'backup source answered 503')
ON CONFLICT (id) DO NOTHING;

-- Support inbox (seed 004) ---------------------------------------------------------------------
INSERT INTO support_channel (id, workspace_id, type, external_id, name, metadata)
VALUES ('00000000-0000-4000-8000-000000000601', '00000000-0000-4000-8000-000000000001', 'email', 'zoho-desk:support@demo.tocsin.dev',
        'Support inbox (Zoho Desk)', '{"department": "Support"}')
ON CONFLICT (id) DO NOTHING;

INSERT INTO conversation (id, workspace_id, channel_id, external_id, subject, status, customer_email, customer_name) VALUES
  ('00000000-0000-4000-8000-000000000611', '00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000601',
   'zoho-ticket:48213', 'Order #1042 never arrived', 'open', 'maria@example.com', 'Maria Costa'),
  ('00000000-0000-4000-8000-000000000612', '00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000601',
   'zoho-ticket:48190', 'Invoice address change', 'closed', 'lee@example.com', 'Lee Park')
ON CONFLICT (id) DO NOTHING;

INSERT INTO message (id, conversation_id, external_id, direction, subject, body_text, sent_at) VALUES
  ('00000000-0000-4000-8000-000000000621', '00000000-0000-4000-8000-000000000611', 'zoho-thread:1', 'inbound',
   'Order #1042 never arrived', 'Hi, my order #1042 was due last Friday and tracking has not moved. Can you help?', now() - interval '3 hours'),
  ('00000000-0000-4000-8000-000000000622', '00000000-0000-4000-8000-000000000612', 'zoho-thread:2', 'inbound',
   'Invoice address change', 'Please change the invoice address on order #1007 to 12 Rua Nova, Porto.', now() - interval '2 days'),
  ('00000000-0000-4000-8000-000000000623', '00000000-0000-4000-8000-000000000612', 'zoho-thread:3', 'outbound',
   'Re: Invoice address change', 'Done: the invoice for order #1007 now shows 12 Rua Nova, Porto.', now() - interval '47 hours')
ON CONFLICT (id) DO NOTHING;

INSERT INTO attachment (id, message_id, file_name, mime_type, size_bytes, s3_key)
VALUES ('00000000-0000-4000-8000-000000000631', '00000000-0000-4000-8000-000000000621', 'tracking.png', 'image/png', 48213,
        'attachments/00000000-0000-4000-8000-000000000001/00000000-0000-4000-8000-000000000631/tracking.png')
ON CONFLICT (id) DO NOTHING;

INSERT INTO draft (id, conversation_id, trigger_message_id, model_key, prompt_version, status, suggested_text, top_sources) VALUES
  ('00000000-0000-4000-8000-000000000641', '00000000-0000-4000-8000-000000000611', '00000000-0000-4000-8000-000000000621',
   'gpt-4o-mini', 'support-v3', 'pending',
   'Hi Maria, I am sorry order #1042 is late. The carrier shows it held at the depot; we have asked them to deliver it tomorrow.',
   '[{"url": "https://help.demo.tocsin.dev/shipping-delays", "score": 0.82}]'),
  ('00000000-0000-4000-8000-000000000642', '00000000-0000-4000-8000-000000000612', '00000000-0000-4000-8000-000000000622',
   'gpt-4o-mini', 'support-v3', 'sent',
   'Hi Lee, the invoice address on order #1007 is now 12 Rua Nova.',
   '[{"url": "https://help.demo.tocsin.dev/invoices", "score": 0.77}]')
ON CONFLICT (id) DO NOTHING;

INSERT INTO draft_action (id, draft_id, user_id, type, final_text, sent_msg_id, notes, diff_json, message_id, created_at)
VALUES ('00000000-0000-4000-8000-000000000651', '00000000-0000-4000-8000-000000000642', '00000000-0000-4000-8000-000000000014',
        'edit', 'Done: the invoice for order #1007 now shows 12 Rua Nova, Porto.', 'zoho-thread:3', 'Added the city',
        '[{"op": "replace", "from": "Hi Lee, the invoice address on order #1007 is now 12 Rua Nova.", "to": "Done: the invoice for order #1007 now shows 12 Rua Nova, Porto."}]',
        '00000000-0000-4000-8000-000000000623', now() - interval '47 hours')
ON CONFLICT (id) DO NOTHING;

INSERT INTO learning_sample (id, draft_id, action_id, diff_json)
VALUES ('00000000-0000-4000-8000-000000000661', '00000000-0000-4000-8000-000000000642', '00000000-0000-4000-8000-000000000651',
        '[{"op": "replace", "from": "is now 12 Rua Nova.", "to": "now shows 12 Rua Nova, Porto."}]')
ON CONFLICT (id) DO NOTHING;

INSERT INTO job_run (id, workspace_id, type, status, started_at, finished_at, metrics)
VALUES ('00000000-0000-4000-8000-000000000671', '00000000-0000-4000-8000-000000000001', 'crawl', 'succeeded',
        now() - interval '6 hours', now() - interval '6 hours' + interval '3 minutes', '{"pages": 128, "changed": 4}')
ON CONFLICT (id) DO NOTHING;

INSERT INTO source_document (id, workspace_id, source_url, title, hash, indexed_at, next_refresh_at)
VALUES ('00000000-0000-4000-8000-000000000681', '00000000-0000-4000-8000-000000000001', 'https://help.demo.tocsin.dev/shipping-delays',
        'Shipping delays', 'sha256:9c1185a5c5e9fc54612808977ee8f548b2258d31', now() - interval '6 hours', now() + interval '18 hours')
ON CONFLICT (id) DO NOTHING;

INSERT INTO feed_item (id, workspace_id, user_id, type, payload)
VALUES ('00000000-0000-4000-8000-000000000691', '00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000014',
        'draft_ready', '{"draft_id": "00000000-0000-4000-8000-000000000641", "conversation": "Order #1042 never arrived"}')
ON CONFLICT (id) DO NOTHING;
