#!/usr/bin/env bash
# Regenerates tests/regress/expected/*.out from a PostgreSQL server: each
# script runs in a fresh database with the same psql flags as tests/regress.rs.
#   PGHOST=127.0.0.1 PGPORT=5432 PGUSER=postgres bash scripts/regress_expected.sh [NAME…]
set -euo pipefail
cd "$(dirname "$0")/.."
unset PGOPTIONS PGTZ PGDATESTYLE PGCLIENTENCODING PGDATABASE
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in tests/regress/sql/*.sql; do names+=("$(basename "$f" .sql)"); done
fi
for name in "${names[@]}"; do
  db="regress_$name"
  psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
  psql -X -a -q -d "$db" < "tests/regress/sql/$name.sql" > "tests/regress/expected/$name.out" 2>&1 || true
  psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null
  echo "tests/regress/expected/$name.out"
done
