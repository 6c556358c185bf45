"""Pure render functions: one per kind, turning a store record into table cells (k9s style).

No widget state here, so they are cheap to test and the tables can call them for just the
rows on screen."""

from __future__ import annotations

import math
import os
from collections.abc import Collection, Iterable, Mapping, Sequence

from rich.text import Text

from ktui.cluster.format import fmt_number, metric_summary, short_params
from ktui.cluster.model import GpuDevice, NodeView, SweepSummary, Trial

PHASE_STYLE = {
    "Pending": "yellow",
    "Running": "cyan",
    "Succeeded": "green",
    "Failed": "bold red",
    "Suspended": "magenta",
    "EarlyStopped": "blue",
}
SPARK = "▁▂▃▄▅▆▇█"


def fmt_age(seconds: float | None) -> str:
    """Ages for the screen: 45s, 12m, 3h05m, 5d. Coarser than kubectl's "3m12s" on purpose:
    past two minutes a cell changes once a minute, not every second, so a screen full of
    running trials does not repaint (and send over SSH) every row every second."""
    if seconds is None or seconds < 0:
        return "-"
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    if s < 120 * 60:
        return f"{s // 60}m"
    if s < 48 * 3600:
        h, m = divmod(s // 60, 60)
        return f"{h}h{m:02d}m" if h < 10 else f"{h}h"
    return f"{s // 86400}d"


def fmt_cpu(millicores: int) -> str:
    cores = millicores / 1000
    if cores >= 100:
        return f"{cores:.0f}"
    if cores >= 10 or cores == int(cores):
        return f"{cores:.0f}" if cores == int(cores) else f"{cores:.1f}"
    return f"{cores:.1f}"


def fmt_mem(n: int) -> str:
    # Switch unit at 1000, not 1024, so a value never needs four digits ("1020Gi" -> "1.0Ti").
    for unit, size in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if n >= size * 1000 / 1024:
            v = n / size
            return f"{v:.0f}{unit}" if v >= 10 or v == int(v) else f"{v:.1f}{unit}"
    return f"{n}B"


def usage_bar(used: int | None, requested: int, allocatable: int, width: int) -> Text:
    """One bar, three quantities: █ used, ▒ requested but unused, · free (of allocatable).

    Used beyond the request shows in yellow (the node is busier than its bookings say);
    requests beyond allocatable fill the bar in red."""
    bar = Text(no_wrap=True, end="")
    if width <= 0:
        return bar
    if allocatable <= 0:
        return Text("-".center(width), style="dim")

    def cells(v: int) -> int:
        return min(width, math.ceil(v / allocatable * width - 1e-9)) if v > 0 else 0

    req_cells = cells(requested)
    if used is None:
        bar.append("▒" * req_cells, style="blue")
    else:
        used_cells = cells(used)
        within = min(used_cells, req_cells)
        bar.append("█" * within, style="green")
        if used_cells > req_cells:
            bar.append("█" * (used_cells - req_cells), style="yellow")
        else:
            bar.append("▒" * (req_cells - used_cells), style="blue")
    if requested > allocatable:
        bar.stylize("red")
    free = width - bar.cell_len
    if free > 0:
        bar.append("·" * free, style="dim")
    return bar


def sparkline(values: Sequence[float], width: int, top: float | None = None) -> Text:
    vals = list(values)[-width:]
    if not vals:
        return Text(" " * width)
    hi = top if top else max(vals) or 1.0
    chars = "".join(SPARK[min(len(SPARK) - 1, max(0, int(v / hi * (len(SPARK) - 1) + 0.5)))] for v in vals)
    return Text(chars.rjust(width), style="cyan", no_wrap=True, end="")


def node_trouble(n: NodeView) -> Text:
    words: list[tuple[str, str]] = []
    if n.ready is False:
        words.append(("NotReady", "bold red"))
    elif n.ready is None:
        words.append(("Unknown", "yellow"))
    for p in n.pressures:
        words.append((p.replace("Pressure", "Press"), "red"))
    if n.unschedulable:
        words.append(("Cordoned", "yellow"))
    if not words:
        return Text("Ready", style="green")
    out = Text()
    for i, (w, style) in enumerate(words):
        if i:
            out.append(" ")
        out.append(w, style=style)
    return out


def node_cells(n: NodeView, cpu_history: Sequence[float], bar_width: int) -> tuple[Text | str, ...]:
    used = n.used
    cpu = Text.assemble(
        usage_bar(used.cpu_m if used else None, n.requested.cpu_m, n.allocatable.cpu_m, bar_width),
        " ",
        _triple(used.cpu_m if used else None, n.requested.cpu_m, n.allocatable.cpu_m, fmt_cpu),
    )
    mem = Text.assemble(
        usage_bar(used.memory if used else None, n.requested.memory, n.allocatable.memory, bar_width),
        " ",
        _triple(used.memory if used else None, n.requested.memory, n.allocatable.memory, fmt_mem),
    )
    gpu: Text | str
    if n.allocatable.gpu:
        full = n.requested.gpu >= n.allocatable.gpu
        gpu = Text(f"{n.requested.gpu}/{n.allocatable.gpu}", style="bold yellow" if full else "")
    else:
        gpu = Text("-", style="dim")
    status = node_trouble(n)
    if n.cores and str(status) == "Ready":
        # A node that measures its cores (this machine) is always Ready: the meters say more.
        status = node_load(n)
    elif n.gpu_product and not n.devices:
        # No readings (no exporter, or not read yet): what the GPUs are, from GFD's labels.
        each = f" {fmt_mem(n.gpu_memory)}" if n.gpu_memory else ""
        status = Text.assemble(status, Text(f"  {n.gpu_product.removeprefix('NVIDIA-')}{each}", style="dim"))
    # The history holds shares of allocatable: scaled to 1.0, an idle node looks idle.
    return (n.name, cpu, mem, gpu, f"{n.pods}", sparkline(cpu_history, 8, top=1.0), status)


def node_load(n: NodeView) -> Text:
    """`▇▇▅▂ 1.9`: one cell per core (htop's per-core meters folded into a line, cut by the
    column where they do not fit), then the load average."""
    t = core_strip(n.cores)
    if n.load is not None:
        t.append(f" {n.load:.1f}", style="bold" if n.load > len(n.cores or (1,)) else "")
    return t


def core_strip(cores: Sequence[int]) -> Text:
    t = Text(no_wrap=True, end="")
    for pct in cores:
        i = min(len(SPARK) - 1, max(0, int(pct / 100 * (len(SPARK) - 1) + 0.5)))
        t.append(SPARK[i], style="red" if pct >= 90 else "green" if pct >= 50 else "cyan" if pct > 2 else "dim")
    return t


def device_cells(d: GpuDevice, bar_width: int, idle_under: float = 5.0) -> tuple[Text | str, ...]:
    """A GPU's (or MIG instance's) row under its node, in the node columns: utilisation
    where CPU is, memory under memory, temperature under GPU, power under PODS, then who
    uses it; a GPU held by a trial but under ``idle_under`` percent is flagged."""
    util = Text.assemble(
        usage_bar(d.util, d.util or 0, 100, bar_width) if d.util is not None else Text("?".center(bar_width), style="dim"),
        " ",
        Text(f"{d.util}%" if d.util is not None else "util ?", style="green" if d.util else "dim"),
    )
    if d.mem_used is not None and d.mem_total:
        mem = Text.assemble(usage_bar(d.mem_used, d.mem_used, d.mem_total, bar_width), " ",
                            Text(fmt_mem(d.mem_used), style="green"), Text(f"/{fmt_mem(d.mem_total)}", style="dim"))
    else:
        mem = Text("-", style="dim")
    hot = d.temperature is not None and d.temperature >= 85
    temp = Text(f"{d.temperature}°C" if d.temperature is not None else "-", style="bold red" if hot else "")
    power = f"{d.power:.0f}W" if d.power is not None else "-"
    # Who uses it comes first: the device's model name is the same on every row.
    who = Text(", ".join(d.processes) if d.processes else "free", style="" if d.processes else "dim")
    if d.processes and d.util is not None and d.util < idle_under:
        who.append("  allocated, idle", style="bold yellow")
    # A MIG instance is named by its profile and instance id (the label column is narrow);
    # its GPU goes with the model.
    who.append(f"  {'gpu' + str(d.index) + ' ' if d.mig else ''}{d.name.removeprefix('NVIDIA ')}", style="dim")
    label = f" └ {d.mig}" if d.mig else f" └ gpu{d.index}"
    return (Text(label, style="dim"), util, mem, temp, power, "", who)


def _triple(used: int | None, req: int, alloc: int, fmt) -> Text:  # type: ignore[no-untyped-def]
    t = Text(no_wrap=True)
    if used is not None:
        t.append(fmt(used), style="green")
        t.append("/")
    t.append(fmt(req), style="blue")
    t.append("/" + fmt(alloc), style="dim")
    return t


def trial_time(t: Trial, now: float) -> str:
    """Age while pending, running time while running, duration once finished."""
    if t.phase == "Pending" or t.started is None:
        return fmt_age(now - t.created) if t.created else "-"
    d = t.duration(now)
    return fmt_age(d)


def phase_text(t: Trial) -> Text:
    phase = t.phase
    if t.pods_total and phase in ("Pending", "Running"):
        return pods_text(t)
    if phase == "Running" and t.pod_phase == "Pending":
        return Text("Starting", style="yellow")
    return Text(phase, style=PHASE_STYLE.get(phase, ""))


def pods_text(t: Trial) -> Text:
    """A distributed trial's phase with its pods running of all: "Run 3/4" (yellow while some
    are not), in the phase column's 9 cells."""
    short = {"Running": "Run", "Pending": "Pend"}[t.phase]
    style = PHASE_STYLE[t.phase] if t.phase == "Pending" or t.pods_ready >= t.pods_total else "yellow"
    return Text(f"{short} {t.pods_ready}/{t.pods_total}", style=style)


# The order of trial_cells' cells; the job table picks the columns its width allows.
TRIAL_CELLS = ("name", "sweep", "params", "phase", "node", "age", "retries", "reason", "metric", "cpu", "mem",
               "gpu", "gpu_util", "image", "code")


def short_digest(image_id: str) -> str:
    """`docker-pullable://ghcr.io/org/train@sha256:1a2b...` -> `train@1a2b3c4d5e6f`."""
    ref, _, digest = image_id.rpartition("@")
    if not ref:
        return image_id
    name = ref.rsplit("/", 1)[-1]
    return f"{name}@{digest.split(':', 1)[-1][:12]}"


def image_cell(t: Trial) -> str:
    """The digest its pod resolved when known (what ran), else the image as submitted."""
    if t.image_id:
        return short_digest(t.image_id)
    return str((t.provenance or {}).get("image") or "")


def code_cell(t: Trial) -> Text | str:
    """The first 8 hex of the code snapshot's hash; `-` for a ktui trial that ships none."""
    if t.provenance is None:
        return ""
    sha = (t.provenance.get("code") or {}).get("sha256")
    return str(sha)[:8] if sha else Text("-", style="dim")


def gpu_cell(t: Trial, memory: bool = True) -> Text | str:
    """The mean use of the trial's GPUs (and their memory); flagged when idle."""
    if t.gpu_util is None:
        return ""
    text = f"{t.gpu_util:.0f}%" + (f" {fmt_mem(t.gpu_mem)}" if memory and t.gpu_mem is not None else "")
    return Text(text, style="bold yellow" if t.gpu_idle else "green" if t.gpu_util >= 50 else "")


def reason_cell(t: Trial, now: float) -> Text:
    if not t.reason and t.gpu_idle and t.gpu_idle_since is not None:
        return Text(f"GPU idle {fmt_age(now - t.gpu_idle_since)}", style="bold yellow")
    return Text(t.reason or "", style="red" if t.phase == "Failed" else "yellow")


def trial_cells(
    t: Trial,
    now: float,
    metrics: Mapping[str, float] | None,
    metric_name: str | None,
    node_prefix: str = "",
    varying: Collection[str] = (),
) -> tuple[Text | str, ...]:
    metric_cell: Text | str = ""
    if metrics:
        text, kind = metric_summary(metrics, metric_name)
        # The sweep's own metric: the value alone, bold (the sweep line names the metric).
        metric_cell = Text(text, style={"value": "bold", "missing": "dim"}.get(kind, ""))
    reason = reason_cell(t, now)
    return (
        t.name,
        t.sweep or "-",
        short_params(t.params, 200, varying),
        phase_text(t),
        short_node(t.node, node_prefix),
        trial_time(t, now),
        str(t.retries) if t.retries else "",
        reason,
        metric_cell,
        fmt_cpu(t.cpu_used) if t.cpu_used is not None else "",
        fmt_mem(t.mem_used) if t.mem_used is not None else "",
        gpu_cell(t),
        gpu_cell(t, memory=False),
        image_cell(t),
        code_cell(t),
    )


def node_prefix(names: Iterable[str]) -> str:
    """What every node's name starts with, up to a separator ("sim-node-" of sim-node-0001
    ... sim-node-0008): the job table leaves it out, so narrow NODE cells keep the part that
    tells nodes apart. Empty when it would say nothing (one node, nothing shared)."""
    names = list(names)
    if len(names) < 2:
        return ""
    prefix = os.path.commonprefix(names)
    cut = max(prefix.rfind(sep) for sep in "-._") + 1
    return prefix[:cut] if cut >= 3 else ""


def short_node(node: str | None, prefix: str) -> str:
    if not node:
        return "-"
    if prefix and node.startswith(prefix) and len(node) > len(prefix):
        return "…" + node[len(prefix) :]
    return node


def sweep_line(s: SweepSummary, best: tuple[str, str, float] | None,
               read: tuple[int, int] | None = None) -> Text:
    """`mnist-grid  6 trials: 1 pending 2 running 2 ok 1 failed 1 stopped early   best mnist-grid-003 accuracy=0.91`,
    then `metrics 4,120/10,000` while the finished trials' logs are still being read."""
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(s.name, style="bold")
    t.append(f"  {s.total} trials:")
    for n, label, style in ((s.pending, "pending", "yellow"), (s.running, "running", "cyan"),
                            (s.succeeded, "ok", "green"), (s.failed, "failed", "red"),
                            (s.suspended, "suspended", "magenta"), (s.stopped, "stopped early", "blue")):
        if n:
            t.append(f" {n} {label}", style=style)
    if best:
        job, metric, value = best
        t.append(f"   best {job} {metric}={fmt_number(value)}", style="bold green")
    if read is not None and read[0] < read[1]:
        t.append(f"   metrics {read[0]:,}/{read[1]:,}", style="dim")
    return t

