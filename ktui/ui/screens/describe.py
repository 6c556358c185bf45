"""`d`: everything known about one trial: phase and reason, pods, events, the Job spec."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

import yaml
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ktui.cluster import provenance
from ktui.cluster.backend import Backend
from ktui.cluster.format import reason_line, short_params
from ktui.cluster.model import Trial, TrialDescription, TrialKey
from ktui.ui.queuetext import conditions_table, queue_rows
from ktui.ui.render import fmt_age, fmt_mem, phase_text


class DescribeScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,d", "dismiss", "Close", id="describe.close"),
    ]

    def __init__(self, backend: Backend, trial: TrialKey, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.backend = backend
        self.trial = trial
        self.clock = clock

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="describe-box", classes="dialog"):
            yield Static(f"describing {self.trial[0]}/{self.trial[1]}…", id="describe-body")

    def on_mount(self) -> None:
        self._load()

    @work(thread=True, exclusive=True)
    def _load(self) -> None:
        try:
            d = self.backend.describe(self.trial)
        except Exception as e:  # forbidden, gone, unreachable: say so in the dialog
            self.app.call_from_thread(self._show_error, str(e))
            return
        self.app.call_from_thread(self._show, d)

    def _show_error(self, message: str) -> None:
        self.query_one("#describe-body", Static).update(Text(f"cannot describe {self.trial[1]}: {message}", style="red"))

    def _show(self, d: TrialDescription) -> None:
        now = self.clock()
        t = d.trial
        head = Table.grid(padding=(0, 2))
        head.add_column(style="bold")
        head.add_column()
        head.add_row("Job", f"{t.namespace}/{t.name}")
        head.add_row("Sweep", f"{t.sweep or '-'} trial {t.index if t.index is not None else '-'}")
        head.add_row("Params", short_params(t.params, 400) or "-")
        head.add_row("Phase", phase_text(t))
        if t.reason:
            head.add_row("Reason", Text(reason_line(t.reason, t.message), style="red"))
        if t.queue is not None:
            for label, words in queue_rows(t.queue):
                head.add_row(label, words)
        head.add_row("Node", t.node or "-")
        head.add_row("Started", fmt_age(now - t.started) + " ago" if t.started else "-")
        head.add_row("Duration", fmt_age(t.duration(now)))
        head.add_row("Retries", str(t.retries))
        if t.gpu or t.gpu_util is not None:
            head.add_row("GPUs", gpu_words(t, now))
        for label, words in provenance.rows(t.provenance_dict()):
            head.add_row(label, words)
        pods = Table(title="pods", expand=True, title_justify="left")
        for col in ("name", "phase", "node", "age", "restarts", "reason"):
            pods.add_column(col)
        for p in d.pods:
            pods.add_row(p.name, p.phase, p.node or "-", fmt_age(now - p.created) if p.created else "-",
                         str(p.restarts), p.reason or "")
        events = Table(title="events", expand=True, title_justify="left")
        for col in ("type", "reason", "object", "age", "message"):
            events.add_column(col)
        for e in d.events:
            events.add_row(Text(e.type, style="yellow" if e.type == "Warning" else ""), e.reason, e.object,
                           fmt_age(now - e.last) if e.last else "-", e.message)
        parts: list = [head, pods, events]  # type: ignore[type-arg]
        if t.queue is not None and t.queue.conditions:
            parts.insert(1, conditions_table(t.queue))
        if d.manifest:
            spec = (d.manifest.get("spec") or {}).get("template", {}).get("spec", {})
            parts.append(Text("\npod spec", style="bold"))
            parts.append(Text(yaml.safe_dump(spec, sort_keys=False, width=200)))
        self.query_one("#describe-body", Static).update(Group(*parts))


def gpu_words(t: Trial, now: float) -> Text:
    """What the trial's GPUs do, as last read."""
    text = Text(f"{t.gpu} requested" if t.gpu else "")
    if t.gpu_util is None:
        text.append("; use not read (its node's exporter, or none)" if t.phase == "Running" else "", style="dim")
        return text
    text.append(f"{', ' if t.gpu else ''}{t.gpu_util:.0f}% busy")
    if t.gpu_mem is not None:
        text.append(f", {fmt_mem(t.gpu_mem)} memory")
    if t.gpu_idle and t.gpu_idle_since is not None:
        text.append(f"  idle for {fmt_age(now - t.gpu_idle_since)}", style="bold yellow")
    return text
