"""The UI's mirror of the store, advanced on a tick (k9s: informers fill a cache at any
rate, the screen reads it a few times a second).

`poll()` asks the store what changed since the last tick and applies just that to sorted,
filtered views; widgets then repaint the rows that changed. Pure Python over the store's
typed records: no widgets here, so it is tested without a terminal."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from ktui.cluster.gpuuse import GpuIdleRule
from ktui.cluster.model import JOB_PHASES, NodeView, Problem, SweepSummary, Trial, TrialKey
from ktui.cluster.store import Store
from ktui.ui.distinct import Differing
from ktui.ui.prebuilt import PrebuiltSort
from ktui.ui.render import node_prefix
from ktui.ui.search import SearchTag, filter_scan, search_text
from ktui.ui.sortedview import CHUNK, Narrowing, SortedView
from ktui.ui.sortkeys import next_column, node_sort_key, trial_sort_key

HISTORY = 16  # CPU samples per node for the sparkline
# A filter is scanned from the top of the display: the first frame needs only the rows on
# screen (and the cursor's row); the rest is scanned in steps after it (NOTES.md M7).
NARROW_STEP = 20_000
NARROW_BUDGET = 0.010  # s: the first scan may stop here, once past the cursor's row


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
    # Trials came or went, or one changed sweep: who belongs to which sweep moved.
    members: bool = False

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
    differing: Differing | None = None


# What any trial sort key or search text reads (see _trial_sort_key, _search_text): a
# change elsewhere (usage, times, messages) moves no row and changes no tag.
_SORTED_BY = attrgetter("phase", "node", "reason", "sweep", "retries", "created", "index", "raw_params", "metric",
                        "gpu_util", "gpu_idle")


class UiState:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self.version = -1
        self.metrics: dict[TrialKey, dict[str, float]] = {}
        # (namespace, sweep) -> (its finished trials read to the end, its finished trials),
        # while the logs of a shown sweep are still being read (its best is not final yet).
        self.metrics_read: dict[tuple[str, str], tuple[int, int]] = {}
        # (namespace, sweep) -> the parameters that vary within it (the PARAMS column shows
        # them first), for the sweeps whose lines are shown (see MainScreen._feed_metrics).
        self.varying: dict[tuple[str, str], frozenset[str]] = {}
        # Which of image and code the trials differ in (the job table's IMAGE, CODE columns):
        # counted as trials change, rebuilt with the view on a reset.
        self.differing = Differing()
        self.trial_sort = "sweep"
        self.trial_reverse = False
        self.node_sort = "name"
        self.filter_text = ""
        self.sweep_filter: str | None = None
        self._search: dict[TrialKey, str] = {}
        # Every trial in the current sort; `trials` (what the table shows) is it narrowed
        # by the filter (or it, unfiltered), so a filter change never sorts.
        self._base: SortedView[TrialKey, Trial] = SortedView(self.trial_sort_key("sweep"), tag=self._tag(self._search))
        self.trials: SortedView[TrialKey, Trial] = self._base
        # Speculation: `s` cycles TRIAL_SORTS in order, so every trial in the next column's
        # order is built in the background and kept current; `s` swaps it in.
        self.prebuilt = PrebuiltSort()
        self._narrowing: Narrowing[TrialKey, Trial] | None = None  # a filter scan under way
        self._narrow_rows = 0
        self.narrow_step_rows = NARROW_STEP
        self.narrow_budget = NARROW_BUDGET
        self.last_input = 0.0  # time.monotonic() of the last key or mouse event (set by the app)
        self.nodes: SortedView[str, NodeView] = SortedView(node_sort_key("name"))
        self._nodes_version = -1  # the store version the node view last followed
        # kind -> (listed, expected or None) while first lists arrive (see poll_nodes).
        self.listing: dict[str, tuple[int, int | None]] = {}
        # Trials joined while the first lists arrived, with their search texts (see
        # prepare_load); the rebuild at the list's end takes the texts of those unchanged.
        self._ahead: dict[TrialKey, tuple[Trial, str]] = {}
        self.sweeps: list[SweepSummary] = []
        self.problems: tuple[Problem, ...] = ()
        self.cpu_history: dict[str, deque[float]] = {}
        # What every node's name starts with (see render.node_prefix), kept as nodes come
        # and go, not per row: the job table renders 150,000 rows through it.
        self.node_prefix = ""
        self.node_name_width = 0  # the longest node name: where it fits, names show whole

    @property
    def gpu_rule(self) -> GpuIdleRule:
        return self.store.gpu_rule

    @property
    def gpu_source(self) -> str | None:
        """Where GPU readings come from, for the node pane's summary line."""
        return self.store.gpu_source

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
        if ch.trials or ch.removed_trials:
            changed = self.store.get_trials(ch.trials)
            known = self._base.records()
            search = self._search
            retagged: set[TrialKey] = set()
            # (only the speculative view reads it: in a storm there is mostly none)
            resorted: set[TrialKey] | None = set() if self.prebuilt.column is not None else None
            for k, t in changed.items():
                old = known.get(k)
                if resorted is not None and (old is None or _SORTED_BY(old) != _SORTED_BY(t)):
                    resorted.add(k)
                # Most changes (phase aside) leave the searched words alone: formatting the
                # params again was the biggest cost of a watch storm on this thread.
                if (old is None or k not in search or old.raw_params != t.raw_params
                        or (old.phase, old.node, old.reason, old.sweep, old.gpu_idle)
                        != (t.phase, t.node, t.reason, t.sweep, t.gpu_idle)):
                    search[k] = self._search_text(t)
                    retagged.add(k)
                    if old is None or old.sweep != t.sweep:
                        tick.members = True
            if ch.removed_trials:
                tick.members = True
            for k in ch.removed_trials:
                self._search.pop(k, None)
                self.metrics.pop(k, None)
            self.differing.update(changed, ch.removed_trials)
            tick.trials_moved = self._apply(changed, ch.removed_trials, retagged=retagged, resorted=resorted)
            tick.trials = set(changed)
        self._follow_nodes(tick, ch.nodes, ch.removed_nodes)
        tick.sweeps = ch.sweeps
        tick.problems = ch.problems
        if tick.sweeps:
            self.sweeps = self.store.sweeps()
        if tick.problems:
            self.problems = self.store.problems()
        self.version = self._nodes_version = ch.version
        self.listing = {}
        return tick

    def prepare_load(self) -> int:
        """While first lists arrive (in a worker, one at a time, never with `rebuild`): join
        the trials that are in and work out their search texts, so that the rebuild at the
        list's end finds most of its work done. Returns how many trials it took."""
        joined = self.store.join_ready()
        text = self._search_text
        ahead = self._ahead
        for k, t in joined.items():
            ahead[k] = (t, text(t))
        return len(joined)

    def poll_nodes(self) -> Tick:
        """While a big cluster's first lists arrive: follow the nodes and how far the lists
        have come, and leave the trials to the list's end (one rebuild then).

        Following the trials meant joining each one two or three times (its Job, then its
        pod, then again when pods are known to be all in), their search texts twice, and a
        merge into the view each second: seconds of this thread's GIL at scale, taken from
        the reflectors' decoding (NOTES.md M10)."""
        tick = Tick()
        listing = self.store.list_progress()
        if listing != self.listing:
            self.listing = listing
            tick.sweeps = True  # the job header shows the progress
        problems = self.store.problems()
        if problems != self.problems:  # (an unreachable server, a list that is refused)
            self.problems = problems
            tick.problems = True
        ch = self.store.node_changes_since(max(self._nodes_version, 0))
        if ch is None:
            version = self.store.version  # (before the snapshot: what lands after it comes next time)
            snapshot = self.store.snapshot_nodes()
            self.nodes.reset(snapshot)
            for n in snapshot.values():
                self._sample(n)
            self._nodes_version = version
            tick.nodes_moved = True
            return tick
        self._nodes_version, names, removed = ch
        self._follow_nodes(tick, names, removed)
        return tick

    def _follow_nodes(self, tick: Tick, names: Collection[str], removed: Collection[str]) -> None:
        """Bring the node view (and the CPU histories) up to the store for these nodes."""
        if not names and not removed:
            return
        changed = self.store.get_nodes(names)
        for n in changed.values():
            self._sample(n)
        for name in removed:
            self.cpu_history.pop(name, None)
        known = len(self.nodes)
        tick.nodes_moved = self.nodes.update(changed, removed)
        tick.nodes = set(changed)
        if removed or len(self.nodes) != known:
            self._set_node_prefix()

    def _set_node_prefix(self) -> None:
        names = self.nodes.records()
        self.node_prefix = node_prefix(names)
        self.node_name_width = max(map(len, names), default=0)

    def _sample(self, n: NodeView) -> None:
        hist = self.cpu_history.setdefault(n.name, deque(maxlen=HISTORY))
        share = (n.used.cpu_m if n.used else n.requested.cpu_m) / n.allocatable.cpu_m if n.allocatable.cpu_m else 0.0
        hist.append(share)

    def set_metrics(self, updates: Mapping[TrialKey, dict[str, float]]) -> bool:
        """New metric values read from trial logs; True when rows moved."""
        self.metrics.update(updates)
        if "metric" not in (self.trial_sort, self.prebuilt.column):
            return False
        records = self._base.records()
        return self._apply({k: records[k] for k in updates if k in records}, (), metric=True)

    def _apply(self, changed: Mapping[TrialKey, Trial], removed: Any, metric: bool = False,
               retagged: set[TrialKey] | None = None, resorted: set[TrialKey] | None = None) -> bool:
        """Apply changes to the shown view, the unfiltered one and the speculative one
        (`metric`: only metric values changed; only metric-sorted views care; `retagged`:
        the changed trials whose search text changed, None: any; `resorted`: those whose
        sort keys may have changed, None: any)."""
        self._settle()
        if metric:
            retagged = set()
        moved = False
        if not metric or self.trial_sort == "metric":
            if self.trials is not self._base:
                moved = self.trials.update(changed, removed, retagged)  # narrowed: before its parent
            moved_base = self._base.update(changed, removed, retagged)
            if self.trials is self._base:
                moved = moved_base
        if not (metric and self.prebuilt.column != "metric"):
            self.prebuilt.follow(changed, removed, retagged, resorted)
        return moved

    # -- sorting and filtering ------------------------------------------------------------

    _search_text = staticmethod(search_text)

    def _narrow(self, base: SortedView[TrialKey, Trial]) -> SortedView[TrialKey, Trial]:
        """`base` narrowed to the filter, in its order (no sort): C-level map()s over its
        keys (NOTES.md M7)."""
        self._narrowing = None
        scan = self._scan(base)
        if scan is None:
            return base
        scan.step(len(base))
        return scan.view

    def _scan(self, base: SortedView[TrialKey, Trial]) -> Narrowing[TrialKey, Trial] | None:
        """A scan of `base` for the filter (None: no filter, `base` as it is)."""
        return filter_scan(base, self._tag(self._search), self.filter_text, self.sweep_filter)

    def _tag(self, search: dict[TrialKey, str]) -> SearchTag:
        return SearchTag(search, search_text)

    # -- rebuilding, off the UI thread ------------------------------------------------------

    def rebuild(self, reset: bool, pause: Callable[[], None] | None = None) -> Rebuilt:
        """Build the unfiltered trial view (and, on reset, everything) for the current sort;
        `install` narrows it to the filter.

        Runs in a worker: at 150,000 trials a sort takes a few hundred ms; `pause` runs
        between its steps (see SortedView.build). It only reads this state; the caller
        pauses polling until `install`, so nothing it reads moves."""
        if reset:
            version = self.store.version  # changes after this are re-applied by the next poll
            trials = self.store.snapshot_trials()
            ahead, self._ahead = self._ahead, {}
            text = self._search_text
            search = {}
            for k, t in trials.items():
                pre = ahead.get(k)
                search[k] = pre[1] if pre is not None and pre[0] is t else text(t)
        else:
            version = self.version
            trials = dict(self._base.records())
            search = self._search
        view = SortedView.build(trials, self.trial_sort_key(self.trial_sort), self.trial_reverse,
                                self._tag(search), pause)
        out = Rebuilt(version, view, search)
        if reset:
            out.differing = Differing()
            out.differing.reset(trials)
            out.nodes = SortedView(node_sort_key(self.node_sort), reverse=self.nodes.reverse)
            out.nodes.reset(self.store.snapshot_nodes())
        return out

    def install(self, rebuilt: Rebuilt) -> Tick:
        """Swap in views from `rebuild` (UI thread); returns what to repaint."""
        # A re-sort changes no record, so no cached row; a reset may change them all.
        tick = Tick(trials_moved=True, reset=rebuilt.nodes is not None)
        self._search = rebuilt.search
        self._base = rebuilt.trials
        self._base.reverse = self.trial_reverse
        self.trials = self._narrow(self._base)
        pre = self.prebuilt
        if rebuilt.nodes is not None or pre.column != next_column(self.trial_sort):
            pre.drop()
        elif pre.view is not None and not pre.busy:  # (a worker catching it up has its own)
            pre.view.share_records(self._base.shared_records())
        if rebuilt.differing is not None:
            self.differing = rebuilt.differing
        if rebuilt.nodes is not None:
            self.nodes = rebuilt.nodes
            self._set_node_prefix()
            for n in self.nodes.records().values():
                self._sample(n)
            tick.nodes_moved = True
            tick.sweeps = tick.problems = True
            self.sweeps = self.store.sweeps()
            self.problems = self.store.problems()
            self.version = self._nodes_version = rebuilt.version
            self.listing = self.store.list_progress()
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

    def _metric_value(self, t: Trial) -> tuple[float, bool] | None:
        m, goal = self.metric_of(t), self.goal_of(t)
        if m is None or goal is None:
            return None
        return m[1], goal[1] == "maximize"

    def trial_sort_key(self, column: str) -> Callable[[Trial], str]:
        return trial_sort_key(column, self._metric_value)

    def sort_trials(self, column: str, reverse: bool = False, fast: bool = True) -> bool:
        """Set the sort. True when it is in place now (the same column reversed, or the
        speculative view's column); False when the caller must rebuild
        (`rebuild(reset=False)`, in a worker at scale). `fast=False` (a rebuild is under
        way, the views are about to be replaced): always False."""
        self._settle()
        same = column == self.trial_sort
        self.trial_sort, self.trial_reverse = column, reverse
        if fast and same:
            self._base.reverse = self.trials.reverse = reverse
            return True
        pre = self.prebuilt
        if fast and column == pre.column:
            if pre.busy:
                pre.promoted = True  # being built: it lands through install_prebuilt
                return False
            if pre.view is not None:
                self._take_prebuilt()  # (caught up first: stale after a burst)
                return True
        pre.drop()
        return False

    def _take_prebuilt(self) -> None:
        self._base = self.prebuilt.take(self._base)
        self._base.reverse = self.trial_reverse
        self.trials = self._narrow(self._base)

    def refilter(self, rows: int = 0, anchor: TrialKey | None = None) -> Tick:
        """After set_filter, when no rebuild is under way: narrow the unfiltered view.

        Only as much is scanned at once as the screen needs: the rows down to `anchor`
        (the cursor's row, so the cursor keeps it), and `rows` matches more, or what
        NARROW_BUDGET allows past the anchor. `narrow_step` scans the rest; until then
        `narrowing` is true and `trials` holds the top of the final view, exactly."""
        scan = self._scan(self._base)
        self._narrowing = None
        if scan is None:
            self.trials = self._base
            return Tick(trials_moved=True)
        must = 0
        if anchor is not None and anchor in self._base.records():
            try:
                must = self._base.index(anchor) + 1
            except ValueError:
                must = 0
        step = max(self.narrow_step_rows, 1)
        t0 = time.perf_counter()
        found_at_anchor: int | None = None
        while not scan.step(min(step, max(must - scan.scanned, 0) or step)):
            if scan.scanned < must:
                continue
            if found_at_anchor is None:
                found_at_anchor = scan.found
            if scan.found - found_at_anchor >= rows or time.perf_counter() - t0 >= self.narrow_budget:
                break
        self.trials = scan.view
        if not scan.done:
            self._narrowing, self._narrow_rows = scan, (found_at_anchor or 0) + rows
        return Tick(trials_moved=True)

    @property
    def narrowing(self) -> bool:
        """A filter scan is under way (see refilter)."""
        return self._narrowing is not None

    def narrow_step(self) -> Tick:
        """Scan on; what to repaint: rows the screen may show, or the finished count."""
        scan = self._narrowing
        if scan is None:
            return Tick()
        before = scan.found
        if scan.step(self.narrow_step_rows):
            self._narrowing = None
            return Tick(trials_moved=True)
        return Tick(trials_moved=before < self._narrow_rows)

    def _settle(self) -> None:
        """Finish a filter scan before the views change under it."""
        while self._narrowing is not None:
            self.narrow_step()

    # -- speculation: the next sort column, built in the background (ui/prebuilt.py) -------

    def prebuilt_wanted(self) -> bool:
        return self.version >= 0 and self.prebuilt.wanted()

    def start_prebuilt(self) -> int:
        """UI thread: the next column's view is to be built (or caught up) in a worker."""
        return self.prebuilt.start(next_column(self.trial_sort))

    def build_prebuilt(self, token: int, pause: Callable[[], None] | None = None,
                       chunk: int = CHUNK) -> SortedView[TrialKey, Trial] | None:
        """Worker: the view start_prebuilt asked for (None: dropped since)."""
        records = dict(self._base.records())  # one C call: a consistent snapshot
        return self.prebuilt.build(token, records, self.trial_sort_key, self._tag(self._search), pause, chunk)

    def install_prebuilt(self, token: int, view: SortedView[TrialKey, Trial] | None) -> bool:
        """UI thread: the built view, caught up; the sort now if `s` asked for it meanwhile."""
        if not self.prebuilt.install(token, view, self._base):
            return False
        if self.prebuilt.promoted:
            self._take_prebuilt()
        return True

    def sort_nodes(self, column: str, reverse: bool = False) -> None:
        self.node_sort = column
        self.nodes.configure(sort_key=node_sort_key(column), reverse=reverse)

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
            t = self._base.record((ns, name))  # (the filter may hide the best)
            if t is None or t.sweep != sweep.name:
                continue
            m, goal = self.metric_of(t), self.goal_of(t)
            if m is None or goal is None:
                continue
            if best is None or (m[1] > best[2] if goal[1] == "maximize" else m[1] < best[2]):
                best = (name, m[0], m[1])
        return best

    def phase_counts(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(JOB_PHASES, 0)
        for s in self.sweeps:
            counts["Pending"] += s.pending
            counts["Running"] += s.running
            counts["Succeeded"] += s.succeeded
            counts["Failed"] += s.failed
            counts["Suspended"] += s.suspended
            counts["EarlyStopped"] += s.stopped
        return counts
