#!/usr/bin/env bash
# `make run`: everything Tocsin needs, then every function, on this machine.
source "$(dirname "$0")/lib.sh"

ensure_postgres
ensure_moto
prepare_local_stack
say "loading the demo data and making a fresh demo admin API key"
API_KEY="$("$ROOT/target/debug/tocsin-local" seed)"

HTTP_ADDR="${TOCSIN_HTTP_ADDR:-127.0.0.1:3000}"
cat >&2 <<MSG

Tocsin is starting: HTTP functions on http://$HTTP_ADDR, an echo sink on
http://127.0.0.1:3001 standing in for the demo webhook channel, the notify worker
polling SQS, and the outbox relay every 15 s. Ctrl-C stops it (moto keeps running for
the next run; \`make stop\` stops it).

Send an alert:

  curl -sS -X POST http://$HTTP_ADDR/v1/integrations/00000000-0000-4000-8000-000000000101/webhook \\
    -H 'content-type: application/json' \\
    -d '{"title":"Disk almost full on web-1","severity":"high","description":"/var at 93%","dedup_key":"disk-web-1"}'

The first one opens an alert and an incident, and announces it on the demo channel.
Send it again: the open alert is updated (occurrence_count 2), and nobody is notified
twice. Resolve it with the same dedup_key to close the incident (announced too):

  curl -sS -X POST http://$HTTP_ADDR/v1/integrations/00000000-0000-4000-8000-000000000101/webhook \\
    -H 'content-type: application/json' -d '{"action":"resolve","dedup_key":"disk-web-1"}'

See it delivered:
  - this terminal logs "echo sink received a webhook" with the body;
  - curl -sS http://127.0.0.1:3001/        lists what the echo sink received;
  - psql "$DATABASE_URL" -c 'SELECT channel, status, attempt_count, provider_status, sent_at FROM notification_log ORDER BY queued_at DESC LIMIT 5'

The API, with the demo workspace's admin key (a new one on every make run):

  export TOCSIN_API_KEY=$API_KEY
  curl -sS http://$HTTP_ADDR/v1/users -H "Authorization: Bearer \$TOCSIN_API_KEY"
  curl -sS http://$HTTP_ADDR/v1/openapi.json

Every demo table (incidents, rules, deployments, the support inbox, ...): psql "$DATABASE_URL"

MSG
exec "$ROOT/target/debug/tocsin-local" run --addr "$HTTP_ADDR" --echo-sink 127.0.0.1:3001
