# Shared by the Makefile's scripts: finds or starts what Tocsin needs on this machine.
# Source it; every function prints what it is doing and fails with a clear message.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"          # state of this checkout: logs, private PostgreSQL, env files
VENVS="$ROOT/.venv"           # Python tools, one venv each (they pin different boto3)
MOTO_VERSION="5.2.5"
CFN_LINT_VERSION="1.58.*"
SQLX_CLI_VERSION="0.9.0"
PRIVATE_PG_PORT="${PRIVATE_PG_PORT:-54329}"
export MOTO_PORT="${MOTO_PORT:-5000}"
mkdir -p "$LOCAL"

say() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "need root to run: $*"; fi
}

apt_install() {
  say "installing Debian packages: $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A venv at $VENVS/$1 with the pip requirements $2...
ensure_venv() {
  local name="$1"; shift
  local venv="$VENVS/$name" stamp="$VENVS/$name/.tocsin-requirements"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$*" ]; then return; fi
  say "creating the Python venv $venv ($*)"
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    apt_install python3-venv
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
  echo "$*" > "$stamp"
}

# sqlx-cli, for `cargo sqlx prepare --check`.
ensure_sqlx_cli() {
  if command -v sqlx >/dev/null && sqlx --version | grep -q " $SQLX_CLI_VERSION"; then return; fi
  say "installing sqlx-cli $SQLX_CLI_VERSION (about 4 minutes, once per machine)"
  cargo install sqlx-cli --version "$SQLX_CLI_VERSION" --locked --quiet \
    --no-default-features --features postgres,rustls
}

# Sets DATABASE_URL: the caller's, else a server on 127.0.0.1:5432, else a private cluster
# under .local/pg started from the installed PostgreSQL binaries (installed if missing).
ensure_postgres() {
  if [ -n "${DATABASE_URL:-}" ]; then
    say "using PostgreSQL at DATABASE_URL"
  elif port_open 5432; then
    export DATABASE_URL="postgres://postgres@127.0.0.1:5432/tocsin"
    say "using the PostgreSQL server on 127.0.0.1:5432"
  else
    start_private_postgres
    export DATABASE_URL="postgres://postgres@127.0.0.1:$PRIVATE_PG_PORT/tocsin"
  fi
}

start_private_postgres() {
  local bin data="$LOCAL/pg/data" log="$LOCAL/pg/server.log"
  bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -z "$bin" ]; then
    apt_install postgresql
    bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
  fi
  # initdb and postgres refuse to run as root: run them as the postgres user then.
  local run=()
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
    run=(runuser -u postgres --)
  fi
  mkdir -p "$LOCAL/pg"
  [ "$(id -u)" = 0 ] && chown postgres "$LOCAL/pg"
  if [ ! -f "$data/PG_VERSION" ]; then
    say "creating a private PostgreSQL cluster in $data"
    "${run[@]}" "$bin/initdb" -D "$data" -U postgres -A trust --no-sync >/dev/null
  fi
  if port_open "$PRIVATE_PG_PORT"; then
    say "the private PostgreSQL cluster is running on port $PRIVATE_PG_PORT"
  else
    say "starting the private PostgreSQL cluster on 127.0.0.1:$PRIVATE_PG_PORT"
    "${run[@]}" "$bin/pg_ctl" -D "$data" -l "$log" -w \
      -o "-p $PRIVATE_PG_PORT -c listen_addresses=127.0.0.1 -k /tmp -c fsync=off" start >/dev/null \
      || die "PostgreSQL did not start; see $log"
  fi
}

# moto's server, from PyPI, as the local AWS endpoint. Sets the AWS_* variables the SDK reads.
ensure_moto() {
  ensure_venv moto "moto[server]==$MOTO_VERSION"
  local url="http://127.0.0.1:$MOTO_PORT"
  if ! moto_answers "$url"; then
    port_open "$MOTO_PORT" && die "127.0.0.1:$MOTO_PORT is taken by something that is not moto; set MOTO_PORT"
    say "starting the local AWS endpoint (moto) on $url"
    nohup "$VENVS/moto/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$LOCAL/moto.log" 2>&1 &
    echo $! > "$LOCAL/moto.pid"
    for _ in $(seq 1 100); do moto_answers "$url" && break; sleep 0.2; done
    moto_answers "$url" || die "moto did not start; see $LOCAL/moto.log"
  else
    say "the local AWS endpoint (moto) is running on $url"
  fi
  export AWS_ENDPOINT_URL="$url" AWS_REGION="us-east-1" AWS_DEFAULT_REGION="us-east-1"
  export AWS_ACCESS_KEY_ID="test" AWS_SECRET_ACCESS_KEY="test"
  unset AWS_PROFILE AWS_SESSION_TOKEN
}

moto_answers() {
  "$VENVS/moto/bin/python" - "$1" <<'PY' 2>/dev/null
import sys, urllib.request
# The dashboard page: small and moto's own (data.json grows with every test run's state).
urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=2)
PY
}

# Points DATABASE_URL at a database of its own for the tests, beside the one `make run`
# keeps its demo data in: <name>_test on the same server.
use_test_database() {
  local base="${DATABASE_URL%%\?*}"
  export DATABASE_URL="${base}_test${DATABASE_URL#"$base"}"
}

# Builds the local runner (queries checked against .sqlx/, so no database is needed to
# compile), creates the database (recreates it with `recreate`), applies migrations and
# creates the AWS resources. Leaves the functions' environment in .local/aws.env, exported.
prepare_local_stack() {
  say "building the local runner"
  (cd "$ROOT" && SQLX_OFFLINE=true cargo build --quiet -p tocsin-local)
  if [ "${1:-}" = recreate ]; then
    say "recreating the test database and applying migrations"
    "$ROOT/target/debug/tocsin-local" migrate --recreate
  else
    say "creating the database if needed and applying migrations"
    "$ROOT/target/debug/tocsin-local" migrate
  fi
  say "creating the queues, bucket and secret on the local AWS endpoint"
  "$ROOT/target/debug/tocsin-local" bootstrap > "$LOCAL/aws.env"
  set -a; . "$LOCAL/aws.env"; set +a
}
