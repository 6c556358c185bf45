"""A table that renders only the rows on screen, for 150,000 of them.

Textual's DataTable builds every row up front (NOTES.md M16). This one holds
an ordered list of keys and a pure `render_row(key) -> cells` function (k9s's one render
function per kind); each frame renders just the visible lines, with rendered rows cached
by key and dropped when the owner reports the key changed. Updating never rebuilds the
table: `update(keys, changed)` swaps the ordering and repaints only what moved.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

Cell = str | Text
_PLAIN = Style()
# C0, DEL and C1 controls in a cell: whitespace becomes a space, the rest a visible mark.
_CONTROLS = {c: (" " if chr(c) in "\t\n\r\x0b\x0c" else "\ufffd") for c in [*range(32), *range(127, 160)]}
RenderRow = Callable[[Hashable], Sequence[Cell]]


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int  # minimum width in cells
    flex: int = 0  # share of the spare width
    align: Literal["left", "right"] = "left"
    # Which end of a text too wide survives: node names differ at their end ("…node-0007").
    keep: Literal["start", "end"] = "start"


def _tail(text: str, cells: int) -> str:
    """The end of ``text`` that fits ``cells`` cells."""
    if cells <= 0:
        return ""
    if text.isascii():
        return text[-cells:]
    out = text
    while out and cell_len(out) > cells:
        out = out[1:]
    return out


def layout_widths(columns: Sequence[Column], total: int) -> list[int]:
    """Column widths for a table `total` cells wide (one space between columns)."""
    widths = [c.width for c in columns]
    spare = total - sum(widths) - max(len(columns) - 1, 0)
    flex = sum(c.flex for c in columns)
    if spare > 0 and flex:
        for i, c in enumerate(columns):
            widths[i] += spare * c.flex // flex
    return widths


class VirtualTable(ScrollView, can_focus=True):
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "virtual-table--header",
        "virtual-table--cursor",
        "virtual-table--cursor-blurred",
    }
    DEFAULT_CSS = """
    VirtualTable { height: 1fr; }
    VirtualTable > .virtual-table--header { text-style: bold; background: $panel; }
    VirtualTable > .virtual-table--cursor { background: $accent; color: $text; }
    VirtualTable > .virtual-table--cursor-blurred { background: $accent 40%; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False, id="table.up"),
        Binding("down,j", "cursor_down", "Down", show=False, id="table.down"),
        Binding("pageup,ctrl+b", "page_up", "Page up", show=False, id="table.page-up"),
        Binding("pagedown,ctrl+f", "page_down", "Page down", show=False, id="table.page-down"),
        Binding("home,g", "first", "First row", show=False, id="table.first"),
        Binding("end,G", "last", "Last row", show=False, id="table.last"),
        Binding("enter", "select", "Open", show=False, id="table.select"),
    ]
    CACHE_ROWS = 2048

    class Highlighted(Message):
        def __init__(self, table: VirtualTable, key: Hashable | None) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> VirtualTable:
            return self.table

    class Selected(Message):
        def __init__(self, table: VirtualTable, key: Hashable) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> VirtualTable:
            return self.table

    def __init__(
        self,
        columns: Sequence[Column],
        render_row: RenderRow,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._columns = list(columns)
        self._render_row = render_row
        self._keys: Sequence[Hashable] = ()
        self._cache: OrderedDict[tuple[Hashable, int], Strip] = OrderedDict()
        self._widths: list[int] = []
        self._widths_for = -1  # the width `_widths` was laid out for
        self._cursor = 0
        self._last_highlighted: Hashable | None = None
        # What each screen line last showed: (row key, has the cursor), or None (blank).
        self._painted: dict[int, tuple[Hashable, bool] | None] = {}
        self._sized_rows = -1  # the row count the virtual size was last set for
        self.sort_column: str | None = None
        self.sort_reverse = False
        # Where a key is in `keys` (ValueError if absent), when the owner can say faster
        # than list.index (a scan: NOTES.md M16).
        self.locate: Callable[[Any], int] | None = None

    # -- data ---------------------------------------------------------------------------

    @property
    def columns(self) -> list[Column]:
        return self._columns

    @property
    def row_count(self) -> int:
        return len(self._keys)

    @property
    def keys(self) -> Sequence[Hashable]:
        return self._keys

    @property
    def cursor_index(self) -> int:
        return self._cursor

    @property
    def cursor_key(self) -> Hashable | None:
        return self._keys[self._cursor] if self._keys else None

    def set_columns(self, columns: Sequence[Column]) -> None:
        self._columns = list(columns)
        self._widths = []
        self._cache.clear()
        self._update_virtual_size()
        self.refresh()

    def update(
        self, keys: Sequence[Hashable], changed: Iterable[Hashable] = (), reordered: bool | None = None
    ) -> None:
        """Show `keys` in this order; rows whose data changed are listed in `changed`.

        `reordered` says whether rows moved; by default, whether `keys` is a new sequence
        (an owner that mutates one list in place passes it explicitly)."""
        changed_set = set(changed)
        old: dict[Hashable, Strip] = {}
        if changed_set:
            width = self.size.width
            for ck in [ck for ck in self._cache if ck[0] in changed_set]:
                strip = self._cache.pop(ck)
                if ck[1] == width:
                    old[ck[0]] = strip

        def differs(key: Hashable) -> bool:
            # A changed record often renders the same (a node's usage moved by less than
            # the digits shown): repaint only what looks different.
            if key not in changed_set:
                return False
            before = old.get(key)
            return before is None or self._row_strip(key) != before

        old_key = self._last_highlighted
        if reordered is None:
            reordered = keys is not self._keys
        self._keys = keys
        if reordered:
            top = int(self.scroll_y)
            visible = max(self.size.height - 1, 1)
            shown_at = self._cursor - top  # where the cursor's row was on screen
            if old_key is not None:
                self._cursor = self._find(old_key, self._cursor)
            self._cursor = min(self._cursor, max(len(keys) - 1, 0))
            self._sync_rows()
            if 0 <= shown_at < visible and not top <= self._cursor < top + visible:
                # Its row moved off screen (another order, a phase change under a phase
                # sort): the view follows it to where it was on screen, as htop does, so the
                # row `enter` opens is the one highlighted. A cursor scrolled away stays so.
                if len(keys) != self._sized_rows:
                    self._update_virtual_size()
                self.scroll_to(y=max(0, self._cursor - shown_at), animate=False)
            # Rows moved somewhere, most often off screen (a trial added to another sweep):
            # repaint only the lines that now show another row, or whose row changed.
            top = int(self.scroll_y)
            for y in range(1, self.size.height):
                i = top + y - 1
                shown = (keys[i], i == self._cursor) if i < len(keys) else None
                if self._painted.get(y) != shown or (shown is not None and differs(shown[0])):
                    self.refresh_line(top + y)
        else:
            top = int(self.scroll_y)
            for y in range(1, self.size.height):
                i = top + y - 1
                if i < len(keys) and differs(keys[i]):
                    self.refresh_line(top + y)
        self._post_highlight()

    def forget_rows(self) -> None:
        """Every row's data may have changed (a store reset): drop all rendered rows."""
        self._cache.clear()
        self.refresh()

    def refresh_visible(self) -> None:
        """Re-render the rows on screen (their cells may hold the time, e.g. an age) and
        repaint only those whose text changed: an idle screen writes nothing to the terminal."""
        top = int(self.scroll_y)
        for i in range(top, min(top + self.size.height - 1, len(self._keys))):
            ck = (self._keys[i], self.size.width)
            old = self._cache.pop(ck, None)
            if old is None or self._row_strip(self._keys[i]) != old:
                self.refresh_line(i + 1)

    def _find(self, key: Hashable, hint: int) -> int:
        keys = self._keys
        if hint < len(keys) and keys[hint] == key:
            return hint
        try:
            return self.locate(key) if self.locate is not None else keys.index(key)  # type: ignore[attr-defined]
        except (ValueError, AttributeError):
            return hint

    def _update_virtual_size(self) -> None:
        width = sum(c.width for c in self._columns) + max(len(self._columns) - 1, 0)
        self._sized_rows = len(self._keys)
        self.virtual_size = Size(width, len(self._keys) + 1)

    def _sync_rows(self) -> None:
        """Follow a change in the number of rows, lazily. A new virtual size costs a full
        repaint of the table and of every scrollbar on screen, and under churn the count
        changes on every tick; yet it only matters near the end (where rows must be
        reachable and blank ones must not show) and for the scrollbar's thumb, which a few
        rows more or less do not move. So the size follows when the end is on screen, when
        the count drifts by more than ~2%, or when the user moves (``move_cursor``)."""
        n = len(self._keys)
        sized = self._sized_rows
        if n == sized:
            return
        near_end = int(self.scroll_y) + self.size.height - 1 >= min(n, sized) - 1
        drift = abs(n - sized) > max(sized // 50, self.size.height)
        if near_end or drift or sized < 0 or not self.is_mounted:
            self._update_virtual_size()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._sync_rows()  # scrolled (wheel, scrollbar) towards an end the size lags behind

    # -- rendering ----------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        # Rows are cached per width, so the cache is kept: a resize back reuses them.
        self._update_virtual_size()

    def _layout(self) -> list[int]:
        # The layout follows the width here, not in on_resize: Textual paints a resized
        # widget at its new size before the Resize event is handled, and a row rendered in
        # that paint is cached under the new width. Laid out with the old width's columns it
        # would stay on screen (header and idle rows) until its data changed.
        total = max(self.size.width, self.virtual_size.width)
        if not self._widths or self._widths_for != total:
            self._widths = layout_widths(self._columns, total)
            self._widths_for = total
        return self._widths

    def _cells_text(self, cells: Sequence[Cell]) -> Text:
        line = Text(no_wrap=True, overflow="ellipsis", end="")
        for i, (col, width) in enumerate(zip(self._columns, self._layout(), strict=False)):
            cell = cells[i] if i < len(cells) else ""
            if i:
                line.append(" ")
            line.append_text(self._cells_text_one(cell if isinstance(cell, Text) else Text(cell), col, width))
        return line

    def _strip(self, text: Text, style: Style) -> Strip:
        segments = list(text.render(self.app.console))
        total = max(self.size.width, self.virtual_size.width)
        return Strip(segments).adjust_cell_length(total, style).apply_style(style)

    def _cells_strip(self, cells: Sequence[Cell]) -> Strip:
        """A row's cells laid out as `_strip(_cells_text(cells), Style())` does, straight to
        segments: through rich's Text a row cost more (NOTES.md M16), and a filter or a page shows
        dozens of rows never rendered before. Cells with spans take the Text path."""
        segments: list[Segment] = []
        get_style = self.app.console.get_style
        used = 0
        for i, (col, width) in enumerate(zip(self._columns, self._layout(), strict=False)):
            cell = cells[i] if i < len(cells) else ""
            if isinstance(cell, Text):
                if cell.spans or cell.end != "\n":
                    part = Text(no_wrap=True, overflow="ellipsis", end="")
                    part.append_text(self._cells_text_one(cell, col, width))  # its style, as a span
                    if i:
                        segments.append(Segment(" ", _PLAIN))
                    segments.extend(part.render(self.app.console, end=""))
                    used += (1 if i else 0) + part.cell_len
                    continue
                plain, style = cell.plain, get_style(cell.style, default=_PLAIN) if cell.style else _PLAIN
            else:
                plain, style = cell, _PLAIN
            if not plain.isprintable():
                # (a termination message may hold anything: no escape reaches the terminal)
                plain = plain.translate(_CONTROLS)
            n = cell_len(plain)
            if n > width:
                if width <= 0:
                    plain = ""
                elif col.keep == "end":
                    plain = "…" + _tail(plain, width - 1)
                else:
                    plain = set_cell_size(plain, width - 1) + "…"
                n = cell_len(plain)
            if i:
                segments.append(Segment(" ", _PLAIN))
                used += 1
            pad = width - n
            if pad > 0 and col.align == "right":
                segments.append(Segment(" " * pad, _PLAIN))
                segments.append(Segment(plain, style))
            else:
                # Left-aligned padding carries the cell's style, as Text.append does.
                segments.append(Segment(plain + " " * pad if pad > 0 else plain, style))
            used += max(n, width)
        total = max(self.size.width, self.virtual_size.width)
        # Merged as Text.render merges them: the same segments, so the same output.
        return Strip(Segment.simplify(segments), used).adjust_cell_length(total, _PLAIN)

    def _cells_text_one(self, cell: Text, col: Column, width: int) -> Text:
        t = cell.copy()
        t.no_wrap = True
        t.end = ""
        if col.keep == "end" and t.cell_len > width > 0:
            cut = len(t.plain) - len(_tail(t.plain, width - 1))
            t = Text("…", end="") + t[cut:]
        t.truncate(width, overflow="ellipsis")
        pad = width - t.cell_len
        if pad > 0:
            if col.align == "right":
                t = Text(" " * pad, end="") + t
            else:
                t.append(" " * pad)
        return t

    def _row_strip(self, key: Hashable) -> Strip:
        ck = (key, self.size.width)
        strip = self._cache.get(ck)
        if strip is None:
            strip = self._cells_strip(self._render_row(key))
            self._cache[ck] = strip
            if len(self._cache) > self.CACHE_ROWS:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(ck)
        return strip

    def render_line(self, y: int) -> Strip:
        scroll_x = int(self.scroll_x)
        width = self.size.width
        base = self.rich_style
        if y == 0:
            labels: list[Cell] = []
            for c in self._columns:
                label = c.label
                if c.key == self.sort_column:
                    label += " ▼" if self.sort_reverse else " ▲"
                labels.append(label)
            style = self.get_component_rich_style("virtual-table--header")
            return self._strip(self._cells_text(labels), base + style).crop(scroll_x, scroll_x + width)
        index = int(self.scroll_y) + y - 1
        if index >= len(self._keys):
            self._painted[y] = None
            return Strip.blank(width, base)
        self._painted[y] = (self._keys[index], index == self._cursor)
        strip = self._row_strip(self._keys[index])
        if index == self._cursor:
            cls = "virtual-table--cursor" if self.has_focus else "virtual-table--cursor-blurred"
            strip = strip.apply_style(self.get_component_rich_style(cls))
        strip = strip.apply_style(base)
        return strip.crop(scroll_x, scroll_x + width)

    # -- cursor -------------------------------------------------------------------------

    def move_cursor(self, index: int) -> None:
        if not self._keys:
            return
        if len(self._keys) != self._sized_rows:
            self._update_virtual_size()  # the user goes somewhere: every row must be reachable
        index = max(0, min(index, len(self._keys) - 1))
        old = self._cursor
        self._cursor = index
        top = int(self.scroll_y)
        visible = max(self.size.height - 1, 1)
        if index < top:
            self.scroll_to(y=index, animate=False)
        elif index >= top + visible:
            self.scroll_to(y=index - visible + 1, animate=False)
        else:
            self.refresh_line(old + 1)
            self.refresh_line(index + 1)
        self._post_highlight()

    def move_to_key(self, key: Hashable) -> bool:
        i = self._find(key, self._cursor)
        if i < len(self._keys) and self._keys[i] == key:
            self.move_cursor(i)
            return True
        return False

    def _post_highlight(self) -> None:
        key = self.cursor_key
        if key != self._last_highlighted:
            self._last_highlighted = key
            self.post_message(self.Highlighted(self, key))

    def action_cursor_up(self) -> None:
        self.move_cursor(self._cursor - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self._cursor + 1)

    def action_page_up(self) -> None:
        self.move_cursor(self._cursor - max(self.size.height - 2, 1))

    def action_page_down(self) -> None:
        self.move_cursor(self._cursor + max(self.size.height - 2, 1))

    def action_first(self) -> None:
        self.move_cursor(0)

    def action_last(self) -> None:
        self.move_cursor(len(self._keys) - 1)

    def action_select(self) -> None:
        key = self.cursor_key
        if key is not None:
            self.post_message(self.Selected(self, key))

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1:
            self.move_cursor(int(self.scroll_y) + event.y - 1)
            if event.chain == 2:
                self.action_select()

    def on_focus(self) -> None:
        self.refresh_line(self._cursor + 1)

    def on_blur(self) -> None:
        self.refresh_line(self._cursor + 1)


__all__ = ["Column", "VirtualTable", "layout_widths"]
