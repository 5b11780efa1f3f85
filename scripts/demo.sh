#!/usr/bin/env bash
# The main job on a fresh machine: build, start a primary and a columnar
# standby on loopback, load sample data, print the connection strings, and
# keep both running until Ctrl-C (or SIGTERM).
#
#   bash scripts/demo.sh            # data under ./demo-data (kept between runs: delete it to start over)
#   DEMO_DIR=/tmp/d PRIMARY_PORT=6432 STANDBY_PORT=6433 bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/duetdb-target}"
DEMO_DIR="${DEMO_DIR:-$PWD/demo-data}"
PRIMARY_PORT="${PRIMARY_PORT:-55432}"
STANDBY_PORT="${STANDBY_PORT:-55433}"

# Same profile as the tests: one build serves both.
cargo build --workspace --all-targets
BIN="$CARGO_TARGET_DIR/debug/duetdb"

if ! command -v psql >/dev/null; then
  echo "psql not found: installing postgresql-client" >&2
  (apt-get update -qq && apt-get install -y -qq postgresql-client) >/dev/null
fi

mkdir -p "$DEMO_DIR"
# `duetdb demo`: primary on $PRIMARY_PORT, standby on $STANDBY_PORT, sample
# data loaded on the first run, URIs printed; Ctrl-C stops both cleanly.
exec "$BIN" demo -D "$DEMO_DIR" --port "$PRIMARY_PORT" --standby-port "$STANDBY_PORT"
