"""Time formatting and parsing in the exact shapes kube-apiserver uses.

Object timestamps are wall-clock (RFC 3339, seconds); scheduler events carry microseconds
and log lines nanoseconds (RFC3339Nano, as the kubelet writes them).
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone

from ktui.wire.duration import human_duration

_NANO = 1_000_000_000


def now() -> float:
    return time.time()


def now_ns() -> int:
    return time.time_ns()


def rfc3339(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(ts)))


def rfc3339_micro(ts: float) -> str:
    micros = int(round(ts * 1_000_000))
    secs, frac = divmod(micros, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:06d}Z"


def rfc3339_nano(ts_ns: int) -> str:
    """Go's RFC3339Nano: trailing zeros of the fraction are trimmed (and the dot if empty)."""
    secs, frac = divmod(ts_ns, _NANO)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    if frac == 0:
        return base + "Z"
    return base + "." + f"{frac:09d}".rstrip("0") + "Z"


_RFC3339_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(Z|z|[+-]\d{2}:\d{2})$"
)


def parse_rfc3339_ns(text: str) -> int:
    """Parse RFC 3339 with optional fraction to integer nanoseconds since the epoch."""
    m = _RFC3339_RE.match(text.strip())
    if not m:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    year, month, day, hour, minute, sec = (int(m.group(i)) for i in range(1, 7))
    frac = (m.group(7) or "").ljust(9, "0")
    tz = m.group(8)
    dt = datetime(year, month, day, hour, minute, sec, tzinfo=timezone.utc)
    secs = int(dt.timestamp())
    if tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        secs -= sign * (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60)
    return secs * _NANO + int(frac or 0)


def parse_rfc3339(text: str) -> float:
    return parse_rfc3339_ns(text) / _NANO


def since(timestamp: str | None, at: float | None = None) -> str:
    """translateTimestampSince: '<unknown>' for a missing timestamp."""
    if not timestamp:
        return "<unknown>"
    return human_duration((at if at is not None else now()) - parse_rfc3339(timestamp))
