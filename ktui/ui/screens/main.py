"""The main screen: nodes on top, jobs below, the selected job's log under them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input

from ktui.cluster.backend import Backend
from ktui.cluster.format import human_duration
from ktui.cluster.logmetrics import LogMetrics
from ktui.cluster.model import ActionResult, SubmitResult, Trial, TrialKey
from ktui.gcpause import age_young, freeze_survivors
from ktui.ui.screens.confirm import ConfirmScreen
from ktui.ui.screens.describe import DescribeScreen
from ktui.ui.screens.launch import LaunchScreen
from ktui.ui.sortedview import SortedView
from ktui.ui.state import NODE_SORTS, TRIAL_SORTS, Rebuilt, Tick, UiState
from ktui.ui.widgets.jobs import JobsPane
from ktui.ui.widgets.line import Line
from ktui.ui.widgets.logpane import LogPane
from ktui.ui.widgets.nodes import NodesPane
from ktui.ui.widgets.vtable import VirtualTable

TICK_SECONDS = 0.25  # at most four redraws a second, however fast events arrive
AGE_TICKS = 4  # the TIME column is looked at once a second
LISTING_TICKS = 4  # while the first lists arrive, the nodes and the lists' progress: once a second
SUMMARY_SECONDS = 2.0  # the summary lines' and node rows' pace under churn (k9s: 2 s)
LOG_FIRST_SECONDS = 2.0  # at most this long, background metric reads wait for an opened log
PREBUILT_DELAY = 0.2  # after a sort lands, wait this long (then the next tick) to build the next
PREBUILT_QUIET = 0.05  # ... pausing while keys or mouse events come faster than this
PREBUILT_CHUNK = 2048  # rows per step of that build (~1 ms of GIL each)
RECONNECTED_SECONDS = 10.0  # how long the banner says "reconnected after 75s"


class _Abandoned(Exception):
    """A speculative build no longer wanted."""


class MainScreen(Screen[None]):
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
        Binding("o", "goto_node", "Its node", id="jobs.goto-node"),
        Binding("escape", "back", "Back", show=False, id="view.back"),
    ]

    def __init__(self, backend: Backend, state: UiState, log_metrics: LogMetrics, default_namespace: str) -> None:
        super().__init__()
        self.backend = backend
        self.state = state
        self.log_metrics = log_metrics
        self.default_namespace = default_namespace
        self._metrics_version = 0
        self._sweep_keys: list[TrialKey] | None = None
        self._sweep_names: set[tuple[str, str]] = set()
        self._sweep_keys_at = 0.0
        self._sweep_members_stale = False
        self._shown_problems: list[str] = []
        self._shown_connection: tuple[str, str] | None = None
        self._rebuilding = False
        # A sort the user asked for shows the new order from its top, cursor on the first
        # row (its point: the failed, or the best, first), as a new filter does.
        self._sort_top = False
        self.logs_open = False
        self._pending_reset = False  # a reset build was superseded: the next build must reset
        self._generation = 0
        self._summary_dirty = False
        self._summary_at = 0.0
        self._ticks = 0
        self._pending_nodes: set[str] = set()
        self._pending_nodes_moved = False
        self._prebuilt_at: float | None = None  # when to start building the next sort's view
        self._listed = False  # the store's first lists are in, as of the last tick
        # A first list was held back from the views (see tick): rebuild when it is in.
        self._held_list = False
        self._preparing = False  # a worker joins the trials that are in (prepare_load)
        self._promoted: int | None = None  # the generation a promoted prebuilt sort lands as

    def compose(self) -> ComposeResult:
        yield Line(id="title")
        yield Line(id="problems")
        yield NodesPane(self.state, id="nodes")
        with Vertical(id="lower"):
            yield JobsPane(self.state, id="jobs")
            yield LogPane(self.backend, id="logs")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#problems").display = False
        self.tick()
        self.set_interval(TICK_SECONDS, self.tick)
        self.query_one("#jobs-table", VirtualTable).focus()
        self._layout()

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
        a class on the screen restyles each of its widgets (20-60 ms here, the whole cost
        of opening the log)."""
        open_, compact, wide = self.logs_open, self.has_class("-compact"), self.has_class("-wide")
        logs = self.query_one("#logs")
        logs.set_class(open_, "-open")
        logs.set_class(open_ and compact, "-tall")
        logs.set_class(open_ and wide, "-side")
        self.query_one("#lower").set_class(open_ and wide, "-side")
        self.query_one("#nodes").set_class(open_ and compact, "-logs-open")

    # -- the tick -------------------------------------------------------------------------

    def tick(self) -> None:
        self._ticks += 1
        if self._ticks % AGE_TICKS == 0:
            # Ages and durations move with the clock even when nothing else changes.
            self.query_one(JobsPane).table.refresh_visible()
        if self._summary_dirty and time.monotonic() - self._summary_at >= SUMMARY_SECONDS:
            self._flush_summaries()
        if self._rebuilding:
            return  # views are being rebuilt in a worker; changes wait in the store's feed
        if self.state.narrowing:
            self._repaint(self.state.narrow_step(), jobs_only=True)  # (its steps go on anyway; see filter_trials)
            return
        if self.state.version >= 0 and not self._listed:
            if self.backend.store.listing():
                # A cluster still sending its first lists: every bit of UI-thread work
                # slows the reflectors (each socket read waits for the GIL). The nodes and
                # the lists' progress follow once a second; the trials are built once, at
                # the list's end, off this thread (see UiState.poll_nodes).
                self._held_list = True
                if self._ticks % LISTING_TICKS == 0:
                    self._repaint(self.state.poll_nodes(), immediate=False)
                    self._update_problems()
                if not self._preparing:
                    self._preparing = True
                    self._prepare_load()
                return
            if self._held_list:
                if self._preparing:
                    return  # (its last step lands first: it writes what the rebuild reads)
                self._held_list = False
                self._rebuild(reset=True)  # its install ends the list (_list_ended)
                return
        tick = self.state.poll()
        if tick.reset:
            self._rebuild(reset=True)
            return
        self._feed_metrics(tick)
        self._update_problems()  # capabilities can change without a store change
        self._repaint(tick, immediate=False)
        listed = not self.backend.store.listing()
        if listed and not self._listed:
            self._list_ended()
        self._listed = listed
        self._want_prebuilt()

    def _list_ended(self) -> None:
        """The first list is in the views (or a list after a reset)."""
        # Its big ticks were a load, not a storm: the next sort column is built at once
        # (the user's first `s` comes seconds after the first screen).
        self.state.end_churn()
        self._want_prebuilt(soon=True)
        # Its millions of containers leave the GC's walks, after the frame. (Frozen when
        # the views were first built instead, which at scale is before the list has come
        # in, full collections walked them all: 45-77 ms stalls every ~4 s at 150,000.)
        self.call_after_refresh(freeze_survivors)

    def sort_trials(self, column: str, reverse: bool = False) -> None:
        """Sort the job table: at once when the state has that order (the same column
        reversed, or the next column, built ahead), else rebuilt off the UI thread."""
        self._sort_top = True
        if self.state.sort_trials(column, reverse, fast=not self._rebuilding):
            self._generation += 1  # a new view is installed, as a rebuild's would be
            self._repaint(Tick(trials_moved=True), jobs_only=True)
            self._want_prebuilt(soon=True)
        elif self.state.prebuilt_promoted:
            # The view being built ahead is this column's: it is the rebuild (the prebuilt
            # worker stops yielding and lands it through _prebuilt_built).
            self._rebuilding = True
            self._generation += 1
            self._promoted = self._generation
            self.query_one(JobsPane).refresh_from(set(), False, True)
            self._summaries(jobs_only=True)
        else:
            self.rebuild_trials()

    def filter_trials(self) -> None:
        """After state.set_filter: narrow the shown rows (no sort), or let the rebuild
        under way pick the filter up when it lands (`install` narrows)."""
        if self._rebuilding:
            self._summaries(jobs_only=True)  # the header shows the new filter now
        else:
            self._generation += 1
            table = self.query_one("#jobs-table", VirtualTable)
            # A new filter shows its matches from the first, cursor on it (as fzf and k9s
            # do), so only a screenful is scanned before the frame; without a filter the
            # table finds the cursor's row again.
            self._repaint(self.state.refilter(rows=table.size.height), jobs_only=True)
            if self.state.filter_text or self.state.sweep_filter:
                table.move_cursor(0)
            if self.state.narrowing:
                # The rest of the scan, after this frame, in steps between which keys get in.
                self.call_after_refresh(self._narrow_on, self._generation)

    def _narrow_on(self, generation: int) -> None:
        if generation != self._generation or not self.state.narrowing:
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
        self._rebuilding = True
        self._generation += 1
        self.state.drop_prebuilt()
        self._build(reset or self._pending_reset, self._generation)
        self._pending_reset = reset or self._pending_reset

    @work(thread=True, group="prepare")
    def _prepare_load(self) -> None:
        try:
            self.state.prepare_load()
        finally:
            self.post_message(self.TrialsPrepared())

    @on(TrialsPrepared)
    def _prepared(self) -> None:
        self._preparing = False

    @work(thread=True, exclusive=True, group="rebuild")
    def _build(self, reset: bool, generation: int) -> None:
        # Steps of a few ms; between them the UI thread takes the GIL at its next switch.
        rebuilt = self.state.rebuild(reset, pause=lambda: None)
        age_young()
        self.post_message(self.ViewsRebuilt(rebuilt, generation))

    @on(ViewsRebuilt)
    def _install(self, message: ViewsRebuilt) -> None:
        rebuilt, generation = message.rebuilt, message.generation
        if generation != self._generation:
            return  # a newer sort or filter is being built; its result will land
        self._rebuilding = False
        self._pending_reset = False
        reset = rebuilt.nodes is not None
        self._sweep_members_stale |= reset
        self._repaint(self.state.install(rebuilt))
        self._update_problems()
        if reset and not self.backend.store.listing():
            self._list_ended()  # (a reset while listing: the tick that sees the list in)
        if not self._held_list:
            # (A sort during a held first list lands here too: the tick that sees the list
            # in still rebuilds with everything, instead of polling 150,000 changes.)
            self._listed = not self.backend.store.listing()
        self._want_prebuilt(soon=True)

    # -- the next sort column, built ahead in the background ----------------------------------

    def _want_prebuilt(self, soon: bool = False) -> None:
        """Build the next sort column's view: `soon`, right after the frame showing what
        the user did (a sort, a rebuild), else on a later tick."""
        if self._rebuilding or not self.state.prebuilt_wanted() or self.backend.store.listing():
            # (not while the first list arrives: the view built would be stale at once,
            # and its CPU is taken from the reflectors)
            self._prebuilt_at = None
        elif soon:
            self._prebuilt_at = None
            self.call_after_refresh(self._start_prebuilt)
        elif self._prebuilt_at is None:
            self._prebuilt_at = time.monotonic() + PREBUILT_DELAY
        elif time.monotonic() >= self._prebuilt_at:
            self._prebuilt_at = None
            self._start_prebuilt()

    def _start_prebuilt(self) -> None:
        if not self._rebuilding and self.state.prebuilt_wanted():
            self._build_prebuilt(self.state.start_prebuilt())

    @work(thread=True, exclusive=True, group="prebuilt", exit_on_error=False)  # only an optimisation
    def _build_prebuilt(self, token: int) -> None:
        # Background work in short steps, each ending with the GIL let go: the UI thread
        # takes it for its frames within ~1 ms.
        def pause() -> None:
            if not self.state.prebuilt_current(token):
                raise _Abandoned  # dropped (a storm, a sort): stop spending on it
            if self.state.prebuilt_promoted:
                return  # the user asked for this view: no yielding
            if self.log_metrics.held():
                # The user just pressed a key, or opened a log and waits for its first
                # line: asleep two thirds of the time, so a thread that takes the GIL
                # often (the log stream reading its socket) does not wait behind every
                # step. (At full speed the first log line came 5x later.)
                time.sleep(0.002)
            else:
                time.sleep(0)
            for _ in range(20):  # at most 0.2 s per step: typing fast must not starve it
                if time.monotonic() - self.state.last_input >= PREBUILT_QUIET or self.state.prebuilt_promoted:
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
        promoted = self._promoted == self._generation and self.state.prebuilt_promoted
        installed = self.state.install_prebuilt(token, view)
        if view is None and self.state.prebuilt_current(token):
            self.state.drop_prebuilt()  # it failed: free the slot for the next build
        if not promoted:
            return
        self._promoted = None
        if not installed:  # too much changed while it was built: sort from scratch
            self.rebuild_trials()
            return
        self._rebuilding = False
        self._generation += 1
        self._repaint(Tick(trials_moved=True), jobs_only=True)
        self._want_prebuilt(soon=True)

    def _repaint(self, tick: Tick, immediate: bool = True, jobs_only: bool = False) -> None:
        if not tick:
            return
        if tick.reset:
            self.query_one("#jobs-table", VirtualTable).forget_rows()
            self.query_one("#nodes-table", VirtualTable).forget_rows()
        if tick.nodes or tick.nodes_moved:
            # The node pane is htop's view: it moves at the summaries' pace (htop redraws
            # every 1.5 s, k9s every 2 s), not with every pod that lands on a node.
            self._pending_nodes |= tick.nodes
            self._pending_nodes_moved |= tick.nodes_moved
            if tick.reset or tick.nodes_moved:
                immediate = True
        if tick.trials or tick.trials_moved or tick.sweeps:
            self.query_one(JobsPane).refresh_from(tick.trials, tick.trials_moved, tick.sweeps)
            if self._sort_top and tick.trials_moved and not self._rebuilding:
                self._sort_top = False
                self.query_one("#jobs-table", VirtualTable).move_cursor(0)
        self._summaries(immediate, jobs_only)

    def _summaries(self, immediate: bool = True, jobs_only: bool = False) -> None:
        """The title, sweep and node summary lines, and the node rows. Under churn they change
        on every tick; store-driven updates are coalesced to one per SUMMARY_SECONDS (what
        the user did shows at once). The job rows keep the 0.25 s tick.

        `jobs_only`: the user changed the job view (a filter, a sort): its header shows now,
        the rest keeps its pace. At 5,000 nodes the node summary and the node rows waiting
        to be repainted cost a keypress several ms."""
        self._summary_dirty = True
        if jobs_only:
            self.query_one(JobsPane).refresh_summary()
            return
        elapsed = time.monotonic() - self._summary_at
        if immediate or elapsed >= SUMMARY_SECONDS:
            self._flush_summaries()
        # else: a later tick flushes them (one timer for all periodic painting, so the
        # pieces land in the same frame: at most four frames a second under any storm)

    def _flush_summaries(self) -> None:
        if not self._summary_dirty:
            return
        self._summary_dirty = False
        self._summary_at = time.monotonic()
        if self._pending_nodes or self._pending_nodes_moved:
            self.query_one(NodesPane).refresh_from(self._pending_nodes, self._pending_nodes_moved)
            self._pending_nodes, self._pending_nodes_moved = set(), False
        self._update_title()
        self.query_one(JobsPane).refresh_summary()
        self.query_one(NodesPane).refresh_summary()

    def _feed_metrics(self, tick: Tick) -> None:
        """Tell the log-metrics collector what is on screen; take what it has read."""
        jobs = self.query_one(JobsPane)
        names = {(s.namespace, s.name) for s in jobs.shown_sweeps()}
        now = time.monotonic()
        self._sweep_members_stale |= tick.members
        if (self._sweep_keys is None or names != self._sweep_names
                or (self._sweep_members_stale and now - self._sweep_keys_at >= SUMMARY_SECONDS)):
            # The summary's sweeps need every trial's metric to name the best one: their
            # trials, from the store's index (a pass over every trial was ~30 ms at
            # 150,000, every 2 s under churn, on keypresses at random). When the shown
            # sweeps change, else when trials came, went or changed sweep, at the
            # summaries' pace (the list grows with the sweeps' size).
            self._sweep_keys = self.backend.store.sweep_members(sorted(names))
            self._sweep_names, self._sweep_keys_at = names, now
            self._sweep_members_stale = False
        if self.backend.store.listing():
            # Logs are read through the same API server that is still sending the lists
            # (at 150,000 pods those reads made the first screen ~5 s later): wait for them.
            self.log_metrics.want(())
        else:
            self.log_metrics.want([*jobs.visible_keys(), *self._sweep_keys])
        self._metrics_version, updates = self.log_metrics.changes_since(self._metrics_version)
        if updates:
            tick.trials_moved |= self.state.set_metrics(updates)
            tick.trials |= set(updates)
            tick.sweeps = True

    def _update_title(self) -> None:
        counts = self.state.phase_counts()
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(" ktui ", style="bold reverse")
        t.append(f" {self.state.nodes.total} nodes  {self.state.trials.total} jobs")
        if counts["Running"]:
            t.append(f"  {counts['Running']} running", style="cyan")
        if counts["Pending"]:
            t.append(f"  {counts['Pending']} pending", style="yellow")
        if counts["Failed"]:
            t.append(f"  {counts['Failed']} failed", style="bold red")
        # Where we are comes last: on a narrow terminal it is what gets cut.
        t.append(f"  {self.backend.name} ", style="bold")
        t.append(self.backend.location, style="dim")
        self.query_one("#title", Line).show(t)

    def _connection_line(self) -> tuple[str, str] | None:
        """(text, style) of the connection's line in the banner, if it has one: how long
        ktui has been connecting, or the server unreachable, and the last error; for a
        few seconds after an outage, how long it lasted."""
        c = self.backend.store.connection()
        if c is None:
            return None
        now = time.monotonic()
        if c.state == "connecting":
            text = f"connecting to {c.server}… {human_duration(now - c.since)}"
            if c.error:
                text += f" (last error: {c.error}; retrying)"
            return text, "bold yellow"
        if c.state == "down":
            return f"! {c.message} (for {human_duration(now - c.since)}; retrying)", "bold red"
        if c.outage is not None and now - c.since < RECONNECTED_SECONDS:
            return f"reconnected after {human_duration(c.outage)}", "bold green"
        return None

    def _problem_lines(self) -> list[str]:
        # (The unreachable server is the connection's line, with how long it has been so.)
        lines = [f"! {p.message}" for p in self.state.problems
                 if (p.code, p.resource) != ("unreachable", "cluster")]
        caps = self.backend.capabilities
        for name in sorted(set(self._NEEDS.values())):
            cap = getattr(caps, name)
            if not cap.available:
                lines.append(f"! {name} unavailable: {cap.reason}")
        return lines

    def _update_problems(self) -> None:
        lines = self._problem_lines()
        conn = self._connection_line()
        if lines == self._shown_problems and conn == self._shown_connection:
            return
        changed = lines != self._shown_problems
        self._shown_problems, self._shown_connection = lines, conn
        box = self.query_one("#problems", Line)
        box.display = bool(lines) or conn is not None
        text = Text()
        if conn is not None:
            text.append(conn[0], style=conn[1])
        room = 2 if conn is not None else 3
        if lines:
            rest = "\n".join(lines[:room]) + (f"\n… {len(lines) - room} more" if len(lines) > room else "")
            text.append(("\n" if conn is not None else "") + rest, style="bold red")
        box.show(text)
        if changed:
            self.refresh_bindings()

    # -- selection helpers ------------------------------------------------------------------

    def selected_trial(self) -> Trial | None:
        key = self.query_one("#jobs-table", VirtualTable).cursor_key
        return self.state.trials.record(key) if key is not None else None  # type: ignore[arg-type]

    def _focused_table(self) -> str:
        focused = self.focused
        return "nodes" if focused is not None and focused.id == "nodes-table" else "jobs"

    def _require(self, what: str) -> bool:
        cap = getattr(self.backend.capabilities, what)
        if not cap.available:
            self.notify(f"{what} is unavailable: {cap.reason}", severity="warning")
        return bool(cap.available)

    # Actions that need a backend capability; unavailable ones show dimmed in the footer.
    _NEEDS = {
        "open_logs": "logs",
        "launch": "submit",
        "cancel_trial": "cancel",
        "cancel_sweep": "cancel",
        "rerun_failed": "rerun",
        "describe": "describe",
    }

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

    def action_launch(self) -> None:
        if not self._require("submit"):
            return

        def launched(result: SubmitResult | None) -> None:
            if result is not None:
                self.notify(f"submitted: {result.summary()}")

        self.app.push_screen(LaunchScreen(self.backend, self.default_namespace), launched)

    def action_describe(self) -> None:
        t = self.selected_trial()
        if t is not None and self._require("describe"):
            self.app.push_screen(DescribeScreen(self.backend, t.key, self.state.clock))

    def action_cancel_trial(self) -> None:
        t = self.selected_trial()
        if t is None or not self._require("cancel"):
            return
        self._confirm(f"Cancel job {t.namespace}/{t.name}?", "Deletes the Job and its pods.",
                      lambda: self.backend.cancel([t.key]), f"cancelled {t.name}")

    def action_cancel_sweep(self) -> None:
        t = self.selected_trial()
        if t is None or not t.sweep or not self._require("cancel"):
            if t is not None and not t.sweep:
                self.notify(f"{t.name} belongs to no ktui sweep", severity="warning")
            return
        n = sum(s.total for s in self.state.sweeps if s.name == t.sweep and s.namespace == t.namespace)
        self._confirm(f"Cancel sweep {t.sweep} ({n} jobs) in {t.namespace}?", "Deletes every Job of the sweep and their pods.",
                      lambda: self.backend.cancel(sweep=t.sweep, namespace=t.namespace), f"cancelled sweep {t.sweep}")

    def action_rerun_failed(self) -> None:
        t = self.selected_trial()
        if t is None or not t.sweep or not self._require("rerun"):
            return
        failed = sum(s.failed for s in self.state.sweeps if s.name == t.sweep and s.namespace == t.namespace)
        if not failed:
            self.notify(f"sweep {t.sweep} has no failed jobs", timeout=3)
            return
        self._confirm(f"Rerun {failed} failed jobs of sweep {t.sweep}?", "Deletes each failed Job and creates it again from its spec.",
                      lambda: self.backend.rerun(t.sweep, namespace=t.namespace), f"reran failed jobs of {t.sweep}")

    def _confirm(self, question: str, detail: str, action, done_message: str) -> None:  # type: ignore[no-untyped-def]
        def answered(yes: bool | None) -> None:
            if yes:
                self._run_action(action, done_message)

        self.app.push_screen(ConfirmScreen(question, detail), answered)

    @work(thread=True, group="actions")
    def _run_action(self, action, done_message: str) -> None:  # type: ignore[no-untyped-def]
        try:
            result: ActionResult = action()
        except Exception as e:  # forbidden, unreachable: a notification, not a crash
            self.app.call_from_thread(self.notify, f"failed: {e}", severity="error")
            return
        if result.failed:
            msg = "; ".join(f"{f.name}: {f.message}" for f in result.failed[:3])
            self.app.call_from_thread(self.notify, f"{done_message}, but {len(result.failed)} failed: {msg}", severity="error")
        else:
            self.app.call_from_thread(self.notify, f"{done_message} ({len(result.done)} jobs)")
