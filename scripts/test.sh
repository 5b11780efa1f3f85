#!/usr/bin/env bash
# Runs every test duetdb has: unit, property, crash, integration.
# One build profile (dev, see Cargo.toml); the target dir lives outside the
# clone so repeated runs reuse the build.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/duetdb-target}"
export RUST_BACKTRACE="${RUST_BACKTRACE:-1}"
cargo build --workspace --all-targets
cargo test --workspace --no-fail-fast -- --test-threads="${DUETDB_TEST_THREADS:-2}"
