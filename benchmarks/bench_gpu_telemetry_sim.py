"""Cost of the simulator's GPU telemetry at scale (issue 15): one exporter scrape through the
pod proxy, and Prometheus queries over N hostnames, on a cluster of --nodes x --gpus GPUs with
--pods pre-populated trials. Prints figures; no pass/fail.

    .venv/bin/python benchmarks/bench_gpu_telemetry_sim.py --nodes 5000 --gpus 8 --pods 50000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ktui.sim.testing import running_sim  # noqa: E402
from tests.sim.helpers import request  # noqa: E402


def timed(fn, n: int) -> tuple[float, float, object]:  # type: ignore[no-untyped-def]
    times, out = [], None
    for _ in range(n):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000, max(times) * 1000, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=5000)
    ap.add_argument("--gpus", type=int, default=8)
    ap.add_argument("--pods", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    t0 = time.perf_counter()
    with running_sim(nodes=args.nodes, gpus_per_node=args.gpus, speed=1.0, pods=args.pods,
                     dcgm_interval=0.001) as sim:  # every request a fresh collection: worst case
        print(f"cluster: {args.nodes} nodes x {args.gpus} GPUs, {args.pods} pods; "
              f"started in {time.perf_counter() - t0:.1f} s")
        pods = sim.objects("pods", "gpu-operator")
        name = pods[len(pods) // 2]["metadata"]["name"]
        path = f"/api/v1/namespaces/gpu-operator/pods/{name}:9400/proxy/metrics"
        med, worst, r = timed(lambda: request(sim, "GET", path), args.repeat)
        print(f"one node's /metrics (fresh collection): median {med:.1f} ms, max {worst:.1f} ms, "
              f"{len(r.body):,} bytes")  # type: ignore[attr-defined]
        q = "/api/v1/namespaces/monitoring/services/prometheus-operated:web/proxy/api/v1/query?query="
        for n in (1, 50, 500):
            hosts = "|".join(p["spec"]["nodeName"] for p in pods[:n])
            query = q + quote(f'DCGM_FI_DEV_GPU_UTIL{{Hostname=~"{hosts}"}}')
            med, worst, r = timed(lambda q=query: request(sim, "GET", q), args.repeat)
            print(f"Prometheus GPU_UTIL over {n} hostnames: median {med:.1f} ms, max {worst:.1f} ms, "
                  f"{len(r.json()['data']['result'])} series")  # type: ignore[attr-defined]
        query = q + quote('{__name__=~"DCGM_FI_DEV_GPU_UTIL|DCGM_FI_DEV_FB_USED|DCGM_FI_DEV_FB_FREE"}')
        med, worst, r = timed(lambda q=query: request(sim, "GET", q, timeout=600), 1)
        print(f"Prometheus 3 metrics over all {args.nodes} nodes: {med:.0f} ms, "
              f"{len(r.json()['data']['result'])} series")  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
