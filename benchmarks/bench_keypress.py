"""Keypress-to-frame latency in the jobs table with N rows (headless Textual, 120x40).

    .venv/bin/python benchmarks/bench_keypress.py --pods 1500 [--repeat 20]

The simulator is a `ktui sim` subprocess; KtuiApp runs in this process against it with
KubeBackend(all_namespaces=True), headless (app.run_test(size=(120, 40))), and waits for its
first full screen before pressing anything.

What is measured, per action: from just before `pilot.press(key)` (the key event is posted
to the app) to the end of the first compositor frame that shows the action's result.
Frames are caught by wrapping App._display, which Textual calls with each compositor update
(widgets' render_line has run; headless nothing is written, so the wrapper renders the
update to its escape-sequence string and passes it through a ScreenDiff, as ktui's terminal
driver does, and the timestamp is taken after that; the diff's own time per frame is
printed too). At each frame a predicate decides whether the result is on screen:

  down        the cursor is one row lower
  pagedown    the cursor moved down (a page)
  end         the cursor is on the last row                   (reset: home)
  filter      `/` then the text typed one key at a time; measured from the LAST key to the
              frame in which the filter is installed (rebuild worker done, rows filtered);
              `/ open` separately: from `/` to the frame with the filter box focused
  sort        `s`: the frame in which the new order is installed (rebuild worker done),
              reported per sort column it cycles to (`sort phase`, `sort metric`, ...);
              `sort hdr`: the first frame after `s` at all (the header's ▲ moves first)
  enter       the log pane is shown (`enter log`), and the first log line is in the view
              (`enter +log`, includes the log request to the server)   (reset: escape)

`--profile ACTION` (down, pagedown, end, sort, open (`/`), filter, enter) runs pyinstrument on the UI thread
from each of that action's key presses to its frame, and prints the summed profile.

Between samples the state is reset and the app is let idle for a moment; the 0.25 s store
tick keeps running (the cluster is live), so a sample may share its frame with a tick's
repaint, as a user's would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import percentile, start_sim  # noqa: E402

from ktui.ui.screendiff import ScreenDiff  # noqa: E402


class FrameWatch:
    """Wraps App._display: timestamps frames and checks a predicate at each."""

    def __init__(self, app: Any) -> None:
        from textual.app import App

        self.app = app
        self.real = App._display
        self.frames = 0
        self.predicate: Callable[[], bool] | None = None
        self.hit: float | None = None
        self.more: dict[str, Callable[[], bool]] = {}  # extra named predicates
        self.hits: dict[str, float] = {}
        self.diff = ScreenDiff(lambda: (120, 40))
        self.diff("\x1b[?7l\x1b[?25l")  # as the driver starts
        self.diff_seconds: list[float] = []
        app._display = self.display

    def display(self, screen: Any, renderable: Any) -> None:
        if renderable is not None:
            seq = renderable.render_segments(self.app.console)
            t = time.perf_counter()
            self.diff(seq)
            self.diff_seconds.append(time.perf_counter() - t)
            self.frames += 1
            if self.predicate is not None and self.hit is None and self.predicate():
                self.hit = time.perf_counter()
            for name, pred in self.more.items():
                if name not in self.hits and pred():
                    self.hits[name] = time.perf_counter()
        self.real(self.app, screen, renderable)

    def arm(self, predicate: Callable[[], bool], **more: Callable[[], bool]) -> None:
        self.hit = None
        self.predicate = predicate
        self.hits = {}
        self.more = more


async def wait(pilot: Any, cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.perf_counter() + timeout
    while not cond():
        if time.perf_counter() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await pilot.pause(0.002)


PROFILE: dict[str, Any] = {"action": None, "profiler": None}


def profiling(what: str, on: bool) -> None:
    prof = PROFILE["profiler"]
    if prof is None or {"open": "filter box"}.get(PROFILE["action"], PROFILE["action"]) != what:
        return
    if on:
        prof.start()
    else:
        prof.stop()


async def sample(pilot: Any, fw: FrameWatch, keys: list[str], predicate: Callable[[], bool],
                 timeout: float, what: str) -> float:
    """Press keys[:-1] untimed, then time keys[-1] until a frame satisfies predicate."""
    if keys[:-1]:
        await pilot.press(*keys[:-1])
    fw.arm(predicate)
    profiling(what, True)
    t0 = time.perf_counter()
    await pilot.press(keys[-1])
    await wait(pilot, lambda: fw.hit is not None, timeout, what)
    profiling(what, False)
    fw.predicate = None
    assert fw.hit is not None
    return fw.hit - t0


async def run(kubeconfig: str, jobs: int, repeat: int, timeout: float) -> dict[str, list[float]]:
    from ktui.cluster.kube.backend import KubeBackend
    from ktui.ui.app import KtuiApp
    from ktui.ui.widgets.logpane import LogPane
    from ktui.ui.widgets.vtable import VirtualTable

    backend = KubeBackend.connect(kubeconfig, all_namespaces=True)
    app = KtuiApp(backend, keymap_file=Path("/nonexistent/keys.yaml"))
    fw = FrameWatch(app)
    res: dict[str, list[float]] = {}

    def add(name: str, v: float) -> None:
        res.setdefault(name, []).append(v)

    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await wait(pilot, lambda: app.state.trials.total == jobs and not screen.pacer.rebuilding,
                   timeout, "the first full screen")
        table = screen.query_one("#jobs-table", VirtualTable)
        await wait(pilot, lambda: table.row_count > 0, timeout, "rows")
        # The first screen comes when every Job is in; the pods go on arriving for a few
        # seconds at 150,000 (bench_first_screen measures that phase). Keys are timed on
        # the loaded table: during the pods' list a sort is a full rebuild (~0.4-0.8 s).
        t_screen = time.perf_counter()
        await wait(pilot, lambda: not app.backend.store.listing(), timeout, "the pods' list")
        print(f"  (the pods' list ended {time.perf_counter() - t_screen:.1f} s after the first screen)")
        settle = 0.05

        for _ in range(repeat):
            # scrolling
            await pilot.press("home")
            await pilot.pause(settle)
            c = table.cursor_index
            add("down", await sample(pilot, fw, ["down"], lambda c=c: table.cursor_index == c + 1, timeout, "down"))
            c = table.cursor_index
            add("pagedown", await sample(pilot, fw, ["pagedown"], lambda c=c: table.cursor_index > c, timeout, "pagedown"))
            add("end", await sample(pilot, fw, ["end"], lambda: table.cursor_index == table.row_count - 1, timeout, "end"))
            await pilot.press("home")
            await pilot.pause(settle)

            # sort: the header first, then the installed order
            gen = screen.pacer.generation
            fw.arm(lambda: True, installed=lambda gen=gen: screen.pacer.generation > gen and not screen.pacer.rebuilding)
            profiling("sort", True)
            t0 = time.perf_counter()
            await pilot.press("s")
            await wait(pilot, lambda: "installed" in fw.hits, timeout, "sort installed")
            profiling("sort", False)
            add("sort hdr", fw.hit - t0)  # type: ignore[operator]
            add("sort", fw.hits["installed"] - t0)
            add(f"sort {app.state.trial_sort}", fw.hits["installed"] - t0)
            fw.arm(lambda: False)
            await pilot.pause(settle)

            # filter: open the box, type, time the last key
            box = screen.query_one("#job-filter")
            add("/ open", await sample(pilot, fw, ["slash"], lambda: box.has_focus, timeout, "filter box"))  # noqa: B023 (called within this iteration)
            text = "-01"  # matches a share of the trials at any size
            await pilot.press(*text[:-1])
            await wait(pilot, lambda: not screen.pacer.rebuilding, timeout, "filter rebuild")
            add("filter", await sample(pilot, fw, [text[-1]], lambda: app.state.filter_text == text and not screen.pacer.rebuilding, timeout, "filter"))  # noqa: B023
            await pilot.press("enter")  # leave the box, filter kept
            box.value = ""  # type: ignore[attr-defined]
            await wait(pilot, lambda: app.state.filter_text == "" and not screen.pacer.rebuilding, timeout, "unfilter")
            await pilot.pause(settle)

            # enter: the log pane, then its first line
            table.focus()
            await pilot.pause(settle)
            pane = screen.query_one(LogPane)
            fw.arm(lambda: screen.logs_open, line=lambda: pane.view.line_count > 0)  # noqa: B023 (called within this iteration)
            profiling("enter", True)
            t0 = time.perf_counter()
            await pilot.press("enter")
            await wait(pilot, lambda: fw.hit is not None, timeout, "log pane")
            profiling("enter", False)
            add("enter log", fw.hit - t0)  # type: ignore[operator]
            try:
                await wait(pilot, lambda: "line" in fw.hits, min(timeout, 10.0), "log line")
                add("enter +log", fw.hits["line"] - t0)
            except SystemExit:
                pass  # a trial without a log (pending): no line to wait for
            fw.arm(lambda: False)
            await pilot.press("escape")
            await wait(pilot, lambda: not screen.logs_open, timeout, "log closed")
            table.focus()
            await pilot.pause(settle)
    res["diff/frame"] = fw.diff_seconds  # (every frame of the run, not a key's latency)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pods", type=int, default=1500)
    ap.add_argument("--nodes", type=int, default=None, help="default: pods/30, 3..5000")
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=20, help="samples per action (default 20)")
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--no-kubectl", action="store_true", help=argparse.SUPPRESS)  # for run_all
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--profile", choices=["down", "pagedown", "end", "sort", "open", "filter", "enter"],
                    help="profile this action's samples (pyinstrument, UI thread)")
    ap.add_argument("--profile-all", action="store_true", help="with --profile: no frames hidden (Textual's own)")
    a = ap.parse_args()
    if a.profile:
        from pyinstrument import Profiler

        PROFILE["action"], PROFILE["profiler"] = a.profile, Profiler(interval=0.0005, async_mode="disabled")
    sim = start_sim(a)
    try:
        res = asyncio.run(run(sim.kubeconfig, sim.n_jobs, a.repeat, a.timeout))
    finally:
        sim.__exit__()
    print(f"\nkeypress -> frame, jobs table with {sim.n_jobs:,} rows "
          f"({sim.n_pods:,} pods, {sim.n_nodes:,} nodes), 120x40, {a.repeat} samples each:")
    print(f"  {'action':<13} {'p50':>9} {'p95':>9} {'max':>9}")
    for name, vals in res.items():
        print(f"  {name:<13} {percentile(vals, 50) * 1000:7.1f}ms {percentile(vals, 95) * 1000:7.1f}ms "
              f"{max(vals) * 1000:7.1f}ms")
    if a.json:
        print(json.dumps({"rows": sim.n_jobs, "samples": res}))
    if PROFILE["profiler"] is not None:
        print(PROFILE["profiler"].output_text(unicode=False, color=False, show_all=a.profile_all))
    return 0


if __name__ == "__main__":
    sys.exit(main())
