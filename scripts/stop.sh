#!/usr/bin/env bash
# `make stop`: stops what `make run` / `make test` left running (moto, a private PostgreSQL).
source "$(dirname "$0")/lib.sh"
if [ -f "$LOCAL/moto.pid" ]; then
  kill "$(cat "$LOCAL/moto.pid")" 2>/dev/null && say "stopped moto" || true
  rm -f "$LOCAL/moto.pid"
fi
if [ -f "$LOCAL/pg/data/postmaster.pid" ]; then
  bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$bin/pg_ctl" -D "$LOCAL/pg/data" stop -m fast
  else "$bin/pg_ctl" -D "$LOCAL/pg/data" stop -m fast; fi
  say "stopped the private PostgreSQL cluster"
fi
