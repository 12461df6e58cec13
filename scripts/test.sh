#!/usr/bin/env bash
# `make test`: the same setup as `make run` without the runner, then every check CI runs.
source "$(dirname "$0")/lib.sh"
started=$SECONDS
cd "$ROOT"

say "checking formatting"
cargo fmt --all -- --check

ensure_venv cfn-lint "cfn-lint==$CFN_LINT_VERSION"
say "linting template.yaml (cfn-lint) and checking every reference in it"
"$VENVS/cfn-lint/bin/cfn-lint" template.yaml
"$VENVS/cfn-lint/bin/python" scripts/check_template_refs.py template.yaml

ensure_postgres
use_test_database
ensure_moto
ensure_sqlx_cli

say "running clippy"
SQLX_OFFLINE=true cargo clippy --quiet --workspace --all-targets -- -D warnings

prepare_local_stack recreate
say "checking that .sqlx/ matches the queries and the migrated schema"
cargo sqlx prepare --workspace --check -- --all-targets

say "running the tests"
SQLX_OFFLINE=true cargo test --workspace --no-fail-fast

say "make test passed in $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s"
