#!/usr/bin/env bash
# `make bench`: the benchmarks, each printed as a ratio against a baseline measured in the
# same run. Uses its own database (<name>_bench, recreated) beside make run's and make test's.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_postgres
base="${DATABASE_URL%%\?*}"
export DATABASE_URL="${base}_bench${DATABASE_URL#"$base"}"
ensure_moto

pgbench="$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | sort -V | tail -n 1 || true)"
if [ -z "$pgbench" ]; then
  apt_install postgresql-client
  pgbench="$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench | sort -V | tail -n 1)"
fi
export PGBENCH="$pgbench"

say "building the local runner optimized (profile perf; a few minutes the first time)"
SQLX_OFFLINE=true cargo build --quiet --profile perf -p tocsin-local
bin="$ROOT/target/perf/tocsin-local"
say "recreating the bench database and the local AWS resources"
RUST_LOG=warn "$bin" migrate --recreate
# A stage of its own, so make run's queues and secrets are left alone.
"$bin" bootstrap --stage bench > "$LOCAL/bench.env"
set -a; . "$LOCAL/bench.env"; set +a

say "ingest: the ingest router over loopback vs pgbench single-row INSERTs (about a minute)"
# sqlx=error: the ANALYZE halfway through a warm-up is slow under load, and that is expected.
RUST_LOG=warn,sqlx=error "$bin" bench ingest "$@"
say "notify: alert-to-provider latency through the local runner, and pacing (about a minute)"
RUST_LOG=warn "$bin" bench notify
