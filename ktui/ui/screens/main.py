"""The main screen: nodes on top, jobs below, the selected job's log under them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Footer, Input

from ktui.cluster.backend import Backend
from ktui.cluster.logmetrics import LogMetrics
from ktui.cluster.model import Trial, TrialKey
from ktui.cluster.queuewords import waiting
from ktui.gcpause import age_young, freeze_survivors
from ktui.ui import banner
from ktui.ui.pacing import TICK_SECONDS, Pacer, Prebuild, Step
from ktui.ui.screens.trial_actions import TrialActions
from ktui.ui.sortedview import SortedView
from ktui.ui.sortkeys import NODE_SORTS, TRIAL_SORTS
from ktui.ui.state import Rebuilt, Tick, UiState
from ktui.ui.sweepfeed import SweepFeed
from ktui.ui.widgets.jobs import JobsPane
from ktui.ui.widgets.line import Line
from ktui.ui.widgets.logpane import LogPane
from ktui.ui.widgets.nodes import NodesPane
from ktui.ui.widgets.vtable import VirtualTable

LOG_FIRST_SECONDS = 2.0  # at most this long, background metric reads wait for an opened log
PREBUILT_QUIET = 0.05  # a prebuilt build pauses while keys or mouse events come faster than this
PREBUILT_CHUNK = 2048  # rows per step of that build (~1 ms of GIL each)


class _Abandoned(Exception):
    """A speculative build no longer wanted."""


class MainScreen(TrialActions):
    # What the screen's workers hand back: typed messages, posted (thread-safe) to the
    # screen and handled on the UI thread; each carries what tells a stale one apart.

    @dataclass
    class TrialsPrepared(Message):
        """The trials joined while the first lists arrive are ready for the rebuild."""

    @dataclass
    class ViewsRebuilt(Message):
        rebuilt: Rebuilt
        generation: int  # a newer sort or filter's build supersedes this one

    @dataclass
    class PrebuiltBuilt(Message):
        token: int  # the prebuilt sort's build this is; the state knows if still wanted
        view: SortedView[TrialKey, Trial] | None  # None: abandoned or failed

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_logs", "Logs", id="jobs.logs", show=False),
        Binding("l", "open_logs", "Logs", id="jobs.logs-key"),
        # priority: handled as the key is read, so the keys that came in the same read (fast
        # typing, a paste, one SSH packet) reach the filter box, not the table (check_action)
        Binding("slash", "filter", "Filter", id="jobs.filter", priority=True),
        # ... and leaving it: the keys after enter (in the same read) reach the table
        Binding("enter", "filter_done", "Keep the filter (in its box)", id="jobs.filter-done", show=False, priority=True),
        Binding("escape", "filter_done", "Close the filter box (the filter kept)", id="jobs.filter-close", show=False, priority=True),
        Binding("f", "cycle_sweep", "Sweep", id="jobs.sweep-filter"),
        Binding("s", "cycle_sort", "Sort", id="view.sort"),
        Binding("S", "reverse_sort", "Reverse sort", show=False, id="view.sort-reverse"),
        Binding("n", "launch", "Launch", id="jobs.launch"),
        Binding("c", "cancel_trial", "Cancel", id="jobs.cancel"),
        Binding("C", "cancel_sweep", "Cancel sweep", show=False, id="jobs.cancel-sweep"),
        Binding("R", "rerun_failed", "Rerun failed", id="jobs.rerun"),
        Binding("d", "describe", "Describe", id="jobs.describe"),
        Binding("v", "compare", "Compare two trials", show=False, id="jobs.compare"),
        Binding("o", "goto_node", "Its node", id="jobs.goto-node"),
        Binding("p", "chart", "Plot", id="jobs.chart"),
        Binding("r", "next_replica", "Next replica's log (a distributed trial)", show=False, id="jobs.replica"),
        Binding("escape", "back", "Back", show=False, id="view.back"),
    ]

    def __init__(self, backend: Backend, state: UiState, log_metrics: LogMetrics, default_namespace: str) -> None:
        super().__init__()
        self.backend = backend
        self.state = state
        self.log_metrics = log_metrics
        self.default_namespace = default_namespace
        # The shown sweeps' logs, read progress, varying parameters and early stopping.
        self.sweep_feed = SweepFeed(backend, state, log_metrics)
        self.pacer = Pacer()
        self._shown_problems: list[str] = []
        self._shown_connection: tuple[str, str] | None = None
        self._gpu_nodes: set[str] = set()
        self._queues: set[tuple[str, str]] | None = None
        self.logs_open = False

    def compose(self) -> ComposeResult:
        yield Line(id="title")
        yield Line(id="problems")
        yield NodesPane(self.state, id="nodes")
        with Vertical(id="lower"):
            yield JobsPane(self.state, id="jobs")
            yield LogPane(self.backend, id="logs")
        yield Footer()

    def on_mount(self) -> None:
        self.sweep_feed.early_stop.start()
        self.query_one("#problems").display = False
        self.tick()
        self.set_interval(TICK_SECONDS, self.tick)
        self.query_one("#jobs-table", VirtualTable).focus()
        self._layout()

    def on_unmount(self) -> None:
        self.sweep_feed.early_stop.stop()

    def on_resize(self) -> None:
        self._layout()

    def _layout(self) -> None:
        self.set_class(self.size.height < 40, "-compact")
        self.set_class(self.size.height < 20, "-tiny")
        self.set_class(self.size.width >= 180, "-wide")
        self._place_logs()

    def _place_logs(self) -> None:
        """Show or hide the log pane, beside the jobs on a wide screen, instead of the nodes
        on a short one. The classes go on the few widgets that change, not on the screen:
        a class on the screen restyles each of its widgets (the whole cost of opening the
        log: NOTES.md M13)."""
        open_, compact, wide = self.logs_open, self.has_class("-compact"), self.has_class("-wide")
        logs = self.query_one("#logs")
        logs.set_class(open_, "-open")
        logs.set_class(open_ and compact, "-tall")
        logs.set_class(open_ and wide, "-side")
        self.query_one("#lower").set_class(open_ and wide, "-side")
        self.query_one("#nodes").set_class(open_ and compact, "-logs-open")

    # -- the tick -------------------------------------------------------------------------

    def tick(self) -> None:
        store = self.backend.store
        plan = self.pacer.tick(now=time.monotonic(), narrowing=self.state.narrowing,
                               started=self.state.version >= 0, listing=store.listing())
        if plan.ages:
            # Ages and durations move with the clock even when nothing else changes.
            self.query_one(JobsPane).table.refresh_visible()
        if plan.summaries:
            self._flush_summaries()
        if plan.step is Step.NARROW:
            self._repaint(self.state.narrow_step(), jobs_only=True)
        elif plan.step is Step.LISTING:
            if plan.poll_nodes:
                self._repaint(self.state.poll_nodes(), immediate=False)
                self._update_problems()
            if plan.prepare:
                self._prepare_load()
        elif plan.step is Step.REBUILD:
            self._rebuild(reset=True)  # its install ends the list (_list_ended)
        elif plan.step is Step.POLL:
            self._poll()

    def _poll(self) -> None:
        tick = self.state.poll()
        if tick.reset:
            self._rebuild(reset=True)
            return
        self._feed_metrics(tick)
        self._gpu_focus()
        self._update_problems()  # capabilities can change without a store change
        self._repaint(tick, immediate=False)
        if self.pacer.polled(self.backend.store.listing()):
            self._list_ended()
        self._want_prebuilt()

    def _list_ended(self) -> None:
        """The first list is in the views (or a list after a reset)."""
        # Its big ticks were a load, not a storm: the next sort column is built at once
        # (the user's first `s` comes seconds after the first screen).
        self.state.prebuilt.end_churn()
        self._want_prebuilt(soon=True)
        # Its millions of containers leave the GC's walks, after the frame. (Frozen when
        # the views were first built instead, which at scale is before the list has come
        # in, full collections walked them all: NOTES.md M2.)
        self.call_after_refresh(freeze_survivors)

    def sort_trials(self, column: str, reverse: bool = False) -> None:
        """Sort the job table: at once when the state has that order (the same column
        reversed, or the next column, built ahead), else rebuilt off the UI thread."""
        self.pacer.sort_top = True
        if self.state.sort_trials(column, reverse, fast=not self.pacer.rebuilding):
            self.pacer.new_view()  # as a rebuild's install would be
            self._repaint(Tick(trials_moved=True), jobs_only=True)
            self._want_prebuilt(soon=True)
        elif self.state.prebuilt.promoted:
            # The view being built ahead is this column's: it is the rebuild (the prebuilt
            # worker stops yielding and lands it through _prebuilt_built).
            self.pacer.await_prebuilt()
            self.query_one(JobsPane).refresh_from(set(), False, True)
            self._summaries(jobs_only=True)
        else:
            self.rebuild_trials()

    def filter_trials(self) -> None:
        """After state.set_filter: narrow the shown rows (no sort), or let the rebuild
        under way pick the filter up when it lands (`install` narrows)."""
        if self.pacer.rebuilding:
            self._summaries(jobs_only=True)  # the header shows the new filter now
        else:
            self.pacer.new_view()
            table = self.query_one("#jobs-table", VirtualTable)
            # A new filter shows its matches from the first, cursor on it (as fzf and k9s
            # do), so only a screenful is scanned before the frame; without a filter the
            # table finds the cursor's row again.
            self._repaint(self.state.refilter(rows=table.size.height), jobs_only=True)
            if self.state.filter_text or self.state.sweep_filter:
                table.move_cursor(0)
            if self.state.narrowing:
                # The rest of the scan, after this frame, in steps between which keys get in.
                self.call_after_refresh(self._narrow_on, self.pacer.generation)

    def _narrow_on(self, generation: int) -> None:
        if generation != self.pacer.generation or not self.state.narrowing:
            return  # a newer filter or sort took over
        self._repaint(self.state.narrow_step(), jobs_only=True)
        if self.state.narrowing:
            self.call_later(self._narrow_on, generation)

    def rebuild_trials(self) -> None:
        """After a sort change: rebuild the job view off the UI thread."""
        self.query_one(JobsPane).refresh_from(set(), False, True)
        self._summaries(jobs_only=True)  # the header shows the new sort now
        self._rebuild(reset=False)

    def _rebuild(self, reset: bool) -> None:
        reset, generation = self.pacer.start_rebuild(reset)
        self.state.prebuilt.drop()
        self._build(reset, generation)

    @work(thread=True, group="prepare")
    def _prepare_load(self) -> None:
        try:
            self.state.prepare_load()
        finally:
            self.post_message(self.TrialsPrepared())

    @on(TrialsPrepared)
    def _prepared(self) -> None:
        self.pacer.preparing = False

    @work(thread=True, exclusive=True, group="rebuild")
    def _build(self, reset: bool, generation: int) -> None:
        # Steps of a few ms; between them the UI thread takes the GIL at its next switch.
        rebuilt = self.state.rebuild(reset, pause=lambda: None)
        age_young()
        self.post_message(self.ViewsRebuilt(rebuilt, generation))

    @on(ViewsRebuilt)
    def _install(self, message: ViewsRebuilt) -> None:
        rebuilt = message.rebuilt
        listing = self.backend.store.listing()
        if not self.pacer.installed(message.generation, listing):
            return  # a newer sort or filter is being built; its result will land
        reset = rebuilt.nodes is not None
        self.sweep_feed.members.stale |= reset
        self._repaint(self.state.install(rebuilt))
        self._update_problems()
        if reset and not listing:
            self._list_ended()  # (a reset while listing: the tick that sees the list in)
        self._want_prebuilt(soon=True)

    # -- the next sort column, built ahead in the background ----------------------------------

    def _want_prebuilt(self, soon: bool = False) -> None:
        """Build the next sort column's view: `soon`, right after the frame showing what
        the user did (a sort, a rebuild), else on a later tick."""
        wanted = self.state.prebuilt_wanted() and not self.backend.store.listing()
        what = self.pacer.want_prebuilt(wanted, soon=soon, now=time.monotonic())
        if what is Prebuild.AFTER_FRAME:
            self.call_after_refresh(self._start_prebuilt)
        elif what is Prebuild.NOW:
            self._start_prebuilt()

    def _start_prebuilt(self) -> None:
        if not self.pacer.rebuilding and self.state.prebuilt_wanted():
            self._build_prebuilt(self.state.start_prebuilt())

    @work(thread=True, exclusive=True, group="prebuilt", exit_on_error=False)  # only an optimisation
    def _build_prebuilt(self, token: int) -> None:
        # Background work in short steps, each ending with the GIL let go: the UI thread
        # takes it for its frames within ~1 ms.
        def pause() -> None:
            if not self.state.prebuilt.current(token):
                raise _Abandoned  # dropped (a storm, a sort): stop spending on it
            if self.state.prebuilt.promoted:
                return  # the user asked for this view: no yielding
            if self.log_metrics.held():
                # The user just pressed a key, or opened a log and waits for its first
                # line: asleep two thirds of the time, so a thread that takes the GIL
                # often (the log stream reading its socket) does not wait behind every
                # step. (At full speed the first log line came much later: NOTES.md M14.)
                time.sleep(0.002)
            else:
                time.sleep(0)
            for _ in range(20):  # at most 0.2 s per step: typing fast must not starve it
                if time.monotonic() - self.state.last_input >= PREBUILT_QUIET or self.state.prebuilt.promoted:
                    break
                time.sleep(0.01)

        try:
            view = self.state.build_prebuilt(token, pause, PREBUILT_CHUNK)
            age_young()
        except _Abandoned:
            view = None
        except Exception:  # noqa: BLE001 (a sort awaiting it falls back to a rebuild, which reports)
            view = None
        self.post_message(self.PrebuiltBuilt(token, view))

    @on(PrebuiltBuilt)
    def _prebuilt_built(self, message: PrebuiltBuilt) -> None:
        token, view = message.token, message.view
        awaited = self.pacer.prebuilt_awaited(self.state.prebuilt.promoted)
        installed = self.state.install_prebuilt(token, view)
        if view is None and self.state.prebuilt.current(token):
            self.state.prebuilt.drop()  # it failed: free the slot for the next build
        if not awaited:
            return
        if not installed:  # too much changed while it was built: sort from scratch
            self.rebuild_trials()
            return
        self.pacer.prebuilt_sorted()
        self._repaint(Tick(trials_moved=True), jobs_only=True)
        self._want_prebuilt(soon=True)

    def _repaint(self, tick: Tick, immediate: bool = True, jobs_only: bool = False) -> None:
        if not tick:
            return
        if tick.reset:
            self.query_one("#jobs-table", VirtualTable).forget_rows()
            self.query_one("#nodes-table", VirtualTable).forget_rows()
        if tick.nodes or tick.nodes_moved:
            self.pacer.nodes_changed(tick.nodes, tick.nodes_moved)
            if tick.reset or tick.nodes_moved:
                immediate = True
        if tick.trials or tick.trials_moved or tick.sweeps:
            self.query_one(JobsPane).refresh_from(tick.trials, tick.trials_moved, tick.sweeps)
            if self.pacer.sort_top and tick.trials_moved and not self.pacer.rebuilding:
                self.pacer.sort_top = False
                self.query_one("#jobs-table", VirtualTable).move_cursor(0)
        self._summaries(immediate, jobs_only)

    def _summaries(self, immediate: bool = True, jobs_only: bool = False) -> None:
        """The title, sweep and node summary lines, and the node rows. Under churn they change
        on every tick; store-driven updates are coalesced to one per SUMMARY_SECONDS (what
        the user did shows at once). The job rows keep the 0.25 s tick.

        `jobs_only`: the user changed the job view (a filter, a sort): its header shows now,
        the rest keeps its pace. At 5,000 nodes the node summary and the node rows waiting
        to be repainted cost a keypress several ms."""
        if jobs_only:
            self.pacer.summary_dirty = True
            self.query_one(JobsPane).refresh_summary()
        elif self.pacer.summaries_due(immediate, time.monotonic()):
            self._flush_summaries()
        # else: a later tick flushes them (at most four frames a second under any storm)

    def _flush_summaries(self) -> None:
        flush = self.pacer.flush(time.monotonic())
        if flush is None:
            return
        nodes, moved = flush
        if nodes or moved:
            self.query_one(NodesPane).refresh_from(nodes, moved)
        self._update_title()
        self.query_one(JobsPane).refresh_summary()
        self.query_one(NodesPane).refresh_summary()

    def _feed_metrics(self, tick: Tick) -> None:
        """Tell the log-metrics collector what is on screen; take what it has read."""
        jobs = self.query_one(JobsPane)
        names = {(sw.namespace, sw.name) for sw in jobs.shown_sweeps()}
        fed = self.sweep_feed.feed(tick, names, jobs.visible_keys, time.monotonic())
        if fed.rows_changed:
            self.query_one("#jobs-table", VirtualTable).forget_rows()
        if fed.summary_changed:
            self.pacer.summary_dirty = True

    def _gpu_focus(self) -> None:
        """Tell the backend whose GPUs are on screen: the nodes shown and the nodes of the
        trials shown (a remote backend reads only those)."""
        nodes = self.query_one(NodesPane).visible_nodes()
        for key in self.query_one(JobsPane).visible_keys():
            t = self.state.trials.record(key)
            if t is not None and t.node and t.phase == "Running":
                nodes.add(t.node)
        if nodes != self._gpu_nodes:
            self._gpu_nodes = nodes
            self.backend.set_gpu_focus(nodes)
        queues = {(t.namespace, t.queue.local_queue) for key in self.query_one(JobsPane).visible_keys()
                  if (t := self.state.trials.record(key)) is not None and waiting(t.queue)
                  and t.queue is not None and t.queue.local_queue}
        if queues != self._queues:  # (their places in line: read for these queues only)
            self._queues = queues
            self.backend.set_queue_focus(queues)

    def _update_title(self) -> None:
        self.query_one("#title", Line).show(banner.title(
            self.state.nodes.total, self.state.trials.total, self.state.phase_counts(),
            self.backend.name, self.backend.location))

    def _update_problems(self) -> None:
        lines = banner.problem_lines(self.state.problems, self.backend.capabilities, self._NEEDS.values())
        conn = banner.connection_line(self.backend.store.connection(), time.monotonic())
        if lines == self._shown_problems and conn == self._shown_connection:
            return
        changed = lines != self._shown_problems
        self._shown_problems, self._shown_connection = lines, conn
        box = self.query_one("#problems", Line)
        box.display = bool(lines) or conn is not None
        box.show(banner.banner(conn, lines))
        if changed:
            self.refresh_bindings()

    # -- selection helpers ------------------------------------------------------------------

    def _focused_table(self) -> str:
        focused = self.focused
        return "nodes" if focused is not None and focused.id == "nodes-table" else "jobs"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "filter" and self.focused is not None and not isinstance(self.focused, VirtualTable):
            return False  # "/" is the filter box's own character, or the log's search
        if action == "filter_done" and (self.focused is None or self.focused.id != "job-filter"):
            return False  # enter or escape elsewhere: the table's select, the log search's
        need = self._NEEDS.get(action)
        if need is not None and not getattr(self.backend.capabilities, need).available:
            return None
        return True

    # -- actions ---------------------------------------------------------------------------

    @on(VirtualTable.Selected, "#jobs-table")
    def _job_selected(self, event: VirtualTable.Selected) -> None:
        self.action_open_logs()

    def action_open_logs(self) -> None:
        t = self.selected_trial()
        if t is None or not self._require("logs"):
            return
        self.logs_open = True
        self._place_logs()
        # The log asked for comes first: background metric reads wait for its answer.
        self.log_metrics.hold(LOG_FIRST_SECONDS)
        pane = self.query_one(LogPane)
        pane.on_answer = self.log_metrics.release
        pane.open(t.key)

    def action_next_replica(self) -> None:
        """In a distributed trial's log: the next replica's (master, worker-0, worker-1, ...)."""
        if self.logs_open:
            self.query_one(LogPane).next_replica()

    def action_goto_node(self) -> None:
        """From a trial to its node in the node view: which node runs it, and how busy it is."""
        t = self.selected_trial()
        if t is None:
            return
        if not t.node:
            self.notify(f"{t.name} has no node yet ({t.reason or t.phase})", timeout=4)
            return
        if self.logs_open and self.has_class("-compact"):
            self.action_back()  # on a short screen the log stands where the nodes are
        nodes = self.query_one("#nodes-table", VirtualTable)
        if not nodes.move_to_key(t.node):
            self.notify(f"node {t.node} of {t.name} is not in the node view", severity="warning", timeout=4)
            return
        nodes.focus()

    def action_back(self) -> None:
        box = self.query_one("#job-filter", Input)
        if box.has_class("-active"):
            box.remove_class("-active")
            self.set_focus(self.query_one("#jobs-table", VirtualTable))  # at once, as above
            return
        if self.logs_open:
            self.logs_open = False
            self._place_logs()
            self.query_one(LogPane).close_stream()
            self.query_one(LogPane).trial = None
            self.query_one("#jobs-table").focus()

    def action_filter(self) -> None:
        box = self.query_one("#job-filter", Input)
        box.add_class("-active")
        box.value = self.state.filter_text
        # At once (box.focus() waits for call_later, behind the keys already read).
        self.set_focus(box)

    @on(Input.Changed, "#job-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.state.set_filter(event.value)
        self.filter_trials()

    def action_filter_done(self) -> None:
        """Leave the filter box, the filter kept (enter or escape). At once (`focus()`
        waits for call_later, behind the keys already read: "/gpu", enter, enter in one
        read must open a log, and "/gpu", escape, s must sort)."""
        self.query_one("#job-filter", Input).remove_class("-active")
        self.set_focus(self.query_one("#jobs-table", VirtualTable))

    @on(Input.Submitted, "#job-filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        self.action_filter_done()

    def action_cycle_sweep(self) -> None:
        names = sorted({s.name for s in self.state.sweeps})
        options: list[str | None] = [None, *names]
        i = options.index(self.state.sweep_filter) if self.state.sweep_filter in options else 0
        self.state.set_filter(self.state.filter_text, options[(i + 1) % len(options)])
        self.filter_trials()

    def action_cycle_sort(self) -> None:
        if self._focused_table() == "nodes":
            cols = list(NODE_SORTS)
            nxt = cols[(cols.index(self.state.node_sort) + 1) % len(cols)]
            self.state.sort_nodes(nxt)
            self.query_one(NodesPane).refresh_from(set(), True)
            self.notify(f"nodes sorted by {NODE_SORTS[nxt]}", timeout=2)
        else:
            cols = list(TRIAL_SORTS)
            nxt = cols[(cols.index(self.state.trial_sort) + 1) % len(cols)]
            self.sort_trials(nxt)
            self.notify(f"jobs sorted by {TRIAL_SORTS[nxt]}", timeout=2)

    def action_reverse_sort(self) -> None:
        if self._focused_table() == "nodes":
            self.state.sort_nodes(self.state.node_sort, not self.state.nodes.reverse)
            self.query_one(NodesPane).refresh_from(set(), True)
        else:
            self.sort_trials(self.state.trial_sort, not self.state.trial_reverse)
