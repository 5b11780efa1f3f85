#!/usr/bin/env python3
"""Runs the 22 TPC-H queries on duetdb's standby, PostgreSQL and DuckDB and
compares answers and times (driven by scripts/bench_tpch.sh).

    tpch_run.py --queries DIR --parquet DIR --duetdb CONNINFO [--postgres CONNINFO] [--runs N]

Answers are compared after normalising each value: numbers rounded to 2
decimals (DuckDB's and DataFusion's averages carry more digits than
PostgreSQL's numeric), strings stripped (char(n) padding). A query counts as
matching when its rows are equal in order (every query orders its output;
ties in ORDER BY are compared as sorted rows).
"""
import argparse
import decimal
import glob
import os
import time


def norm(v):
    if v is None:
        return None
    if isinstance(v, (float, decimal.Decimal)):
        return round(float(v), 2)
    if isinstance(v, int):
        return float(v)
    if isinstance(v, str):
        return v.strip()
    return str(v)


def rows_of(raw):
    return [tuple(norm(v) for v in r) for r in raw]


def same(a, b):
    if a is None or b is None or len(a) != len(b):
        return False
    if a == b:
        return True
    close = lambda x, y: x == y or (isinstance(x, float) and isinstance(y, float) and abs(x - y) <= max(0.011, abs(y) * 1e-9))
    s = lambda rows: sorted(rows, key=lambda r: tuple("" if v is None else str(v) for v in r))
    return all(all(close(x, y) for x, y in zip(r1, r2)) for r1, r2 in zip(s(a), s(b)))


def run_pg(conninfo, sql, runs, timeout_s):
    import psycopg
    with psycopg.connect(conninfo, autocommit=True) as c:
        c.execute(f"SET statement_timeout = '{timeout_s}s'")
        best, rows, err = None, None, None
        for _ in range(runs):
            t = time.perf_counter()
            try:
                rows = c.execute(sql).fetchall()
            except Exception as e:  # a timeout or an error is reported, not fatal
                err = str(e).splitlines()[0]
                break
            dt = time.perf_counter() - t
            best = dt if best is None else min(best, dt)
        return best, (rows_of(rows) if rows is not None and err is None else None), err


def run_duckdb(con, sql, runs):
    best, rows = None, None
    for _ in range(runs):
        t = time.perf_counter()
        rows = con.execute(sql).fetchall()
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    return best, rows_of(rows), None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", required=True)
    ap.add_argument("--parquet", required=True)
    ap.add_argument("--duetdb", required=True)
    ap.add_argument("--postgres")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--pg-timeout", type=int, default=300)
    args = ap.parse_args()

    import duckdb
    con = duckdb.connect()
    for t in ["region", "nation", "part", "supplier", "partsupp", "customer", "orders", "lineitem"]:
        files = sorted(glob.glob(os.path.join(args.parquet, f"{t}.parquet"))) or sorted(
            glob.glob(os.path.join(args.parquet, t, "*.parquet")))
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet({files!r})")

    totals = {"duetdb": 0.0, "duckdb": 0.0, "postgres": 0.0}
    # Over the queries PostgreSQL finished, and with its timeouts counted at the limit.
    common = {"duetdb": 0.0, "postgres": 0.0}
    pg_bound = 0.0
    ok = {"duetdb": 0, "postgres": 0}
    print(f"{'query':<6}{'duetdb s':>10}{'duckdb s':>10}{'postgres s':>12}  answers (duetdb vs duckdb, postgres vs duckdb)")
    for path in sorted(glob.glob(os.path.join(args.queries, "q*.sql"))):
        name = os.path.basename(path)[:-4]
        sql = open(path).read().strip().rstrip(";")
        d_t, d_rows, d_err = run_pg(args.duetdb, sql, args.runs, 3600)
        k_t, k_rows, _ = run_duckdb(con, sql, args.runs)
        p_t, p_rows, p_err = (run_pg(args.postgres, sql, 1, args.pg_timeout) if args.postgres else (None, None, "skipped"))
        d_ok, p_ok = same(d_rows, k_rows), same(p_rows, k_rows)
        ok["duetdb"] += d_ok
        ok["postgres"] += p_ok
        for k, v in (("duetdb", d_t), ("duckdb", k_t), ("postgres", p_t)):
            if v is not None:
                totals[k] += v
        if p_t is not None and d_t is not None:
            common["duetdb"] += d_t
            common["postgres"] += p_t
        if args.postgres:
            pg_bound += p_t if p_t is not None else args.pg_timeout
        fmt = lambda v: "-" if v is None else f"{v:.3f}"
        note = " ".join(x for x in [f"duetdb error: {d_err}" if d_err else "", f"postgres: {p_err}" if p_err and p_err != "skipped" else ""] if x)
        print(f"{name:<6}{fmt(d_t):>10}{fmt(k_t):>10}{fmt(p_t):>12}  {'same' if d_ok else 'DIFFERENT'}, {'same' if p_ok else ('-' if p_rows is None else 'DIFFERENT')} {note}")
    print(f"total {totals['duetdb']:.2f} s duetdb standby, {totals['duckdb']:.2f} s DuckDB, {totals['postgres']:.2f} s PostgreSQL")
    print(f"answers equal to DuckDB's: duetdb {ok['duetdb']}/22, PostgreSQL {ok['postgres']}/22")
    if totals["duckdb"] > 0:
        print(f"ratio duetdb / DuckDB = {totals['duetdb'] / totals['duckdb']:.2f} (target <= 1.5)")
    if totals["postgres"] > 0:
        print(f"ratio PostgreSQL / duetdb over the queries PostgreSQL finished = {common['postgres'] / common['duetdb']:.2f}; "
              f"with PostgreSQL's timeouts counted at {args.pg_timeout} s: >= {pg_bound / totals['duetdb']:.1f} (target >= 10)")


if __name__ == "__main__":
    main()
