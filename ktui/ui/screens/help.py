"""`?`: every key binding, its id (for ~/.config/ktui/keys.yaml) and what it does."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ktui.ui.keymap import keymap_path


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close", id="help.close"),
    ]

    def __init__(self, groups: list[tuple[str, list[Binding]]]) -> None:
        super().__init__()
        self.groups = groups

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box", classes="dialog"):
            yield Static(self._table())

    def _table(self) -> Table:
        table = Table(title="ktui keys", expand=True, show_edge=False, pad_edge=False)
        table.add_column("key", style="bold cyan", no_wrap=True)
        table.add_column("does")
        table.add_column("id (remap in keys.yaml)", style="dim", no_wrap=True)
        seen: set[str] = set()
        for title, bindings in self.groups:
            table.add_row(f"[b]{title}[/b]", "", "")
            for b in bindings:
                if not b.id or b.id in seen:
                    continue
                seen.add(b.id)
                key = getattr(self.app, "user_keymap", {}).get(b.id, b.key)
                table.add_row(key.replace("question_mark", "?").replace("slash", "/").replace("colon", ":"),
                              b.description, b.id)
        table.caption = f"remap keys in {keymap_path()} (e.g. 'jobs.cancel: x'); esc closes"
        return table
