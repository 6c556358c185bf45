"""What one trial's log told of its metrics: the latest value of each, and its history
against step, bounded whatever the log holds (a learning curve of a million steps keeps a
few thousand points, evenly spread; a log of 100,000 distinct keys keeps MAX_METRICS)."""

from __future__ import annotations

from collections.abc import Iterable

from ktui.logtext.metrics import MAX_METRICS, MetricReader

MAX_POINTS = 2048  # per metric; beyond it every other point goes and the stride doubles


class Series:
    """One metric's (step, value) points, down-sampled past MAX_POINTS; the latest point
    and the best values are kept whatever was dropped."""

    __slots__ = ("steps", "values", "stride", "_skip", "last", "high", "low", "count")

    def __init__(self) -> None:
        self.steps: list[float] = []
        self.values: list[float] = []
        self.stride = 1
        self._skip = 0
        self.last: tuple[float, float] | None = None
        self.high = float("-inf")
        self.low = float("inf")
        self.count = 0

    def add(self, step: float, value: float) -> None:
        self.count += 1
        self.last = (step, value)
        self.high = max(self.high, value)
        self.low = min(self.low, value)
        self._skip += 1
        if self._skip < self.stride:
            return
        self._skip = 0
        self.steps.append(step)
        self.values.append(value)
        if len(self.steps) >= MAX_POINTS:
            del self.steps[1::2], self.values[1::2]
            self.stride *= 2

    def points(self) -> list[tuple[float, float]]:
        pts = list(zip(self.steps, self.values, strict=True))
        if self.last is not None and (not pts or pts[-1] != self.last):
            pts.append(self.last)
        return pts

    def best(self, maximize: bool) -> float | None:
        if not self.count:
            return None
        return self.high if maximize else self.low


class TrialMetrics:
    """Fed a trial's log lines in order (one attempt's log: a new attempt starts over)."""

    def __init__(self) -> None:
        self.latest: dict[str, float] = {}
        self.series: dict[str, Series] = {}
        self._reader = MetricReader()

    def feed(self, lines: Iterable[str]) -> bool:
        """True when a metric was read."""
        changed = False
        for line in lines:
            r = self._reader.feed(line)
            if r is None:
                continue
            for k, v in r.values.items():
                s = self.series.get(k)
                if s is None:
                    if len(self.series) >= MAX_METRICS:
                        continue
                    s = self.series[k] = Series()
                s.add(r.step if r.step is not None else float(self._reader.count), v)
                self.latest[k] = v
                changed = True
        return changed
