"""The job pane: per-sweep summary lines, a filter, and every trial in a virtual table."""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input

from ktui.ui.render import TRIAL_CELLS, sweep_line, trial_cells
from ktui.ui.state import UiState
from ktui.ui.widgets.line import Line
from ktui.ui.widgets.queueline import QueueLine
from ktui.ui.widgets.vtable import Column, VirtualTable, layout_widths

MAX_SWEEP_LINES = 4
_CELL_INDEX = {k: i for i, k in enumerate(TRIAL_CELLS)}


def job_columns(width: int, one_node: bool = False, gpu: bool = False, differ: tuple[str, ...] = ()) -> list[Column]:
    """Columns that fit `width` (minus a scrollbar) without horizontal scrolling. With one
    node (this machine, a kind cluster) the NODE column says nothing: at 80 columns its
    room goes to the measured CPU and memory instead. `gpu`: some trial's GPU use is known
    (the column takes no room from the others until then). `differ`: "image", "code" when
    the trials differ in it (a column that would say the same on every row is left out)."""
    cols = _job_columns(width, one_node)
    at = next(i for i, c in enumerate(cols) if c.key == "phase")
    if "code" in differ:
        cols.insert(at, Column("code", "CODE", 8))
    if "image" in differ:
        cols.insert(at, Column("image", "IMAGE", 12 if width < 140 else 18, flex=1, keep="end"))
    if gpu:  # (at 80 columns the busy share alone: "94%")
        at = next(i for i, c in enumerate(cols) if c.key == "retries")
        cols.insert(at, Column("gpu", "GPU", 9, align="right") if width >= 140
                    else Column("gpu_util", "GPU", 4, align="right"))
    return _squeeze(cols, width) if differ else cols


# How narrow a column may get to make room for IMAGE and CODE, in the order they give way.
_FLOORS = (("params", 5), ("reason", 5), ("image", 6), ("name", 10), ("metric", 5), ("node", 5))
_SCROLLBAR = 2


def _squeeze(cols: list[Column], width: int) -> list[Column]:
    over = sum(c.width for c in cols) + len(cols) - 1 - (width - _SCROLLBAR)
    for key, floor in _FLOORS:
        if over <= 0:
            break
        i = next((i for i, c in enumerate(cols) if c.key == key), None)
        if i is None or cols[i].width <= floor:
            continue
        cut = min(over, cols[i].width - floor)
        cols[i] = dataclasses.replace(cols[i], width=cols[i].width - cut)
        over -= cut
    return cols


def _job_columns(width: int, one_node: bool) -> list[Column]:
    if width >= 140:
        return [
            Column("name", "JOB", 16, flex=2),
            Column("sweep", "SWEEP", 10, flex=1),
            Column("params", "PARAMS", 16, flex=4),
            Column("phase", "PHASE", 9),
            Column("node", "NODE", 13, flex=1, keep="end"),
            Column("age", "TIME", 6, align="right"),
            Column("cpu", "CPU", 4, align="right"),
            Column("mem", "MEM", 5, align="right"),
            Column("retries", "RT", 2, align="right"),
            Column("reason", "REASON", 12, flex=2),
            Column("metric", "METRIC", 8, flex=2),
        ]
    if width >= 100:
        # The sweep is in the job name and the summary lines: its column goes first.
        return [
            Column("name", "JOB", 14, flex=2),
            Column("params", "PARAMS", 14, flex=3),
            Column("phase", "PHASE", 9),
            Column("node", "NODE", 13 if not one_node else 8, flex=1, keep="end"),
            Column("age", "TIME", 5, align="right"),
            Column("cpu", "CPU", 4, align="right"),
            Column("mem", "MEM", 5, align="right"),
            Column("retries", "RT", 2, align="right"),
            Column("reason", "REASON", 11, flex=2),
            Column("metric", "METRIC", 7, flex=1),
        ]
    where = ([Column("cpu", "CPU", 3, align="right"), Column("mem", "MEM", 5, align="right")] if one_node
             else [Column("node", "NODE", 8, flex=1, keep="end")])
    return [
        Column("name", "JOB", 14, flex=2),
        Column("params", "PARAMS", 10, flex=2),
        Column("phase", "PHASE", 9),
        *where,
        Column("age", "TIME", 4, align="right"),
        Column("retries", "RT", 2, align="right"),
        Column("reason", "REASON", 10, flex=2),
        Column("metric", "METRIC", 7, flex=1),
    ]


class JobsPane(Vertical):
    DEFAULT_CSS = """
    JobsPane { height: 1fr; }
    JobsPane > #sweeps { height: auto; max-height: 6; text-wrap: nowrap; text-overflow: ellipsis; }
    JobsPane > #job-filter { display: none; height: 1; border: none; padding: 0 1; }
    JobsPane > #job-filter.-active { display: block; }
    """

    def __init__(self, state: UiState, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = state
        self._column_keys = [c.key for c in job_columns(140)]
        self._one_node = False
        self._gpu = False
        self._differ: tuple[str, ...] = ()
        self._node_prefix = ""

    def compose(self) -> ComposeResult:
        yield Line(id="sweeps")
        yield QueueLine(id="queues")
        yield Input(placeholder="filter: words that must all appear (name, sweep, params, phase, node, reason, gpu-idle)", id="job-filter")
        yield VirtualTable(job_columns(140), self._render_row, id="jobs-table")

    @property
    def table(self) -> VirtualTable:
        return self.query_one("#jobs-table", VirtualTable)

    def on_resize(self) -> None:
        self._fit_columns()
        self._fit_node_names()

    def _fit_node_names(self) -> None:
        """Whole node names where the NODE column holds them; else without the prefix
        they share, so the part that tells them apart shows."""
        widths = layout_widths(self.table.columns, self.table.size.width)
        width = next((w for c, w in zip(self.table.columns, widths, strict=False) if c.key == "node"), 0)
        prefix = self.state.node_prefix if width < self.state.node_name_width else ""
        if prefix != self._node_prefix:
            self._node_prefix = prefix
            self.table.forget_rows()

    def _fit_columns(self) -> None:
        cols = job_columns(self.size.width, self._one_node, self._gpu, self._differ)
        keys = [c.key for c in cols]
        if keys != self._column_keys or cols[0].width != self.table.columns[0].width:
            self._column_keys = keys
            self.table.set_columns(cols)

    def _render_row(self, key: Hashable) -> Sequence[Text | str]:
        t = self.state.trials.record(key)  # type: ignore[arg-type]
        if t is None:
            return (str(key),)
        goal = self.state.goal_of(t)
        cells = trial_cells(t, self.state.clock(), self.state.metrics.get(t.key), goal[0] if goal else None,
                            self._node_prefix, self.state.varying.get((t.namespace, t.sweep or "")) or ())
        return [cells[_CELL_INDEX[k]] for k in self._column_keys]

    def refresh_from(self, changed: set, moved: bool, sweeps: bool) -> None:  # type: ignore[type-arg]
        one_node = len(self.state.nodes.keys) == 1
        gpu = self.state.store.has_gpu_use
        differ = self.state.differing.columns(self.state.sweep_filter)
        if one_node != self._one_node or gpu != self._gpu or differ != self._differ:
            self._one_node, self._gpu, self._differ = one_node, gpu, differ
            self._fit_columns()
        self._fit_node_names()
        self.table.locate = self.state.trials.index
        self.table.update(self.state.trials.keys, changed, reordered=moved)
        sort = self.state.trial_sort
        self.table.sort_column = "gpu_util" if sort == "gpu" and "gpu_util" in self._column_keys else sort
        self.table.sort_reverse = self.state.trials.reverse

    def refresh_summary(self) -> None:
        self.query_one("#sweeps", Line).show(self.sweep_summary())
        self.query_one(QueueLine).show_loads(self.state.store.queue_loads())

    def visible_keys(self) -> list:  # type: ignore[type-arg]
        t = self.table
        top = int(t.scroll_y)
        keys = t.keys
        return [keys[i] for i in range(top, min(top + t.size.height, len(keys)))]

    def shown_sweeps(self) -> list:  # type: ignore[type-arg]
        return [s for s in self.state.sweeps if self.state.sweep_filter in (None, s.name)][:MAX_SWEEP_LINES]

    def sweep_summary(self) -> Text:
        sweeps = self.state.sweeps
        out = Text(no_wrap=True, overflow="ellipsis")
        shown = [s for s in sweeps if self.state.sweep_filter in (None, s.name)]
        header = Text(no_wrap=True)
        total = sum(s.total for s in sweeps)
        more = "+" if self.state.narrowing else ""  # a filter scan under way: more may come
        header.append(f"{len(self.state.trials)}{more} of {self.state.trials.total} jobs", style="bold")
        if self.state.sweep_filter:
            header.append(f"  sweep={self.state.sweep_filter}", style="bold cyan")
        if self.state.filter_text:
            header.append(f"  filter={self.state.filter_text!r}", style="bold cyan")
        header.append(f"  sort={self.state.trial_sort}{' desc' if self.state.trials.reverse else ''}", style="dim")
        if self.state.listing:
            header.append("  listing", style="bold yellow")
            for kind, (listed, expected) in sorted(self.state.listing.items()):
                header.append(f" {kind} {listed:,}" + (f"/{expected:,}" if expected else ""), style="yellow")
        elif not sweeps and not total:
            header.append("  (no ktui sweeps yet: press n to launch one)", style="dim")
        out.append_text(header)
        for s in shown[:MAX_SWEEP_LINES]:
            out.append("\n")
            out.append_text(sweep_line(s, self.state.best_trial(s), self.state.metrics_read.get((s.namespace, s.name))))
        if len(shown) > MAX_SWEEP_LINES:
            out.append(f"\n… {len(shown) - MAX_SWEEP_LINES} more sweeps (f cycles the sweep filter)", style="dim")
        return out
