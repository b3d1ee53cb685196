"""Shared memory per row: loads a Parquet file (e.g. the shared data set
from gen_logs.py) into one fresh leaf through an aggregator with ADBC bulk
ingest, waits for the blocks to seal, and prints the rows, the leaf's
`memory_used_bytes` (blocks and indexes) and the bytes of its files, per row.

    python3 benches/mem_per_row.py /tmp/logs10m.parquet

Needs the binary (`cargo build --release`) and the packages of
tests/python/requirements.txt (pyarrow, the ADBC Flight SQL driver) in
.venv, as `.ci/run` installs them.
"""
import json, os, shutil, subprocess, sys, time, urllib.request
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
B = os.path.join(ROOT, "target/release/shoal"); PY = os.path.join(ROOT, ".venv/bin/python"); DATA = sys.argv[1]
LOAD = """
import sys, pyarrow as pa, pyarrow.parquet as pq, adbc_driver_flightsql.dbapi as flightsql
con = flightsql.connect(sys.argv[2], autocommit=True)
reader = pq.ParquetFile(sys.argv[1]).iter_batches(batch_size=65536)
with con.cursor() as cur:
    cur.adbc_ingest("logs", pa.RecordBatchReader.from_batches(pq.read_schema(sys.argv[1]), reader), mode="create_append")
"""
D = "/dev/shm/mem-per-row"; shutil.rmtree(D, ignore_errors=True)
def start(args, ready):
    p = subprocess.Popen([B] + args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    while True:
        line = p.stdout.readline()
        if line.startswith(ready): return p, line.strip()
leaf, line = start(["leaf", "--listen", "127.0.0.1:0", "--data-dir", D], "shoal leaf ready on ")
agg, aline = start(["aggregator", "--flight", "127.0.0.1:0", "--http", "127.0.0.1:19650", "--leaves", line.split()[-1]], "shoal aggregator ready")
subprocess.run([PY, "-c", LOAD, DATA, "grpc://" + aline.split()[4]], check=True)
time.sleep(7)
def q(sql):
    r = urllib.request.Request("http://127.0.0.1:19650/api/v1/query", data=json.dumps({"sql": sql}).encode(), headers={"content-type": "application/json"})
    return json.load(urllib.request.urlopen(r))
rows = q("SELECT count(*) FROM logs")["rows"][0][0]
fleet = json.load(urllib.request.urlopen("http://127.0.0.1:19650/api/v1/fleet"))
mem = fleet["children"][0]["memory_used_bytes"]
du = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(D) for f in fs)
print("rows", rows, "memory_used_bytes", mem, "per row %.1f" % (mem / rows), "files %.1f" % (du / rows))
leaf.kill(); agg.kill(); shutil.rmtree(D, ignore_errors=True)
