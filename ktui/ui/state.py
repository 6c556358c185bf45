"""The UI's mirror of the store, advanced on a tick (k9s: informers fill a cache at any
rate, the screen reads it a few times a second).

`poll()` asks the store what changed since the last tick and applies just that to sorted,
filtered views; widgets then repaint the rows that changed. Pure Python over the store's
typed records: no widgets here, so it is tested without a terminal."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ktui.cluster.format import short_params
from ktui.cluster.model import JOB_PHASES, NodeView, Problem, SweepSummary, Trial, TrialKey
from ktui.cluster.store import Store
from ktui.ui.sortedview import SortedView

HISTORY = 16  # CPU samples per node for the sparkline
_PHASE_RANK = {"Failed": 0, "Running": 1, "Pending": 2, "Suspended": 3, "Succeeded": 4}
_NONE_LAST = "\U0010ffff"


@dataclass
class Tick:
    # The store reset (or this is the first tick): everything must be rebuilt, off the UI
    # thread at scale (see UiState.rebuild); nothing else in this tick is set.
    reset: bool = False
    nodes: set[str] = field(default_factory=set)
    nodes_moved: bool = False
    trials: set[TrialKey] = field(default_factory=set)
    trials_moved: bool = False
    sweeps: bool = False
    problems: bool = False

    def __bool__(self) -> bool:
        return bool(self.reset or self.nodes or self.nodes_moved or self.trials or self.trials_moved
                    or self.sweeps or self.problems)


@dataclass
class Rebuilt:
    """Views built in a worker, installed on the UI thread by UiState.install."""

    version: int
    trials: SortedView[TrialKey, Trial]
    search: dict[TrialKey, str]
    nodes: SortedView[str, NodeView] | None = None


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
}
NODE_SORTS: dict[str, str] = {
    "name": "name",
    "cpu": "CPU requested share",
    "memory": "memory requested share",
    "gpu": "GPUs free",
    "pods": "pod count",
    "trouble": "trouble first",
}


def _share(a: int, b: int) -> float:
    return a / b if b else 0.0


class UiState:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self.version = -1
        self.metrics: dict[TrialKey, dict[str, float]] = {}
        self.trial_sort = "sweep"
        self.node_sort = "name"
        self.filter_text = ""
        self.sweep_filter: str | None = None
        self._search: dict[TrialKey, str] = {}
        self.trials: SortedView[TrialKey, Trial] = SortedView(self._trial_sort_key("sweep"), self._matcher(self._search))
        self.nodes: SortedView[str, NodeView] = SortedView(self._node_sort_key("name"))
        self.sweeps: list[SweepSummary] = []
        self.problems: tuple[Problem, ...] = ()
        self.cpu_history: dict[str, deque[float]] = {}

    # -- tick ---------------------------------------------------------------------------

    def poll(self) -> Tick:
        tick = Tick()
        ch = self.store.changes_since(max(self.version, 0))
        first = self.version < 0
        if not first and not ch:
            return tick
        if first or ch.reset:
            tick.reset = True
            return tick
        else:
            if ch.trials or ch.removed_trials:
                changed = self.store.get_trials(ch.trials)
                for k, t in changed.items():
                    self._search[k] = self._search_text(t)
                for k in ch.removed_trials:
                    self._search.pop(k, None)
                    self.metrics.pop(k, None)
                tick.trials_moved = self.trials.update(changed, ch.removed_trials)
                tick.trials = set(changed)
            if ch.nodes or ch.removed_nodes:
                changed_nodes = self.store.get_nodes(ch.nodes)
                for n in changed_nodes.values():
                    self._sample(n)
                for name in ch.removed_nodes:
                    self.cpu_history.pop(name, None)
                tick.nodes_moved = self.nodes.update(changed_nodes, ch.removed_nodes)
                tick.nodes = set(changed_nodes)
            tick.sweeps = ch.sweeps
            tick.problems = ch.problems
        if tick.sweeps:
            self.sweeps = self.store.sweeps()
        if tick.problems:
            self.problems = self.store.problems()
        self.version = ch.version
        return tick

    def _sample(self, n: NodeView) -> None:
        hist = self.cpu_history.setdefault(n.name, deque(maxlen=HISTORY))
        share = (n.used.cpu_m if n.used else n.requested.cpu_m) / n.allocatable.cpu_m if n.allocatable.cpu_m else 0.0
        hist.append(share)

    def set_metrics(self, updates: Mapping[TrialKey, dict[str, float]]) -> bool:
        """New metric values read from trial logs; True when rows moved."""
        self.metrics.update(updates)
        if self.trial_sort != "metric":
            return False
        records = self.trials.records()
        return self.trials.update({k: records[k] for k in updates if k in records})

    # -- sorting and filtering ------------------------------------------------------------

    def _search_text(self, t: Trial) -> str:
        return " ".join(
            x for x in (t.namespace, t.name, t.sweep or "", short_params(t.params, 400), t.phase,
                        t.node or "", t.reason or "") if x
        ).lower()

    def _matcher(self, search: dict[TrialKey, str]) -> Callable[[Trial], bool]:
        sweep, words = self.sweep_filter, self.filter_text.lower().split()

        def matches(t: Trial) -> bool:
            if sweep is not None and t.sweep != sweep:
                return False
            if not words:
                return True
            hay = search.get((t.namespace, t.name))
            if hay is None:
                hay = self._search_text(t)
            return all(word in hay for word in words)

        return matches

    # -- rebuilding, off the UI thread ------------------------------------------------------

    def rebuild(self, reset: bool) -> Rebuilt:
        """Build the trial view (and, on reset, everything) for the current sort and filter.

        Runs in a worker: at 150,000 trials a sort takes up to a second. It only reads this
        state; the caller pauses polling until `install`, so nothing it reads moves."""
        if reset:
            version = self.store.version  # changes after this are re-applied by the next poll
            trials = self.store.snapshot_trials()
            search = {k: self._search_text(t) for k, t in trials.items()}
        else:
            version = self.version
            trials = dict(self.trials.records())
            search = self._search
        view: SortedView[TrialKey, Trial] = SortedView(
            self._trial_sort_key(self.trial_sort), self._matcher(search), self.trials.reverse)
        view.reset(trials)
        out = Rebuilt(version, view, search)
        if reset:
            out.nodes = SortedView(self._node_sort_key(self.node_sort), reverse=self.nodes.reverse)
            out.nodes.reset(self.store.snapshot_nodes())
        return out

    def install(self, rebuilt: Rebuilt) -> Tick:
        """Swap in views from `rebuild` (UI thread); returns what to repaint."""
        # A re-sort changes no record, so no cached row; a reset may change them all.
        tick = Tick(trials_moved=True, reset=rebuilt.nodes is not None)
        self.trials = rebuilt.trials
        self._search = rebuilt.search
        if rebuilt.nodes is not None:
            self.nodes = rebuilt.nodes
            for n in self.nodes.records().values():
                self._sample(n)
            tick.nodes_moved = True
            tick.sweeps = tick.problems = True
            self.sweeps = self.store.sweeps()
            self.problems = self.store.problems()
            self.version = rebuilt.version
        return tick

    @staticmethod
    def goal_of(t: Trial) -> tuple[str, str] | None:
        """(metric name, "maximize"|"minimize") from the Job's ktui.dev/metric annotation."""
        m = t.metric
        if not m or not m.get("name"):
            return None
        return m["name"], "minimize" if m.get("goal") == "minimize" else "maximize"

    def metric_of(self, t: Trial) -> tuple[str, float] | None:
        goal = self.goal_of(t)
        values = self.metrics.get((t.namespace, t.name))
        if goal and values and goal[0] in values:
            return goal[0], values[goal[0]]
        return None

    def _trial_sort_key(self, column: str) -> Callable[[Trial], tuple[Any, ...]]:
        if column == "name":
            return lambda t: (t.namespace, t.name)
        if column == "phase":
            return lambda t: (_PHASE_RANK.get(t.phase, 9), t.sweep or _NONE_LAST, t.index if t.index is not None else -1, t.name)
        if column == "node":
            return lambda t: (t.node or _NONE_LAST, t.name)
        if column == "age":
            return lambda t: (-(t.created or 0.0), t.name)
        if column == "retries":
            return lambda t: (-t.retries, t.name)
        if column == "reason":
            return lambda t: (t.reason or _NONE_LAST, t.name)
        if column == "metric":
            def metric_key(t: Trial) -> tuple[Any, ...]:
                m = self.metric_of(t)
                goal = self.goal_of(t)
                if m is None or goal is None:
                    return (1, 0.0, t.name)
                return (0, -m[1] if goal[1] == "maximize" else m[1], t.name)
            return metric_key
        return lambda t: (t.sweep or _NONE_LAST, t.namespace, t.index if t.index is not None else -1, t.name)

    def _node_sort_key(self, column: str) -> Callable[[NodeView], tuple[Any, ...]]:
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

    def sort_trials(self, column: str, reverse: bool = False) -> None:
        """Set the sort; the caller rebuilds (`rebuild(reset=False)`, in a worker at scale)."""
        self.trial_sort = column
        self.trials.reverse = reverse

    def sort_nodes(self, column: str, reverse: bool = False) -> None:
        self.node_sort = column
        self.nodes.configure(sort_key=self._node_sort_key(column), reverse=reverse)

    def set_filter(self, text: str, sweep: str | None | bool = False) -> None:
        """Filter trials by words (all must match) and optionally one sweep (None: all);
        the caller rebuilds, as for sort_trials."""
        self.filter_text = text.strip()
        if sweep is not False:
            self.sweep_filter = sweep  # type: ignore[assignment]

    # -- summaries ------------------------------------------------------------------------

    def best_trial(self, sweep: SweepSummary) -> tuple[str, str, float] | None:
        """The sweep's best trial by its metric, among trials whose metrics are known."""
        best: tuple[str, str, float] | None = None
        for (ns, name) in self.metrics:
            if ns != sweep.namespace:
                continue
            t = self.trials.record((ns, name))
            if t is None or t.sweep != sweep.name:
                continue
            m, goal = self.metric_of(t), self.goal_of(t)
            if m is None or goal is None:
                continue
            if best is None or (m[1] > best[2] if goal[1] == "maximize" else m[1] < best[2]):
                best = (name, m[0], m[1])
        return best

    def phase_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(JOB_PHASES, 0)
        for s in self.sweeps:
            counts["Pending"] += s.pending
            counts["Running"] += s.running
            counts["Succeeded"] += s.succeeded
            counts["Failed"] += s.failed
            counts["Suspended"] += s.suspended
        return counts
