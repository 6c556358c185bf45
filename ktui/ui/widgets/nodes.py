"""The htop-like node pane: a summary line for the cluster, then one row per node."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical

from ktui.cluster.gpuuse import GpuCounts, count
from ktui.ui.render import device_cells, fmt_cpu, fmt_mem, node_cells
from ktui.ui.state import UiState
from ktui.ui.widgets.line import Line
from ktui.ui.widgets.vtable import Column, VirtualTable


def node_columns(width: int) -> tuple[list[Column], int]:
    """Columns for a pane `width` cells wide, and the width of each usage bar."""
    bar = 20 if width >= 180 else 10 if width >= 120 else 6
    label = 14 if width >= 120 else 11
    cols = [
        Column("name", "NODE", 14 if width >= 120 else 13),
        Column("cpu", "CPU used/req/alloc", bar + 1 + label),
        Column("memory", "MEM used/req/alloc", bar + 1 + label + 6),
        Column("gpu", "GPU", 5, align="right"),
        Column("pods", "PODS", 4, align="right"),
    ]
    if width >= 100:
        cols.append(Column("hist", "CPU HIST", 8))
    cols.append(Column("trouble", "STATUS", 8, flex=1))  # takes the spare width: conditions can be long
    return cols, bar


class NodesPane(Vertical):
    DEFAULT_CSS = """
    NodesPane { height: auto; max-height: 40%; }
    NodesPane > #nodes-summary { height: 1; }
    NodesPane > VirtualTable { height: auto; max-height: 100%; }
    """

    def __init__(self, state: UiState, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = state
        self._bar = 6
        self._hist = False
        self._devices: dict[str, range] = {}  # node -> its devices' places in NodeView.devices
        self._height = 0

    def compose(self) -> ComposeResult:
        yield Line(id="nodes-summary")
        cols, self._bar = node_columns(80)
        yield VirtualTable(cols, self._render_row, id="nodes-table")

    @property
    def table(self) -> VirtualTable:
        return self.query_one("#nodes-table", VirtualTable)

    def on_resize(self) -> None:
        cols, bar = node_columns(self.size.width)
        hist = any(c.key == "hist" for c in cols)
        if bar != self._bar or hist != self._hist:
            self._bar, self._hist = bar, hist
            self.table.set_columns(cols)

    def _render_row(self, key: Hashable) -> Sequence[Text | str]:
        if isinstance(key, tuple):  # (node, n): its n-th GPU (or MIG instance), a row under it
            node = self.state.nodes.record(key[0])
            dev = node.devices[key[1]] if node is not None and key[1] < len(node.devices) else None
            cells = device_cells(dev, self._bar, self.state.gpu_rule.util) if dev is not None else (str(key),)
        else:
            n = self.state.nodes.record(key)  # type: ignore[arg-type]
            if n is None:
                return (str(key),)
            cells = node_cells(n, list(self.state.cpu_history.get(n.name, ())), self._bar)
        if not self._hist and len(cells) > 5:
            cells = cells[:5] + cells[6:]
        return cells

    def refresh_from(self, changed: set[str], moved: bool) -> None:
        keys: Sequence[Hashable] = self.state.nodes.keys
        # Nodes whose GPUs have readings (this machine's through NVML; a cluster's nodes on
        # screen, from its exporters) get a row per device; with none, the list is not copied.
        self._track_devices(keys if len(keys) <= 200 else changed)
        if self._devices:
            rows: list[Hashable] = []
            for name in keys:
                rows.append(name)
                rows.extend((name, i) for i in self._devices.get(name, ()))  # type: ignore[call-overload]
            changed_rows: set[Hashable] = set(changed)
            changed_rows.update((name, i) for name in changed for i in self._devices.get(name, ()))
            self.table.update(rows, changed_rows, reordered=True)
            keys = rows
        else:
            self.table.update(keys, changed, reordered=moved)
        height = min(len(keys), 30) + 1
        if self._height != height:  # setting a style, even to its value, relayouts the screen
            self._height = height
            self.table.styles.height = height

    def refresh_summary(self) -> None:
        self.query_one("#nodes-summary", Line).show(self.summary())

    def visible_nodes(self) -> set[str]:
        """The nodes whose rows (or device rows) are on screen."""
        t = self.table
        top, keys = int(t.scroll_y), t.keys
        return {str(k[0] if isinstance(k, tuple) else k) for k in keys[top:top + max(t.size.height, 1)]}

    def _track_devices(self, names: Iterable[Hashable]) -> None:
        """Learn which of ``names`` report GPU readings, and how many."""
        for name in names:
            n = self.state.nodes.record(name)  # type: ignore[arg-type]
            if n is not None and n.devices:
                self._devices[name] = range(len(n.devices))  # type: ignore[index]
            else:
                self._devices.pop(name, None)  # type: ignore[call-overload]
        for name in [k for k in self._devices if self.state.nodes.record(k) is None]:
            del self._devices[name]

    def summary(self) -> Text:
        nodes = [self.state.nodes.record(k) for k in self.state.nodes.keys]
        alive = [n for n in nodes if n is not None]
        if not alive:
            return Text("no nodes visible yet", style="dim")
        req_cpu = sum(n.requested.cpu_m for n in alive)
        all_cpu = sum(n.allocatable.cpu_m for n in alive)
        req_mem = sum(n.requested.memory for n in alive)
        all_mem = sum(n.allocatable.memory for n in alive)
        gpus = sum(n.allocatable.gpu for n in alive)
        req_gpu = sum(n.requested.gpu for n in alive)
        used = [n.used for n in alive if n.used is not None]
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(f"{len(alive)} nodes", style="bold")
        trouble = sum(1 for n in alive if n.ready is False or n.pressures or n.unschedulable)
        if trouble:
            t.append(f" ({trouble} in trouble)", style="red")
        t.append("  cpu ")
        if used:
            t.append(fmt_cpu(sum(u.cpu_m for u in used)), style="green")
            t.append("/")
        t.append(fmt_cpu(req_cpu), style="blue")
        t.append(f"/{fmt_cpu(all_cpu)}", style="dim")
        t.append("  mem ")
        if used:
            t.append(fmt_mem(sum(u.memory for u in used)), style="green")
            t.append("/")
        t.append(fmt_mem(req_mem), style="blue")
        t.append(f"/{fmt_mem(all_mem)}", style="dim")
        if gpus:
            t.append(f"  gpu {req_gpu}/{gpus}", style="bold yellow" if req_gpu >= gpus else "")
            c = sum((count(n.requested.gpu, n.devices, self.state.gpu_rule) for n in alive if n.devices), GpuCounts())
            if c.read:
                wide = self.size.width >= 120
                t.append(f" ({c.busy} busy" if wide else f" {c.busy} busy", style="green")
                if c.idle:
                    t.append(f", {c.idle} allocated but idle" if wide else f" {c.idle} idle", style="bold yellow")
                if wide:
                    t.append(")", style="green")
            idle_trials = self.state.store.gpu_idle_pods
            if idle_trials:
                t.append(f"  {idle_trials} trial{'s' if idle_trials > 1 else ''} GPU idle (filter gpu-idle)"
                         if self.size.width >= 120 else f" {idle_trials} gpu-idle", style="bold yellow")
        source = self.state.gpu_source
        if source and gpus:
            t.append(f"  gpu from {source}", style="dim")
        if len(alive) == 1 and alive[0].load is not None:
            t.append(f"  load {alive[0].load:.1f}")
        if not used:
            t.append("  (no metrics: showing requests)", style="dim")
        return t
