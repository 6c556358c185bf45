"""Bytes ktui writes to a real terminal per second, idle and under churn (120x40 pty).

    .venv/bin/python benchmarks/bench_terminal_bytes.py --pods 1500 [--seconds 10] [--rate 100]

`ktui -A --kubeconfig K` (the interactive UI, the same app `ktui demo` runs) is started in
a pseudo-terminal (os.openpty, window size 120x40 set with TIOCSWINSZ) against a `ktui sim`
subprocess, once with TERM=xterm-256color and once with TERM=xterm-256color +
COLORTERM=truecolor. Every byte read from the pty master is counted (that is everything
the app writes to the terminal: frames, cursor moves, mode switches).

Startup is done when the title line shows all the server's jobs ("N jobs"), read from a
model of the terminal fed with everything written (ktui writes only the cells that change,
so the text does not come whole in the stream); it has settled at the first 2 s window after that with under 1 KB written (at most
30 s: after a big load the visible trials' metrics fill in from their logs). Then, per run:
  idle   --seconds of nothing but the app's own 0.25 s tick (ages in the TIME column tick)
  churn  --seconds while this script creates Jobs in the sweeps already there and deletes
         them again once 20 are alive, steering its pace so that the server sends --rate
         watch events per second for pods and jobs (counted on a watch of its own: each write
         is several events, Job ADDED, pod ADDED/scheduled/Running, DELETED ...). The counted
         event rate and the write rate are printed.

`--rows` prints the bytes per screen row (which rows the traffic goes to); `--dump P`
keeps each window's raw bytes for a closer look.
"""

from __future__ import annotations

import argparse
import codecs
import fcntl
import json
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import contextlib

from _bench import ROOT, start_sim  # noqa: E402

sys.path.insert(0, str(ROOT))
from tests.ui.terminal_model import Terminal  # noqa: E402  (a VT model written apart from ktui)

COLS, ROWS = 120, 40


class PtyApp:
    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     cwd=ROOT, start_new_session=True)
        os.close(slave)
        self.total = 0
        self.screen = Terminal(COLS, ROWS)  # what the terminal shows, to spot the title text
        self._utf8 = codecs.getincrementaldecoder("utf-8")("replace")
        self.record: list[bytes] | None = None  # everything read, while recording
        self.lock = threading.Lock()
        self.stop = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while not self.stop:
            r, _, _ = select.select([self.master], [], [], 0.1)
            if not r:
                continue
            try:
                data = os.read(self.master, 1 << 16)
            except OSError:
                return
            if not data:
                return
            with self.lock:
                self.total += len(data)
                self.screen.write(self._utf8.decode(data))
                if self.record is not None:
                    self.record.append(data)

    def seen(self, text: str) -> bool:
        with self.lock:
            cells = self.screen.cells
            return any(text in "".join(cells.get((r, c), (" ",))[0] for c in range(COLS))
                       for r in range(ROWS))

    def count(self) -> int:
        with self.lock:
            return self.total

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.write(self.master, b"q")
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
        self.stop = True
        self.thread.join(2)
        os.close(self.master)


class EventCounter:
    """Counts the watch events the server sends for pods and jobs in every namespace: the
    churn's real event rate, whatever number of writes caused it."""

    def __init__(self, kubeconfig: str) -> None:
        from ktui.cluster.kube.config import load
        from ktui.cluster.kube.transport import Transport

        self.count = 0
        self.lock = threading.Lock()
        self.transports = []
        self.threads = []
        for path in ("/api/v1/pods", "/apis/batch/v1/jobs"):
            t = Transport(load(kubeconfig).api_client)
            rv = json.loads(t.get(path, query=[("limit", "1")]))["metadata"]["resourceVersion"]
            resp = t.open("GET", path, query=[("watch", "1"), ("resourceVersion", rv),
                                              ("timeoutSeconds", "3600")], timeout=(5.0, None))
            th = threading.Thread(target=self._read, args=(resp,), daemon=True)
            th.start()
            self.transports.append((t, resp))
            self.threads.append(th)

    def _read(self, resp: Any) -> None:
        from ktui.cluster.kube.transport import PartialLine, Transport, Unreachable

        with contextlib.suppress(Unreachable, PartialLine):
            for lines in Transport.iter_batches(resp):
                with self.lock:
                    self.count += sum(1 for ln in lines if ln)

    def read(self) -> int:
        with self.lock:
            return self.count

    def close(self) -> None:
        for t, resp in self.transports:
            with contextlib.suppress(Exception):
                resp.close()
            t.close()


def churn(kubeconfig: str, events_per_s: float, stop: threading.Event, out: dict[str, Any],
          counter: EventCounter) -> None:
    """Trials come and go in the sweeps already there, as a busy cluster's do: Jobs are
    created in existing sweeps (indexes after the sweep's own, so in the default order they
    land at their sweep's end) and deleted again once 20 are alive. Each create or delete
    is several watch events (Job, pod ADDED, scheduled, Running, DELETED ...); the write
    pace is steered each second so the counted events match ``events_per_s``."""
    from ktui.cluster.kube.config import load
    from ktui.cluster.kube.transport import ApiError, Transport

    t = Transport(load(kubeconfig).api_client)
    first = json.loads(t.get("/apis/batch/v1/jobs", query=[("limit", "500")]))["items"]
    sweeps = sorted({(j["metadata"]["namespace"], j["metadata"].get("labels", {}).get("ktui.dev/sweep"))
                     for j in first} - {(None, None)}, key=str)
    sweeps = [s for s in sweeps if s[1]] or [("default", "bench-churn")]
    alive: deque[tuple[str, str]] = deque()
    i = ops = errors = 0
    writes_per_s = events_per_s / 5.0
    t0 = time.perf_counter()
    last_adjust, last_events = t0, counter.read()
    next_at = t0
    while not stop.is_set():
        try:
            if len(alive) >= 20 and ops % 2:
                ns, name = alive.popleft()
                t.request("DELETE", f"/apis/batch/v1/namespaces/{ns}/jobs/{name}",
                          query=[("propagationPolicy", "Background")])
            else:
                ns, sweep = sweeps[i % len(sweeps)]
                name = f"{sweep}-c{i:06d}"
                t.request("POST", f"/apis/batch/v1/namespaces/{ns}/jobs", body={
                    "apiVersion": "batch/v1", "kind": "Job",
                    "metadata": {"name": name, "labels": {"ktui.dev/sweep": sweep,
                                                          "ktui.dev/trial": str(900000 + i)}},
                    "spec": {"backoffLimit": 0, "template": {
                        "metadata": {"annotations": {"sim.ktui.dev/duration": "5"}},
                        "spec": {"restartPolicy": "Never", "containers": [{
                            "name": "trial", "image": "python:3.11-slim",
                            "command": ["python", "train.py"],
                            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}}})
                alive.append((ns, name))
                i += 1
            ops += 1
        except ApiError:
            errors += 1
        now = time.perf_counter()
        if now - last_adjust >= 1.0:
            seen = counter.read()
            rate = (seen - last_events) / (now - last_adjust)
            if rate > 0:
                writes_per_s = min(max(writes_per_s * events_per_s / rate, 1.0), 500.0)
            last_adjust, last_events = now, seen
        next_at += 1.0 / writes_per_s
        delay = next_at - time.perf_counter()
        if delay > 0:
            stop.wait(delay)
        else:
            next_at = time.perf_counter()
    out.update(ops=ops, errors=errors, seconds=time.perf_counter() - t0)
    for ns, name in alive:
        with contextlib.suppress(ApiError):
            t.request("DELETE", f"/apis/batch/v1/namespaces/{ns}/jobs/{name}")
    t.close()


_CUP = re.compile(rb"\x1b\[(\d+);(\d+)H")


def rows_written(data: bytes) -> dict[int, int]:
    """Bytes written per screen row (1-based), attributing each run of output to the row
    the last cursor move (CSI row;col H) went to: where the traffic goes."""
    out: dict[int, int] = {}
    row = 0
    pos = 0
    for m in _CUP.finditer(data):
        out[row] = out.get(row, 0) + (m.start() - pos)
        row = int(m.group(1))
        pos = m.start()
    out[row] = out.get(row, 0) + (len(data) - pos)
    return dict(sorted(out.items()))


def measure(sim: Any, env_extra: dict[str, str], seconds: float, rate: float,
            settle_timeout: float, dump: str | None = None) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLORTERM", "NO_COLOR", "TERM")}
    env.update({"TERM": "xterm-256color", "COLUMNS": str(COLS), "LINES": str(ROWS),
                "XDG_CONFIG_HOME": str(sim.tmp / "xdg"), **env_extra})
    app = PtyApp([sys.executable, "-m", "ktui", "-A", "--kubeconfig", sim.kubeconfig], env)
    try:
        t0 = time.perf_counter()
        want = f" {sim.n_jobs} jobs"
        while not app.seen(want):
            if app.proc.poll() is not None:
                raise SystemExit(f"ktui exited with {app.proc.returncode} before its first screen")
            if time.perf_counter() - t0 > settle_timeout:
                raise SystemExit(f"no '{want}' on the terminal in {settle_timeout}s")
            time.sleep(0.05)
        startup_bytes = app.count()
        first = time.perf_counter() - t0
        # Settled: a 2 s window with under 1 KB written (after a big load, the visible
        # trials' metrics are read from their logs and fill in), at most 30 s.
        t_settle = time.perf_counter()
        while True:
            before = app.count()
            time.sleep(2.0)
            if app.count() - before < 1024 or time.perf_counter() - t_settle > 30:
                break
        settle = time.perf_counter() - t_settle
        app.record = []
        b0 = app.count()
        time.sleep(seconds)
        idle = app.count() - b0
        idle_bytes, app.record = b"".join(app.record), None
        stop = threading.Event()
        stats: dict[str, Any] = {}
        counter = EventCounter(sim.kubeconfig)
        th = threading.Thread(target=churn, args=(sim.kubeconfig, rate, stop, stats, counter), daemon=True)
        th.start()
        time.sleep(3.0)  # let the churn reach its pace
        app.record = []
        b1 = app.count()
        e1 = counter.read()
        time.sleep(seconds)
        busy = app.count() - b1
        events = counter.read() - e1
        churn_bytes, app.record = b"".join(app.record), None
        stop.set()
        th.join(30)
        counter.close()
        if dump:
            Path(f"{dump}.idle").write_bytes(idle_bytes)
            Path(f"{dump}.churn").write_bytes(churn_bytes)
        return {"first_screen": first, "startup_bytes": startup_bytes, "settle": settle,
                "idle_rows": rows_written(idle_bytes), "churn_rows": rows_written(churn_bytes),
                "idle_bps": idle / seconds, "churn_bps": busy / seconds,
                "churn_writes_per_s": stats.get("ops", 0) / max(stats.get("seconds", 1), 1e-9),
                "churn_events_per_s": events / seconds,
                "churn_errors": stats.get("errors", 0)}
    finally:
        app.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pods", type=int, default=1500)
    ap.add_argument("--nodes", type=int, default=None, help="default: pods/30, 3..5000")
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each window")
    ap.add_argument("--rate", type=float, default=100.0, help="watch events per second in churn")
    ap.add_argument("--timeout", type=float, default=900.0, help="startup limit")
    ap.add_argument("--no-kubectl", action="store_true", help=argparse.SUPPRESS)  # for run_all
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--dump", metavar="PREFIX", help="save each window's raw terminal bytes to PREFIX.<term>.idle/.churn")
    ap.add_argument("--rows", action="store_true", help="print the bytes written per screen row")
    a = ap.parse_args()
    sim = start_sim(a)
    results: dict[str, Any] = {}
    try:
        for label, extra in (("xterm-256color", {}),
                             ("xterm-256color+truecolor", {"COLORTERM": "truecolor"})):
            results[label] = measure(sim, extra, a.seconds, a.rate, a.timeout,
                                     f"{a.dump}.{label}" if a.dump else None)
    finally:
        sim.__exit__()
    print(f"\nterminal bytes at {COLS}x{ROWS}, {sim.n_jobs:,} jobs / {sim.n_pods:,} pods / "
          f"{sim.n_nodes:,} nodes, {a.seconds:g} s windows:")
    for label, r in results.items():
        print(f"  {label:<25} first screen {r['first_screen']:5.1f}s ({r['startup_bytes']:,} B, settled "
              f"{r['settle']:.0f}s later) | "
              f"idle {r['idle_bps']:>9,.0f} B/s | churn {r['churn_bps']:>9,.0f} B/s "
              f"at {r['churn_events_per_s']:.0f} watch events/s ({r['churn_writes_per_s']:.0f} API writes/s, "
              f"{r['churn_errors']} errors)")
        if a.rows:
            for kind in ("idle", "churn"):
                rows = r[f"{kind}_rows"]
                print(f"    {kind} B/s by row: " + " ".join(f"{k}:{v / a.seconds:.0f}" for k, v in rows.items()))
    if a.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
