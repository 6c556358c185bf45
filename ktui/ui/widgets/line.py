"""A one-purpose Static that repaints only when what it shows changes."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class Line(Static):
    """``Static.update`` refreshes the layout even when nothing changed, and a layout refresh
    rewrites every scrollbar on the screen: ~5 KB/s of terminal output on an idle screen
    from the title and summary lines alone. ``show`` skips an identical text and lays out
    only when the number of lines changes."""

    _shown: Text | str | None = None

    def show(self, content: Text | str) -> None:
        if isinstance(content, Text) and isinstance(self._shown, Text):
            same = content == self._shown and content.style == self._shown.style
        else:
            same = content == self._shown
        if same:
            return
        # A layout pass (which repaints every scrollbar) is needed only when the height may
        # change: these lines span their container's width, so only a new line count can.
        layout = self._shown is None or _lines(content) != _lines(self._shown)
        self._shown = content
        self.update(content, layout=layout)


def _lines(content: Text | str) -> int:
    return (content.plain if isinstance(content, Text) else content).count("\n")
