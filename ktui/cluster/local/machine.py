"""This machine's inventory and use, from /proc (Linux); portable fallbacks elsewhere."""

from __future__ import annotations

import os
import socket


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _meminfo() -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                key, _, rest = line.partition(":")
                parts = rest.split()
                if parts:
                    out[key] = int(parts[0]) * (1024 if parts[1:2] == ["kB"] else 1)
    except (OSError, ValueError):
        pass
    return out


def total_memory() -> int:
    total = _meminfo().get("MemTotal")
    if total:
        return total
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def used_memory() -> int | None:
    info = _meminfo()
    if "MemTotal" in info and "MemAvailable" in info:
        return info["MemTotal"] - info["MemAvailable"]
    return None


def hostname() -> str:
    return socket.gethostname().split(".")[0] or "localhost"


class CpuSampler:
    """Machine-wide CPU use in millicores, from the difference of two /proc/stat readings."""

    def __init__(self) -> None:
        self._last = self._read()

    @staticmethod
    def _read() -> tuple[int, int] | None:
        try:
            with open("/proc/stat") as f:
                fields = f.readline().split()
        except OSError:
            return None
        if not fields or fields[0] != "cpu":
            return None
        ticks = [int(x) for x in fields[1:]]
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
        return sum(ticks), idle

    def sample(self, cpus: int) -> int | None:
        now = self._read()
        last, self._last = self._last, now
        if now is None or last is None or now[0] <= last[0]:
            return None
        busy = 1.0 - (now[1] - last[1]) / (now[0] - last[0])
        return max(0, round(busy * cpus * 1000))


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
