#!/usr/bin/env python3
"""Record one benchmark run as a JSON file, so a later run can be compared with it.

    cargo bench --workspace --locked --bench block
    python3 benches/record.py                   # -> benches/results/<UTC date>-<short commit>.json
    python3 benches/compare.py OLD.json NEW.json

The file holds the commit (and whether the work tree had uncommitted
changes to tracked files), the UTC date, the machine (cores, memory, CPU model) and a flat
list of results, each {name, value, unit, lower_is_better}, taken from:

  * criterion: every <group>/<bench>/new/estimates.json under
    target/criterion (--criterion-dir), the median's point estimate in ns.
    Criterion keeps the estimates of benchmarks a run did not touch, so
    --newer-than FILE or --since-minutes N keeps only those written since
    (touch a file before `cargo bench`, then pass it here);
  * --peers FILE: the saved output of ../shared/bench/peers.py: each
    engine's median per query (ms) and the store's ratio to each peer,
    geomeans included (all lower is better);
  * --json-lines FILE ('-' for stdin): lines that are JSON objects with
    "name" and "value" (and optionally "unit", "lower_is_better", default
    true), as a script prints them; other lines are skipped.

Plain python3, standard library only.
"""
import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def git(*args):
    out = subprocess.run(["git", "-C", REPO, *args], capture_output=True, text=True)
    if out.returncode != 0:
        return None
    return out.stdout.strip()


def commit_info():
    head = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "hash": head,
        "short": head[:7] if head else None,
        "dirty": bool(status) if status is not None else None,
        "subject": git("log", "-1", "--format=%s"),
    }


def machine_info():
    info = {"nproc": os.cpu_count(), "memory_bytes": None, "cpu_model": None}
    try:
        info["nproc_usable"] = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    info["memory_bytes"] = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return info


def criterion_results(root, newer_than):
    """Median point estimates (ns) of every <bench>/new/estimates.json under root."""
    results = []
    if not os.path.isdir(root):
        return results
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        if os.path.basename(dirpath) != "new" or "estimates.json" not in filenames:
            continue
        path = os.path.join(dirpath, "estimates.json")
        if newer_than is not None and os.path.getmtime(path) < newer_than:
            continue
        bench_dir = os.path.dirname(dirpath)
        name = os.path.relpath(bench_dir, root).replace(os.sep, "/")
        try:
            with open(os.path.join(dirpath, "benchmark.json")) as f:
                name = json.load(f).get("full_id") or name
        except (OSError, ValueError):
            pass
        try:
            with open(path) as f:
                median = json.load(f)["median"]["point_estimate"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            print(f"record: skipping {path}: {e}", file=sys.stderr)
            continue
        results.append({"name": name, "value": float(median), "unit": "ns", "lower_is_better": True,
                        "source": "criterion"})
    return results


MS_CELL = re.compile(r"^(\d+(?:\.\d+)?)ms$")
RATIO = re.compile(r"^([A-Za-z0-9_]+)=(\d+(?:\.\d+)?)$")
GEOMEAN = re.compile(r"^geomean store/([A-Za-z0-9_]+): (\d+(?:\.\d+)?)$")


def peers_results(text):
    """Per-query medians and the store's ratios from peers.py's printed table."""
    results, engines = [], None
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "query":
            engines = [w for w in words[1:] if w != "store/peer"]
            continue
        m = GEOMEAN.match(line.strip())
        if m:
            results.append({"name": f"peers/geomean/store_over_{m.group(1)}", "value": float(m.group(2)),
                            "unit": "ratio", "lower_is_better": True, "source": "peers"})
            continue
        if engines is None or len(words) < 1 + len(engines):
            continue
        cells = [MS_CELL.match(w) for w in words[1:1 + len(engines)]]
        if not all(cells):
            continue
        query = words[0]
        for engine, cell in zip(engines, cells):
            results.append({"name": f"peers/{query}/{engine}", "value": float(cell.group(1)),
                            "unit": "ms", "lower_is_better": True, "source": "peers"})
        for w in words[1 + len(engines):]:
            r = RATIO.match(w)
            if r:
                results.append({"name": f"peers/{query}/store_over_{r.group(1)}", "value": float(r.group(2)),
                                "unit": "ratio", "lower_is_better": True, "source": "peers"})
    return results


def json_line_results(lines, source):
    results, skipped = [], 0
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
            value = float(obj["value"])
            name = str(obj["name"])
        except (ValueError, KeyError, TypeError):
            skipped += 1
            continue
        results.append({"name": name, "value": value, "unit": str(obj.get("unit", "")),
                        "lower_is_better": bool(obj.get("lower_is_better", True)), "source": source})
    if skipped:
        print(f"record: {source}: skipped {skipped} JSON lines without a name and a numeric value",
              file=sys.stderr)
    return results


def default_out(commit):
    day = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
    base = os.path.join(HERE, "results", f"{day}-{commit['short'] or 'nocommit'}")
    path, n = base + ".json", 2
    while os.path.exists(path):  # never overwrite an earlier run of the same commit
        path, n = f"{base}-{n}.json", n + 1
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--criterion-dir", default=os.path.join(REPO, "target", "criterion"),
                    help="criterion's output directory (default: target/criterion of this checkout)")
    ap.add_argument("--no-criterion", action="store_true", help="do not read criterion's estimates")
    ap.add_argument("--newer-than", metavar="FILE",
                    help="only criterion estimates written after FILE was last modified")
    ap.add_argument("--since-minutes", type=float, metavar="N",
                    help="only criterion estimates written in the last N minutes")
    ap.add_argument("--peers", action="append", default=[], metavar="FILE",
                    help="saved output of ../shared/bench/peers.py")
    ap.add_argument("--json-lines", action="append", default=[], metavar="FILE",
                    help="a script's output; its JSON-object lines with name and value are results ('-': stdin)")
    ap.add_argument("--note", help="free text kept with the run")
    ap.add_argument("--out", help="output file (default: benches/results/<UTC date>-<short commit>.json)")
    args = ap.parse_args()

    newer_than = None
    if args.newer_than:
        newer_than = os.path.getmtime(args.newer_than)
    if args.since_minutes is not None:
        since = time.time() - args.since_minutes * 60
        newer_than = since if newer_than is None else max(newer_than, since)

    results = []
    if not args.no_criterion:
        results += criterion_results(args.criterion_dir, newer_than)
    for path in args.peers:
        with open(path) as f:
            got = peers_results(f.read())
        if not got:
            print(f"record: no peers.py table found in {path}", file=sys.stderr)
        results += got
    for path in args.json_lines:
        if path == "-":
            results += json_line_results(sys.stdin, "stdin")
        else:
            with open(path) as f:
                results += json_line_results(f, os.path.basename(path))

    seen = {}
    for r in results:
        if r["name"] in seen:
            print(f"record: {r['name']} appears twice; keeping the last", file=sys.stderr)
        seen[r["name"]] = r
    results = sorted(seen.values(), key=lambda r: r["name"])
    if not results:
        print("record: no results found (run `cargo bench` first, or pass --peers / --json-lines)",
              file=sys.stderr)
        sys.exit(2)

    commit = commit_info()
    run = {
        "format": 1,
        "commit": commit,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine_info(),
        "note": args.note,
        "results": results,
    }
    out = args.out or default_out(commit)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(run, f, indent=1)
        f.write("\n")
    dirty = " (uncommitted changes)" if commit["dirty"] else ""
    print(f"recorded {len(results)} results at {commit['short']}{dirty} in {os.path.relpath(out)}")


if __name__ == "__main__":
    main()
