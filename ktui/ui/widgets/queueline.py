"""The queue line above the job table: per Kueue LocalQueue, how many Workloads wait and
how many are admitted; shown only while some trial waits in a queue."""

from __future__ import annotations

from ktui.cluster.queuefeed import QueueLoad
from ktui.ui.queuetext import queue_line
from ktui.ui.widgets.line import Line


class QueueLine(Line):
    DEFAULT_CSS = """
    QueueLine { height: 1; display: none; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    _loads: list[QueueLoad] | None = None

    def show_loads(self, loads: list[QueueLoad]) -> None:
        if loads == self._loads:
            return
        self._loads = loads
        self.display = bool(loads)
        self.show(queue_line(loads))
