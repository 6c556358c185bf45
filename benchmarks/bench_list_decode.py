"""List + decode at cluster scale: ktui's reflector vs the bare HTTP GET vs kubectl.

    .venv/bin/python benchmarks/bench_list_decode.py                 # 150,000 pods
    .venv/bin/python benchmarks/bench_list_decode.py --pods 1500     # CI smoke, seconds

The simulator runs in a child process, so its CPU and memory are not counted as ktui's, and
each measurement runs in a fresh child process of its own, so the RSS growth it reports is
ktui's alone. Measured:

  1. bare GET      one unpaged GET /api/v1/pods through the official client's ApiClient,
                   bytes read and dropped (nothing decoded): the floor for any client;
     paged GET     the same pages the reflector fetches, read and dropped;
  2. ktui list     Reflector.list_once into a fresh Store (paged, pipelined, msgspec
                   decode, store apply), per page size: time, RSS growth, bytes per pod;
     decode cost   per pod on one page: msgspec (ktui) vs json.loads vs the client's models;
     watch absorb  MODIFIED pod events through the reflector's watch path (decode + store
                   apply + the UI tick's lazy join), events per second;
  3. kubectl       `kubectl get pods -A -o name` on the same server, if kubectl exists.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rss_bytes() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# ---------------------------------------------------------------------------------------------
# Child: the simulator


def serve(pods: int, nodes: int) -> None:
    from ktui.sim.testing import running_sim

    t0 = time.monotonic()
    with running_sim(nodes=nodes, gpus_per_node=8, speed=1.0, pods=pods, seed=1) as sim:
        print(json.dumps({"url": sim.url, "kubeconfig": str(sim.kubeconfig),
                          "startup": time.monotonic() - t0}), flush=True)
        sys.stdin.read()  # until the parent closes our stdin


# ---------------------------------------------------------------------------------------------
# Child: one measurement


def _transport(kubeconfig: str):  # type: ignore[no-untyped-def]
    from ktui.cluster.kube.config import load
    from ktui.cluster.kube.transport import Transport

    return Transport(load(kubeconfig).api_client)


def measure_get(kubeconfig: str, limit: int) -> dict[str, Any]:
    from ktui.cluster.kube.reflector import peek_continue

    t = _transport(kubeconfig)
    t.get("/version")
    total = pages = 0
    t0 = time.perf_counter()
    if limit == 0:
        resp = t.open("GET", "/api/v1/pods", timeout=(10.0, 600.0))
        while chunk := resp.read(1 << 20):
            total += len(chunk)
        resp.release_conn()
        pages = 1
    else:
        cont = None
        while True:
            q: list[tuple[str, Any]] = [("limit", limit)]
            if cont:
                q.append(("continue", cont))
            data = t.get("/api/v1/pods", q, timeout=(10.0, 600.0))
            total += len(data)
            pages += 1
            cont = peek_continue(data)
            if not cont:
                break
    return {"seconds": time.perf_counter() - t0, "bytes": total, "pages": pages}


def measure_list(kubeconfig: str, limit: int) -> dict[str, Any]:
    from ktui.cluster.kube.reflector import Reflector
    from ktui.cluster.kube.resources import RESOURCES
    from ktui.cluster.store import Store

    t = _transport(kubeconfig)
    t.get("/version")
    gc.collect()
    before = rss_bytes()
    store = Store()
    refl = Reflector(t, store, RESOURCES["pods"], page_limit=limit)
    t0 = time.perf_counter()
    rv = refl.list_once()
    seconds = time.perf_counter() - t0
    store.mark_synced("pods")
    n = store.counts()["pods"]
    gc.collect()
    after = rss_bytes()
    return {"seconds": seconds, "pods": n, "pages": refl.stats.pages, "rv": rv,
            "rss_growth": after - before, "bytes_per_pod": (after - before) / max(1, n)}


def measure_store(kubeconfig: str, limit: int) -> dict[str, Any]:
    """Memory of everything the UI needs: pods + jobs + nodes listed, trials joined."""
    from ktui.cluster.kube.reflector import Reflector
    from ktui.cluster.kube.resources import RESOURCES
    from ktui.cluster.store import Store

    t = _transport(kubeconfig)
    t.get("/version")
    gc.collect()
    before = rss_bytes()
    store = Store()
    t0 = time.perf_counter()
    for kind in ("nodes", "jobs", "pods"):
        Reflector(t, store, RESOURCES[kind], page_limit=limit).list_once()
        store.mark_synced(kind)
    listed = time.perf_counter() - t0
    t1 = time.perf_counter()
    trials = store.snapshot_trials()
    nodes = store.snapshot_nodes()
    joined = time.perf_counter() - t1
    del trials, nodes
    gc.collect()
    after = rss_bytes()
    counts = store.counts()
    return {"seconds": listed, "join_seconds": joined, **counts,
            "rss_growth": after - before, "bytes_per_pod": (after - before) / max(1, counts["pods"])}


def measure_decode(kubeconfig: str, limit: int) -> dict[str, Any]:
    from kubernetes.client import ApiClient

    from ktui.cluster.kube.decode import POD_CODEC

    t = _transport(kubeconfig)
    page = t.get("/api/v1/pods", [("limit", min(limit or 500, 500))])
    recs, _ = POD_CODEC.decode_list(page)
    n = len(recs)

    def per_pod(fn: Any, count: int, repeat: int = 5) -> float:
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        return best / count * 1e6

    ktui_us = per_pod(lambda: POD_CODEC.decode_list(page), n)
    json_us = per_pod(lambda: json.loads(page), n)
    sample = json.loads(page)
    sample["items"] = sample["items"][:100]
    small = json.dumps(sample)
    client = ApiClient()
    models_us = per_pod(lambda: client.deserialize(small, "V1PodList", "application/json"),
                        len(sample["items"]), repeat=2)
    return {"pods": n, "bytes_per_pod": len(page) / max(1, n), "ktui_us": ktui_us,
            "json_loads_us": json_us, "client_models_us": models_us}


def measure_watch(kubeconfig: str, limit: int, events: int) -> dict[str, Any]:
    import msgspec

    from ktui.cluster.kube.reflector import Reflector
    from ktui.cluster.kube.resources import RESOURCES
    from ktui.cluster.store import Store

    t = _transport(kubeconfig)
    page = json.loads(t.get("/api/v1/pods", [("limit", 2000)]))
    items = page["items"]
    store = Store()
    refl = Reflector(t, store, RESOURCES["pods"], page_limit=limit)
    refl.list_once()
    store.mark_synced("pods")
    # Real pod bodies, each event a new resourceVersion (and a restart) of one of them.
    lines = []
    enc = msgspec.json.Encoder()
    for i in range(events):
        obj = items[i % len(items)]
        obj["metadata"]["resourceVersion"] = str(10_000_000 + i)
        lines.append(enc.encode({"type": "MODIFIED", "object": obj}))
    batch = 200  # what a busy watch's network reads deliver per chunk
    version = store.version
    tick = time.perf_counter()
    t0 = time.perf_counter()
    rv = "0"
    for i in range(0, len(lines), batch):
        rv = refl.apply_lines(lines[i : i + batch], rv)
        now = time.perf_counter()
        if now - tick > 0.1:  # a UI ticking at 10 Hz reads what changed
            ch = store.changes_since(version)
            version = ch.version
            store.get_trials(ch.trials)
            store.get_nodes(ch.nodes)
            tick = now
    ch = store.changes_since(version)
    seconds = time.perf_counter() - t0
    return {"events": events, "seconds": seconds, "per_second": events / seconds}


# ---------------------------------------------------------------------------------------------
# Parent


def default_page_limit() -> int:
    import inspect

    from ktui.cluster.kube.reflector import Reflector

    return int(inspect.signature(Reflector).parameters["page_limit"].default)


def child(args: list[str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                         check=False, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"measurement {args} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def kubectl_time(kubeconfig: str) -> dict[str, Any] | None:
    exe = shutil.which("kubectl")
    if exe is None:
        return None
    env = {**os.environ, "KUBECONFIG": kubeconfig, "HOME": str(Path(kubeconfig).parent)}
    # Warm kubectl's discovery cache first, as a user's would be.
    subprocess.run([exe, "api-resources"], capture_output=True, env=env, check=False)
    t0 = time.perf_counter()
    out = subprocess.run([exe, "get", "pods", "-A", "-o", "name"], capture_output=True, env=env,
                         check=False)
    seconds = time.perf_counter() - t0
    if out.returncode != 0:
        return {"error": out.stderr.decode(errors="replace").strip()[:200], "seconds": seconds}
    return {"seconds": seconds, "lines": out.stdout.count(b"\n")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pods", type=int, default=150_000)
    ap.add_argument("--nodes", type=int, default=None, help="default: pods/30, 3..5000")
    ap.add_argument("--limits", default="500,1000,2000,5000", help="page sizes to compare")
    ap.add_argument("--watch-events", type=int, default=None, help="default: min(pods, 100000)")
    ap.add_argument("--no-kubectl", action="store_true")
    ap.add_argument("--json", action="store_true", help="print the raw figures as JSON too")
    # Internal: children.
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    ap.add_argument("--kubeconfig", help=argparse.SUPPRESS)
    ap.add_argument("--limit", type=int, default=500, help=argparse.SUPPRESS)
    a = ap.parse_args()

    nodes = a.nodes or min(5000, max(3, a.pods // 30))
    if a.serve:
        serve(a.pods, nodes)
        return 0
    if a.measure:
        fn = {"get": measure_get, "list": measure_list, "store": measure_store,
              "decode": measure_decode}.get(a.measure)
        if a.measure == "watch":
            res = measure_watch(a.kubeconfig, a.limit, a.watch_events or 10_000)
        elif fn is None:
            raise SystemExit(f"unknown measurement {a.measure}")
        else:
            res = fn(a.kubeconfig, a.limit)
        print(json.dumps(res))
        return 0

    limits = [int(x) for x in a.limits.split(",") if x.strip()]
    watch_events = a.watch_events or min(a.pods, 100_000)
    print(f"starting the simulator with {a.pods:,} pods on {nodes:,} nodes ...", flush=True)
    sim = subprocess.Popen([sys.executable, __file__, "--serve", "--pods", str(a.pods),
                            "--nodes", str(nodes)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           text=True, cwd=ROOT)
    try:
        assert sim.stdout is not None
        info = json.loads(sim.stdout.readline())
        kc = info["kubeconfig"]
        print(f"simulator up in {info['startup']:.1f}s at {info['url']}\n", flush=True)
        results: dict[str, Any] = {"pods": a.pods, "nodes": nodes}
        base = ["--kubeconfig", kc]
        results["get"] = child(["--measure", "get", "--limit", "0", *base])
        g = results["get"]
        print(f"bare GET /api/v1/pods (unpaged, nothing decoded): {g['seconds']:.2f}s "
              f"{g['bytes'] / 1e6:,.0f} MB ({g['bytes'] / a.pods:,.0f} B/pod)", flush=True)
        results["paged"] = {}
        results["list"] = {}
        for limit in limits:
            p = results["paged"][limit] = child(["--measure", "get", "--limit", str(limit), *base])
            r = results["list"][limit] = child(["--measure", "list", "--limit", str(limit), *base])
            print(f"limit={limit:<5} paged GET {p['seconds']:6.2f}s | ktui list+decode "
                  f"{r['seconds']:6.2f}s ({r['seconds'] / g['seconds']:.2f}x bare GET, "
                  f"{r['seconds'] / p['seconds']:.2f}x paged GET) {r['pages']} pages, "
                  f"RSS +{r['rss_growth'] / 1e6:,.0f} MB = {r['bytes_per_pod']:,.0f} B/pod", flush=True)
        best = min(limits, key=lambda lim: results["list"][lim]["seconds"])
        # The store as ktui runs it: the reflector's default page size.
        default = default_page_limit()
        s = results["store"] = child(["--measure", "store", "--limit", str(default), *base])
        print(f"\nfull store (nodes+jobs+pods listed, trials joined), limit={default}: "
              f"{s['seconds']:.2f}s list + {s['join_seconds']:.2f}s join; {s['pods']:,} pods, "
              f"{s['jobs']:,} jobs, {s['nodes']:,} nodes; RSS +{s['rss_growth'] / 1e6:,.0f} MB "
              f"= {s['bytes_per_pod']:,.0f} B/pod", flush=True)
        d = results["decode"] = child(["--measure", "decode", "--limit", str(best), *base])
        print(f"decode per pod ({d['bytes_per_pod']:,.0f} B of JSON): ktui/msgspec "
              f"{d['ktui_us']:.1f} us, json.loads {d['json_loads_us']:.1f} us, client models "
              f"{d['client_models_us']:.1f} us", flush=True)
        w = results["watch"] = child(["--measure", "watch", "--limit", str(best),
                                      "--watch-events", str(watch_events), *base])
        print(f"watch absorb: {w['events']:,} MODIFIED pod events in {w['seconds']:.2f}s = "
              f"{w['per_second']:,.0f} events/s", flush=True)
        if not a.no_kubectl:
            k = results["kubectl"] = kubectl_time(kc)
            if k is None:
                print("kubectl: not found, skipped")
            elif "error" in k:
                print(f"kubectl get pods -A -o name: failed after {k['seconds']:.2f}s: {k['error']}")
            else:
                print(f"kubectl get pods -A -o name: {k['seconds']:.2f}s ({k['lines']:,} lines)")
        if a.json:
            print(json.dumps(results, indent=2))
    finally:
        if sim.stdin:
            sim.stdin.close()
        sim.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
