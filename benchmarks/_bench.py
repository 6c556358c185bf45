"""Shared helpers of the benchmark scripts: a `ktui sim` subprocess, kubectl, statistics.

Not a benchmark itself. Every script keeps the simulator in a child process (`ktui sim`),
so the server's CPU is not counted as ktui's, and measures against it on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

_SERVING = re.compile(r"serving (\S+) \((\d+) nodes, (\d+) pods, (\d+) jobs; started in ([\d.]+)s")


def default_nodes(pods: int) -> int:
    return min(5000, max(3, pods // 30))


def add_size_args(ap: argparse.ArgumentParser, pods: int = 1500) -> None:
    ap.add_argument("--pods", type=int, default=pods, help=f"pre-populated pods (default {pods:,})")
    ap.add_argument("--nodes", type=int, default=None, help="default: pods/30, 3..5000")
    ap.add_argument("--speed", type=float, default=1.0, help="the simulator's --speed (default 1)")
    ap.add_argument("--no-kubectl", action="store_true", help="skip the kubectl comparison")


@dataclass
class SimProc:
    """`ktui sim --pods N --nodes M` in a subprocess; its kubeconfig in a temp dir."""

    pods: int
    nodes: int
    speed: float = 1.0
    extra: list[str] = field(default_factory=list)
    proc: subprocess.Popen[str] | None = None
    url: str = ""
    n_nodes: int = 0
    n_pods: int = 0
    n_jobs: int = 0
    startup: float = 0.0
    tmp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ktui-bench-")))

    @property
    def kubeconfig(self) -> str:
        return str(self.tmp / "kubeconfig")

    def __enter__(self) -> SimProc:
        cmd = [sys.executable, "-m", "ktui", "sim", "--pods", str(self.pods), "--nodes",
               str(self.nodes), "--speed", str(self.speed), "--kubeconfig-out", self.kubeconfig,
               *self.extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True, cwd=ROOT)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        m = _SERVING.search(line)
        if m is None:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            self.__exit__()
            raise SystemExit(f"ktui sim did not start: {line!r}\n{err}")
        self.url = m.group(1)
        self.n_nodes, self.n_pods, self.n_jobs = (int(m.group(i)) for i in (2, 3, 4))
        self.startup = float(m.group(5))
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def describe(self) -> str:
        return (f"ktui sim: {self.n_pods:,} pods, {self.n_jobs:,} jobs, {self.n_nodes:,} nodes "
                f"at {self.url} (up in {self.startup:.1f}s, speed x{self.speed:g})")


def start_sim(a: argparse.Namespace, extra: list[str] | None = None) -> SimProc:
    nodes = a.nodes or default_nodes(a.pods)
    print(f"starting ktui sim with {a.pods:,} pods on {nodes:,} nodes ...", flush=True)
    sim = SimProc(a.pods, nodes, a.speed, extra or []).__enter__()
    print(sim.describe(), flush=True)
    return sim


def kubectl_env(kubeconfig: str) -> dict[str, str]:
    # HOME next to the kubeconfig: a fresh discovery cache, warmed once before timing.
    return {**os.environ, "KUBECONFIG": kubeconfig, "HOME": str(Path(kubeconfig).parent)}


def kubectl(kubeconfig: str, *args: str, stdin: bytes | None = None,
            timeout: float = 3600) -> dict[str, Any] | None:
    """Run kubectl once; None when kubectl is not installed."""
    exe = shutil.which("kubectl")
    if exe is None:
        return None
    env = kubectl_env(kubeconfig)
    t0 = time.perf_counter()
    out = subprocess.run([exe, *args], input=stdin, capture_output=True, env=env, check=False,
                         timeout=timeout)
    seconds = time.perf_counter() - t0
    res: dict[str, Any] = {"seconds": seconds, "lines": out.stdout.count(b"\n")}
    if out.returncode != 0:
        res["error"] = out.stderr.decode(errors="replace").strip()[:300]
    return res


def warm_kubectl(kubeconfig: str) -> None:
    if shutil.which("kubectl"):
        subprocess.run(["kubectl", "api-resources"], capture_output=True,
                       env=kubectl_env(kubeconfig), check=False, timeout=120)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"
