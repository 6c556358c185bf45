"""`v` twice: what differs between two trials, as `ktui diff A B` prints it (parameters,
settings, code with a unified diff of its text files, image digest, outcome), read through
the backend in a worker."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ktui.cluster.backend import Backend
from ktui.cluster.model import TrialKey
from ktui.cluster.trialdiff import compare  # `ktui diff`'s own comparison, word for word


class CompareScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    CompareScreen { align: center middle; }
    #compare-box { height: 90%; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "dismiss", "Close", id="compare.close"),
    ]

    def __init__(self, backend: Backend, a: TrialKey, b: TrialKey) -> None:
        super().__init__()
        self.backend = backend
        self.a, self.b = a, b
        self.lines: list[str] | None = None  # what `ktui diff` prints, once read

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="compare-box", classes="dialog"):
            yield Static(f"comparing {self.a[1]} -> {self.b[1]}…", id="compare-body")

    def on_mount(self) -> None:
        self._load()

    @work(thread=True, exclusive=True)
    def _load(self) -> None:
        try:
            da = self.backend.describe(self.a)
            db = self.backend.describe(self.b)
            lines = compare(self.backend, da, db)
        except Exception as e:  # gone, forbidden, unreachable: say so in the dialog
            self.app.call_from_thread(self._show_error, str(e) or type(e).__name__)
            return
        self.app.call_from_thread(self._show, lines)

    def _show_error(self, message: str) -> None:
        self.query_one("#compare-body", Static).update(
            Text(f"cannot compare {self.a[1]} and {self.b[1]}: {message}", style="red"))

    def _show(self, lines: list[str]) -> None:
        self.lines = lines
        text = Text()
        text.append(f"{self.a[1]} -> {self.b[1]}\n", style="bold")
        if not lines:
            text.append("nothing differs\n", style="dim")
        for ln in lines:
            style = ""
            body = ln.lstrip()
            if not ln.startswith(" ") or body.startswith(("+++", "---")):
                style = "bold"
            elif body.startswith("+"):
                style = "green"
            elif body.startswith("-"):
                style = "red"
            elif body.startswith("@@"):
                style = "cyan"
            text.append(ln + "\n", style=style)
        text.append("\nesc closes", style="dim")
        self.query_one("#compare-body", Static).update(text)
