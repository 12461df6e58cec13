#!/usr/bin/env bash
# `make build`: one release `bootstrap` per Lambda function, built with cargo-lambda and
# zig as the cross linker (both from PyPI). Output: target/lambda/<function>/bootstrap.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
FUNCTIONS=(tocsin-api tocsin-actions tocsin-ingest tocsin-notify-worker tocsin-outbox-relay tocsin-escalator tocsin-migrate)

ensure_venv build "cargo-lambda==1.9.2" "ziglang==0.17.1"
export PATH="$VENVS/build/bin:$PATH"

arch="${ARCH:-arm64}"
if [ "$arch" = arm64 ] && ! rustup target list --installed | grep -q '^aarch64-unknown-linux-gnu$'; then
  say "adding the aarch64 standard library"
  if ! rustup target add aarch64-unknown-linux-gnu; then
    say "the aarch64 standard library cannot be installed here: building for x86_64."
    say "deploy with --parameter-overrides Architecture=x86_64"
    arch=x86_64
  fi
fi
flag="--arm64"; [ "$arch" = x86_64 ] && flag="--x86-64"

say "building ${FUNCTIONS[*]} for $arch (release, thin LTO: about 15 minutes cold)"
bins=(); for f in "${FUNCTIONS[@]}"; do bins+=(--bin "$f"); done
SQLX_OFFLINE=true cargo lambda build --release "$flag" "${bins[@]}"

say "bootstraps ($arch):"
for f in "${FUNCTIONS[@]}"; do
  printf '  %-40s %s bytes\n' "target/lambda/$f/bootstrap" "$(stat -c %s "target/lambda/$f/bootstrap")" >&2
done
