"""Watch events absorbed per second into the store, with the UI running, and the frame rate.

    .venv/bin/python benchmarks/bench_watch_ui.py --pods 1500 [--events N]

The simulator (`ktui sim`, a subprocess) is asked for a storm: `POST /sim/storm` makes N
MODIFIED pod events as fast as its watchers take them, cycling over the existing pods. Each
gets a new resourceVersion and its restartCount flips between 0 and 1, so every event is a
real change to what ktui shows (a trial's retries): decoded, applied, joined, repainted if
on screen. (`--touch rv` moves only the resourceVersion, which ktui's store recognises as
no change.) ktui runs in this process, twice against the same server:

  store only   KubeBackend alone: the reflector decodes the watch stream into the store
  with the UI  KtuiApp headless at 120x40 (app.run_test) on a KubeBackend, after its first
               full screen: the same storm while the app ticks, joins and paints

Absorbed per second = N / (time from the storm request to the pods reflector having
applied all N events). Frames are counted by wrapping App._display (each compositor update
rendered to its escape sequences, as a terminal driver would); the UI redraws on a 0.25 s
tick, so however fast events arrive it should paint at most ~4 frames a second from them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import add_size_args, start_sim  # noqa: E402

TOUCH = "restarts"


def storm(kubeconfig: str, count: int) -> dict[str, Any]:
    from ktui.cluster.kube.config import load
    from ktui.cluster.kube.transport import Transport

    t = Transport(load(kubeconfig).api_client)
    try:
        return json.loads(t.request("POST", "/sim/storm", query=[("resource", "pods"), ("count", str(count)),
                                                                   ("touch", TOUCH)],
                                    timeout=(5.0, 3600.0)))
    finally:
        t.close()


def wait_absorbed(backend: Any, before: int, count: int, timeout: float) -> float:
    refl = backend.reflectors["pods"]
    deadline = time.perf_counter() + timeout
    while refl.stats.events < before + count:
        if time.perf_counter() > deadline:
            st = refl.stats
            raise SystemExit(f"only {st.events - before:,} of {count:,} events absorbed in {timeout}s "
                             f"(reflector: {st.expired} relists after an expired watch, {st.errors} errors, "
                             f"last: {st.last_error})")
        time.sleep(0.005)
    return time.perf_counter()


def store_only(kubeconfig: str, jobs: int, count: int, timeout: float) -> dict[str, Any]:
    from ktui.cluster.kube.backend import KubeBackend

    b = KubeBackend.connect(kubeconfig, all_namespaces=True)
    b.start()
    try:
        if not b.store.wait_synced(("pods", "jobs", "nodes"), timeout=timeout):
            raise SystemExit("the store did not sync")
        time.sleep(0.5)
        before = b.reflectors["pods"].stats.events
        t0 = time.perf_counter()
        info = storm(kubeconfig, count)
        t1 = wait_absorbed(b, before, count, timeout)
        return {"events": count, "seconds": t1 - t0, "server_seconds": info["seconds"]}
    finally:
        b.stop()


async def with_ui(kubeconfig: str, jobs: int, count: int, timeout: float) -> dict[str, Any]:
    from textual.app import App

    from ktui.cluster.kube.backend import KubeBackend
    from ktui.ui.app import KtuiApp

    backend = KubeBackend.connect(kubeconfig, all_namespaces=True)
    app = KtuiApp(backend, keymap_file=Path("/nonexistent/keys.yaml"))
    frames: list[float] = []
    real = App._display

    def display(screen: Any, renderable: Any) -> None:
        if renderable is not None:
            renderable.render_segments(app.console)
            frames.append(time.perf_counter())
        real(app, screen, renderable)

    app._display = display  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        deadline = time.perf_counter() + timeout
        while not (app.state.trials.total == jobs and not screen.pacer.rebuilding):
            if time.perf_counter() > deadline:
                raise SystemExit("no first full screen")
            await pilot.pause(0.01)
        await pilot.pause(1.0)
        before = backend.reflectors["pods"].stats.events
        n0 = len(frames)
        t0 = time.perf_counter()
        info = await asyncio.to_thread(storm, kubeconfig, count)
        t1 = await asyncio.to_thread(wait_absorbed, backend, before, count, timeout)
        during = [f for f in frames[n0:] if f <= t1]
        await pilot.pause(1.0)  # the last changes reach the screen
        shown_after = app.state.trials.total
        # The busiest one-second window of frames while events arrived.
        peak = max((sum(1 for g in during if f <= g < f + 1.0) for f in during), default=0)
    return {"events": count, "seconds": t1 - t0, "server_seconds": info["seconds"],
            "frames": len(during), "frames_per_s": len(during) / max(t1 - t0, 1e-9),
            "peak_frames_1s": peak, "jobs_shown_after": shown_after}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_size_args(ap)
    ap.add_argument("--events", type=int, default=None, help="storm size (default: the pod count, at least 20,000)")
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--touch", choices=["restarts", "rv"], default="restarts",
                    help="what each event changes (default: the pod's restartCount too)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    global TOUCH
    TOUCH = a.touch
    count = a.events or max(a.pods, 20_000)
    sim = start_sim(a)
    try:
        alone = store_only(sim.kubeconfig, sim.n_jobs, count, a.timeout)
        ui = asyncio.run(with_ui(sim.kubeconfig, sim.n_jobs, count, a.timeout))
    finally:
        sim.__exit__()
    print(f"\nwatch storm of {count:,} MODIFIED pod events, {sim.n_pods:,} pods / {sim.n_jobs:,} jobs / "
          f"{sim.n_nodes:,} nodes (the simulator sent them in {alone['server_seconds']:.2f}s / "
          f"{ui['server_seconds']:.2f}s):")
    print(f"  store only : {alone['seconds']:6.2f}s = {count / alone['seconds']:>9,.0f} events/s absorbed")
    print(f"  with the UI: {ui['seconds']:6.2f}s = {count / ui['seconds']:>9,.0f} events/s absorbed; "
          f"{ui['frames']} frames = {ui['frames_per_s']:.1f} frames/s (busiest second {ui['peak_frames_1s']}); "
          f"{ui['jobs_shown_after']:,} jobs shown after")
    if a.json:
        print(json.dumps({"store_only": alone, "with_ui": ui}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
