"""Loading big sweep files: time and peak memory of load_sweep (issue 14 item 7).

    .venv/bin/python benchmarks/bench_sweep_load.py                   # 10,000 trials x 25 params, 5 MB
    .venv/bin/python benchmarks/bench_sweep_load.py --trials 200 --mb 0.2   # CI smoke, seconds

Files are written to a temp dir, then each is loaded by `load_sweep` in a fresh child
process of its own, so its peak RSS (VmHWM) is the load's alone (plus the interpreter and
ktui's imports, printed as "at import" for reference). Measured per file: wall time of load_sweep
(read, parse, validate, count), peak RSS (getrusage ru_maxrss) and the tracemalloc peak of
Python allocations during the load.

  list sweep YAML (block)   `parameters: {list: [...]}`, one `key: value` line per parameter
  list sweep YAML (flow)    the same as one `{k: v, ...}` flow mapping per trial
  list sweep JSON           the same spec as indented JSON
  params.json               the origin format, one experiment per trial, 23 `k=v` tokens each
  5 MB YAML / 5 MB JSON     a list sweep whose string values are padded to make the file
                            --mb megabytes (10,000 trials, 25 params), in YAML and params.json

--pods is accepted (run_all.py passes it to every script) and ignored.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    """Peak RSS of this process. VmHWM, not ru_maxrss: that one keeps the parent's peak
    from before exec, which here is the benchmark's own (it built the files)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(path: str, max_trials: int) -> None:
    from ktui.sweep import Overrides, load_sweep

    base = rss_mb()
    t0 = time.perf_counter()
    sweep = load_sweep(path, Overrides(max_trials=max_trials))
    took = time.perf_counter() - t0
    peak = rss_mb()  # before tracemalloc, whose own bookkeeping would count
    del sweep
    tracemalloc.start()
    sweep = load_sweep(path, Overrides(max_trials=max_trials))
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(json.dumps({"seconds": took, "rss_mb": peak, "base_mb": base,
                      "traced_mb": traced / 2**20, "trials": sweep.count()}))


def value(i: int, j: int, pad: int) -> object:
    if j % 3 == 0:
        return (i * 31 + j) % 97 / 10
    if j % 3 == 1:
        return f"v{i % 13}" + "x" * pad
    return i + j


def entries(trials: int, params: int, pad: int = 0) -> list[dict[str, object]]:
    return [{f"p{j:02d}": value(i, j, pad) for j in range(params)} for i in range(trials)]


def spec(trials: int, params: int, pad: int = 0) -> dict[str, object]:
    return {"name": "big", "image": "python:3.11-slim", "command": ["python", "train.py"],
            "args": ["--p00={p00}", "--p01={p01}"], "parameters": {"list": entries(trials, params, pad)}}


def origin(trials: int, params: int, pad: int = 0) -> list[dict[str, object]]:
    return [{"model": f"m{i % 50}", "preproc": f"pp{i % 7}",
             "params": [" ".join(f"k{j:02d}={(i * j) % 101}" + "x" * pad for j in range(params - 2))]}
            for i in range(trials)]


def padded(write, trials: int, params: int, mb: float) -> Path:
    """A file of about `mb` megabytes: string values padded until it is."""
    small = write(0)
    pad = max(0, int((mb * 1e6 - small.stat().st_size) / max(1, trials * (params // 3))))
    return write(pad)


def dump(doc: object, **kw: object) -> str:
    return yaml.dump(doc, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False, **kw)


def write_files(tmp: Path, trials: int, params: int, mb: float) -> list[tuple[str, Path]]:
    files: list[tuple[str, Path]] = []

    def put(name: str, text: str) -> Path:
        p = tmp / name
        p.write_text(text)
        return p

    files.append(("list sweep YAML (block)", put("block.yaml", dump(spec(trials, params), default_flow_style=False))))
    files.append(("list sweep YAML (flow)", put("flow.yaml", dump(spec(trials, params), width=10_000))))
    files.append(("list sweep JSON", put("spec.json", json.dumps(spec(trials, params), indent=1))))
    files.append(("params.json", put("params.json", json.dumps(origin(trials, params), indent=1))))
    files.append((f"{mb:g} MB YAML", padded(lambda pad: put("big.yaml", dump(
        spec(trials, params, pad), default_flow_style=False)), trials, params, mb)))
    files.append((f"{mb:g} MB params.json", padded(lambda pad: put("big-params.json", json.dumps(
        origin(trials, params, pad), indent=1)), trials, params * 3, mb)))
    return files


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=10_000)
    ap.add_argument("--params", type=int, default=25)
    ap.add_argument("--mb", type=float, default=5.0, help="size of the padded files (default 5)")
    ap.add_argument("--pods", type=int, default=None, help="ignored (run_all.py passes it)")
    ap.add_argument("--child", nargs=2, metavar=("FILE", "MAX_TRIALS"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(a.child[0], int(a.child[1]))
        return 0
    print(f"sweep file load: {a.trials:,} trials x {a.params} params (load_sweep in a fresh process per file)")
    print(f"  {'file':<26} {'size':>8} {'time':>8} {'peak RSS':>10} {'at import':>10} {'py peak':>9}")
    failed = 0
    with tempfile.TemporaryDirectory(prefix="ktui-bench-sweep-") as d:
        for label, path in write_files(Path(d), a.trials, a.params, a.mb):
            out = subprocess.run([sys.executable, __file__, "--child", str(path), str(max(a.trials, 1))],
                                 capture_output=True, text=True, cwd=ROOT, check=False)
            if out.returncode != 0:
                failed += 1
                print(f"  {label:<26} FAILED: {out.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(out.stdout)
            assert r["trials"] == a.trials, r
            size = path.stat().st_size / 1e6
            print(f"  {label:<26} {size:>6.1f}MB {r['seconds']:>7.2f}s {r['rss_mb']:>8.0f}MB "
                  f"{r['base_mb']:>8.0f}MB {r['traced_mb']:>7.0f}MB")
    print("  target (issue 14): a 10,000-trial list sweep loads in under 2 s and 200 MB")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
