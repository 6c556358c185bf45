"""A log view that renders only visible lines, bounded, follow/search/wrap.

Lines arrive in a LogBuffer from a worker thread, already made inert and measured there
(ktui.logtext.sanitize); a timer drains it a few times a second, so a chatty pod costs
at most a few repaints per second whatever its line rate, and rendering a frame touches
only the lines on screen. With wrap on, a prefix sum of line heights maps screen
rows to lines in O(log n).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ktui.logtext.buffer import LogBuffer

INERT = Style(dim=True, reverse=True)
MATCH = Style(bgcolor="yellow", color="black")
MATCH_CURRENT = Style(bgcolor="bright_magenta", color="black", bold=True)


class LogView(ScrollView, can_focus=True):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "scroll_lines(-1)", "Up", show=False, id="log.up"),
        Binding("down,j", "scroll_lines(1)", "Down", show=False, id="log.down"),
        Binding("pageup,ctrl+b", "scroll_pages(-1)", "Page up", show=False, id="log.page-up"),
        Binding("pagedown,ctrl+f,space", "scroll_pages(1)", "Page down", show=False, id="log.page-down"),
        Binding("home,g", "top", "Top", show=False, id="log.top"),
        Binding("end,G", "follow", "End/follow", id="log.follow"),
        Binding("w", "toggle_wrap", "Wrap", id="log.wrap"),
        Binding("n", "next_match(1)", "Next match", show=False, id="log.next-match"),
        Binding("N", "next_match(-1)", "Previous match", show=False, id="log.prev-match"),
    ]
    DEFAULT_CSS = "LogView { height: 1fr; }"

    wrap: reactive[bool] = reactive(False)
    follow: reactive[bool] = reactive(True)

    class FollowChanged(Message):
        def __init__(self, follow: bool) -> None:
            super().__init__()
            self.follow = follow

    def __init__(self, buffer: LogBuffer | None = None, *, colors: bool = True, id: str | None = None) -> None:
        super().__init__(id=id)
        self.buffer = buffer or LogBuffer()
        self.buffer.colors = colors
        self._max_width = 0
        self._starts: list[int] = []  # wrap mode: first screen row of each line
        self._rows = 0
        self.search: str = ""
        self._match_line: int | None = None  # index into buffer.safe of the current match

    # -- feeding ------------------------------------------------------------------------

    def on_mount(self) -> None:
        # Ten drains a second: new lines show within 100 ms; an idle drain is one lock and a check.
        self.set_interval(0.1, self.drain)

    def drain(self) -> int:
        """Take what the stream delivered since the last tick; repaint once."""
        added, trimmed = self.buffer.drain()
        if not added:
            return 0
        if trimmed:
            # Lines fell off the front (once per slab): re-measure what is left.
            self._max_width = max((w for _, w in self.buffer.safe), default=0)
            if self._match_line is not None:
                self._match_line = self._match_line - trimmed if self._match_line >= trimmed else None
        else:
            self._max_width = max(self._max_width, max((w for _, w in self.buffer.safe[-added:]), default=0))
        self._relayout(append_only=not trimmed, added=min(added, len(self.buffer.safe)))
        if self.follow:
            self._scroll_to_end()
        self.refresh()
        return added

    def set_lines(self, lines: Iterable[str]) -> None:
        self.buffer.clear()
        self._max_width = 0
        self._match_line = None
        self.buffer.feed(list(lines))
        self._relayout()
        self.drain()
        self.refresh()

    def clear(self) -> None:
        self.set_lines([])

    @property
    def line_count(self) -> int:
        return len(self.buffer.safe)

    def line_text(self, index: int) -> str:
        return self.buffer.safe[index][0].text

    # -- layout -------------------------------------------------------------------------

    def _height_of(self, width: int, line_width: int) -> int:
        return max(1, -(-line_width // width)) if width > 0 else 1

    def _wrap_width(self) -> int:
        # Wrapped lines leave room for the vertical scrollbar, or their last cells hide under it.
        return max(self.size.width - self.styles.scrollbar_size_vertical, 1)

    def _visible_rows(self) -> int:
        """Rows the user sees: ``size`` counts the rows under a horizontal scrollbar too, and
        the bar comes with a line wider than the pane (computed here, not read from Textual's
        scrollbars, which follow the new virtual size a frame late)."""
        height = self.size.height
        if not self.wrap:
            vbar = self.styles.scrollbar_size_vertical if self._rows > height else 0
            if self._max_width > self.size.width - vbar:
                height -= self.styles.scrollbar_size_horizontal
        return max(height, 1)

    def _relayout(self, append_only: bool = False, added: int = 0) -> None:
        width = self._wrap_width()
        safe = self.buffer.safe
        if self.wrap:
            if append_only and self._starts and len(self._starts) + added == len(safe):
                base = self._rows
                for _, w in safe[len(self._starts) :]:
                    self._starts.append(base)
                    base += self._height_of(width, w)
                self._rows = base
            else:
                heights = [self._height_of(width, w) for _, w in safe]
                self._starts = [0, *itertools.accumulate(heights)][:-1] if heights else []
                self._rows = sum(heights)
            self.virtual_size = Size(width, self._rows)
        else:
            self._starts = []
            self._rows = len(safe)
            self.virtual_size = Size(self._max_width, self._rows)

    def on_resize(self, event: events.Resize) -> None:
        self._relayout()

    def watch_wrap(self, wrap: bool) -> None:
        # The top line is found in the layout being left (the rows still map the old way).
        row = int(self.scroll_y)
        top = max(bisect.bisect_right(self._starts, row) - 1, 0) if not wrap and self._starts else row
        self._relayout()
        self.scroll_x = 0
        if self.follow:
            self._scroll_to_end()  # following stays following: the newest line in view
        else:
            self.scroll_y = self._row_of_line(top)
        self.refresh()

    def _line_at_row(self, row: int) -> int:
        if not self.wrap:
            return row
        return max(bisect.bisect_right(self._starts, row) - 1, 0)

    def _row_of_line(self, line: int) -> int:
        if not self.wrap or not self._starts:
            return line
        return self._starts[min(line, len(self._starts) - 1)]

    # -- rendering ----------------------------------------------------------------------

    def _text(self, index: int) -> Text:
        safe = self.buffer.safe[index][0]
        text = Text(safe.text, no_wrap=not self.wrap, end="")
        for span in safe.spans:
            text.stylize(INERT if span.style == "inert" else span.style, span.start, span.end)
        if self.search:
            lower = safe.text.lower()
            needle = self.search.lower()
            style = MATCH_CURRENT if index == self._match_line else MATCH
            start = lower.find(needle)
            while start >= 0:
                text.stylize(style, start, start + len(needle))
                start = lower.find(needle, start + len(needle))
        return text

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        row = int(self.scroll_y) + y
        if row >= self._rows:
            return Strip.blank(width, base)
        console = self.app.console
        if not self.wrap:
            segments = list(self._text(row).render(console))
            x = int(self.scroll_x)
            return Strip(segments).crop_extend(x, x + width, base).apply_style(base)
        index = self._line_at_row(row)
        part = row - self._starts[index]
        lines = self._text(index).wrap(console, self._wrap_width(), overflow="fold", no_wrap=False)
        if part >= len(lines):
            return Strip.blank(width, base)
        segments = list(lines[part].render(console))
        return Strip(segments).adjust_cell_length(width, base).apply_style(base)

    # -- actions ------------------------------------------------------------------------

    def _set_follow(self, follow: bool) -> None:
        if self.follow != follow:
            self.follow = follow
            self.post_message(self.FollowChanged(follow))

    def action_scroll_lines(self, n: int) -> None:
        self.scroll_to(y=self.scroll_y + n, animate=False)
        self._set_follow(n > 0 and self.scroll_y >= self.max_scroll_y)

    def action_scroll_pages(self, n: int) -> None:
        self.scroll_to(y=self.scroll_y + n * max(self.size.height - 1, 1), animate=False)
        self._set_follow(n > 0 and self.scroll_y >= self.max_scroll_y)

    def action_top(self) -> None:
        self.scroll_to(y=0, animate=False)
        self._set_follow(False)

    def _scroll_to_end(self) -> None:
        # Set directly: scroll_end() may defer until after a refresh, a frame late.
        self.scroll_y = max(self._rows - self._visible_rows(), 0)
        # Textual clamps scroll_y to a maximum it derives from the scrollbars it showed last
        # frame; a horizontal bar that comes with this drain lowers the end by its row.
        self.call_after_refresh(self._settle_end)

    def _settle_end(self) -> None:
        end = max(self._rows - self._visible_rows(), 0)
        if self.follow and self.scroll_y != end:
            self.scroll_y = end

    def action_follow(self) -> None:
        self._scroll_to_end()
        self._set_follow(True)

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap

    def _on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._set_follow(False)

    def set_search(self, text: str) -> bool:
        """Highlight `text` and jump to its first match at or after the top line."""
        self.search = text
        self._match_line = None
        self.refresh()
        if not text:
            return False
        start = self._line_at_row(int(self.scroll_y))
        return self._jump(start, 1, include_start=True)

    def action_next_match(self, direction: int) -> None:
        if self.search:
            start = self._match_line if self._match_line is not None else self._line_at_row(int(self.scroll_y))
            if not self._jump(start, direction, include_start=False):
                self.app.bell()

    def _jump(self, start: int, direction: int, include_start: bool) -> bool:
        needle = self.search.lower()
        safe = self.buffer.safe
        n = len(safe)
        rng = range(start if include_start else start + direction, n if direction > 0 else -1, direction)
        for i in rng:
            if needle in safe[i][0].text.lower():
                self._match_line = i
                self._set_follow(False)
                row = self._row_of_line(i)
                self.scroll_to(y=max(row - self.size.height // 3, 0), animate=False)
                self.refresh()
                return True
        return False

    @property
    def match_line(self) -> int | None:
        return self._match_line
