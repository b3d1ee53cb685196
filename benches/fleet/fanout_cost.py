# Fan-out cost: the shared data set on 1, 4, 16, 64 leaves or a 3-tier tree
# (root, 4 aggregators, 16 leaves), q05 and q09 of the shared suite over HTTP,
# median and minimum of 7. From the repository's root, after
# `cargo build --release` and `.ci/run` (for .venv with pyarrow and ADBC):
#   SHOAL_BENCH_PARQUET=logs10m.parquet python3 benches/fleet/fanout_cost.py 1 4 16 64 tree16
# (`../shared/bench/gen_logs.py --rows 10000000` makes the Parquet file).
import json, os, subprocess, sys, time, urllib.request, shutil, statistics
sys.path.insert(0, os.environ.get("SHOAL_BENCH_SUITE", "../shared/bench"))
from queries import QUERIES
B = "target/release/shoal"
PY = os.environ.get("SHOAL_PYTHON", ".venv/bin/python")
DATA = os.environ["SHOAL_BENCH_PARQUET"]
LOAD = """
import sys, pyarrow as pa, pyarrow.parquet as pq, adbc_driver_flightsql.dbapi as flightsql
con = flightsql.connect(sys.argv[2], autocommit=True)
reader = pq.ParquetFile(sys.argv[1]).iter_batches(batch_size=65536)
with con.cursor() as cur:
    cur.adbc_ingest("logs", pa.RecordBatchReader.from_batches(pq.read_schema(sys.argv[1]), reader), mode="create_append")
"""
Q = {q["name"][:3]: q["df"] for q in QUERIES if q["name"][:3] in ("q05", "q09")}
def start(args, ready):
    p = subprocess.Popen([B] + args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, "SHOAL_LOG": "error"})
    while True:
        line = p.stdout.readline()
        if not line: raise SystemExit("died: %s" % args)
        if line.startswith(ready): return p, line.strip()
def query(port, sql):
    r = urllib.request.Request("http://127.0.0.1:%d/api/v1/query" % port, data=json.dumps({"sql": sql}).encode(), headers={"content-type": "application/json"})
    return json.load(urllib.request.urlopen(r, timeout=60))
def leaves(n, base, d):
    ps, addrs = [], []
    for i in range(n):
        p, line = start(["leaf", "--listen", "127.0.0.1:0", "--data-dir", "%s/leaf-%d" % (d, i), "--seal-age", "2s"], "shoal leaf ready on ")
        ps.append(p); addrs.append(line.split()[-1])
    return ps, addrs
def agg(children, http):
    p, line = start(["aggregator", "--flight", "127.0.0.1:0", "--http", "127.0.0.1:%d" % http, "--leaves", ",".join(children)], "shoal aggregator ready")
    return p, line.split()[4]
results = {}
for config in sys.argv[1:]:
    d = "/dev/shm/fanout-%s" % config
    shutil.rmtree(d, ignore_errors=True); os.makedirs(d)
    procs = []
    if config.startswith("tree"):
        ls, addrs = leaves(16, 0, d); procs += ls
        mids = []
        for k in range(4):
            p, flight = agg(addrs[k*4:(k+1)*4], 0); procs.append(p); mids.append(flight)
        root, flight = agg(mids, 19500); procs.append(root)
    else:
        n = int(config)
        ls, addrs = leaves(n, 0, d); procs += ls
        root, flight = agg(addrs, 19500); procs.append(root)
    t = time.time()
    subprocess.run([PY, "-c", LOAD, DATA, "grpc://" + flight], check=True, capture_output=True)
    load_s = time.time() - t
    time.sleep(3)
    row = {"load_s": round(load_s, 1)}
    for name, sql in Q.items():
        query(19500, sql)
        times, answer = [], None
        for _ in range(7):
            t = time.perf_counter(); a = query(19500, sql); times.append((time.perf_counter() - t) * 1000)
            answer = a
        c = answer["completeness"]
        row[name] = (round(statistics.median(times), 1), round(min(times), 1), "%d/%d" % (c["leaves_answered"], c["leaves_queried"]), hash(json.dumps(answer["rows"])) % 100000)
    results[config] = row
    print(config, json.dumps(row), flush=True)
    for p in procs: p.kill()
    for p in procs: p.wait()
    shutil.rmtree(d, ignore_errors=True)
