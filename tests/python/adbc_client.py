"""ADBC (adbc_driver_flightsql) against a Shoal aggregator, as users connect.

Run by tests/adbc.rs with the aggregator's URI; exits non-zero on the first
thing that does not hold.
"""
import sys

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa

uri = sys.argv[1]
con = flightsql.connect(uri, autocommit=True)

# Bulk load a table with adbc_ingest (Flight SQL CommandStatementIngest).
table = pa.table({
    "service": pa.array([f"svc-{i % 4}" for i in range(10_000)]),
    "latency_ms": pa.array([float(i % 250) for i in range(10_000)]),
    "status": pa.array([500 if i % 10 == 0 else 200 for i in range(10_000)], pa.int32()),
})
with con.cursor() as cur:
    loaded = cur.adbc_ingest("adbc_loaded", table, mode="create_append")
    assert loaded == 10_000, loaded

# A large load in 65,536-row batches (as peers.py and pandas send them):
# every batch is taken, none refused as if the ingest buffer were full.
rows = 400_000
big = pa.table({
    "time": pa.array(range(rows), pa.timestamp("ms")),
    "service": pa.array([f"svc-{i % 40}" for i in range(rows)]),
    "endpoint": pa.array([f"/api/v1/op{i % 1000}" for i in range(rows)]),
    "method": pa.array(["GET", "POST", "PUT", "DELETE"] * (rows // 4)),
    "status": pa.array([200 + (i % 7) for i in range(rows)], pa.int32()),
    "latency_ms": pa.array([float(i % 977) for i in range(rows)]),
    "bytes": pa.array(range(rows), pa.int64()),
})
batches = big.to_batches(max_chunksize=65_536)
assert len(batches) == 7 and batches[0].num_rows == 65_536
with con.cursor() as cur:
    loaded = cur.adbc_ingest("adbc_big", pa.Table.from_batches(batches), mode="create_append")
    assert loaded == rows, loaded
    cur.execute("SELECT count(*) AS n, sum(bytes) AS b FROM adbc_big")
    assert cur.fetchall() == [(rows, rows * (rows - 1) // 2)]

# The catalog lists the new table once the aggregator has refreshed.
import time
for _ in range(50):
    objects = con.adbc_get_objects(depth="tables").read_all().to_pylist()
    names = [t["table_name"] for c in objects for s in (c["catalog_db_schemas"] or []) for t in (s["db_schema_tables"] or [])]
    if "adbc_loaded" in names:
        break
    time.sleep(0.1)
else:
    raise AssertionError(f"adbc_loaded not listed: {objects}")
schema = con.adbc_get_table_schema("adbc_loaded")
assert schema.field("latency_ms").type == pa.float64(), schema

# A plain statement, and a prepared statement with a parameter.
with con.cursor() as cur:
    cur.execute("SELECT count(*) AS n FROM adbc_loaded")
    assert cur.fetchall() == [(10_000,)]
    cur.execute("SELECT count(*) AS n FROM adbc_loaded WHERE service = $1 AND status >= $2", parameters=("svc-1", 500))
    rows = cur.fetchall()
    expected = sum(1 for i in range(10_000) if i % 4 == 1 and i % 10 == 0)
    assert rows == [(expected,)], (rows, expected)
    cur.execute("SELECT service, count(*) AS n FROM adbc_loaded GROUP BY service ORDER BY service")
    assert cur.fetch_arrow_table().to_pydict() == {"service": ["svc-0", "svc-1", "svc-2", "svc-3"], "n": [2500] * 4}

print("adbc ok: ingested 10000 rows and 400000 in 65536-row batches, listed tables, ran a prepared statement with parameters")
