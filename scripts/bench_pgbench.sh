#!/usr/bin/env bash
# Side-by-side pgbench: duetdb vs Debian's PostgreSQL on this machine, same
# client, same run, durable commits on both (fsync on, synchronous_commit on).
# Prints TPS for tpcb-like (simple and -M prepared) and select-only (prepared and simple), the
# `pgbench -i` load time, memory, and the duetdb/PostgreSQL ratios.
#
#   bash scripts/bench_pgbench.sh                 # scale 10, 8 clients, 30 s per run
#   SCALE=10 CLIENTS=8 SECONDS_PER_RUN=60 bash scripts/bench_pgbench.sh
#   ROUNDS=3 SECONDS_PER_RUN=60 bash scripts/bench_pgbench.sh
#
# ROUNDS=N runs every mode N times on each side, alternating (duetdb,
# PostgreSQL, duetdb, …), and reports each round's ratio and their median:
# on this shared machine one run of either server moves by ±5 %, so a single
# pair can land on either side of a target that a median of pairs does not.
#
# duetdb is the binary of the test build (dev profile: our code at opt-level 1,
# dependencies at 2); BUILD=skip uses it as is.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/duetdb-target}"
SCALE="${SCALE:-10}"
CLIENTS="${CLIENTS:-8}"
THREADS="${THREADS:-2}"
T="${SECONDS_PER_RUN:-30}"
ROUNDS="${ROUNDS:-1}"
PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
[ -x "$PGBIN/pgbench" ] || { echo "needs Debian's postgresql package (apt-get install postgresql-15)" >&2; exit 1; }
[ "${BUILD:-}" = skip ] || cargo build --workspace --all-targets
BIN="$CARGO_TARGET_DIR/debug/duetdb"

WORK="$(mktemp -d /tmp/duetdb-bench.XXXXXX)"
chmod 755 "$WORK"
chown postgres "$WORK" 2>/dev/null || true  # the PostgreSQL server writes its log here
DPORT=$((20000 + RANDOM % 10000)); PPORT=$((DPORT + 1))
cleanup() {
  [ -n "${DPID:-}" ] && kill "$DPID" 2>/dev/null || true
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg" -m fast stop >/dev/null 2>&1 || true
  wait 2>/dev/null || true
  cp "$WORK/pgbench.out" /tmp/duetdb-bench-pgbench.log 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# PostgreSQL: stock settings (durable), enough connections.
mkdir -p "$WORK/pg" && chown postgres "$WORK/pg"
runuser -u postgres -- "$PGBIN/initdb" -D "$WORK/pg" -U postgres -A trust >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$WORK/pg" -o "-p $PPORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$WORK" \
  -l "$WORK/pg.log" -w start >/dev/null

"$BIN" init -D "$WORK/duet" -U postgres -A trust >/dev/null
"$BIN" start -D "$WORK/duet" --port "$DPORT" --listen 127.0.0.1 >"$WORK/duet.log" 2>&1 &
DPID=$!
for _ in $(seq 1 300); do psql -h 127.0.0.1 -p "$DPORT" -U postgres -d postgres -Atqc 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.1; done

tps() { sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -1; }
ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{a/b:.2f}x' if b else 'n/a')" "$1" "$2"; }
median() { python3 -c "import statistics, sys; print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }
run() { # port args… → tps
  "$PGBIN/pgbench" -h 127.0.0.1 -p "$1" -U postgres "${@:2}" postgres 2>&1 | tee -a "$WORK/pgbench.out" | tps
}
load() { # port → seconds for pgbench -i (client-side COPY of pgbench_accounts)
  local s e
  s=$(date +%s.%N)
  "$PGBIN/pgbench" -h 127.0.0.1 -p "$1" -U postgres -i -q -s "$SCALE" postgres >>"$WORK/pgbench.out" 2>&1
  e=$(date +%s.%N)
  python3 -c "print(f'{$e-$s:.2f}')"
}
sums() { # port → "abalance bbalance tbalance" sums
  psql -h 127.0.0.1 -p "$1" -U postgres -d postgres -Atq -F ' ' -c \
    "SELECT (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(bbalance) FROM pgbench_branches), (SELECT sum(tbalance) FROM pgbench_tellers)"
}
# TPC-B's invariant for one run (pgbench empties pgbench_history before each):
# every balance sum moved by the sum of the run's history deltas, and the
# history has one row per transaction pgbench reported.
check_run() { # port "sums before" transactions → "ok" or what differs
  local before=($2) after hist
  after=($(sums "$1"))
  hist=($(psql -h 127.0.0.1 -p "$1" -U postgres -d postgres -Atq -F ' ' -c "SELECT coalesce(sum(delta), 0), count(*) FROM pgbench_history"))
  local da=$((after[0] - before[0])) db=$((after[1] - before[1])) dt=$((after[2] - before[2]))
  if [ "$da" = "${hist[0]}" ] && [ "$db" = "${hist[0]}" ] && [ "$dt" = "${hist[0]}" ] && [ "${hist[1]}" = "$3" ]; then
    echo ok
  else
    echo "MISMATCH: balances moved by $da/$db/$dt, history deltas ${hist[0]}, history rows ${hist[1]}, transactions $3"
  fi
}
# Before each measured run: both servers checkpoint, then the machine must be
# idle (≥ 85 % over one second, at most 30 s of waiting). Without it, a run
# starts while the other server still works off the previous run (PostgreSQL's
# autovacuum and dirty-buffer writes after a tpcb run), and the server measured
# second after a write-heavy run pays for the first one's background work.
quiesce() {
  psql -h 127.0.0.1 -p "$DPORT" -U postgres -d postgres -Atqc CHECKPOINT >/dev/null 2>&1 || true
  psql -h 127.0.0.1 -p "$PPORT" -U postgres -d postgres -Atqc CHECKPOINT >/dev/null 2>&1 || true
  for _ in $(seq 1 30); do
    local a b
    a=($(head -1 /proc/stat)); sleep 1; b=($(head -1 /proc/stat))
    local total=0 i
    for i in $(seq 1 $((${#a[@]} - 1))); do total=$((total + b[i] - a[i])); done
    [ "$total" -gt 0 ] && [ $(((b[4] - a[4]) * 100 / total)) -ge 85 ] && return
  done
}
processed() { # → transactions pgbench reported in the last run of the log
  sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' | tail -1
}

echo "scale $SCALE, $CLIENTS clients, $THREADS threads, ${T}s per run, $ROUNDS round(s); PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}')"
printf '%-28s %12s %12s %8s\n' "" duetdb postgresql ratio
D_LOAD=$(load "$DPORT"); P_LOAD=$(load "$PPORT")
printf '%-28s %11ss %11ss %8s\n' "pgbench -i (load)" "$D_LOAD" "$P_LOAD" "$(ratio "$P_LOAD" "$D_LOAD")"
CHECKS=()
for mode in "tpcb simple:-c $CLIENTS -j $THREADS -T $T" "tpcb -M prepared:-c $CLIENTS -j $THREADS -T $T -M prepared" \
            "select-only -S:-c $CLIENTS -j $THREADS -T $T -S -M prepared" "select-only -S simple:-c $CLIENTS -j $THREADS -T $T -S" \
            "tpcb 1 client:-c 1 -j 1 -T $T"; do
  name="${mode%%:*}"; args="${mode#*:}"
  DS_ALL=(); PS_ALL=(); RATIOS=()
  for round in $(seq 1 "$ROUNDS"); do
    DS=$(sums "$DPORT"); PS=$(sums "$PPORT")
    quiesce
    # shellcheck disable=SC2086
    D=$(run "$DPORT" $args); DN=$(processed < "$WORK/pgbench.out")
    quiesce
    # shellcheck disable=SC2086
    P=$(run "$PPORT" $args); PN=$(processed < "$WORK/pgbench.out")
    DS_ALL+=("$D"); PS_ALL+=("$P"); RATIOS+=("$(python3 -c "import sys; print(float(sys.argv[1]) / float(sys.argv[2]))" "$D" "$P")")
    if [ "$ROUNDS" -gt 1 ]; then
      printf '  %-26s %12.0f %12.0f %8s\n' "round $round" "$D" "$P" "$(ratio "$D" "$P")"
    fi
    case "$name" in tpcb*) CHECKS+=("$name, round $round: duetdb $(check_run "$DPORT" "$DS" "$DN"), postgresql $(check_run "$PPORT" "$PS" "$PN")");; esac
  done
  # One row per mode: median TPS of each side and the median of the rounds' ratios.
  printf '%-28s %12.0f %12.0f %7.2fx\n' "$name TPS" "$(median "${DS_ALL[@]}")" "$(median "${PS_ALL[@]}")" "$(median "${RATIOS[@]}")"
done
echo "TPC-B invariant after each run (balance sums moved by the history's deltas, one history row per transaction):"
printf '  %s\n' "${CHECKS[@]}"
D_RSS=$(awk '/VmRSS/ {print $2}' "/proc/$DPID/status")
P_SIZE=$(psql -h 127.0.0.1 -p "$PPORT" -U postgres -d postgres -Atqc "SELECT pg_database_size('postgres') / 1024")
echo "memory: duetdb resident $((D_RSS / 1024)) MiB; PostgreSQL database size on disk $((P_SIZE / 1024)) MiB"
