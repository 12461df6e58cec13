-- Demo data for `make run`: one workspace, a generic integration, and a webhook channel
-- pointing at the runner's echo sink. Fixed ids so the printed curl stays valid; safe to
-- load again.
INSERT INTO workspace (id, name)
VALUES ('00000000-0000-4000-8000-000000000001', 'Demo')
ON CONFLICT (id) DO NOTHING;

INSERT INTO integration (id, workspace_id, name, type)
VALUES ('00000000-0000-4000-8000-000000000101', '00000000-0000-4000-8000-000000000001',
        'demo-generic', 'generic')
ON CONFLICT (id) DO NOTHING;

INSERT INTO notification_channel (id, workspace_id, provider, name, config)
VALUES ('00000000-0000-4000-8000-000000000201', '00000000-0000-4000-8000-000000000001',
        'WEBHOOK', 'Echo sink', '{"url": "http://127.0.0.1:3001/demo-webhook"}')
ON CONFLICT (id) DO NOTHING;
