"""This machine's inventory and use (psutil), and process identity (/proc, for pid reuse).

The inventory honours what this process may use, not just what the hardware has: the CPU
affinity mask and a cgroup's cpu quota and memory limit (ktui itself may run in a container).
"""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass

import psutil


def _cgroup_value(v2: str, v1: str) -> str | None:
    for path in (f"/sys/fs/cgroup/{v2}", f"/sys/fs/cgroup/{v1}"):
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError:
            continue
    return None


def cpu_count() -> int:
    try:
        n = len(psutil.Process().cpu_affinity() or ()) or psutil.cpu_count() or 1
    except (AttributeError, psutil.Error):
        n = psutil.cpu_count() or 1
    quota = _cgroup_value("cpu.max", "cpu/cpu.cfs_quota_us")
    if quota:
        parts = quota.split()
        period_text = parts[1] if len(parts) > 1 else _cgroup_value("", "cpu/cpu.cfs_period_us")
        try:
            q, period = int(parts[0]), int(period_text or 100000)
            if q > 0 and period > 0:
                n = min(n, max(1, math.ceil(q / period)))
        except ValueError:
            pass  # "max": no quota
    return n


def total_memory() -> int:
    total = int(psutil.virtual_memory().total)
    limit = _cgroup_value("memory.max", "memory/memory.limit_in_bytes")
    if limit and limit.isdigit() and 0 < int(limit) < total:
        return int(limit)
    return total


def hostname() -> str:
    return socket.gethostname().split(".")[0] or "localhost"


@dataclass(frozen=True)
class MachineSample:
    cpu_m: int  # busy millicores, machine-wide
    memory: int  # bytes in use (total - available)
    cores: tuple[int, ...]  # busy percent per core
    load: float | None  # 1-minute load average


class MachineSampler:
    """CPU use since the previous sample (the first sample measures from construction)."""

    def __init__(self) -> None:
        psutil.cpu_percent(percpu=True)  # primes the per-core counters

    def sample(self) -> MachineSample:
        cores = tuple(round(p) for p in psutil.cpu_percent(percpu=True))
        vm = psutil.virtual_memory()
        try:
            load: float | None = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = None
        cpu_m = round(sum(cores) * 10)  # percent of one core -> millicores
        return MachineSample(cpu_m, int(vm.total - vm.available), cores, load)


class TreeSampler:
    """CPU and memory of process trees (a trial: its wrapper's descendants).

    CPU is measured between two samples, so the psutil.Process objects are kept from one
    sample to the next (psutil checks pid reuse through the process's start time).
    """

    def __init__(self) -> None:
        self._procs: dict[int, psutil.Process] = {}
        self._last = time.monotonic()

    def sample(self, roots: Iterable[int]) -> dict[int, tuple[int, int]]:
        """{root pid: (busy millicores, resident bytes)} of each root's descendants (the
        root is the trial's wrapper: its own ~10 MB are ktui's, not the trial's)."""
        now = time.monotonic()
        self._last = now
        seen: dict[int, psutil.Process] = {}
        out: dict[int, tuple[int, int]] = {}
        for root in roots:
            try:
                top = self._procs.get(root) or psutil.Process(root)
                members = top.children(recursive=True)
            except psutil.Error:
                continue
            seen[root] = top
            cpu = 0.0
            rss = 0
            for p in members:
                cached = self._procs.get(p.pid)
                if cached is not None and cached == p:  # same pid and start time
                    p = cached
                seen[p.pid] = p
                try:
                    with p.oneshot():
                        cpu += p.cpu_percent()  # 0.0 on the first call for this process
                        rss += p.memory_info().rss
                except psutil.Error:
                    continue
            out[root] = (round(cpu * 10), rss)
        self._procs = seen
        return out


def process_start_time(pid: int) -> str | None:
    """An identity for a pid that changes when the pid is reused: the start time in clock
    ticks since boot (/proc/PID/stat field 22); None where /proc is not available."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces.
    rest = data[data.rfind(b")") + 2 :].split()
    try:
        return rest[19].decode()
    except IndexError:
        return None


def alive(pid: int, start_time: str | None) -> bool:
    """Whether ``pid`` still runs and is the process we started (not a reused pid). A zombie
    counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        state = data[data.rfind(b")") + 2 :].split()[0]
        if state in (b"Z", b"X"):
            return False
    except (OSError, IndexError):
        return True  # no /proc: os.kill said it exists
    return start_time is None or process_start_time(pid) == start_time
