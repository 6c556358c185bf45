"""What GPU telemetry costs ktui on a big cluster (issue 15): the requests and time of one
refresh of the nodes a screen shows, from dcgm-exporter through the pod proxy and from
Prometheus through the service proxy, and of a refresh of every node (`ktui nodes`).

The simulator runs in a child process (`ktui sim`), so its CPU is not ktui's. Prints
figures; no pass/fail.

    .venv/bin/python benchmarks/bench_gpu_telemetry.py --pods 20000 --nodes 5000
"""

from __future__ import annotations

import argparse
import statistics
import time

from _bench import add_size_args, start_sim

from ktui.cluster.kube.backend import KubeBackend


def measure(kubeconfig: str, focus: int, repeat: int, prometheus: str | None, every: bool) -> dict[str, float]:
    b = KubeBackend.connect(kubeconfig, all_namespaces=True, metrics=False, gpu=True, prometheus=prometheus,
                            gpu_interval=3600.0)  # (refreshes are driven below, not by its thread)
    b.start()
    try:
        while not b.store.wait_synced(["nodes", "pods"], timeout=1.0):
            pass
        gpu = b.gpu
        assert gpu is not None
        nodes = sorted(b.store.keys("nodes"))
        # The nodes a 200x50 screen shows, plus the nodes of the running trials on it.
        step = max(1, len(nodes) // focus)
        shown = nodes[::step][:focus]
        t0 = time.perf_counter()
        gpu.discover()
        discover = time.perf_counter() - t0
        times, reqs = [], []
        for _ in range(repeat):
            before = gpu.requests
            t0 = time.perf_counter()
            gpu.refresh(shown)
            times.append(time.perf_counter() - t0)
            reqs.append(gpu.requests - before)
        out = {"discover_s": discover, "shown": len(shown), "refresh_ms": statistics.median(times) * 1000,
               "refresh_max_ms": max(times) * 1000, "requests": statistics.median(reqs),
               "devices": sum(len(b.store.get_nodes([n])[n].devices) for n in shown)}
        if gpu.prometheus is not None and prometheus is not None:
            t0 = time.perf_counter()
            gpu.census(shown)
            out["census_s"] = time.perf_counter() - t0
            out["census_pods"] = sum(1 for k in b.store._pod_gpu)
        if every:
            before = gpu.requests
            t0 = time.perf_counter()
            gpu.refresh(nodes)
            out["all_s"] = time.perf_counter() - t0
            out["all_requests"] = gpu.requests - before
        return out
    finally:
        b.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_size_args(ap, pods=1500)
    ap.add_argument("--focus", type=int, default=30, help="nodes on screen (default 30)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-all", action="store_true", help="skip the refresh of every node")
    a = ap.parse_args()
    sim = start_sim(a, ["--dcgm-interval", "0.001"])  # each scrape a fresh collection: the worst case
    try:
        for label, prom in (("dcgm-exporter via pods/proxy", None),
                            ("Prometheus via services/proxy", "monitoring/prometheus-operated:web")):
            r = measure(sim.kubeconfig, a.focus, a.repeat, prom, not a.no_all)
            print(f"{label}: discovery {r['discover_s']:.2f} s; one refresh of {r['shown']:.0f} nodes on screen "
                  f"({r['devices']:.0f} GPUs): {r['requests']:.0f} requests, median {r['refresh_ms']:.0f} ms, "
                  f"max {r['refresh_max_ms']:.0f} ms", flush=True)
            if "census_s" in r:
                print(f"  idle census (every GPU pods hold, one query per half idle duration): {r['census_s']:.2f} s, "
                      f"{r['census_pods']:,} pods with GPU use", flush=True)
            if "all_s" in r:
                print(f"  every node ({sim.n_nodes:,}, as `ktui nodes`): {r['all_requests']:.0f} requests, "
                      f"{r['all_s']:.2f} s", flush=True)
    finally:
        sim.__exit__()


if __name__ == "__main__":
    main()
