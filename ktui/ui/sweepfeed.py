"""What the sweeps on screen need from the background, on the main screen's tick: every one
of their trials' logs read (their best trial, their chart), how far that reading has come,
the parameters that vary within each (the PARAMS column shows them first), and their
early-stopping rules enforced; and the metrics read since the last tick, into the views.

No widgets: the screen hands in what it shows and repaints what this says changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ktui.cluster.backend import Backend
from ktui.cluster.earlystop import EnforcerLoop
from ktui.cluster.logmetrics import LogMetrics
from ktui.cluster.model import TrialKey
from ktui.cluster.results import varying as varying_params
from ktui.ui.pacing import SweepMembers
from ktui.ui.state import Tick, UiState

VARYING_SAMPLE = 2000  # trials of a sweep looked at to find the parameters that vary


@dataclass
class Fed:
    rows_changed: bool = False  # every row may render differently (the varying parameters)
    summary_changed: bool = False  # the sweep lines (the read progress)


class SweepFeed:
    def __init__(self, backend: Backend, state: UiState, log_metrics: LogMetrics) -> None:
        self.backend = backend
        self.state = state
        self.log_metrics = log_metrics
        self.members = SweepMembers()
        self.early_stop = EnforcerLoop(backend, log_metrics)
        self._version = 0

    def feed(self, tick: Tick, shown: set[tuple[str, str]], visible: Callable[[], Iterable[TrialKey]],
             now: float) -> Fed:
        out = Fed()
        members = self.members
        members.stale |= tick.members
        store = self.backend.store
        if members.due(shown, now):
            # Their trials from the store's index, not a pass over every trial (NOTES.md M24).
            members.found({n: store.sweep_members([n]) for n in sorted(shown)}, now)
            out.rows_changed = self._find_varying(members.by_sweep or {})
            self.early_stop.watch(sorted(shown))
        if members.by_sweep and members.progress_due(now):
            out.summary_changed = self._count_read(members.by_sweep)
        if store.listing():
            # Logs are read through the same API server that is still sending the lists
            # (they made the first screen much later at scale: NOTES.md M15): wait for them.
            self.log_metrics.want(())
        else:
            self.log_metrics.want([*visible(), *members.keys])
        self._version, updates = self.log_metrics.changes_since(self._version)
        if updates:
            tick.trials_moved |= self.state.set_metrics(updates)
            tick.trials |= set(updates)
            tick.sweeps = True
        return out

    def _find_varying(self, by_sweep: dict[tuple[str, str], list[TrialKey]]) -> bool:
        """From an evenly spread sample of each sweep (a grid's slowest parameter changes
        across the whole sweep: a sample of its head would miss it)."""
        store = self.backend.store
        varying = {n: frozenset(varying_params(t.params for t in store.get_trials(
            keys[::max(1, len(keys) // VARYING_SAMPLE)]).values())) for n, keys in by_sweep.items()}
        if varying == self.state.varying:
            return False
        self.state.varying = varying
        return True

    def _count_read(self, by_sweep: dict[tuple[str, str], list[TrialKey]]) -> bool:
        """How far each sweep's finished trials have been read: its best is final when all are."""
        done = {(s.namespace, s.name): s.succeeded + s.failed + s.stopped for s in self.state.sweeps}
        read = {n: (min(self.log_metrics.read_count(keys), done.get(n, 0)), done.get(n, 0))
                for n, keys in by_sweep.items()}
        if read == self.state.metrics_read:
            return False
        self.state.metrics_read = read
        return True
