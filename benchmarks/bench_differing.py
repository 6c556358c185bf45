"""The cost of knowing whether the job table's IMAGE/CODE columns are needed (ktui.ui.distinct).

    .venv/bin/python benchmarks/bench_differing.py [--trials 150000] [--changed 1000]

Prints the time of a full count (done once per rebuild, in the rebuild worker), of one tick's
update for --changed trials, and of the per-frame question (columns()): nothing per tick
passes over every trial."""

from __future__ import annotations

import argparse
import time

from ktui.cluster.model import Trial
from ktui.ui.distinct import Differing


def trial(i: int, sha: str) -> Trial:
    return Trial("default", f"s{i // 1000}-{i:06d}", f"uid-{i}", f"s{i // 1000}", i, '{"lr":0.1}', "Running",
                 None, None, None, None, None, None, 0, None, None,
                 provenance={"image": "python:3.11-slim", "code": {"sha256": sha}},
                 image_id=f"python@sha256:{i % 3:064x}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=150_000)
    ap.add_argument("--changed", type=int, default=1000)
    a = ap.parse_args()
    trials = {t.key: t for t in (trial(i, "a" * 64) for i in range(a.trials))}
    d = Differing()
    t0 = time.perf_counter()
    d.reset(trials)
    t1 = time.perf_counter()
    changed = {t.key: t for t in (trial(i, "b" * 64) for i in range(a.changed))}
    t2 = time.perf_counter()
    d.update(changed, ())
    t3 = time.perf_counter()
    n = 1000
    for _ in range(n):
        d.columns()
        d.columns("s1")
    t4 = time.perf_counter()
    print(f"{a.trials:,} trials: full count {1e3 * (t1 - t0):.1f} ms (once per rebuild, in its worker)")
    print(f"one tick with {a.changed:,} changed trials: {1e3 * (t3 - t2):.2f} ms")
    print(f"columns() (all + one sweep): {1e6 * (t4 - t3) / n:.1f} us per frame; now {d.columns()}")


if __name__ == "__main__":
    main()
