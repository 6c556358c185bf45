"""Text for trials and nodes, shared by the CLI tables and (if it likes) the UI."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from ktui.cluster.model import GpuDevice, NodeView, Trial
from ktui.wire.duration import human_duration as kube_duration
from ktui.wire.quantity import format_bytes, format_cpu

TRIAL_COLUMNS = ("NAME", "SWEEP", "TRIAL", "PHASE", "NODE", "DURATION", "AGE", "RETRIES", "GPU", "REASON",
                 "METRIC", "PARAMS")
NODE_COLUMNS = ("NAME", "STATUS", "CPU REQ/ALLOC", "CPU USED", "MEM REQ/ALLOC", "MEM USED",
                "GPU REQ/ALLOC", "GPU USED", "PODS", "TAINTS")
GPU_COLUMNS = ("NODE", "GPU", "MODEL", "UTIL", "MEM USED/TOTAL", "TEMP", "POWER", "USED BY")


def human_duration(seconds: float | None) -> str:
    """kubectl's wording (ktui.wire.duration); "-" for no time at all, 0s for a clock skewed
    into the future."""
    return "-" if seconds is None else kube_duration(max(0.0, seconds))


def _value(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (int,)) or v is None:
        return str(v).lower() if v is None else str(v)
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def short_params(params: dict[str, Any], width: int = 48, first: Collection[str] = ()) -> str:
    """`lr=0.1 depth=3`; the names in `first` (those that vary within the sweep) lead, so a
    narrow column shows what tells the trials apart."""
    items = list(params.items())
    if first:
        items.sort(key=lambda kv: kv[0] not in first)  # (stable: each group keeps its order)
    text = " ".join(f"{k}={_value(v)}" if k else _value(v) for k, v in items)
    return truncate(text, width)


def reason_line(reason: str | None, message: str | None) -> str:
    """A trial's reason with its full message, the message said once: the reason often
    carries the message's head already ("Unschedulable: 0/8 nodes are available: ..." with
    the scheduler's message "0/8 nodes are available: ... preemption: ...")."""
    if not reason:
        return message or ""
    if not message or message in reason:
        return reason
    head, sep, tail = reason.partition(": ")
    if sep and tail and message.startswith(tail.rstrip("…. ")):
        return f"{head}: {message}"
    return f"{reason}: {message}"


def truncate(text: str | None, width: int) -> str:
    if not text:
        return ""
    text = " ".join(text.split())  # one line in a table, whatever the server sent
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


# Metric keys that count progress rather than measure quality.
COUNTERS = frozenset(("epoch", "step", "iter", "iteration", "batch", "global_step"))


def fmt_number(v: float) -> str:
    if v == int(v) and abs(v) < 1e9:
        return str(int(v))
    if abs(v) >= 1000 or abs(v) < 0.001:
        return f"{v:.3g}"
    return f"{v:.4f}".rstrip("0").rstrip(".")


def metric_summary(metrics: Mapping[str, float], metric_name: str | None) -> tuple[str, str]:
    """(text, kind) of a trial's METRIC cell: "value", the sweep's metric; "missing", the
    log has metrics but not the sweep's (a typo in `metric:`, a renamed key: said, not
    hidden behind another key); "others", no declared metric: what the trial reports,
    progress counters last."""
    if metric_name:
        if metric_name in metrics:
            return fmt_number(metrics[metric_name]), "value"
        return f"no {metric_name}", "missing"
    items = sorted(metrics.items(), key=lambda kv: kv[0].lower() in COUNTERS)
    return " ".join(f"{k}={fmt_number(v)}" for k, v in items[:3]), "others"


def trial_row(t: Trial, now: float, *, namespace: bool = False, reason_width: int = 60,
              metrics: Mapping[str, float] | None = None) -> list[str]:
    row = [
        t.name,
        t.sweep or "-",
        str(t.index) if t.index is not None else "-",
        # A distributed trial: its pods running of all while it waits or runs ("Running 3/4"),
        # as the job table's phase cell (a finished one's count says nothing).
        f"{t.phase} {t.pods_ready}/{t.pods_total}" if t.pods_total and t.phase in ("Pending", "Running")
        else t.phase,
        t.node or "-",
        human_duration(t.duration(now)),
        human_duration(now - t.created) if t.created else "-",
        str(t.retries),
        trial_gpu(t),
        truncate(t.reason or (f"GPU idle since {human_duration(now - t.gpu_idle_since)}"
                              if t.gpu_idle and t.gpu_idle_since is not None else None), reason_width) or "-",
        metric_summary(metrics, (t.metric or {}).get("name"))[0] if metrics else "-",
        short_params(t.params) or "-",
    ]
    return [t.namespace, *row] if namespace else row


def trial_gpu(t: Trial) -> str:
    """Mean use of the trial's GPUs and their memory ("-" while unknown)."""
    if t.gpu_util is None:
        return "-"
    mem = f" {format_bytes(t.gpu_mem)}" if t.gpu_mem is not None else ""
    return f"{t.gpu_util:.0f}%{mem}" + (" idle" if t.gpu_idle else "")


def trial_sort_key(t: Trial) -> tuple[Any, ...]:
    return (t.namespace, t.sweep or "", t.index if t.index is not None else -1, t.name)


def _ratio(req: int, alloc: int, fmt: Any) -> str:
    pct = f" ({100 * req // alloc}%)" if alloc else ""
    return f"{fmt(req)}/{fmt(alloc)}{pct}"


def node_status(n: NodeView) -> str:
    parts = ["Ready" if n.ready else ("NotReady" if n.ready is False else "Unknown")]
    if n.unschedulable:
        parts.append("SchedulingDisabled")
    parts.extend(n.pressures)
    return ",".join(parts)


def node_gpu_used(n: NodeView, idle_under: float) -> str:
    """Mean use of the node's GPUs that have readings, and how many are held but idle."""
    utils = [d.util for d in n.devices if d.util is not None]
    if not utils:
        return "-"
    idle = sum(1 for d in n.devices if (d.pod or d.processes) and d.util is not None and d.util < idle_under)
    return f"{sum(utils) / len(utils):.0f}%" + (f" ({idle} allocated idle)" if idle else "")


def gpu_rows(n: NodeView) -> list[list[str]]:
    """One row per GPU (or MIG instance) with readings, for the CLI's GPU table."""
    rows = []
    for d in n.devices:
        mem = (f"{format_bytes(d.mem_used)}/{format_bytes(d.mem_total)}" if d.mem_used is not None and d.mem_total
               else format_bytes(d.mem_used) if d.mem_used is not None else "-")
        rows.append([
            n.name, str(d.index) + (f" {d.mig}" if d.mig else ""), d.name or "-",
            f"{d.util}%" if d.util is not None else "-", mem,
            f"{d.temperature}C" if d.temperature is not None else "-",
            f"{d.power:.0f}W" if d.power is not None else "-",
            ", ".join(d.processes) or "-",
        ])
    return rows


def gpu_json(d: GpuDevice) -> dict[str, Any]:
    """A device as `ktui nodes -o json` gives it (the same keys whatever the source)."""
    return {"index": d.index, "uuid": d.uuid or None, "model": d.name, "mig": d.mig, "util": d.util,
            "mem_used": d.mem_used, "mem_total": d.mem_total, "temp": d.temperature, "power": d.power,
            "pod": d.pod, "trials": list(d.processes)}


def node_row(n: NodeView, idle_under: float = 5.0) -> list[str]:
    used_cpu = used_mem = "-"
    if n.used is not None:
        used_cpu = format_cpu(n.used.cpu_m)
        used_mem = format_bytes(n.used.memory)
        if n.allocatable.cpu_m:
            used_cpu += f" ({100 * n.used.cpu_m // n.allocatable.cpu_m}%)"
        if n.allocatable.memory:
            used_mem += f" ({100 * n.used.memory // n.allocatable.memory}%)"
    taints = ",".join(f"{t.key}:{t.effect}" for t in n.taints) or "-"
    return [
        n.name,
        node_status(n),
        _ratio(n.requested.cpu_m, n.allocatable.cpu_m, format_cpu),
        used_cpu,
        _ratio(n.requested.memory, n.allocatable.memory, format_bytes),
        used_mem,
        _ratio(n.requested.gpu, n.allocatable.gpu, str) if n.allocatable.gpu or n.requested.gpu else "-",
        node_gpu_used(n, idle_under),
        f"{n.pods}/{n.max_pods}" if n.max_pods else str(n.pods),
        truncate(taints, 40),
    ]


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]], widths: list[int] | None = None) -> tuple[list[str], list[int]]:
    """kubectl-style columns (3 spaces apart); returns the lines and the widths used, so a
    --watch can print later rows aligned with the first table."""
    if widths is None:
        widths = [len(h) for h in header]
        for r in rows:
            for i, cell in enumerate(r):
                widths[i] = max(widths[i], len(cell))
    lines = []
    for r in [header, *rows] if header else rows:
        cells = [c.ljust(widths[i]) if i < len(r) - 1 else c for i, c in enumerate(r)]
        lines.append("   ".join(cells).rstrip())
    return lines, widths
