"""The log pane: the selected trial's log, followed live from a worker thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input
from textual.worker import get_current_worker

from ktui.cluster.backend import Backend, LogStream
from ktui.cluster.model import TrialKey
from ktui.cluster.records import PodRec
from ktui.ui.widgets.line import Line
from ktui.ui.widgets.logview import LogView
from ktui.wire.training import replica_of, replica_order


def replicas(trial: str, pods: list[PodRec]) -> list[str]:
    """A distributed trial's replicas, as its pods name them, master first."""
    return sorted({replica_of(trial, p.name) for p in pods}, key=replica_order)

TAIL = 100_000  # as many lines as the pane keeps
RETRY_SECONDS = 2.0


class LogPane(Vertical):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "search", "Search log", id="log.search"),
        Binding("ctrl+s", "save", "Save log", id="log.save"),
        Binding("escape", "close_search", "Close search", show=False, id="log.close-search"),
    ]
    DEFAULT_CSS = """
    LogPane { height: 1fr; }
    LogPane > #log-title { height: 1; background: $panel; }
    LogPane > #log-search { display: none; height: 1; border: none; padding: 0 1; }
    LogPane > #log-search.-active { display: block; }
    """

    def __init__(self, backend: Backend, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.backend = backend
        self.trial: TrialKey | None = None
        # A distributed trial's replica shown ("worker-1"); None: its master (or a Job's pod).
        self.replica: str | None = None
        self._distributed = False
        self._stream: LogStream | None = None
        self._stream_lock = threading.Lock()
        self._status = "select a job and press enter"
        self._follow_note = ""
        # Called (from the stream's thread) once the log has answered: with its first lines,
        # or with an error. Background reads that held back for it may go on.
        self.on_answer: Callable[[], None] | None = None

    def compose(self) -> ComposeResult:
        yield Line(self._title(), id="log-title")
        yield LogView(id="log-view")
        yield Input(placeholder="search (enter: find, n/N: next/previous, esc: close)", id="log-search")

    @property
    def view(self) -> LogView:
        return self.query_one("#log-view", LogView)

    def _title(self) -> Text:
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(" LOG ", style="bold reverse")
        if self.trial:
            t.append(f" {self.trial[0]}/{self.trial[1]}", style="bold")
            which = self.replica or ("master" if self._distributed else None)
            if which is not None:
                t.append(f" {which}", style="bold cyan")

        t.append(f"  {self._status}", style="dim")
        t.append(self._follow_note, style="yellow")
        return t

    def on_log_view_follow_changed(self, event: LogView.FollowChanged) -> None:
        self._follow_note = "" if event.follow else "  (scrolled: G follows again)"
        self.query_one("#log-title", Line).show(self._title())

    def set_status(self, status: str) -> None:
        self._status = status
        self.query_one("#log-title", Line).show(self._title())

    class StreamStatus(Message, bubble=False):
        """What the stream's worker has to say, with the trial it is about: a stream the
        user has left may still speak, and must not label the log now shown. (Posted, so
        the worker does not wait on the UI, busy drawing the pane just opened.)"""

        def __init__(self, trial: TrialKey, status: str, replica: str | None = None) -> None:
            super().__init__()
            self.trial = trial
            self.status = status
            self.replica = replica

    def _post_status(self, trial: TrialKey, status: str, replica: str | None = None) -> None:
        self.post_message(self.StreamStatus(trial, status, replica))

    def on_log_pane_stream_status(self, message: StreamStatus) -> None:
        if message.trial == self.trial and message.replica == self.replica:  # (not an older stream's last word)
            self.set_status(message.status)

    def open(self, trial: TrialKey, replica: str | None = None) -> None:
        """Show `trial`'s log (a distributed trial's master's, or ``replica``'s), following
        it; replaces whatever was shown."""
        if trial == self.trial and replica == self.replica and self._stream is not None:
            return
        self.close_stream()
        self.trial = trial
        self.replica = replica
        # (The raw record, not get_trial: that joins every trial changed since the last
        # read, on the UI thread, as the user waits for the first line: NOTES.md target 4.)
        job = self.backend.store.job(trial)
        self._distributed = job is not None and job.replicas > 0
        self.view.clear()
        self.view.follow = True
        self._follow_note = ""
        self.set_status("connecting…")
        self._follow(trial, replica)

    def next_replica(self) -> None:
        """A distributed trial: show the next replica's log (master, worker-0, worker-1, ...)."""
        if self.trial is None:
            return
        job = self.backend.store.job(self.trial)
        if job is None or not job.replicas:
            self.app.notify(f"{self.trial[1]} runs one pod: it has no replicas", severity="warning")
            return
        names = replicas(self.trial[1], self.backend.store.pods_of(self.trial))
        if not names:
            self.app.notify(f"{self.trial[1]} has no pods yet", severity="warning")
            return
        now = self.replica or names[0]
        after = names[(names.index(now) + 1) % len(names)] if now in names else names[0]
        self.open(self.trial, after)

    def close_stream(self) -> None:
        with self._stream_lock:
            stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()

    def on_unmount(self) -> None:
        self.close_stream()

    @work(thread=True, exclusive=True, group="log-stream")
    def _follow(self, trial: TrialKey, replica: str | None = None) -> None:
        worker = get_current_worker()
        buffer = self.view.buffer
        answered = False

        def answer() -> None:
            # Once, and only while this trial is still the one shown: a stream ending after
            # the user opened another log must not end that log's hold.
            nonlocal answered
            if not answered and self.trial == trial and self.on_answer is not None:
                answered = True
                self.on_answer()

        def shown() -> bool:
            return self.trial == trial and self.replica == replica

        which = {"replica": replica} if replica is not None else {}
        while not worker.is_cancelled and shown():
            try:
                stream = self.backend.stream_logs(trial, follow=True, tail=TAIL, **which)
            except LookupError as e:
                answer()  # no pod yet: nothing to wait for
                self._post_status(trial, f"{e}; waiting", replica)
                time.sleep(RETRY_SECONDS)
                continue
            except Exception as e:  # a forbidden or broken call must not kill the UI
                answer()
                self._post_status(trial, f"cannot read the log: {e}", replica)
                return
            with self._stream_lock:
                if not shown():
                    stream.close()
                    return
                self._stream = stream
            self._post_status(trial, "following", replica)
            # Each read is fed as it comes: the view's timer already coalesces repaints, and
            # holding lines back for a next one would hide a quiet trial's tail until it
            # prints again.
            first = True
            try:
                for batch in stream.batches():
                    buffer.feed([line.text for line in batch])
                    answer()
                    if first and batch:  # shown now, not at the view's next drain (<= 100 ms)
                        first = False
                        self.app.call_from_thread(self.view.drain)
            except Exception as e:
                answer()
                self._post_status(trial, f"stream broke: {e}", replica)
                return
            answer()
            if shown():
                self._post_status(trial, "ended (the container finished)", replica)
            return

    # -- search and save ----------------------------------------------------------------

    def action_search(self) -> None:
        box = self.query_one("#log-search", Input)
        box.add_class("-active")
        box.focus()

    def action_close_search(self) -> None:
        box = self.query_one("#log-search", Input)
        box.remove_class("-active")
        self.view.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "log-search":
            return
        event.stop()
        found = self.view.set_search(event.value)
        if event.value and not found:
            self.app.notify(f"not found: {event.value!r}", severity="warning")
        self.action_close_search()

    def action_save(self) -> None:
        if not self.trial:
            return
        path = Path.cwd() / f"{self.trial[1]}-{time.strftime('%Y%m%d-%H%M%S')}.log"
        try:
            with path.open("w", encoding="utf-8", errors="surrogateescape") as f:  # bytes as logged
                for line in self.view.buffer.lines:
                    f.write(line + "\n")
        except OSError as e:
            self.app.notify(f"cannot save the log: {e.strerror or e}", severity="error")
            return
        extra = f" (the first {self.view.buffer.dropped:,} lines were dropped)" if self.view.buffer.dropped else ""
        self.app.notify(f"saved {len(self.view.buffer.lines):,} lines to {path}{extra}")
