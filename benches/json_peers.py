"""Load an NDJSON file into DuckDB (`read_json`) and ClickHouse (chDB,
`JSONEachRow`), in memory, and print rows/s: the peers that
`ingest_throughput.py --peers` runs beside Shoal in the same run.

    /tmp/peers-venv/bin/python benches/json_peers.py /tmp/ingest-1m.ndjson
"""

import sys
import time


def duckdb_load(path):
    import duckdb
    connection = duckdb.connect()
    started = time.perf_counter()
    connection.execute(f"CREATE TABLE t AS SELECT * FROM read_json('{path}', format = 'newline_delimited')")
    elapsed = time.perf_counter() - started
    (rows,) = connection.execute("SELECT count(*) FROM t").fetchone()
    return rows, elapsed


def clickhouse_load(path):
    from chdb import session
    db = session.Session()
    db.query("CREATE DATABASE IF NOT EXISTS b")
    started = time.perf_counter()
    db.query(f"CREATE TABLE b.t ENGINE = Memory AS SELECT * FROM file('{path}', JSONEachRow)")
    elapsed = time.perf_counter() - started
    rows = int(str(db.query("SELECT count() FROM b.t", "CSV")).strip())
    db.close()
    return rows, elapsed


def main():
    path = sys.argv[1]
    for name, load in [("DuckDB read_json", duckdb_load), ("ClickHouse JSONEachRow (chDB)", clickhouse_load)]:
        rows, elapsed = load(path)
        print(f"{name}: {rows} rows in {elapsed:.2f} s = {rows / elapsed:,.0f} rows/s", flush=True)


if __name__ == "__main__":
    main()
