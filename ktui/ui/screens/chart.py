"""`p`: the sweep's metric against step, one line per trial, the selected trial and the
best one drawn over the rest; the curves follow the running trials while it is open."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from ktui.cluster.format import COUNTERS, fmt_number
from ktui.cluster.logmetrics import LogMetrics
from ktui.cluster.model import TrialKey
from ktui.cluster.results import maximize
from ktui.ui.chart import Curve, render_chart
from ktui.ui.widgets.line import Line

REDRAW_SECONDS = 2.0
# (others, best, selected): with colour, and without (NO_COLOR: attributes only)
STYLES = {True: ("grey50", "bold green", "bold cyan"), False: ("dim", "bold", "bold reverse")}


class ChartScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,p", "dismiss", "Back", id="chart.close"),
        Binding("m", "next_metric", "Metric", id="chart.metric"),
        Binding("right_square_bracket", "move(1)", "Next trial", id="chart.next-trial"),
        Binding("left_square_bracket", "move(-1)", "Previous trial", id="chart.prev-trial"),
    ]

    @dataclass
    class Drawn(Message):
        lines: list[Text]
        title: Text
        legend: Text
        view: tuple[object, ...] = ()

    def __init__(self, log_metrics: LogMetrics, sweep: tuple[str, str], members: Sequence[TrialKey],
                 selected: TrialKey | None, declared: dict[str, str] | None) -> None:
        super().__init__()
        self.log_metrics = log_metrics
        self.sweep = sweep
        self.members = sorted(members)
        self.selected = selected if selected in members else (self.members[0] if self.members else None)
        self.declared = declared
        self.metric = declared.get("name") if declared else None
        self._shown: tuple[object, ...] | None = None  # what the plot shows (see _draw)

    def compose(self) -> ComposeResult:
        yield Line(id="chart-title")
        yield Line(id="chart-legend")
        yield Static(id="chart-plot")
        yield Footer()

    def on_mount(self) -> None:
        if self.metric is None:
            names = self._metric_names()
            self.metric = names[0] if names else None
        self.redraw()
        self.set_interval(REDRAW_SECONDS, self.redraw)

    def on_resize(self) -> None:
        self.redraw()

    def _metric_names(self) -> list[str]:
        """The metrics the sweep's logs print; progress counters (epoch, step) last, so a
        sweep with no declared metric opens on one that measures something."""
        names: dict[str, None] = {}
        for k in self.members[:500]:
            names.update(dict.fromkeys(self.log_metrics.history_names(k)))
        return sorted(names, key=lambda n: n.lower() in COUNTERS)

    def action_next_metric(self) -> None:
        names = self._metric_names()
        if names:
            i = names.index(self.metric) + 1 if self.metric in names else 0
            self.metric = names[i % len(names)]
            self.redraw()

    def action_move(self, step: int) -> None:
        if self.members and self.selected is not None:
            i = self.members.index(self.selected) if self.selected in self.members else 0
            self.selected = self.members[(i + step) % len(self.members)]
            self.redraw()

    def redraw(self) -> None:
        plot = self.query_one("#chart-plot", Static)
        self._draw(self.metric, self.selected, plot.size.width or self.size.width,
                   max(4, (plot.size.height or self.size.height - 2)), not self.app.no_color)

    @work(thread=True, exclusive=True, group="chart")
    def _draw(self, metric: str | None, selected: TrialKey | None, width: int, height: int, color: bool) -> None:
        # In a worker: a thousand curves take ~0.2 s to draw (ui/chart.py). Not again when
        # nothing new was read and nothing about the view changed (a finished sweep).
        read = sum(s.count for k in self.members if metric and (s := self.log_metrics.series(k, metric)))
        view = (metric, selected, width, height, color, read)
        if view == self._shown:
            return
        others, best_style, sel_style = STYLES[color]
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append(f" {self.sweep[1]} ", style="bold reverse")
        if metric is None:
            self.post_message(self.Drawn([Text("no metrics read from this sweep's logs yet", style="dim")], title,
                                         Text()))
            return
        up = maximize(metric, self.declared)
        keyed: dict[TrialKey, Curve] = {}
        best: tuple[float, TrialKey] | None = None
        for k in self.members:
            s = self.log_metrics.series(k, metric)
            if s is None:
                continue
            keyed[k] = Curve(s.points(), others)
            b = s.best(up)
            if b is not None and (best is None or (b > best[0] if up else b < best[0])):
                best = (b, k)
        if best is not None:
            keyed[best[1]] = Curve(keyed[best[1]].points, best_style, 1, True)
        if selected is not None and selected in keyed:
            keyed[selected] = Curve(keyed[selected].points, sel_style, 2, True)
        title.append(f"  {metric} ({'higher' if up else 'lower'} is better)  {len(keyed)} of {len(self.members)} trials")
        legend = Text(no_wrap=True, overflow="ellipsis")
        if best is not None:
            legend.append(f" ━ best {best[1][1]} {fmt_number(best[0])}", style=best_style)
        if selected is not None:
            s = self.log_metrics.series(selected, metric)
            last = fmt_number(s.last[1]) if s is not None and s.last is not None else "no value"
            legend.append("  ")
            legend.append(f" ━ selected {selected[1]} {last} ", style=sel_style)
        legend.append("   ━ the other trials", style=others)
        lines = render_chart(list(keyed.values()), width, height, x_label="step")
        self.post_message(self.Drawn(lines, title, legend, view))

    @on(Drawn)
    def _drawn(self, message: Drawn) -> None:
        self._shown = message.view
        self.query_one("#chart-title", Line).show(message.title)
        self.query_one("#chart-legend", Line).show(message.legend)
        self.query_one("#chart-plot", Static).update(Text("\n").join(message.lines))
