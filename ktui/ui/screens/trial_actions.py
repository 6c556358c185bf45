"""What the user does to trials from the main screen: launch a sweep, describe a trial,
chart its sweep, cancel a trial or its sweep, rerun a sweep's failed trials. Each asks first where it
destroys, runs the backend call in a worker, and reports in a notification; an action
the backend cannot do shows dimmed in the footer (check_action in the main screen).

A base of MainScreen, apart from the views' pacing it holds."""

from __future__ import annotations

from collections.abc import Callable

from textual import work
from textual.screen import Screen

from ktui.cluster.backend import Backend
from ktui.cluster.logmetrics import LogMetrics
from ktui.cluster.model import ActionResult, SubmitResult, Trial, TrialKey
from ktui.ui.screens.chart import ChartScreen
from ktui.ui.screens.compare import CompareScreen
from ktui.ui.screens.confirm import ConfirmScreen
from ktui.ui.screens.describe import DescribeScreen
from ktui.ui.screens.launch import LaunchScreen
from ktui.ui.state import UiState
from ktui.ui.widgets.vtable import VirtualTable


class TrialActions(Screen[None]):
    backend: Backend
    state: UiState
    default_namespace: str
    log_metrics: LogMetrics

    def selected_trial(self) -> Trial | None:
        key = self.query_one("#jobs-table", VirtualTable).cursor_key
        return self.state.trials.record(key) if key is not None else None  # type: ignore[arg-type]

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
        "compare": "describe",
    }

    def action_chart(self) -> None:
        """The selected trial's sweep: its metric against step, every trial a line."""
        t = self.selected_trial()
        if t is None:
            return
        if not t.sweep:
            self.notify(f"{t.name} belongs to no ktui sweep: nothing to chart", severity="warning", timeout=4)
            return
        sweep = (t.namespace, t.sweep)
        members = self.backend.store.sweep_members([sweep])
        self.app.push_screen(ChartScreen(self.log_metrics, sweep, members, t.key, t.metric))

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

    compare_mark: TrialKey | None = None  # the trial `v` marked, waiting for the second one

    def action_compare(self) -> None:
        """The first press marks the selected trial; on another trial, the second shows what
        differs between them (`ktui diff A B`); on the same one, it clears the mark."""
        t = self.selected_trial()
        if t is None:
            return
        mark = self.compare_mark
        if mark is None or mark == t.key:
            self.compare_mark = None if mark == t.key else t.key
            self.notify(f"compare: {t.name} marked; press v on another trial" if mark is None
                        else f"compare: {t.name} unmarked", timeout=4)
            return
        self.compare_mark = None
        self.app.push_screen(CompareScreen(self.backend, mark, t.key))

    def action_cancel_trial(self) -> None:
        t = self.selected_trial()
        if t is None or not self._require("cancel"):
            return
        if t.source is not None:  # one index of an indexed sweep's Job: said before asking
            self.notify(f"{t.name} is one trial of the indexed sweep {t.sweep} (Job {t.source}): Kubernetes "
                        "cannot stop one index of an Indexed Job; cancel the whole sweep instead (C)",
                        severity="warning", timeout=8)
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

    def _confirm(self, question: str, detail: str, action: Callable[[], ActionResult], done_message: str) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self._run_action(action, done_message)

        self.app.push_screen(ConfirmScreen(question, detail), answered)

    @work(thread=True, group="actions")
    def _run_action(self, action: Callable[[], ActionResult], done_message: str) -> None:
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
