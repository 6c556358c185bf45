"""Bytes ktui writes to a real terminal per second, idle and under churn (120x40 pty).

    .venv/bin/python benchmarks/bench_terminal_bytes.py --pods 1500 [--seconds 10] [--rate 100]

`ktui -A --kubeconfig K` (the interactive UI, the same app `ktui demo` runs) is started in
a pseudo-terminal (os.openpty, window size 120x40 set with TIOCSWINSZ) against a `ktui sim`
subprocess, once with TERM=xterm-256color and once with TERM=xterm-256color +
COLORTERM=truecolor. Every byte read from the pty master is counted (that is everything
the app writes to the terminal: frames, cursor moves, mode switches).

Startup is settled when the title line showing all the server's jobs ("N jobs") has been
written and then 2 s have passed. Then, per run:
  idle   --seconds of nothing but the app's own 0.25 s tick (ages in the TIME column tick)
  churn  --seconds while this script creates and deletes Jobs in namespace `default` through
         the API (one POST or DELETE each 1/--rate s, alternating once 20 are alive): each
         write is several watch events (Job ADDED, pod ADDED/scheduled/running, DELETED...)
         plus the screen work they cause. The achieved API write rate is printed.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
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

COLS, ROWS = 120, 40


class PtyApp:
    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     cwd=ROOT, start_new_session=True)
        os.close(slave)
        self.total = 0
        self.tail = deque(maxlen=64)  # recent chunks, to spot the title text
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
                self.tail.append(data)

    def seen(self, text: bytes) -> bool:
        with self.lock:
            return text in b"".join(self.tail)

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


def churn(kubeconfig: str, rate: float, stop: threading.Event, out: dict[str, Any]) -> None:
    from ktui.cluster.kube.config import load
    from ktui.cluster.kube.transport import ApiError, Transport

    t = Transport(load(kubeconfig).api_client)
    path = "/apis/batch/v1/namespaces/default/jobs"
    alive: deque[str] = deque()
    i = ops = errors = 0
    t0 = time.perf_counter()
    while not stop.is_set():
        try:
            if len(alive) >= 20 and ops % 2:
                name = alive.popleft()
                t.request("DELETE", f"{path}/{name}", query=[("propagationPolicy", "Background")])
            else:
                name = f"bench-churn-{i:06d}"
                i += 1
                t.request("POST", path, body={
                    "apiVersion": "batch/v1", "kind": "Job",
                    "metadata": {"name": name, "labels": {"ktui.dev/sweep": "bench-churn"}},
                    "spec": {"backoffLimit": 0, "template": {
                        "metadata": {"annotations": {"sim.ktui.dev/duration": "5"}},
                        "spec": {"restartPolicy": "Never", "containers": [{
                            "name": "trial", "image": "python:3.11-slim",
                            "command": ["python", "train.py"],
                            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}}})
                alive.append(name)
            ops += 1
        except ApiError:
            errors += 1
        next_at = t0 + ops / rate
        delay = next_at - time.perf_counter()
        if delay > 0:
            stop.wait(delay)
    out.update(ops=ops, errors=errors, seconds=time.perf_counter() - t0)
    for name in alive:
        with contextlib.suppress(ApiError):
            t.request("DELETE", f"{path}/{name}")
    t.close()


def measure(sim: Any, env_extra: dict[str, str], seconds: float, rate: float,
            settle_timeout: float) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLORTERM", "NO_COLOR", "TERM")}
    env.update({"TERM": "xterm-256color", "COLUMNS": str(COLS), "LINES": str(ROWS),
                "XDG_CONFIG_HOME": str(sim.tmp / "xdg"), **env_extra})
    app = PtyApp([sys.executable, "-m", "ktui", "-A", "--kubeconfig", sim.kubeconfig], env)
    try:
        t0 = time.perf_counter()
        want = f" {sim.n_jobs} jobs".encode()
        while not app.seen(want):
            if app.proc.poll() is not None:
                raise SystemExit(f"ktui exited with {app.proc.returncode} before its first screen")
            if time.perf_counter() - t0 > settle_timeout:
                raise SystemExit(f"no '{want.decode()}' on the terminal in {settle_timeout}s")
            time.sleep(0.05)
        startup_bytes = app.count()
        first = time.perf_counter() - t0
        time.sleep(2.0)
        b0 = app.count()
        time.sleep(seconds)
        idle = app.count() - b0
        stop = threading.Event()
        stats: dict[str, Any] = {}
        th = threading.Thread(target=churn, args=(sim.kubeconfig, rate, stop, stats), daemon=True)
        th.start()
        time.sleep(1.0)  # let the churn reach its pace
        b1 = app.count()
        time.sleep(seconds)
        busy = app.count() - b1
        stop.set()
        th.join(30)
        return {"first_screen": first, "startup_bytes": startup_bytes,
                "idle_bps": idle / seconds, "churn_bps": busy / seconds,
                "churn_writes_per_s": stats.get("ops", 0) / max(stats.get("seconds", 1), 1e-9),
                "churn_errors": stats.get("errors", 0)}
    finally:
        app.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pods", type=int, default=1500)
    ap.add_argument("--nodes", type=int, default=None, help="default: pods/30, 3..5000")
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each window")
    ap.add_argument("--rate", type=float, default=100.0, help="API writes per second in churn")
    ap.add_argument("--timeout", type=float, default=900.0, help="startup limit")
    ap.add_argument("--no-kubectl", action="store_true", help=argparse.SUPPRESS)  # for run_all
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    sim = start_sim(a)
    results: dict[str, Any] = {}
    try:
        for label, extra in (("xterm-256color", {}),
                             ("xterm-256color+truecolor", {"COLORTERM": "truecolor"})):
            results[label] = measure(sim, extra, a.seconds, a.rate, a.timeout)
    finally:
        sim.__exit__()
    print(f"\nterminal bytes at {COLS}x{ROWS}, {sim.n_jobs:,} jobs / {sim.n_pods:,} pods / "
          f"{sim.n_nodes:,} nodes, {a.seconds:g} s windows:")
    for label, r in results.items():
        print(f"  {label:<25} first screen {r['first_screen']:5.1f}s ({r['startup_bytes']:,} B) | "
              f"idle {r['idle_bps']:>9,.0f} B/s | churn {r['churn_bps']:>9,.0f} B/s "
              f"at {r['churn_writes_per_s']:.0f} API writes/s ({r['churn_errors']} errors)")
    if a.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
