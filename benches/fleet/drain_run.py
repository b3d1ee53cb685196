# Drain of one leaf of 4 holding the shared 10M-row set, while rows keep
# arriving over HTTP and a query loop runs every 100 ms. From the
# repository's root, after `cargo build --release` and `.ci/run` (for .venv
# with pyarrow and ADBC):
#   SHOAL_BENCH_PARQUET=logs10m.parquet python3 benches/fleet/drain_run.py
# Leaf 0 starts alone with the aggregator and takes the whole set; leaves
# 1-3 join; then `shoal fleet drain leaf-0`. Every query must count the
# set exactly, with every leaf answering, and the rows written meanwhile
# between those acknowledged before it and those sent after it.
import json, os, shutil, subprocess, sys, threading, time, urllib.request, socket
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
D = "/dev/shm/drain-run"
shutil.rmtree(D, ignore_errors=True); os.makedirs(D)
SECRET = D + "/secret"
open(SECRET, "w").write("a-cluster-secret-for-the-drain-run")
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); a = s.getsockname(); s.close(); return "%s:%d" % a
SEED = udp()
HTTP = 19600
def start(args, ready):
    p = subprocess.Popen([B] + args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, "SHOAL_LOG": "error"})
    while True:
        line = p.stdout.readline()
        if not line: raise SystemExit("died: %s" % args)
        if line.startswith(ready): return p, line.strip()
def leaf(i):
    return start(["leaf", "--listen", "127.0.0.1:0", "--data-dir", "%s/leaf-%d" % (D, i), "--gossip", udp(), "--seeds", SEED,
                  "--name", "leaf-%d" % i, "--cluster-secret-file", SECRET], "shoal leaf ready on ")[0]
def post(path, body, ctype):
    r = urllib.request.Request("http://127.0.0.1:%d%s" % (HTTP, path), data=body, headers={"content-type": ctype})
    return json.load(urllib.request.urlopen(r, timeout=60))
def query(sql):
    return post("/api/v1/query", json.dumps({"sql": sql}).encode(), "application/json")
def children():
    return json.load(urllib.request.urlopen("http://127.0.0.1:%d/api/v1/fleet" % HTTP))["children"]
procs = []
agg, line = start(["aggregator", "--flight", "127.0.0.1:0", "--http", "127.0.0.1:%d" % HTTP, "--gossip", SEED,
                   "--cluster-secret-file", SECRET], "shoal aggregator ready")
procs.append(agg); flight = line.split()[4]
procs.append(leaf(0))
while len([c for c in children() if c["up"]]) < 1: time.sleep(0.1)
t = time.time()
subprocess.run([PY, "-c", LOAD, DATA, "grpc://" + flight], check=True, capture_output=True)
print("loaded %s into leaf-0 in %.1f s" % (DATA, time.time() - t), flush=True)
for i in range(1, 4): procs.append(leaf(i))
while len([c for c in children() if c["up"]]) < 4: time.sleep(0.1)
total = query("SELECT count(*) FROM logs")["rows"][0][0]
print("leaf-0 holds %d rows; 4 leaves up" % total, flush=True)
stop = threading.Event(); acked = [0]; sent = [0]; answers = []
def writer():
    n = 0
    while not stop.is_set():
        sent[0] = n + 500
        body = "\n".join(json.dumps({"id": i}) for i in range(n, n + 500)).encode()
        post("/api/v1/ingest/live", body, "application/x-ndjson")
        n += 500; acked[0] = n
        time.sleep(0.05)
def reader():
    while not stop.is_set():
        t = time.perf_counter()
        try:
            a = query("SELECT count(*) FROM logs"); low = acked[0]; b = query("SELECT count(*) FROM live"); high = sent[0]
            answers.append((time.time(), a["rows"][0][0], a["completeness"], b["rows"][0][0], low, high, b["completeness"], None))
        except Exception as e:
            answers.append((time.time(), None, None, None, None, None, None, repr(e)))
        time.sleep(max(0, 0.1 - (time.perf_counter() - t)))
threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
threads[0].start()
while acked[0] == 0: time.sleep(0.01)
threads[1].start()
time.sleep(2)
t = time.time()
out = subprocess.run([B, "fleet", "drain", "leaf-0", "--seeds", SEED, "--cluster-secret-file", SECRET], capture_output=True, text=True)
drain_s = time.time() - t
print(out.stdout, out.stderr, "exit", out.returncode, "drain command %.2f s" % drain_s, flush=True)
while any(c["name"] == "leaf-0" for c in children()): time.sleep(0.1)
time.sleep(2); stop.set()
for th in threads: th.join()
bad = [a for a in answers if a[7] or a[1] != total or a[2]["leaves_answered"] != a[2]["leaves_queried"]
       or a[6]["leaves_answered"] != a[6]["leaves_queried"] or not (a[4] <= a[3] <= a[5])]
shape = {}
for a in answers:
    if a[2]: shape[(a[2]["leaves_queried"], a[2]["leaves_answered"])] = shape.get((a[2]["leaves_queried"], a[2]["leaves_answered"]), 0) + 1
print("query loop: %d queries, %d wrong or failed, by (leaves_queried, leaves_answered): %s" % (len(answers), len(bad), shape))
for a in bad[:5]: print("  bad:", a)
final = query("SELECT count(*) FROM logs"); live = query("SELECT count(*) FROM live")
print("after: logs=%d %s; live=%d acknowledged=%d %s" % (final["rows"][0][0], final["completeness"], live["rows"][0][0], acked[0], live["completeness"]))
json.dump(answers, open(os.environ.get("SHOAL_DRAIN_ANSWERS", "/tmp/drain-answers.json"), "w"))
for p in procs: p.kill()
for p in procs: p.wait()
shutil.rmtree(D, ignore_errors=True)
