#!/usr/bin/env bash
# TPC-H on the columnar standby, side by side with PostgreSQL and DuckDB (issue 4):
# generate with tpchgen-cli, load the primary with COPY, let it replicate, run
# the 22 queries on the standby; the same CSV into a PostgreSQL 15 (Debian's
# package) and the same data as Parquet into DuckDB (Python package).
#
#   SF=1 bash scripts/bench_tpch.sh        # SF=0.1 for a quick check; NO_PG=1 skips PostgreSQL
#   STANDBY_MEMORY=256MB ...               # the standby's columnar_memory_limit: what does not fit
#                                          # is scanned from its Parquet files
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/duetdb-target}"
SF="${SF:-1}"
RUNS="${RUNS:-2}"
PP="${PRIMARY_PORT:-58532}"; SP=$((PP + 1)); PGPORT_BENCH=$((PP + 2))
DATA="${TPCH_DATA:-/tmp/duetdb-tpch-sf$SF}"
QUERIES=../shared/tpch/queries
cargo build --workspace --all-targets 2>&1 | tail -1
BIN="$CARGO_TARGET_DIR/debug/duetdb"
command -v tpchgen-cli >/dev/null || cargo install tpchgen-cli
python3 -c 'import duckdb, psycopg' 2>/dev/null || python3 -m pip install -q duckdb 'psycopg[binary]'

if [ ! -e "$DATA/done" ]; then
  rm -rf "$DATA"; mkdir -p "$DATA/csv" "$DATA/parquet"
  tpchgen-cli csv -s "$SF" --output-dir "$DATA/csv"
  tpchgen-cli parquet -s "$SF" --output-dir "$DATA/parquet"
  touch "$DATA/done"
fi
csv_of() { ls "$DATA/csv/$1".csv 2>/dev/null || ls "$DATA/csv/$1"/*.csv; }

T=$(mktemp -d)
cleanup() {
  "$BIN" stop -D "$T/s" -m immediate >/dev/null 2>&1 || true
  "$BIN" stop -D "$T/p" -m immediate >/dev/null 2>&1 || true
  [ -e "$T/pg/postmaster.pid" ] && /usr/lib/postgresql/15/bin/pg_ctl -D "$T/pg" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$T"
}
trap cleanup EXIT

load() {  # load CONNINFO LABEL
  psql "$1" -q -v ON_ERROR_STOP=1 -f ../shared/tpch/schema.sql
  local start=$(date +%s.%N)
  for t in region nation part supplier partsupp customer orders lineitem; do
    for f in $(csv_of $t); do
      psql "$1" -q -v ON_ERROR_STOP=1 -c "\\copy $t FROM '$f' WITH (FORMAT csv, HEADER true)"
    done
  done
  echo "$2: COPY load of SF$SF took $(echo "$(date +%s.%N) - $start" | bc) s"
}

"$BIN" init -D "$T/p" -A trust >/dev/null 2>&1
"$BIN" start -D "$T/p" --port "$PP" --listen 127.0.0.1 --detach >/dev/null
STANDBY_ARGS=()
[ -n "${STANDBY_MEMORY:-}" ] && STANDBY_ARGS=(-c "columnar_memory_limit=$STANDBY_MEMORY")
"$BIN" standby -D "$T/s" --primary "127.0.0.1:$PP" --port "$SP" --listen 127.0.0.1 --detach "${STANDBY_ARGS[@]}" >/dev/null
P="host=127.0.0.1 port=$PP user=duet dbname=postgres"
S="host=127.0.0.1 port=$SP user=duet dbname=postgres"
# The standby's peak resident set during the load and catch-up.
SPID=$(head -1 "$T/s/duetdb.pid")
( peak=0; while kill -0 "$SPID" 2>/dev/null; do
    r=$(ps -o rss= -p "$SPID" 2>/dev/null || echo 0); [ "${r:-0}" -gt "$peak" ] && peak=$r && echo "$peak" >"$T/standby_peak_rss"
    sleep 0.5; done ) &
SAMPLER=$!
load "$P" "duetdb primary"
start=$(date +%s.%N)
LSN=$(psql "$P" -Atc 'SELECT pg_current_wal_lsn()')
psql "$S" -Atc "WAIT FOR LSN '$LSN' WITH (TIMEOUT '600s')" >/dev/null
echo "standby caught up $(echo "$(date +%s.%N) - $start" | bc) s after the load"
kill "$SAMPLER" 2>/dev/null || true
echo "standby peak RSS during load and catch-up: $(awk '{printf "%.0f MiB", $1/1024}' "$T/standby_peak_rss")"
echo "duetdb RSS: primary $(ps -o rss= -p "$(head -1 "$T/p/duetdb.pid")" | awk '{printf "%.0f MiB", $1/1024}'), standby $(ps -o rss= -p "$(head -1 "$T/s/duetdb.pid")" | awk '{printf "%.0f MiB", $1/1024}')"

PG_ARG=()
if [ -z "${NO_PG:-}" ]; then
  PGBIN=/usr/lib/postgresql/15/bin
  if [ "$(id -u)" = 0 ]; then RUNAS=(runuser -u postgres --); chown -R postgres "$T"; chmod 755 "$T"; else RUNAS=(); fi
  "${RUNAS[@]}" $PGBIN/initdb -D "$T/pg" -A trust -U duet >/dev/null
  "${RUNAS[@]}" $PGBIN/pg_ctl -D "$T/pg" -o "-p $PGPORT_BENCH -k $T -c listen_addresses=127.0.0.1 -c shared_buffers=2GB -c work_mem=256MB -c max_parallel_workers_per_gather=2" -l "$T/pg.log" start >/dev/null
  G="host=127.0.0.1 port=$PGPORT_BENCH user=duet dbname=postgres"
  load "$G" "PostgreSQL"
  psql "$G" -qc "ANALYZE"
  PG_ARG=(--postgres "$G")
fi

python3 scripts/tpch_run.py --queries "$QUERIES" --parquet "$DATA/parquet" --duetdb "$S" --runs "$RUNS" "${PG_ARG[@]}"
