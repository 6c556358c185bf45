"""When the main screen does what: the tick's plan while first lists arrive and after,
which rebuild's result is still wanted, when the next sort column is built ahead, and when
the summary lines and node rows repaint (k9s: the cache fills at any rate, the screen reads
it on its own pace).

No widgets here: the screen asks, does what it is told with its widgets and workers, and
reports back, so these rules are tested without a terminal (tests/ui/test_pacing.py).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ktui.cluster.model import TrialKey

TICK_SECONDS = 0.25  # at most four redraws a second, however fast events arrive
AGE_TICKS = 4  # the TIME column is looked at once a second
LISTING_TICKS = 4  # while the first lists arrive, the nodes and the lists' progress: once a second
SUMMARY_SECONDS = 2.0  # the summary lines' and node rows' pace under churn (k9s: 2 s)
PREBUILT_DELAY = 0.2  # after a sort lands, wait this long (then the next tick) to build the next


class Step(enum.Enum):
    WAIT = "wait"  # a rebuild (or the list's last preparation) is under way: nothing moves
    NARROW = "narrow"  # a filter scan goes on
    LISTING = "listing"  # first lists arriving: only nodes and progress, now and then
    REBUILD = "rebuild"  # the held-back first list is in: rebuild everything (reset)
    POLL = "poll"  # the usual tick: apply the store's changes


@dataclass
class TickPlan:
    step: Step
    ages: bool = False  # refresh the visible rows: ages move with the clock
    summaries: bool = False  # flush the summaries now (their pace has come)
    poll_nodes: bool = False  # (LISTING) follow the nodes and the lists' progress
    prepare: bool = False  # (LISTING) start joining the trials that are in, in a worker


class Prebuild(enum.Enum):
    NO = "no"
    AFTER_FRAME = "after-frame"  # right after the frame showing what the user did
    NOW = "now"


@dataclass
class Pacer:
    ticks: int = 0
    rebuilding: bool = False  # views are built in a worker; the store's changes wait
    generation: int = 0  # each new view (sort, filter, rebuild) supersedes older results
    pending_reset: bool = False  # a reset build was superseded: the next build must reset
    promoted: int | None = None  # the generation a promoted prebuilt sort lands as
    listed: bool = False  # the store's first lists are in, as of the last tick
    held_list: bool = False  # a first list was held back from the views: rebuild when in
    preparing: bool = False  # a worker joins the trials that are in (prepare_load)
    prebuilt_at: float | None = None  # when to start building the next sort's view
    summary_dirty: bool = False
    summary_at: float = 0.0
    pending_nodes: set[str] = field(default_factory=set)
    pending_nodes_moved: bool = False
    # A sort the user asked for shows the new order from its top, cursor on the first row
    # (its point: the failed, or the best, first), as a new filter does.
    sort_top: bool = False

    # -- the tick -----------------------------------------------------------------------

    def tick(self, *, now: float, narrowing: bool, started: bool, listing: bool) -> TickPlan:
        """`started`: the views have been built once; `listing`: first lists still arrive."""
        self.ticks += 1
        plan = TickPlan(Step.POLL, ages=self.ticks % AGE_TICKS == 0,
                        summaries=self.summary_dirty and now - self.summary_at >= SUMMARY_SECONDS)
        if self.rebuilding:
            plan.step = Step.WAIT
        elif narrowing:
            plan.step = Step.NARROW  # (its steps go on anyway; see MainScreen.filter_trials)
        elif started and not self.listed:
            if listing:
                # A cluster still sending its first lists: every bit of UI-thread work slows
                # the reflectors (each socket read waits for the GIL). The nodes and the
                # lists' progress follow once a second; the trials are built once, at the
                # list's end, off the UI thread (see UiState.poll_nodes).
                self.held_list = True
                plan.step = Step.LISTING
                plan.poll_nodes = self.ticks % LISTING_TICKS == 0
                if not self.preparing:
                    self.preparing = plan.prepare = True
            elif self.held_list:
                if self.preparing:
                    plan.step = Step.WAIT  # (its last step lands first: it writes what the rebuild reads)
                else:
                    self.held_list = False
                    plan.step = Step.REBUILD  # its install ends the list
        return plan

    def polled(self, listing: bool) -> bool:
        """After a POLL tick: True when it is the one that sees the first list in."""
        listed = not listing
        ended = listed and not self.listed
        self.listed = listed
        return ended

    # -- rebuilds in a worker --------------------------------------------------------------

    def new_view(self) -> None:
        """A view was put in place at once (a sort reversed or taken from the prebuilt)."""
        self.generation += 1

    def start_rebuild(self, reset: bool) -> tuple[bool, int]:
        """(whether the build resets, its generation)."""
        self.rebuilding = True
        self.generation += 1
        self.pending_reset = reset = reset or self.pending_reset
        return reset, self.generation

    def installed(self, generation: int, listing: bool) -> bool:
        """A rebuild landed: False when a newer one supersedes it (its result will land)."""
        if generation != self.generation:
            return False
        self.rebuilding = False
        self.pending_reset = False
        if not self.held_list:
            # (A sort during a held first list lands here too: the tick that sees the list
            # in still rebuilds with everything, instead of polling 150,000 changes.)
            self.listed = not listing
        return True

    def await_prebuilt(self) -> None:
        """The sort asked for is the column being built ahead: its build is the rebuild."""
        self.rebuilding = True
        self.generation += 1
        self.promoted = self.generation

    def prebuilt_awaited(self, still_promoted: bool) -> bool:
        """Is the prebuilt build landing now the one the last sort awaits (and the state
        still has it promoted)? Answered yes once."""
        awaited = self.promoted == self.generation and still_promoted
        if awaited:
            self.promoted = None
        return awaited

    def prebuilt_sorted(self) -> None:
        """The awaited prebuilt build is in place as the sort."""
        self.rebuilding = False
        self.generation += 1

    # -- the next sort column, built ahead --------------------------------------------------

    def want_prebuilt(self, wanted: bool, *, soon: bool, now: float) -> Prebuild:
        """`wanted`: the state has work for the prebuilt worker and no list is arriving
        (a view built then would be stale at once, its CPU taken from the reflectors)."""
        if self.rebuilding or not wanted:
            self.prebuilt_at = None
            return Prebuild.NO
        if soon:
            self.prebuilt_at = None
            return Prebuild.AFTER_FRAME
        if self.prebuilt_at is None:
            self.prebuilt_at = now + PREBUILT_DELAY
        elif now >= self.prebuilt_at:
            self.prebuilt_at = None
            return Prebuild.NOW
        return Prebuild.NO

    # -- summaries and node rows -------------------------------------------------------------

    def nodes_changed(self, nodes: set[str], moved: bool) -> None:
        # The node pane is htop's view: it moves at the summaries' pace (htop redraws every
        # 1.5 s, k9s every 2 s), not with every pod that lands on a node.
        self.pending_nodes |= nodes
        self.pending_nodes_moved |= moved

    def summaries_due(self, immediate: bool, now: float) -> bool:
        """The summaries changed: flush them now? (else a later tick does: one timer for all
        periodic painting, so the pieces land in the same frame)."""
        self.summary_dirty = True
        return immediate or now - self.summary_at >= SUMMARY_SECONDS

    def flush(self, now: float) -> tuple[set[str], bool] | None:
        """The nodes to repaint (and whether rows moved) if the summaries are to be flushed."""
        if not self.summary_dirty:
            return None
        self.summary_dirty = False
        self.summary_at = now
        nodes, moved = self.pending_nodes, self.pending_nodes_moved
        self.pending_nodes, self.pending_nodes_moved = set(), False
        return nodes, moved


@dataclass
class SweepMembers:
    """The trials of the sweeps whose summaries are on screen (their metrics name the
    best), looked up in the store's index only when the shown sweeps change, else when
    trials came, went or changed sweep, at the summaries' pace."""

    by_sweep: dict[tuple[str, str], list[TrialKey]] | None = None
    keys: list[TrialKey] = field(default_factory=list)
    names: set[tuple[str, str]] = field(default_factory=set)
    at: float = 0.0
    stale: bool = False
    progress_at: float = 0.0  # when the shown sweeps' read progress was last counted

    def due(self, names: set[tuple[str, str]], now: float) -> bool:
        return (self.by_sweep is None or names != self.names
                or (self.stale and now - self.at >= SUMMARY_SECONDS))

    def found(self, by_sweep: dict[tuple[str, str], list[TrialKey]], now: float) -> None:
        self.by_sweep, self.names, self.at, self.stale = by_sweep, set(by_sweep), now, False
        self.keys = [k for keys in by_sweep.values() for k in keys]
        self.progress_at = 0.0

    def progress_due(self, now: float) -> bool:
        """Count the shown sweeps' read progress again? (once a second at most)"""
        if now - self.progress_at < 1.0:
            return False
        self.progress_at = now
        return True
