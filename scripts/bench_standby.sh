#!/usr/bin/env bash
# Standby benchmarks (issue 4), on one machine:
#   1. apply throughput: standby rows/s while `pgbench -i -s SCALE` bulk-loads the primary
#      (read from the standby's Prometheus counter duetdb_standby_applied_rows_total);
#   2. freshness: commit on the primary → visible on the standby, p50 / p99, while
#      `pgbench -c 8 -j 2` runs against the primary;
#   3. primary TPS with and without an analytic query loop on the standby.
#
#   bash scripts/bench_standby.sh            # SCALE=10 DURATION=30
#
# The issue models a standby on its own machine. With PIN=1 (the default on a
# machine with 2+ CPUs and taskset) the primary and pgbench run on the first
# half of the CPUs and the standby and its analytic client on the second half,
# so the two sides do not take each other's cores; what they still share (memory
# bandwidth, caches, the loopback "network") is part of what is measured. PIN=0
# runs everything on every CPU.
# Needs psql, pgbench and python3 with psycopg (pip install 'psycopg[binary]').
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/duetdb-target}"
SCALE="${SCALE:-10}"
DURATION="${DURATION:-30}"
PP="${PRIMARY_PORT:-58432}"; SP=$((PP + 1)); PM=$((PP + 8)); SM=$((PP + 9))
cargo build --workspace --all-targets 2>&1 | tail -1
BIN="$CARGO_TARGET_DIR/debug/duetdb"
NCPU=$(nproc)
PIN="${PIN:-$([ "$NCPU" -ge 2 ] && command -v taskset >/dev/null && echo 1 || echo 0)}"
if [ "$PIN" = 1 ]; then
  half=$((NCPU / 2))
  ON_PRIMARY=(taskset -c "0-$((half - 1))")
  ON_STANDBY=(taskset -c "$half-$((NCPU - 1))")
  echo "pinned: primary + pgbench on CPUs 0-$((half - 1)), standby + analytics on CPUs $half-$((NCPU - 1))"
else
  ON_PRIMARY=(); ON_STANDBY=()
  echo "not pinned: primary, standby and clients share all $NCPU CPUs"
fi
python3 -c 'import psycopg' 2>/dev/null || python3 -m pip install -q 'psycopg[binary]'

T=$(mktemp -d)
cleanup() {
  "$BIN" stop -D "$T/s" -m immediate >/dev/null 2>&1 || true
  "$BIN" stop -D "$T/p" -m immediate >/dev/null 2>&1 || true
  rm -rf "$T"
}
trap cleanup EXIT
"$BIN" init -D "$T/p" -A trust >/dev/null 2>&1
"${ON_PRIMARY[@]}" "$BIN" start -D "$T/p" --port "$PP" --listen 127.0.0.1 -c metrics_port="$PM" --detach >/dev/null
"${ON_STANDBY[@]}" "$BIN" standby -D "$T/s" --primary "127.0.0.1:$PP" --port "$SP" --listen 127.0.0.1 -c metrics_port="$SM" --detach >/dev/null
P="host=127.0.0.1 port=$PP user=duet dbname=postgres"
S="host=127.0.0.1 port=$SP user=duet dbname=postgres"
export P S PM SM

echo "== 1. apply throughput during pgbench -i -s $SCALE"
python3 - <<'PY' &
import os, time, urllib.request
rows = []
t_end = time.time() + 600
while time.time() < t_end and not os.path.exists("/tmp/duetdb-bench-standby.stop"):
    body = urllib.request.urlopen(f"http://127.0.0.1:{os.environ['SM']}/metrics").read().decode()
    v = next(float(l.split()[-1]) for l in body.splitlines() if l.startswith("duetdb_standby_applied_rows_total "))
    rows.append((time.time(), v))
    time.sleep(0.1)
moving = [(t, v) for (t, v), (_, p) in zip(rows[1:], rows) if v != p]
if len(moving) >= 2:
    (t0, v0), (t1, v1) = moving[0], moving[-1]
    # the sample before the first change starts the window
    base = next(((t, v) for (t, v) in rows if v == rows[0][1] and t <= t0), rows[0])
    span = t1 - base[0]
    peak = max((v - p) / (t - tp) for (t, v), (tp, p) in zip(rows[10:], rows) if t > tp)
    print(f"applied {v1 - base[1]:.0f} row changes in {span:.2f} s: {(v1 - base[1]) / span:,.0f} rows/s average, "
          f"{peak:,.0f} rows/s peak (1 s window)")
PY
SAMPLER=$!
rm -f /tmp/duetdb-bench-standby.stop
start=$(date +%s.%N)
"${ON_PRIMARY[@]}" pgbench -h 127.0.0.1 -p "$PP" -U duet -i -s "$SCALE" -q postgres 2>&1 | tail -1
LSN=$(psql "$P" -Atc 'SELECT pg_current_wal_lsn()')
psql "$S" -Atc "WAIT FOR LSN '$LSN' WITH (TIMEOUT '300s')" >/dev/null
end=$(date +%s.%N)
echo "primary load + standby caught up: $(echo "$end - $start" | bc) s"
sleep 0.5; touch /tmp/duetdb-bench-standby.stop; wait "$SAMPLER"; rm -f /tmp/duetdb-bench-standby.stop

echo "== 2. freshness under pgbench -c 8 -j 2 (${DURATION}s)"
psql "$P" -qc "CREATE TABLE probe (id bigint PRIMARY KEY)"
"${ON_PRIMARY[@]}" pgbench -h 127.0.0.1 -p "$PP" -U duet -n -c 8 -j 2 -T "$DURATION" postgres > /tmp/duetdb-bench-standby-pgbench1.log 2>&1 &
BENCH=$!
sleep 2
python3 - <<'PY'
import os, time, psycopg, statistics
p = psycopg.connect(os.environ["P"], autocommit=True)
s = psycopg.connect(os.environ["S"], autocommit=True)
delays = []
end = time.time() + float(os.environ.get("DURATION", "30")) - 5
i = 0
while time.time() < end:
    i += 1
    p.execute("INSERT INTO probe VALUES (%s)", (i,))
    t0 = time.perf_counter()  # after the commit was acknowledged
    while s.execute("SELECT count(*) FROM probe WHERE id = %s", (i,)).fetchone()[0] == 0:
        time.sleep(0.0002)
    delays.append((time.perf_counter() - t0) * 1000)
    time.sleep(0.01)
q = statistics.quantiles(delays, n=100)
print(f"{len(delays)} probes: commit acknowledged → visible on the standby p50 {q[49]:.2f} ms, p99 {q[98]:.2f} ms, max {max(delays):.2f} ms")
PY
wait "$BENCH"
grep -E "^tps" /tmp/duetdb-bench-standby-pgbench1.log | head -1 | sed 's/^/pgbench meanwhile: /'

echo "== 3. primary TPS with and without analytics on the standby (${DURATION}s each)"
tps() { grep -E "^tps" "$1" | head -1 | awk '{print $3}'; }
"${ON_PRIMARY[@]}" pgbench -h 127.0.0.1 -p "$PP" -U duet -n -c 8 -j 2 -T "$DURATION" postgres > /tmp/duetdb-bench-standby-alone.log 2>&1
( end=$((SECONDS + DURATION + 2)); n=0
  while [ $SECONDS -lt $end ]; do
    "${ON_STANDBY[@]}" psql "$S" -Atqc "SELECT bid, count(*), sum(abalance), avg(abalance) FROM pgbench_accounts GROUP BY bid ORDER BY bid" >/dev/null; n=$((n+1))
  done; echo "$n" > /tmp/duetdb-bench-standby-queries ) &
AN=$!
"${ON_PRIMARY[@]}" pgbench -h 127.0.0.1 -p "$PP" -U duet -n -c 8 -j 2 -T "$DURATION" postgres > /tmp/duetdb-bench-standby-with.log 2>&1
wait "$AN"
a=$(tps /tmp/duetdb-bench-standby-alone.log); w=$(tps /tmp/duetdb-bench-standby-with.log)
echo "primary tps alone: $a; with $(cat /tmp/duetdb-bench-standby-queries) full-table aggregates on the standby: $w (ratio $(echo "scale=3; $w / $a" | bc))"
