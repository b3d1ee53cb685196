#!/usr/bin/env python3
"""Compare two runs recorded by benches/record.py and flag regressions.

    python3 benches/compare.py OLD.json NEW.json [--threshold 10]

Prints every result of either run: its value in both, the change in percent
(new against old) and REGRESSION where the new run is worse by more than
--threshold percent (slower when lower is better, smaller when higher is
better); "better" marks a change as large the other way. Results in one run
only are listed but never fail. Exits 1 if any result regressed, 0 if none,
2 if a file cannot be read.
"""
import argparse
import json
import sys


def load(path):
    try:
        with open(path) as f:
            run = json.load(f)
        results = {}
        for r in run["results"]:
            results[r["name"]] = r
        return run, results
    except (OSError, ValueError, KeyError, TypeError) as e:
        print(f"compare: cannot read {path}: {e}", file=sys.stderr)
        sys.exit(2)


def describe(run):
    c = run.get("commit") or {}
    m = run.get("machine") or {}
    dirty = "+dirty" if c.get("dirty") else ""
    return f"{c.get('short') or '?'}{dirty} {run.get('date', '?')} ({m.get('nproc', '?')} cores, {m.get('cpu_model') or '?'})"


def fmt(value, unit):
    if value is None:
        return "-"
    if not isinstance(value, (int, float)):
        return repr(value)
    if unit == "ns":  # criterion: show in the largest unit that keeps a digit before the point
        for scale, name in ((1e9, "s"), (1e6, "ms"), (1e3, "µs")):
            if abs(value) >= scale:
                return f"{value / scale:.3f} {name}"
        return f"{value:.1f} ns"
    return f"{value:.4g} {unit}".rstrip()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--threshold", type=float, default=10.0,
                    help="percent worse that counts as a regression (default 10)")
    args = ap.parse_args()

    old_run, old = load(args.old)
    new_run, new = load(args.new)
    print(f"old: {args.old}: {describe(old_run)}")
    print(f"new: {args.new}: {describe(new_run)}")

    rows, regressions = [], []
    for name in sorted(set(old) | set(new)):
        o, n = old.get(name), new.get(name)
        unit = (n or o).get("unit", "")
        ov = o["value"] if o else None
        nv = n["value"] if n else None
        change, mark = "", ""
        if o is None:
            mark = "only in new"
        elif n is None:
            mark = "only in old"
        elif o.get("unit", "") != n.get("unit", ""):
            mark = f"unit changed ({o.get('unit')} -> {n.get('unit')}), not compared"
        elif not all(isinstance(v, (int, float)) for v in (ov, nv)):
            mark = "no numeric value, not compared"
        elif ov == 0:
            mark = "old value 0, not compared"
        else:
            pct = (nv - ov) / abs(ov) * 100
            change = f"{pct:+.1f}%"
            lower_is_better = n.get("lower_is_better", True)
            worse = pct if lower_is_better else -pct
            if worse > args.threshold:
                mark = "REGRESSION"
                regressions.append((name, change))
            elif -worse > args.threshold:
                mark = "better"
        rows.append((name, fmt(ov, unit), fmt(nv, unit), change, mark))

    header = ("benchmark", "old", "new", "change", "")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(4)]
    print(f"{header[0]:<{widths[0]}}  {header[1]:>{widths[1]}}  {header[2]:>{widths[2]}}  {header[3]:>{widths[3]}}")
    for r in rows:
        line = f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}  {r[4]}"
        print(line.rstrip())
    if regressions:
        print(f"{len(regressions)} regression(s) past {args.threshold:g}%: "
              + ", ".join(f"{name} {change}" for name, change in regressions))
        sys.exit(1)
    print(f"no regression past {args.threshold:g}%")


if __name__ == "__main__":
    main()
