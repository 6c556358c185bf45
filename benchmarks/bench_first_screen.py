"""Time to the first full screen: ktui (headless Textual) vs bare GETs vs kubectl.

    .venv/bin/python benchmarks/bench_first_screen.py --pods 1500
    .venv/bin/python benchmarks/bench_first_screen.py --pods 150000   # 5,000 nodes

The simulator is a `ktui sim` subprocess. Measured on the same server:

  ktui        a fresh child process (so imports and caches are cold, as for a user) runs
              KtuiApp(KubeBackend.connect(kubeconfig, all_namespaces=True)) headless with
              app.run_test(size=(120, 40)). Timestamps, from the moment the child starts
              (before `import textual`/ktui) and from just before the backend is built:
                synced      the store holds every node, job and pod (store.is_synced for all)
                trials      app.state.trials.total == the number of Jobs the server holds
                first frame the first frame the compositor produced in which
                            trials.total == expected, the jobs table has rows and no rebuild
                            is in flight. Frames are caught by wrapping App._display (the
                            call that writes a compositor update to the terminal; headless it
                            writes nothing, so the wrapper also renders the update to the
                            escape-sequence string a terminal would get, to count its cost).
  bare GET    GET /api/v1/pods, /apis/batch/v1/jobs, /api/v1/nodes, unpaged, bytes read and
              dropped, nothing decoded: one after the other, and the three at once (threads).
  kubectl     `kubectl get pods -A -o name` (discovery cache warmed first), if kubectl exists.

The simulator serves lists from cached bytes, ~100x faster than a kube-apiserver reading
etcd: against it the floor is tiny and every ratio to it is dominated by decoding.
`--server-cost-us 100` makes it spend 100 us per listed object (slept, not burnt), the pace
of the issue's calibration (a real apiserver: 30,000 pods in ~3 s of server time).
"""

from __future__ import annotations

import time

T_PROCESS = time.perf_counter()  # before the heavy imports: "from process start"

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import ROOT, add_size_args, kubectl, start_sim, warm_kubectl  # noqa: E402

LISTS = ("/api/v1/pods", "/apis/batch/v1/jobs", "/api/v1/nodes")


def measure_ktui(kubeconfig: str, expected_jobs: int, expected_nodes: int,
                 timeout: float) -> dict[str, Any]:
    import asyncio

    from textual.app import App

    from ktui.cluster.kube.backend import KubeBackend
    from ktui.ui.app import KtuiApp
    from ktui.ui.widgets.vtable import VirtualTable

    t_imported = time.perf_counter()
    marks: dict[str, float] = {}
    frames = {"n": 0, "bytes": 0}
    t0 = time.perf_counter()
    backend = KubeBackend.connect(kubeconfig, all_namespaces=True)
    app = KtuiApp(backend, keymap_file=Path("/nonexistent/keys.yaml"))
    real_display = App._display

    def full_screen() -> bool:
        screen = app.screen
        try:
            table = screen.query_one("#jobs-table", VirtualTable)
        except Exception:
            return False
        return (app.state.trials.total == expected_jobs and table.row_count > 0
                and not getattr(screen, "_rebuilding", False))

    def display(screen: Any, renderable: Any) -> None:
        if renderable is not None:
            frames["n"] += 1
            frames["bytes"] += len(renderable.render_segments(app.console).encode())
            if "first_frame" not in marks:
                marks["first_frame"] = time.perf_counter()  # any frame at all
            if "full_frame" not in marks and full_screen():
                marks["full_frame"] = time.perf_counter()
                marks["frames_until_full"] = frames["n"]
        real_display(app, screen, renderable)

    app._display = display  # type: ignore[method-assign]

    async def run() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            store = backend.store
            deadline = time.perf_counter() + timeout
            while "full_frame" not in marks:
                now = time.perf_counter()
                if "synced" not in marks and all(store.is_synced(k) for k in ("nodes", "jobs", "pods")):
                    marks["synced"] = now
                if "trials" not in marks and app.state.trials.total == expected_jobs:
                    marks["trials"] = now
                if now > deadline:
                    raise SystemExit(f"no full screen in {timeout}s: trials "
                                     f"{app.state.trials.total}/{expected_jobs}, nodes "
                                     f"{app.state.nodes.total}/{expected_nodes}")
                await pilot.pause(0.005)
            marks.setdefault("synced", marks["full_frame"])
            marks.setdefault("trials", marks["full_frame"])
            counts = store.counts()
            marks["nodes_shown"] = app.state.nodes.total
            marks["counts"] = counts  # type: ignore[assignment]

    asyncio.run(run())
    res: dict[str, Any] = {"imports": t_imported - T_PROCESS, "frames": frames["n"],
                           "frame_bytes": frames["bytes"]}
    for k in ("synced", "trials", "first_frame", "full_frame"):
        res[k] = marks[k] - t0
    res["full_from_process"] = marks["full_frame"] - T_PROCESS
    res["counts"] = marks["counts"]
    res["nodes_shown"] = marks["nodes_shown"]
    return res


def bare_gets(kubeconfig: str) -> dict[str, Any]:
    from ktui.cluster.kube.config import load
    from ktui.cluster.kube.transport import Transport

    def fetch(t: Transport, path: str, out: dict[str, Any]) -> None:
        t0 = time.perf_counter()
        resp = t.open("GET", path, timeout=(10.0, 3600.0))
        n = 0
        while chunk := resp.read(1 << 20):
            n += len(chunk)
        resp.release_conn()
        out[path] = {"seconds": time.perf_counter() - t0, "bytes": n}

    transports = [Transport(load(kubeconfig).api_client) for _ in LISTS]
    for t in transports:
        t.get("/version")
    seq: dict[str, Any] = {}
    t0 = time.perf_counter()
    for path in LISTS:
        fetch(transports[0], path, seq)
    seq_total = time.perf_counter() - t0
    par: dict[str, Any] = {}
    threads = [threading.Thread(target=fetch, args=(t, p, par)) for t, p in zip(transports, LISTS, strict=True)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    par_total = time.perf_counter() - t0
    for t in transports:
        t.close()
    return {"sequential": seq_total, "parallel": par_total, "each": seq,
            "bytes": sum(v["bytes"] for v in seq.values())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_size_args(ap)
    ap.add_argument("--timeout", type=float, default=900.0, help="give up on ktui after this")
    ap.add_argument("--server-cost-us", type=float, default=0.0,
                    help="make the simulator spend this long per listed object, like a real "
                         "kube-apiserver (~100 us: 30,000 pods in ~3 s); default 0: instant")
    ap.add_argument("--json", action="store_true", help="print the raw figures as JSON too")
    ap.add_argument("--measure", help=argparse.SUPPRESS)  # child: kubeconfig
    ap.add_argument("--expect", help=argparse.SUPPRESS)   # child: jobs,nodes
    a = ap.parse_args()
    if a.measure:
        jobs, nodes = (int(x) for x in a.expect.split(","))
        print(json.dumps(measure_ktui(a.measure, jobs, nodes, a.timeout)))
        return 0

    sim = start_sim(a, ["--list-cost-us", str(a.server_cost_us)] if a.server_cost_us else None)
    try:
        out = subprocess.run([sys.executable, __file__, "--measure", sim.kubeconfig, "--expect",
                              f"{sim.n_jobs},{sim.n_nodes}", "--timeout", str(a.timeout)],
                             capture_output=True, text=True, cwd=ROOT, check=False)
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            raise SystemExit(f"ktui measurement failed ({out.returncode})")
        k = json.loads(out.stdout.strip().splitlines()[-1])
        g = bare_gets(sim.kubeconfig)
        kc = None
        if not a.no_kubectl:
            warm_kubectl(sim.kubeconfig)
            kc = kubectl(sim.kubeconfig, "get", "pods", "-A", "-o", "name")
        server = (f"server spends {a.server_cost_us:g} us per listed object" if a.server_cost_us
                  else "instant server")
        print(f"\nfirst screen, {sim.n_pods:,} pods / {sim.n_jobs:,} jobs / {sim.n_nodes:,} nodes, 120x40, {server}:")
        print(f"  ktui: store synced {k['synced']:.2f}s, all {sim.n_jobs:,} jobs in the view "
              f"{k['trials']:.2f}s, first frame {k['first_frame']:.2f}s, "
              f"FIRST FULL SCREEN {k['full_frame']:.2f}s after connect "
              f"({k['full_from_process']:.2f}s from process start, imports {k['imports']:.2f}s; "
              f"{k['frames']} frames, {k['frame_bytes']:,} B)")
        print(f"  bare GET pods+jobs+nodes, nothing decoded: {g['sequential']:.2f}s one after "
              f"another, {g['parallel']:.2f}s at once ({g['bytes'] / 1e6:,.1f} MB)")
        print(f"  ktui full screen / parallel bare GET: {k['full_frame'] / g['parallel']:.1f}x")
        if a.no_kubectl:
            print("  kubectl: skipped (--no-kubectl)")
        elif kc is None:
            print("  kubectl: not found, skipped")
        elif "error" in kc:
            print(f"  kubectl get pods -A -o name: failed after {kc['seconds']:.2f}s: {kc['error']}")
        else:
            print(f"  kubectl get pods -A -o name: {kc['seconds']:.2f}s ({kc['lines']:,} lines); "
                  f"ktui full screen / kubectl: {k['full_frame'] / kc['seconds']:.2f}x")
        if a.json:
            print(json.dumps({"pods": sim.n_pods, "jobs": sim.n_jobs, "nodes": sim.n_nodes,
                              "ktui": k, "bare_get": g, "kubectl": kc}, indent=2))
    finally:
        sim.__exit__()
    return 0


if __name__ == "__main__":
    sys.exit(main())
