"""The ktui Textual app: one backend, one store mirror, the main screen."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import ClassVar

import textual.screen
from textual import events, work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.driver import Driver
from textual.screen import Screen

from ktui.cluster.backend import Backend
from ktui.cluster.logmetrics import LogMetrics
from ktui.cluster.resultcache import ResultCache
from ktui.gcpause import IdleCollector
from ktui.ui.commands import ClusterCommands
from ktui.ui.keymap import load_keymap
from ktui.ui.screendiff import diffing_driver
from ktui.ui.screens.help import HelpScreen
from ktui.ui.screens.main import MainScreen
from ktui.ui.sortkeys import NODE_SORTS, TRIAL_SORTS
from ktui.ui.state import UiState
from ktui.ui.widgets.logpane import LogPane
from ktui.ui.widgets.logview import LogView
from ktui.ui.widgets.vtable import VirtualTable

STYLES = Path(__file__).resolve().parent / "styles"
# (context, namespace, all namespaces) -> a new, not yet started backend
Switch = Callable[[str | None, str | None, bool], Backend]


# A screen paints on a timer of 1/TEXTUAL_FPS s (60 by default), resumed when it goes idle:
# after a key's handler was done, its frame waited for that timer (NOTES.md M12). Frames
# still come only when something changed, and store churn is coalesced by the screen's
# own 0.25 s tick. A TEXTUAL_FPS set by the user is kept.
FRAME_RATE = 120
if "TEXTUAL_FPS" not in os.environ and textual.screen.UPDATE_PERIOD > 1 / FRAME_RATE:
    textual.screen.UPDATE_PERIOD = 1 / FRAME_RATE  # type: ignore[misc]  # Final upstream; read when a screen first paints

GC_CHECK_SECONDS = 0.5  # how often a full collection is considered (see IdleCollector)
INPUT_HOLD = 0.5  # s after a key or mouse event before background log reads start again


class KtuiApp(App[None]):
    CSS_PATH = STYLES / "ktui.tcss"
    TITLE = "ktui"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("ctrl+l", "redraw", "Redraw the screen", show=False, id="app.redraw"),
        Binding("colon", "command_palette", "Commands", show=False, id="app.palette"),
        Binding("tab", "focus_next", "Next pane", show=False, id="app.focus-next"),
        Binding("shift+tab", "focus_previous", "Previous pane", show=False, id="app.focus-previous"),
    ]
    ENABLE_COMMAND_PALETTE = True

    COMMANDS = App.COMMANDS | {ClusterCommands}

    def __init__(
        self,
        backend: Backend,
        default_namespace: str = "default",
        keymap_file: Path | None = None,
        clock: Callable[[], float] = time.time,
        switch: Switch | None = None,
        contexts: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.backend = backend
        self.default_namespace = default_namespace
        self.switch = switch
        self.contexts = list(contexts)
        self.clock = clock
        self.state = UiState(backend.store, clock)
        self.log_metrics = LogMetrics(backend, cache=ResultCache())
        self.user_keymap, self._keymap_problem = load_keymap(keymap_file)
        self.idle_gc = IdleCollector()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.InputEvent) and not event.is_forwarded:
            self.state.last_input = time.monotonic()  # background work yields to the user
            # Metric reads from logs too: they share the API server with what the user
            # asked for (a log, a describe), and the GIL with the frame that answers a key.
            self.log_metrics.hold(INPUT_HOLD)
        await super().on_event(event)

    def on_mount(self) -> None:
        if self.user_keymap:
            self.set_keymap(self.user_keymap)
        if self._keymap_problem:
            self.notify(self._keymap_problem, severity="warning", timeout=10)
        self.backend.start()
        self.log_metrics.start()
        self.push_screen(MainScreen(self.backend, self.state, self.log_metrics, self.default_namespace))
        self.idle_gc.start()
        self.set_interval(GC_CHECK_SECONDS, self._idle_gc)

    def get_driver_class(self) -> type[Driver]:
        # Only the changed cells of a frame go to the terminal (see ktui.ui.screendiff).
        # (Headless runs and the inline driver are picked apart from this, and write none.)
        # KTUI_SCREENDIFF=0 writes Textual's frames as they come: the way out if a terminal
        # or a Textual release ever disagrees with the diff's model of the screen.
        base = super().get_driver_class()
        if os.environ.get("KTUI_SCREENDIFF", "1") == "0":
            return base
        return diffing_driver(base)

    def _forget_screen(self) -> None:
        diff = getattr(self._driver, "screen_diff", None)
        if diff is not None:
            diff.forget()

    def on_resize(self) -> None:
        self._forget_screen()  # a terminal may keep, crop or reflow what it showed

    def action_redraw(self) -> None:
        """Write the whole screen again (something else wrote to the terminal)."""
        self._forget_screen()
        self.screen.refresh(repaint=True, layout=True)

    def _idle_gc(self) -> None:
        # Not while the first lists arrive: a full collection would walk all of it (NOTES.md
        # M3); the load is frozen out of the collector's sight once it is in.
        if not self.backend.store.listing():
            self.idle_gc.maybe_collect(self.state.last_input)

    def on_unmount(self) -> None:
        self.idle_gc.stop()
        self.log_metrics.stop()
        self.backend.stop()

    def switch_to(self, context: str | None, namespace: str | None, all_namespaces: bool) -> None:
        """Point the app at another context or namespace (from the command palette)."""
        self._connect(context, namespace, all_namespaces)

    @work(thread=True, exclusive=True, group="switch")
    def _connect(self, context: str | None, namespace: str | None, all_namespaces: bool) -> None:
        assert self.switch is not None
        try:
            backend = self.switch(context, namespace, all_namespaces)
        except Exception as e:  # a broken context must not take the current one down
            self.call_from_thread(self.notify, f"cannot switch: {e}", severity="error")
            return
        old, old_metrics = self.backend, self.log_metrics
        self.call_from_thread(self._install, backend)
        old_metrics.stop()
        old.stop()

    def _install(self, backend: Backend) -> None:
        self.backend = backend
        self.default_namespace = getattr(backend, "namespace", None) or self.default_namespace
        self.state = UiState(backend.store, self.clock)
        self.log_metrics = LogMetrics(backend, cache=ResultCache())
        backend.start()
        self.log_metrics.start()
        self.switch_screen(MainScreen(backend, self.state, self.log_metrics, self.default_namespace))
        self.notify(f"now on {backend.location}")

    def action_help(self) -> None:
        groups = [
            ("everywhere", list(self.BINDINGS)),
            ("main screen", list(MainScreen.BINDINGS)),
            ("tables", list(VirtualTable.BINDINGS)),
            ("log pane", list(LogView.BINDINGS) + list(LogPane.BINDINGS)),
        ]
        self.push_screen(HelpScreen(groups))  # type: ignore[arg-type]

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:  # type: ignore[type-arg]
        yield from super().get_system_commands(screen)
        main = screen if isinstance(screen, MainScreen) else None
        if main is None:
            return
        for col, what in TRIAL_SORTS.items():
            yield SystemCommand(f"Sort jobs by {col}", f"order jobs by {what}", lambda c=col: self._sort_jobs(main, c))
        for col, what in NODE_SORTS.items():
            yield SystemCommand(f"Sort nodes by {col}", f"order nodes by {what}", lambda c=col: self._sort_nodes(main, c))
        yield SystemCommand("Show all sweeps", "clear the sweep filter", lambda: self._filter_sweep(main, None))
        for s in self.state.sweeps:
            yield SystemCommand(f"Show sweep {s.name}", f"{s.total} jobs in {s.namespace}",
                                lambda n=s.name: self._filter_sweep(main, n))
        yield SystemCommand("Launch a sweep", "open the launch form", main.action_launch)

    def _sort_jobs(self, main: MainScreen, column: str) -> None:
        main.sort_trials(column)

    def _sort_nodes(self, main: MainScreen, column: str) -> None:
        from ktui.ui.widgets.nodes import NodesPane

        self.state.sort_nodes(column)
        main.query_one(NodesPane).refresh_from(set(), True)

    def _filter_sweep(self, main: MainScreen, sweep: str | None) -> None:
        self.state.set_filter(self.state.filter_text, sweep)
        main.filter_trials()
