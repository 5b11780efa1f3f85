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
fresh=0
if [ ! -e "$DEMO_DIR/primary/duetdb.conf" ]; then
  "$BIN" init -D "$DEMO_DIR/primary" -U duet -A trust >/dev/null
  fresh=1
fi
"$BIN" start -D "$DEMO_DIR/primary" --port "$PRIMARY_PORT" --listen 127.0.0.1 >"$DEMO_DIR/primary.log" 2>&1 &
PRIMARY_PID=$!
cleanup() {
  kill "${STANDBY_PID:-}" "$PRIMARY_PID" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

P="host=127.0.0.1 port=$PRIMARY_PORT user=duet dbname=postgres"
S="host=127.0.0.1 port=$STANDBY_PORT user=duet dbname=postgres"
for _ in $(seq 1 300); do psql "$P" -Atqc 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.1; done

if [ "$fresh" = 1 ]; then
  echo "loading sample data into the primary…"
  psql "$P" -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, region text NOT NULL, joined date NOT NULL);
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL, amount numeric(12,2) NOT NULL,
                     status varchar(10) NOT NULL, placed_at timestamptz NOT NULL);
INSERT INTO customers
  SELECT g, 'customer ' || g, (ARRAY['north','south','east','west'])[1 + g % 4], DATE '2024-01-01' + (g % 700)
  FROM generate_series(1, 10000) g;
INSERT INTO orders
  SELECT g, 1 + (g * 7919) % 10000, ((g * 37) % 50000) / 100.0,
         CASE WHEN g % 10 = 0 THEN 'refunded' WHEN g % 3 = 0 THEN 'shipped' ELSE 'paid' END,
         TIMESTAMPTZ '2024-01-01 00:00:00+00' + (g % 525600) * INTERVAL '1 minute'
  FROM generate_series(1, 200000) g;
SQL
fi

"$BIN" standby -D "$DEMO_DIR/standby" --primary "127.0.0.1:$PRIMARY_PORT" --port "$STANDBY_PORT" --listen 127.0.0.1 \
  >"$DEMO_DIR/standby.log" 2>&1 &
STANDBY_PID=$!
for _ in $(seq 1 600); do psql "$S" -Atqc 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.1; done
LSN=$(psql "$P" -Atqc 'SELECT pg_current_wal_lsn()')
psql "$S" -Atqc "WAIT FOR LSN '$LSN' WITH (TIMEOUT '60s')" >/dev/null

cat <<EOF

duetdb is running (logs in $DEMO_DIR/*.log).

  primary (read/write, row store):      psql "$P"
  standby (read-only, Arrow columnar):  psql "$S"

  try on the standby:
    SELECT c.region, count(*), sum(o.amount) FROM orders o JOIN customers c ON c.id = o.customer_id
    GROUP BY c.region ORDER BY 3 DESC;

  write on the primary, then read it on the standby:
    psql "$P" -c "INSERT INTO orders VALUES (200001, 1, 9.99, 'paid', now())"
    psql "$S" -c "SELECT * FROM orders WHERE id = 200001"

Ctrl-C stops both.
EOF
psql "$S" -c "SELECT c.region, count(*) AS orders, sum(o.amount) AS revenue FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY c.region ORDER BY revenue DESC"
wait "$PRIMARY_PID"
