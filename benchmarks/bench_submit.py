"""Submitting a 1,000-trial sweep: KubeBackend.submit vs `kubectl apply -f` (same server).

    .venv/bin/python benchmarks/bench_submit.py --pods 1500 [--trials 1000]

A sweep spec (grid, --trials trials) is written to a temp dir, loaded with load_sweep and
rendered with render_jobs, twice under two sweep names (so neither run finds the other's
Jobs). The simulator is a `ktui sim --pods N` subprocess (a populated, live cluster).

  ktui     KubeBackend.connect(kubeconfig).submit(manifests): its concurrent creates
           (submit_concurrency, default 8), timed from the call to its return; every Job
           must come back created.
  kubectl  `kubectl apply -f sweep.yaml` of the same manifests as one multi-document YAML
           (client-side apply: a GET then a POST per Job, one at a time), discovery cache
           warmed first; timed as a process, so kubectl's start-up is included.

Jobs are rendered with spec.suspend: true unless --run, so the simulator's job controller
creates no pods during either submission and both runs meet the same idle server.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import kubectl, start_sim, warm_kubectl  # noqa: E402

SPEC = """\
name: {name}
namespace: default
image: python:3.11-slim
command: [python, train.py]
args: ["--lr={{lr}}", "--seed={{seed}}"]
resources: {{cpu: "1", memory: 2Gi}}
retries: 1
metric: {{name: accuracy, goal: maximize}}
parameters:
  grid: {{lr: {lrs}, seed: {seeds}}}
"""


def manifests(tmp: Path, name: str, trials: int, suspend: bool) -> list[dict[str, Any]]:
    from ktui.sweep import load_sweep, render_jobs

    seeds = max(1, min(trials, 10))
    lrs = [round(0.001 * (i + 1), 6) for i in range(-(-trials // seeds))]
    path = tmp / f"{name}.yaml"
    path.write_text(SPEC.format(name=name, lrs=json.dumps(lrs), seeds=json.dumps(list(range(seeds)))))
    jobs = list(render_jobs(load_sweep(path)))[:trials]
    if suspend:
        for j in jobs:
            j["spec"]["suspend"] = True
    return jobs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pods", type=int, default=1500)
    ap.add_argument("--nodes", type=int, default=None, help="default: pods/30, 3..5000")
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--run", action="store_true", help="do not suspend the Jobs")
    ap.add_argument("--no-kubectl", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    from ktui.cluster.kube.backend import KubeBackend

    sim = start_sim(a)
    try:
        with tempfile.TemporaryDirectory(prefix="ktui-bench-submit-") as d:
            tmp = Path(d)
            t0 = time.perf_counter()
            ours = manifests(tmp, "bench-ktui", a.trials, not a.run)
            render_s = time.perf_counter() - t0
            theirs = manifests(tmp, "bench-kubectl", a.trials, not a.run)
            assert len(ours) == a.trials, len(ours)
            backend = KubeBackend.connect(sim.kubeconfig)
            backend.check()
            t0 = time.perf_counter()
            res = backend.submit(ours)
            ktui_s = time.perf_counter() - t0
            backend.stop()
            if res.failed or len(res.created) != a.trials:
                raise SystemExit(f"ktui submit: {len(res.created)} created, {len(res.failed)} failed: "
                                 f"{[f.message for f in res.failed[:3]]}")
            kc = None
            if not a.no_kubectl:
                doc = tmp / "sweep.yaml"
                doc.write_text(yaml.safe_dump_all(theirs, sort_keys=False))
                warm_kubectl(sim.kubeconfig)
                kc = kubectl(sim.kubeconfig, "apply", "-f", str(doc))
    finally:
        sim.__exit__()
    print(f"\nsubmit {a.trials:,} Jobs ({'running' if a.run else 'suspended'}) to a server with "
          f"{sim.n_pods:,} pods / {sim.n_jobs:,} jobs / {sim.n_nodes:,} nodes:")
    print(f"  load_sweep+render_jobs: {render_s:.2f}s")
    print(f"  ktui KubeBackend.submit: {ktui_s:.2f}s ({a.trials / ktui_s:,.0f} Jobs/s)")
    if a.no_kubectl:
        print("  kubectl: skipped (--no-kubectl)")
    elif kc is None:
        print("  kubectl: not found, skipped")
    elif "error" in kc:
        print(f"  kubectl apply -f: failed after {kc['seconds']:.2f}s: {kc['error']}")
    else:
        print(f"  kubectl apply -f: {kc['seconds']:.2f}s ({kc['lines']:,} lines, "
              f"{a.trials / kc['seconds']:,.0f} Jobs/s); kubectl / ktui = {kc['seconds'] / ktui_s:.1f}x")
    if a.json:
        print(json.dumps({"trials": a.trials, "render": render_s, "ktui": ktui_s, "kubectl": kc}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
