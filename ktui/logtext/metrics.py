"""Metrics printed by a trial, read from its log lines, each tied to a step.

What training code really prints, each shape tested with real lines (tests/logtext):
- `key=value` pairs (Katib's StdOut collector grammar: `epoch=3 loss=0.412`, `val-acc = 0.9`);
- `key: value` (Keras: `- loss: 0.2938 - accuracy: 0.9142`; the colon wants a space after
  it, since `cuda:0`, `host:8080`, `train.py:123` and `12:30:45` have none);
- JSON object lines, numbers and numeric strings (Katib's file collector: `{"acc": "0.91"}`);
- Python dict reprs (Hugging Face Trainer: `{'eval_loss': 0.52, 'epoch': 2.0}`);
- progress bars (tqdm, Lightning): `\\r`-separated updates in one line, the latest winning;
  `v_num` (Lightning's logger version) is not a metric.
Not metrics: URLs and query strings, list reprs (`['i=0']`), versions, dates, times, binary.

A line's step is its own `step`, `global_step`, `iteration` or `epoch` (first found, in
that order), else the epoch a Keras or Lightning `Epoch 3/10` header announced, else the
order of the readings in the log (`MetricReader` keeps that state per log).
"""

from __future__ import annotations

import ast
import json
import math
import re
from dataclasses import dataclass

STEP_KEYS = ("step", "global_step", "iteration", "epoch")
IGNORED_KEYS = frozenset({"v_num"})
MAX_METRICS = 64  # per trial: a log printing thousands of distinct keys must not grow memory
MAX_LINE = 65_536  # characters of one line read (its end: a progress bar's latest updates)
_MAX_LITERAL = 8_192  # a dict repr longer than this is not parsed as a Python literal

_NUM = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
# key=value or key: value. The key stands alone (not inside a word, a path, a query string
# or a quoted list item) or is quoted as in a dict repr; the value ends the token (`id=12ab`,
# `v=1.2.3`, `date=2024-01-05` and `t=12:30` are not metrics).
_KV = re.compile(
    r"(?:(['\"])(?P<qkey>[A-Za-z_][\w.\-/]*)\1|(?<![\w.\-'\"/?&=\\])(?P<key>[A-Za-z_][\w.\-/]*))"
    r"(?:\s*=\s*|:\s+)"
    r"(?P<value>" + _NUM + r")"
    r"(?=$|[\s,;)\]}|%])"
)
_NUMERIC = re.compile(r"\s*" + _NUM + r"\s*$")
_URL = re.compile(r"\b[A-Za-z][\w+.\-]*://\S*|\S*\?\S*=\S*")
_ESC = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?")
_EPOCH_HEADER = re.compile(r"^\s*Epoch\s+(\d+)(?:\s*/\s*\d+)?(?::|\s*$)", re.IGNORECASE)
_JUNK = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\ufffd]")


@dataclass(frozen=True)
class Reading:
    """One line's metrics, and the step they belong to (None: the line gave none)."""

    values: dict[str, float]
    step: float | None


def _number(v: object) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)) or isinstance(v, str) and _NUMERIC.match(v):
        f = float(v)
    else:
        return None
    return f if math.isfinite(f) else None


def _from_mapping(obj: dict[object, object]) -> dict[str, float]:
    out = {}
    for k, v in obj.items():
        f = _number(v)
        if f is not None and isinstance(k, str) and k not in IGNORED_KEYS:
            out[k] = f
    return out


def _record(s: str) -> dict[str, float] | None:
    """A JSON object or Python dict repr line; None when the line is neither."""
    try:
        obj = json.loads(s)
    except ValueError:
        obj = None
        if "'" in s and len(s) <= _MAX_LITERAL:
            try:
                obj = ast.literal_eval(s)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                obj = None
    return _from_mapping(obj) if isinstance(obj, dict) else None


def _pairs(s: str) -> dict[str, float]:
    if "=" not in s and ":" not in s:
        return {}
    if "://" in s or "?" in s:
        s = _URL.sub(" ", s)
    out = {}
    for m in _KV.finditer(s):
        key = m.group("key") or m.group("qkey")
        if key in IGNORED_KEYS:
            continue
        f = float(m.group("value"))
        if math.isfinite(f):
            out[key] = f
    return out


def _is_junk(s: str) -> bool:
    """Binary or mis-decoded bytes: more than a few control or replacement characters."""
    bad = len(_JUNK.findall(s, 0, 4096))
    return bad > 4 and bad * 20 > min(len(s), 4096)


def _segments(line: str) -> list[str]:
    if len(line) > MAX_LINE:
        line = line[-MAX_LINE:]
    if "\x1b" in line:
        line = _ESC.sub("", line)
    return [seg for seg in line.split("\r") if seg.strip()] if "\r" in line else [line]


def parse_line(line: str) -> tuple[dict[str, float], int | None]:
    """(metrics, the epoch an `Epoch N` header in the line names) of one log line."""
    values: dict[str, float] = {}
    epoch = None
    for seg in _segments(line):
        s = seg.strip()
        if not s or _is_junk(s):
            continue
        head = _EPOCH_HEADER.match(s)
        if head:
            epoch = int(head.group(1))
        found = _record(s) if s.startswith("{") and s.endswith("}") else None
        values.update(found if found is not None else _pairs(s))  # later updates win
    return values, epoch


def parse_metrics(line: str) -> dict[str, float]:
    """Numeric metrics in one log line; {} when it holds none."""
    return parse_line(line)[0]


def step_of(values: dict[str, float]) -> float | None:
    for k in STEP_KEYS:
        if k in values:
            return values[k]
    return None


class MetricReader:
    """Reads one log, line by line, in order: each line with metrics becomes a Reading
    with its step (its own, the last `Epoch N` header's, or its rank among the readings)."""

    def __init__(self) -> None:
        self.epoch: int | None = None
        self.count = 0

    def feed(self, line: str) -> Reading | None:
        values, epoch = parse_line(line)
        if epoch is not None:
            self.epoch = epoch
        if not values:
            return None
        self.count += 1
        step = step_of(values)
        if step is None:
            step = float(self.epoch) if self.epoch is not None else float(self.count)
        return Reading(values, step)


def merge_metrics(latest: dict[str, float], found: dict[str, float]) -> None:
    """Fold one line's metrics into the latest values, bounded to MAX_METRICS keys."""
    for k, v in found.items():
        if k in latest or len(latest) < MAX_METRICS:
            latest[k] = v
