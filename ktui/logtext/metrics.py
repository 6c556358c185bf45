"""Metrics printed by a trial, read from its log lines.

Two shapes, as ML scripts print them: `key=value` pairs (Katib's default StdOut collector
grammar, so `epoch=3 loss=0.412 accuracy=0.871` and `val-acc = 0.9` both count) and JSON
object lines (`{"loss": 0.41, "accuracy": 0.87}`). Only numbers are metrics.
"""

from __future__ import annotations

import json
import math
import re

# Katib: ([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?) — requiring at least one digit,
# and refusing a value glued to more text (`id=12ab` is not a metric).
_KV = re.compile(r"(?<![\w.-])([A-Za-z_][\w.\-/]*)\s*[=:]\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?![\w.:])")
_ESC = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
MAX_METRICS = 64  # per trial: a log printing thousands of distinct keys must not grow memory


def parse_metrics(line: str) -> dict[str, float]:
    """Numeric metrics in one log line; {} when it holds none."""
    s = _ESC.sub("", line).strip()
    if s.startswith("{") and s.endswith("}"):
        try:
            obj = json.loads(s)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            out = {}
            for k, v in obj.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                    out[str(k)] = float(v)
            return out
    if "=" not in s and ":" not in s:
        return {}
    out = {}
    for key, value in _KV.findall(s):
        try:
            f = float(value)
        except ValueError:
            continue
        if math.isfinite(f):
            out[key] = f
    return out


def merge_metrics(latest: dict[str, float], found: dict[str, float]) -> None:
    """Fold one line's metrics into the latest values, bounded to MAX_METRICS keys."""
    for k, v in found.items():
        if k in latest or len(latest) < MAX_METRICS:
            latest[k] = v
