"""Submitting N trials as one Indexed Job (`mode: indexed`) vs one Job per trial (`mode: jobs`).

    .venv/bin/python benchmarks/bench_indexed_submit.py [--trials 10000]

The same sweep (a grid of --trials trials, two parameters) is rendered in both modes, each in
its own namespace of one simulator (`ktui.sim.testing.running_sim`, in this process, no
pre-populated pods), and submitted with KubeBackend.submit. Per mode:

  render      load_sweep + the manifests (render_jobs / render_indexed)
  submit      KubeBackend.submit, from the call to its return (one Job per trial: its
              concurrent creates; indexed: the Job, its ConfigMaps, the release)
  objects     API objects the submission left on the server (Jobs + ConfigMaps)
  visible     a fresh KubeBackend (jobs and pods watched) started until its store shows every
              trial with its parameters (indexed: read from the ConfigMaps)
  store       bytes the store's side allocated for it (tracemalloc, allocations in ktui/cluster
              only: the simulator shares the process), after the join, a second backend

No pod runs in either mode (each Job per trial is created suspended, as bench_submit does; the
Indexed Job carries a queue label, so ktui leaves its release to Kueue, absent here): both
modes meet the same idle server, and the store holds Jobs and trials only.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SPEC = """\
name: bench
namespace: {ns}
image: python:3.11-slim
command: [python, train.py]
args: ["--lr={{lr}}", "--seed={{seed}}"]
resources: {{cpu: "1", memory: 2Gi}}
retries: 1
metric: {{name: accuracy, goal: maximize}}
{mode}
parameters:
  grid: {{lr: {lrs}, seed: {seeds}}}
"""


def sweep_file(tmp: Path, ns: str, trials: int, indexed: bool) -> Path:
    seeds = max(1, min(trials, 10))
    lrs = [round(0.0001 * (i + 1), 6) for i in range(trials // seeds)]
    mode = "mode: indexed\nqueue: none" if indexed else "mode: jobs"
    path = tmp / f"{ns}.yaml"
    path.write_text(SPEC.format(ns=ns, mode=mode, lrs=json.dumps(lrs), seeds=json.dumps(list(range(seeds)))))
    return path


def render(path: Path, indexed: bool) -> list[dict[str, Any]]:
    from ktui.sweep import load_sweep
    from ktui.sweep.render import launch_manifests

    out = launch_manifests(load_sweep(path), None, None, {})
    if not indexed:
        for m in out:
            m["spec"]["suspend"] = True
    return out


def backend(sim: Any, ns: str) -> Any:
    from ktui.cluster.kube.backend import KubeBackend

    return KubeBackend.connect(str(sim.kubeconfig), namespace=ns, resources=("jobs", "pods"), metrics=False,
                               gpu=False, probe_capabilities=False)


def wait_visible(b: Any, trials: int, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    v = 0
    while True:
        trials_now = b.store.trials_of_sweep("bench")
        if len(trials_now) == trials and all(t.raw_params is not None for t in trials_now):
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(trials_now):,} of {trials:,} trials visible after {timeout:.0f}s")
        v = b.store.wait(v, 0.5)


def measure(sim: Any, tmp: Path, trials: int, indexed: bool) -> dict[str, Any]:
    ns = "bench-indexed" if indexed else "bench-jobs"
    sim.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    path = sweep_file(tmp, ns, trials, indexed)
    t0 = time.perf_counter()
    manifests = render(path, indexed)
    render_s = time.perf_counter() - t0
    b = backend(sim, ns)
    t0 = time.perf_counter()
    res = b.submit(manifests)
    submit_s = time.perf_counter() - t0
    b.stop()
    if res.failed or len(res.created) != trials:
        raise SystemExit(f"submit: {len(res.created)} created, {len(res.failed)} failed: "
                         f"{[f.message for f in res.failed[:3]]}")
    jobs, maps = len(sim.objects("jobs", ns)), len(sim.objects("configmaps", ns))

    b = backend(sim, ns)
    t0 = time.perf_counter()
    b.start()
    wait_visible(b, trials)
    visible_s = time.perf_counter() - t0
    b.stop()

    tracemalloc.start()
    b = backend(sim, ns)
    b.start()
    wait_visible(b, trials)
    b.store.snapshot_trials()
    snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, "*/ktui/cluster/*")])
    store_bytes = sum(s.size for s in snap.statistics("filename"))
    records = b.store.counts()["jobs"]
    shown = len(b.store.trials_of_sweep("bench"))
    b.stop()
    tracemalloc.stop()
    return {"mode": "indexed" if indexed else "jobs", "render": render_s, "submit": submit_s, "jobs": jobs,
            "configmaps": maps, "visible": visible_s, "store_bytes": store_bytes, "job_records": records,
            "trials_visible": shown}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=10_000)
    ap.add_argument("--pods", type=int, default=0, help="(ignored: run_all passes it to every script)")
    ap.add_argument("--no-kubectl", action="store_true", help="(ignored: kubectl plays no part)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    from ktui.sim.testing import running_sim

    with tempfile.TemporaryDirectory(prefix="ktui-bench-indexed-") as d, \
            running_sim(nodes=3, gpus_per_node=8, speed=1.0, pods=0) as sim:
        rows = [measure(sim, Path(d), a.trials, indexed) for indexed in (False, True)]
    print(f"\nsubmit {a.trials:,} trials, one Job per trial (mode: jobs) vs one Indexed Job (mode: indexed):")
    print(f"  {'':22} {'render':>8} {'submit':>9} {'API objects':>22} {'visible':>9} {'store':>10}  trials")
    for r in rows:
        label = "one Job per trial" if r["mode"] == "jobs" else "indexed"
        objects = f"{r['jobs']:,} Jobs + {r['configmaps']:,} CMs"
        print(f"  {label:22} {r['render']:7.2f}s {r['submit']:8.2f}s {objects:>22} {r['visible']:8.2f}s "
              f"{r['store_bytes'] / 2**20:7.1f} MiB  {r['trials_visible']:,}")
    jobs, idx = rows
    print(f"  indexed / per trial: submit {idx['submit'] / jobs['submit']:.3f}x, objects "
          f"{(idx['jobs'] + idx['configmaps']) / (jobs['jobs'] + jobs['configmaps']):.4f}x, store "
          f"{idx['store_bytes'] / jobs['store_bytes']:.2f}x")
    if a.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
