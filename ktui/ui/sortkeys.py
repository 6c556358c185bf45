"""The orders the job and node tables can be sorted in, and their sort keys.

Trial sort keys are single strs that order as tuples of their fields would: text fields
end in "\\0" (Kubernetes names and labels never hold one), numbers are fixed-width or
length-prefixed, so no field's end is mistaken for the next one's start. list.sort and
bisect compare one str with a memcmp, where tuples whose first items are mostly equal go
through generic compares (benchmarks/NOTES.md M6).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from ktui.cluster.model import NodeView, Trial

# `s` cycles in this order: failures first, then the best trials, are one and two presses away.
TRIAL_SORTS: dict[str, str] = {
    "sweep": "sweep, then trial index",
    "phase": "phase (failed first)",
    "metric": "the sweep's metric, best first",
    "age": "newest first",
    "name": "job name",
    "node": "node",
    "retries": "retries",
    "reason": "failure reason",
    "gpu": "GPU use, idle first",
}
NODE_SORTS: dict[str, str] = {
    "name": "name",
    "cpu": "CPU requested share",
    "memory": "memory requested share",
    "gpu": "GPUs free",
    "pods": "pod count",
    "trouble": "trouble first",
}

PHASE_RANK = {"Failed": 0, "Running": 1, "Pending": 2, "Suspended": 3, "EarlyStopped": 4, "Succeeded": 5}
NONE_LAST = "\U0010ffff"
_RANK_CHAR = {phase: str(rank) for phase, rank in PHASE_RANK.items()}
_SMALL_N = 4096
_LEN_CHAR = [chr(0x80 + n) for n in range(100)]
_NINES = str.maketrans("0123456789", "9876543210")
_SMALL_INTS = [chr(0x80 + len(str(i))) + str(i) for i in range(_SMALL_N)] + [
    chr(0x7F - len(str(-i))) + str(-i).translate(_NINES) for i in range(-_SMALL_N + 1, 0)]
_D, _Q = struct.Struct(">d"), struct.Struct(">Q")

# The sweep's metric of a trial, as (value, maximize?), or None when unknown.
MetricOf = Callable[[Trial], "tuple[float, bool] | None"]


def int_key(n: int) -> str:
    """A str per int, in the ints' order: length-prefixed digits (a negative's digits
    complemented, its prefix falling with its length). Exact for up to 100 digits."""
    if -_SMALL_N < n < _SMALL_N:
        return _SMALL_INTS[n]  # negatives from the end of the list
    d = str(n)
    if n >= 0:
        return _LEN_CHAR[len(d)] + d if len(d) < 100 else chr(0x80 + len(d)) + d
    d = d[1:]
    return chr(0x7F - min(len(d), 0x7E)) + d.translate(_NINES)


def float_key(x: float) -> str:
    """A str of 8 chars per float, in the floats' order (IEEE 754 bits, big-endian, the
    sign bit flipped for positives and all bits for negatives); -0.0 as 0.0."""
    (b,) = _Q.unpack(_D.pack(x + 0.0))
    return _Q.pack(b ^ 0xFFFFFFFFFFFFFFFF if b >> 63 else b | 0x8000000000000000).decode("latin-1")


def trial_sort_key(column: str, metric_of: MetricOf) -> Callable[[Trial], str]:
    """One str per row, ordered as the tuple in the comment."""
    if column == "name":  # (namespace, name)
        return lambda t: f"{t.namespace}\0{t.name}"
    if column == "phase":  # (phase rank, sweep or NONE_LAST, index or -1, name)
        return lambda t: (f"{_RANK_CHAR.get(t.phase, '9')}{t.sweep or NONE_LAST}\0"
                          f"{int_key(t.index if t.index is not None else -1)}{t.name}")
    if column == "node":  # (node or NONE_LAST, name)
        return lambda t: f"{t.node or NONE_LAST}\0{t.name}"
    if column == "age":  # (-(created or 0.0), name)
        return lambda t: f"{float_key(-(t.created or 0.0))}{t.name}"
    if column == "retries":  # (-retries, name)
        return lambda t: f"{int_key(-t.retries)}{t.name}"
    if column == "reason":  # (reason or NONE_LAST, name)
        return lambda t: f"{t.reason or NONE_LAST}\0{t.name}"
    if column == "gpu":  # (0, util, name) for trials with GPU readings, else (1, name)
        return lambda t: f"0{float_key(t.gpu_util)}{t.name}" if t.gpu_util is not None else f"1{t.name}"
    if column == "metric":  # (0, -value if maximize else value, name), or (1, 0.0, name)
        def metric_key(t: Trial) -> str:
            m = metric_of(t)
            if m is None:
                return f"1{t.name}"
            return f"0{float_key(-m[0] if m[1] else m[0])}{t.name}"
        return metric_key
    # (sweep or NONE_LAST, namespace, index or -1, name)
    return lambda t: (f"{t.sweep or NONE_LAST}\0{t.namespace}\0"
                      f"{int_key(t.index if t.index is not None else -1)}{t.name}")


def _share(a: int, b: int) -> float:
    return a / b if b else 0.0


def node_sort_key(column: str) -> Callable[[NodeView], tuple[Any, ...]]:
    if column == "cpu":
        return lambda n: (-_share(n.requested.cpu_m, n.allocatable.cpu_m), n.name)
    if column == "memory":
        return lambda n: (-_share(n.requested.memory, n.allocatable.memory), n.name)
    if column == "gpu":
        return lambda n: (-(n.allocatable.gpu - n.requested.gpu), n.name)
    if column == "pods":
        return lambda n: (-n.pods, n.name)
    if column == "trouble":
        return lambda n: (n.ready is not False, not n.pressures, not n.unschedulable, n.name)
    return lambda n: (n.name,)


def next_column(column: str) -> str:
    """The column `s` goes to from `column`."""
    cols = list(TRIAL_SORTS)
    return cols[(cols.index(column) + 1) % len(cols)] if column in cols else cols[0]
