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
# SERVER_OPTS adds settings to both servers (e.g. SERVER_OPTS="-c huge_pages=try").
# Needs psql, pgbench and python3 with psycopg (pip install 'psycopg[binary]').
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/duetdb-target}"
SCALE="${SCALE:-10}"
DURATION="${DURATION:-30}"
PP="${PRIMARY_PORT:-58432}"; SP=$((PP + 1)); PM=$((PP + 8)); SM=$((PP + 9))
[ "${BUILD:-yes}" = skip ] || cargo build --workspace --bin duetdb 2>&1 | tail -1
BIN="$CARGO_TARGET_DIR/debug/duetdb"
read -r -a OPTS <<<"${SERVER_OPTS:-}"
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
"${ON_PRIMARY[@]}" "$BIN" start -D "$T/p" --port "$PP" --listen 127.0.0.1 -c metrics_port="$PM" ${OPTS[@]+"${OPTS[@]}"} --detach >/dev/null
"${ON_STANDBY[@]}" "$BIN" standby -D "$T/s" --primary "127.0.0.1:$PP" --port "$SP" --listen 127.0.0.1 -c metrics_port="$SM" ${OPTS[@]+"${OPTS[@]}"} --detach >/dev/null
P="host=127.0.0.1 port=$PP user=duet dbname=postgres"
S="host=127.0.0.1 port=$SP user=duet dbname=postgres"
export P S PM SM

echo "== 1. apply throughput during pgbench -i -s $SCALE"
python3 - <<'PY' &
import os, time, urllib.request
def metric(body, name):
    return next(float(l.split()[-1]) for l in body.splitlines() if l.startswith(name + " "))
rows = []  # (time, rows applied, seconds spent applying)
t_end = time.time() + 600
while time.time() < t_end and not os.path.exists("/tmp/duetdb-bench-standby.stop"):
    body = urllib.request.urlopen(f"http://127.0.0.1:{os.environ['SM']}/metrics").read().decode()
    rows.append((time.time(), metric(body, "duetdb_standby_applied_rows_total"), metric(body, "duetdb_standby_apply_seconds_total")))
    time.sleep(0.1)
first = next((i for i in range(1, len(rows)) if rows[i][1] != rows[i - 1][1]), None)
if first is not None:
    last = max(i for i in range(1, len(rows)) if rows[i][1] != rows[i - 1][1])
    (t0, v0, b0), (t1, v1, b1) = rows[first - 1], rows[last]  # the sample before the first change starts the window
    n = v1 - v0
    peak = max((v - p) / (t - tp) for (t, v, _), (tp, p, _) in zip(rows[10:], rows) if t > tp)
    print(f"applied {n:.0f} row changes; the standby spent {b1 - b0:.2f} s applying them: "
          f"{n / (b1 - b0):,.0f} rows/s of apply work")
    print(f"  wall clock from the first to the last change applied: {t1 - t0:.2f} s ({n / (t1 - t0):,.0f} rows/s, "
          f"paced by the primary's load), {peak:,.0f} rows/s peak (1 s window)")
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

echo "== 1b. catch-up: the standby is stopped while the primary loads again, then restarted"
"$BIN" stop -D "$T/s" >/dev/null
"${ON_PRIMARY[@]}" pgbench -h 127.0.0.1 -p "$PP" -U duet -i -s "$SCALE" -q postgres 2>&1 | tail -1
LSN=$(psql "$P" -Atc 'SELECT pg_current_wal_lsn()')
start=$(date +%s.%N)
"${ON_STANDBY[@]}" "$BIN" standby -D "$T/s" --primary "127.0.0.1:$PP" --port "$SP" --listen 127.0.0.1 -c metrics_port="$SM" ${OPTS[@]+"${OPTS[@]}"} --detach >/dev/null
until psql "$S" -Atc "WAIT FOR LSN '$LSN' WITH (TIMEOUT '300s')" >/dev/null 2>&1; do sleep 0.05; done
end=$(date +%s.%N)
python3 - "$start" "$end" <<'PY'
import os, sys, urllib.request
body = urllib.request.urlopen(f"http://127.0.0.1:{os.environ['SM']}/metrics").read().decode()
m = lambda name: next(float(l.split()[-1]) for l in body.splitlines() if l.startswith(name + " "))
rows, busy, wall = m("duetdb_standby_applied_rows_total"), m("duetdb_standby_apply_seconds_total"), float(sys.argv[2]) - float(sys.argv[1])
print(f"restart + catch-up: {rows:.0f} row changes applied, {wall:.2f} s from the start command to caught up "
      f"({rows / wall:,.0f} rows/s wall, restart included); {busy:.2f} s of it applying ({rows / busy:,.0f} rows/s)")
PY

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

echo "== 3. primary TPS with and without analytics on the standby (${DURATION}s each, alternating, ${ROUNDS:-3} of each)"
tps() { grep -E "^tps" "$1" | head -1 | awk '{print $3}'; }
ROUNDS="${ROUNDS:-3}"
alone=(); with=()
for r in $(seq "$ROUNDS"); do
  "${ON_PRIMARY[@]}" pgbench -h 127.0.0.1 -p "$PP" -U duet -n -c 8 -j 2 -T "$DURATION" postgres > /tmp/duetdb-bench-standby-alone.log 2>&1
  alone+=("$(tps /tmp/duetdb-bench-standby-alone.log)")
  ( end=$((SECONDS + DURATION + 2)); n=0
    while [ $SECONDS -lt $end ]; do
      "${ON_STANDBY[@]}" psql "$S" -Atqc "SELECT bid, count(*), sum(abalance), avg(abalance) FROM pgbench_accounts GROUP BY bid ORDER BY bid" >/dev/null; n=$((n+1))
    done; echo "$n" > /tmp/duetdb-bench-standby-queries ) &
  AN=$!
  "${ON_PRIMARY[@]}" pgbench -h 127.0.0.1 -p "$PP" -U duet -n -c 8 -j 2 -T "$DURATION" postgres > /tmp/duetdb-bench-standby-with.log 2>&1
  wait "$AN"
  with+=("$(tps /tmp/duetdb-bench-standby-with.log)")
  echo "round $r: alone ${alone[-1]} tps; with $(cat /tmp/duetdb-bench-standby-queries) full-table aggregates on the standby ${with[-1]} tps"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
ma=$(median "${alone[@]}"); mw=$(median "${with[@]}")
echo "primary tps, median of $ROUNDS: alone $ma, with analytics on the standby $mw (ratio $(echo "scale=3; $mw / $ma" | bc))"
