#!/usr/bin/env bash
# `make prepare`: regenerates .sqlx/ (the offline query data builds compile against) from
# the migrations and the queries in the code.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_postgres
ensure_sqlx_cli
say "migrating $DATABASE_URL with sqlx-cli"
sqlx database create
sqlx migrate run --source migrations
cargo sqlx prepare --workspace -- --all-targets
say ".sqlx/ regenerated; commit it with the change"
