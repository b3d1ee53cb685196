# Monte Carlo of a query over 1,000 leaves, driven by the costs measured on
# this machine (run.py): per child an aggregator spends ALPHA ms (16 -> 64
# leaves: (129.1-53.0)/48 ms for q05), a tier adds BETA ms (tree16 - flat16),
# a leaf's own share takes LEAF ms (the 1-leaf time over its share of rows);
# 1% of leaves are slow by SLOW ms. Each tier waits for its children until
# its deadline (the parent's less MARGIN per level) and answers with what
# came; completeness is the share of leaves whose answer reached the root.
import random, statistics, sys
ALPHA, BETA = 1.59, 3.8          # ms, q05
LEAF = 36.3 / 1000               # ms: 10M rows on 1 leaf took 36.3 ms; 1,000 leaves hold 10k each
MARGIN = 20.0                    # ms kept back per tier for the way back
def leaf_time(rng, slow_share, slow_ms):
    t = LEAF * rng.lognormvariate(0, 0.3) + 0.5   # + a network round trip
    return t + (slow_ms if rng.random() < slow_share else 0)
def tier(rng, shape, deadline, slow_share, slow_ms):
    """(time, leaves answered, leaves) of a subtree with fan-outs `shape`."""
    if not shape:
        t = leaf_time(rng, slow_share, slow_ms)
        return (t, 1, 1) if t <= deadline else (deadline, 0, 1)
    fan = shape[0]
    children = [tier(rng, shape[1:], deadline - MARGIN - BETA, slow_share, slow_ms) for _ in range(fan)]
    waited = max(c[0] for c in children)
    t = min(waited, deadline - MARGIN) + ALPHA * fan + (BETA if len(shape) > 1 else 0)
    return t, sum(c[1] for c in children), sum(c[2] for c in children)
shapes = {"flat 1000": [1000], "2 tiers 32x32 (1,024)": [32, 32], "3 tiers 10x10x10": [10, 10, 10]}
rng = random.Random(7)
print("shape, deadline, slow 1% by; median ms, p99 ms, mean completeness, queries fully complete")
for slow_ms in (0, 500):
    for name, shape in shapes.items():
        for deadline in (250, 1000):
            runs = [tier(rng, shape, deadline, 0.01 if slow_ms else 0, slow_ms) for _ in range(300)]
            times = sorted(r[0] for r in runs)
            comp = [r[1] / r[2] for r in runs]
            print(f"{name:24s} {deadline:5d} ms  slow+{slow_ms:3d} ms: median {statistics.median(times):7.1f}  p99 {times[int(len(times)*0.99)-1]:7.1f}  completeness {statistics.mean(comp):.4f}  complete {sum(c == 1 for c in comp)/len(comp):.2%}")
