#!/usr/bin/env bash
# A/B of duetdb builds on pgbench: TPS and server CPU per transaction
# (utime + stime of the server process over the transactions pgbench
# reported), builds alternated round by round so that both see the same
# machine. CPU per transaction moves far less with this shared machine's
# noise than TPS does.
#
#   cp "$CARGO_TARGET_DIR/debug/duetdb" /tmp/duetdb-old   # before the change
#   ROUNDS=3 SECONDS_PER_RUN=8 bash scripts/ab_pgbench.sh /tmp/duetdb-old "$CARGO_TARGET_DIR/debug/duetdb"
#   MODES='-M prepared;-N' bash scripts/ab_pgbench.sh OLD NEW    # other pgbench modes, ';'-separated
set -euo pipefail
ROUNDS="${ROUNDS:-3}"; T="${SECONDS_PER_RUN:-8}"; SCALE="${SCALE:-10}"
MODES="${MODES:--S -M prepared;-S}"
PGB="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/pgbench"
[ -x "$PGB" ] || { echo "needs Debian's postgresql package (pgbench)" >&2; exit 1; }
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # clock ticks
run() { # pid port pgbench-args… → "TPS tps, CPU µs per transaction"
  local c0 c1 out n tps
  c0=$(cpu "$1")
  out=$("$PGB" -h 127.0.0.1 -p "$2" -U postgres "${@:3}" -c 8 -j 2 -T "$T" postgres 2>&1)
  c1=$(cpu "$1")
  n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
  tps=$(sed -n 's/^tps = \([0-9]*\).*/\1/p' <<<"$out")
  python3 -c "import os; t=os.sysconf('SC_CLK_TCK'); print(f'{$tps} tps, {($c1-$c0)/t*1e6/$n:.1f} µs')"
}
for r in $(seq 1 "$ROUNDS"); do
  for bin in "$@"; do
    d=$(mktemp -d /tmp/duetdb-ab.XXXXXX); port=$((30000 + RANDOM % 5000))
    "$bin" init -D "$d/data" -U postgres -A trust >/dev/null 2>&1
    "$bin" start -D "$d/data" --port "$port" --listen 127.0.0.1 >"$d/log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do psql -h 127.0.0.1 -p "$port" -U postgres -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.1; done
    "$PGB" -h 127.0.0.1 -p "$port" -U postgres -i -q -s "$SCALE" postgres >"$d/init.log" 2>&1
    line="round $r $bin:"
    IFS=';' read -ra modes <<<"$MODES"
    for m in "${modes[@]}"; do
      # shellcheck disable=SC2086  # a mode is several pgbench flags
      line="$line | ${m:-tpcb simple}: $(run $pid "$port" $m)"
    done
    echo "$line"
    kill "$pid"; wait "$pid" 2>/dev/null || true; rm -rf "$d"
  done
done
