"""Only the cells that change reach the terminal.

Textual repaints a widget's dirty lines whole, each styled run as a full SGR sequence closed
by a reset. When a node's CPU figure moves from 21.8 to 22.3, its whole row goes down the
SSH link again, hundreds of bytes for three changed cells, and on an idle cluster every
metrics poll repainted every visible node row (NOTES.md M11; bench_terminal_bytes.py).

``ScreenDiff`` keeps a copy of what the terminal shows (each cell's character and style),
reads every write Textual makes (cursor moves, SGR styles, text) and writes only the cells
that differ from the copy, with the shortest style change and cursor move, as curses and
ratatui do with their double buffers.

It is safe by construction where it does not understand: a sequence it does not know is
written as it came, after the terminal's cursor and style are brought to where the stream
expects them, and the copy is then forgotten (every cell unknown). An unknown cell always
differs, so the next time Textual draws a cell it reaches the terminal: the copy heals as
the screen is redrawn. The same goes for a change of terminal size. Widths come from rich's
grapheme splitting, the measure Textual lays out with; where a run's cells cannot be told
apart, the run is written as it came and its row's cells forgotten.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from rich.cells import cell_len, split_graphemes
from textual.driver import Driver

from ktui.ui.sgr import DEFAULT, Style, apply, change

_TOKEN = re.compile(
    r"(?P<text>[^\x00-\x1f\x7f-\x9f]+)"
    r"|\x1b\[(?P<sgr>[0-9;]*)m"
    r"|\x1b\[(?P<params>[0-9;:?<>=!]*)(?P<inter>[ -/]*)(?P<final>[@-~])"
    r"|(?P<nl>\n)|(?P<cr>\r)"
    r"|(?P<osc>\x1b\][^\x07\x1b]*(?:\x07|\x1b\\))"
    r"|(?P<other>\x1b[^\[\]]|[\x00-\x1f\x7f-\x9f])"
)
# A write that ends inside an escape sequence: the rest comes with the next write.
_CUT = re.compile(r"\x1b(?:\[[0-9;:?<>=!]*[ -/]*|\][^\x07\x1b]*\x1b?)?\Z")
# Private modes that do not touch the cells: the cursor shown (25) or blinking (12), mouse
# and focus reporting, bracketed paste, synchronized output, in-band resize; and auto-wrap
# (7), followed apart.
_HARMLESS_MODES = {"7", "12", "25", "1000", "1002", "1003", "1004", "1005", "1006", "1015",
                   "1016", "2004", "2026", "2048"}
# Titles and the clipboard: no cell changes.
_HARMLESS_OSC = ("\x1b]0;", "\x1b]1;", "\x1b]2;", "\x1b]52;")

UNKNOWN = -1  # a cell's style id when the cell is not known


class ScreenDiff:
    """Rewrites a terminal byte stream, one write at a time, down to the changed cells.

    ``size()`` gives the terminal's (columns, rows) at the time of a write; a change
    forgets the copy (a terminal may keep, crop or reflow what it showed)."""

    def __init__(self, size: Callable[[], tuple[int, int]]) -> None:
        self._size = size
        self._cols, self._rows_n = 0, 0
        # The copy: row -> (characters, style ids). A character is "" for the right half of
        # a wide one, None when not known.
        self._chars: dict[int, list[str | None]] = {}
        self._pens: dict[int, list[int]] = {}
        self._styles: list[Style] = []  # style id -> style
        self._ids: dict[Style, int] = {}
        self._sgr_cache: dict[tuple[int, int], str] = {}
        self._applied: dict[tuple[int | None, str], int] = {}  # (style id, SGR params) -> id
        # The stream's state (what Textual thinks) and the terminal's (what it has been sent).
        # None: not known.
        self._pen: int | None = None
        self._cur: tuple[int, int] | None = None
        self._newline_from: tuple[int, int] | None = None  # a newline not yet sent, from here
        self._tpen: int | None = None
        self._tcur: tuple[int, int] | None = None
        # Cells are diffed only once auto-wrap is off (Textual turns it off as it starts):
        # with it on, text reaching the last column leaves the cursor in a state no move
        # can restore.
        self._nowrap = False
        self._held = ""  # an escape sequence cut at the end of the last write

    # -- the copy -------------------------------------------------------------------------

    def forget(self) -> None:
        """Every cell unknown: the next time each is drawn, it is written (ctrl+l, a resize).
        The cursor too: a resize may have moved it."""
        self._chars.clear()
        self._pens.clear()
        self._cur = self._tcur = None

    def _row(self, r: int) -> tuple[list[str | None], list[int]]:
        chars = self._chars.get(r)
        if chars is None:
            chars = self._chars[r] = [None] * self._cols
            self._pens[r] = [UNKNOWN] * self._cols
        return chars, self._pens[r]

    def _style_id(self, style: Style) -> int:
        sid = self._ids.get(style)
        if sid is None:
            sid = self._ids[style] = len(self._styles)
            self._styles.append(style)
        return sid

    # -- output ---------------------------------------------------------------------------

    def _sgr(self, frm: int | None, to: int) -> str:
        """The sequence taking the terminal from style ``frm`` (None: not known) to ``to``."""
        key = (UNKNOWN if frm is None else frm, to)
        seq = self._sgr_cache.get(key)
        if seq is None:
            new = self._styles[to]
            if frm is None:
                params = change(DEFAULT, new)
                seq = f"\x1b[0;{params}m" if params else "\x1b[0m"
            else:
                params = change(self._styles[frm], new)
                seq = f"\x1b[{params}m" if params else ""
            self._sgr_cache[key] = seq
        return seq

    def _move(self, r: int, c: int) -> str:
        """The shortest way from the terminal's cursor to (r, c)."""
        tcur = self._tcur
        if tcur is not None and tcur[0] == r and tcur[1] < self._cols:
            if tcur[1] == c:
                return ""
            if c > tcur[1]:
                k = c - tcur[1]
                return f"\x1b[{k}C" if k > 1 else "\x1b[C"
            return f"\x1b[{c + 1}G"
        return f"\x1b[{r + 1};{c + 1}H"

    def _bridge(self, r: int, c: int) -> str | None:
        """The cells between the terminal's cursor and (r, c), rewritten as the copy holds
        them, when that is shorter than a cursor move; None otherwise."""
        tcur = self._tcur
        if tcur is None or tcur[0] != r or not 0 < c - tcur[1] <= 8:
            return None
        chars, pens = self._chars[r], self._pens[r]
        x = tcur[1]
        # Only over known cells, and not from or up to the middle of a wide character.
        if chars[x] == "" or chars[c] == "" or None in chars[x:c] or UNKNOWN in pens[x:c]:
            return None
        out: list[str] = []
        pen = self._tpen
        for i in range(x, c):
            if pens[i] != pen:
                out.append(self._sgr(pen, pens[i]))
                pen = pens[i]
            out.append(chars[i])  # type: ignore[arg-type]  # (known: checked above)
        bridge = "".join(out)
        if len(bridge.encode()) >= len(self._move(r, c)):  # (bytes: "█" is three)
            return None
        self._tpen = pen
        return bridge

    def _sync_cursor(self, out: list[str]) -> None:
        if self._cur is not None and self._cur != self._tcur:
            out.append(self._move(*self._cur))
            self._tcur = self._cur

    def _sync(self, out: list[str]) -> None:
        """Bring the terminal's cursor and style to the stream's, before a sequence that may
        depend on them is passed on."""
        self._sync_cursor(out)
        if self._pen is not None and self._pen != self._tpen:
            out.append(self._sgr(self._tpen, self._pen))
            self._tpen = self._pen

    def _send_newline(self, out: list[str]) -> None:
        """Send the newline held back (see ``__call__``), from where it was written."""
        if self._newline_from is None:
            return
        self._cur, self._newline_from = self._newline_from, None
        self._sync(out)
        out.append("\n")
        if self._cur[0] >= self._rows_n - 1:
            self.forget()  # on the last line a newline scrolls the screen
        self._cur = self._tcur = None  # (the column depends on the terminal's settings)

    def _pass(self, out: list[str], seq: str, *, touches_cells: bool) -> None:
        """Send ``seq`` as it came, the terminal's cursor and style first brought to where
        the stream has them. One that may touch cells, move the cursor or restore a style
        (DECRC) leaves all three unknown."""
        self._send_newline(out)
        self._sync(out)
        out.append(seq)
        if touches_cells:
            self.forget()
            self._pen = self._tpen = None

    # -- input ----------------------------------------------------------------------------

    def __call__(self, data: str) -> str:
        if self._held:
            data, self._held = self._held + data, ""
        cut = _CUT.search(data)
        if cut is not None:
            data, self._held = data[: cut.start()], data[cut.start() :]
        size = self._size()
        if size != (self._cols, self._rows_n):
            self._cols, self._rows_n = size
            self.forget()
        out: list[str] = []
        for m in _TOKEN.finditer(data):
            kind = m.lastgroup
            if kind == "text":
                self._text(out, m.group())
            elif kind == "sgr":
                self._sgr_in(out, m)
            elif kind == "final":
                self._csi(out, m)
            elif kind == "nl":
                # Textual ends each line with one, then moves to the next line's start: the
                # move is enough. It is sent only if text follows with no move between.
                if self._cur is not None:
                    self._newline_from, self._cur = self._cur, None
                    if self._newline_from[0] >= self._rows_n - 1:
                        self._send_newline(out)  # it scrolls the screen: sent at once
                else:
                    self._pass(out, "\n", touches_cells=False)
                    self._tcur = None
            elif kind == "cr":
                if self._cur is not None:
                    self._cur = (self._cur[0], 0)
                else:
                    self._pass(out, "\r", touches_cells=False)
                    self._tcur = None
            elif kind == "osc":
                seq = m.group()
                self._pass(out, seq, touches_cells=not seq.startswith(_HARMLESS_OSC))
            else:
                seq = m.group()
                self._pass(out, seq, touches_cells=seq != "\x07")
        # Not held across writes (Textual ends each frame with a move, so this is rare): a
        # resize before the next write would leave it nowhere to go.
        self._send_newline(out)
        # The cursor ends where the stream leaves it, shown or not: a resize moves the
        # terminal's cursor (a clamp), and only from the same place would it move the same.
        self._sync_cursor(out)
        return "".join(out)

    def _sgr_in(self, out: list[str], m: re.Match[str]) -> None:
        """A style: kept for the next text, which sends it only where a cell changes."""
        key = (self._pen, m.group("sgr"))
        sid = self._applied.get(key)
        if sid is None:
            pen = apply(key[1], self._styles[self._pen] if self._pen is not None else None)
            if pen is None:
                self._pass_style(out, m.group())
                return
            if len(self._applied) > 4096:  # (a gradient of truecolor styles)
                self._applied.clear()
            sid = self._applied[key] = self._style_id(pen)
        self._pen = sid

    def _pass_style(self, out: list[str], seq: str) -> None:
        """An SGR sequence not understood: the terminal gets it as it came, from the style
        it followed, and the style is not known until a reset."""
        self._sync(out)
        out.append(seq)
        self._pen = self._tpen = None

    def _csi(self, out: list[str], m: re.Match[str]) -> None:
        params, inter, final = m.group("params"), m.group("inter"), m.group("final")
        private = params[:1] in ("?", "<", ">", "=")
        if final == "m" and not inter and not private:  # (with a colon: not read)
            self._pass_style(out, m.group())
            return
        if final in "Hf" and not inter and not private:
            parts = params.split(";") if params else []
            try:
                r = int(parts[0]) - 1 if parts and parts[0] else 0
                c = int(parts[1]) - 1 if len(parts) > 1 and parts[1] else 0
            except ValueError:
                self._pass(out, m.group(), touches_cells=True)
                return
            # (clamped as a terminal does: a frame drawn for a size just left can reach past it)
            self._cur = (max(min(r, self._rows_n - 1), 0), max(min(c, self._cols - 1), 0))
            self._newline_from = None
            return
        if params.startswith("?") and final in "hl" and not inter:
            modes = params[1:].split(";")
            if all(mode in _HARMLESS_MODES for mode in modes):
                if "7" in modes:
                    self._nowrap = final == "l"
                    if not self._nowrap:
                        self._pass(out, m.group(), touches_cells=True)
                        return
                if modes == ["2026"]:
                    out.append(m.group())  # synchronized output: nothing to line up first
                else:
                    self._pass(out, m.group(), touches_cells=False)
                return
            self._pass(out, m.group(), touches_cells=True)
            return
        # Queries and keyboard or cursor-shape settings draw nothing.
        harmless = final in "nc" or (final in "mu" and private) or inter in ("$", " ")
        self._pass(out, m.group(), touches_cells=not harmless)

    def _text(self, out: list[str], text: str) -> None:
        self._send_newline(out)
        cells = _cells(text)
        cur, pen = self._cur, self._pen
        if cur is None or pen is None or cells is None or cur[1] + len(cells) > self._cols \
                or cur[0] >= self._rows_n or not self._nowrap:
            self._raw_text(out, text)
            return
        r, c = cur
        n = len(cells)
        chars, pens = self._row(r)
        end = c + n
        self._cur = (r, end)
        if chars[c:end] == cells and pens[c:end].count(pen) == n:
            return
        a = 0
        while chars[c + a] == cells[a] and pens[c + a] == pen:
            a += 1
        b = n - 1
        while chars[c + b] == cells[b] and pens[c + b] == pen:
            b -= 1
        if cells[a] == "":
            a -= 1  # start at the left half of a wide character
        if b + 1 < n and cells[b + 1] == "":
            b += 1  # a wide character writes its right half too
        x, y = c + a, c + b + 1
        bridge = self._bridge(r, x)
        out.append(bridge if bridge is not None else self._move(r, x))
        if pen != self._tpen:
            out.append(self._sgr(self._tpen, pen))
            self._tpen = pen
        out.append("".join(cells[a : b + 1]))  # (a right half is "": it joins as nothing)
        # Writing over half of a wide character blanks its other half on the terminal.
        if chars[x] == "" and x > 0:
            chars[x - 1], pens[x - 1] = None, UNKNOWN
        if y < self._cols and chars[y] == "":
            chars[y], pens[y] = None, UNKNOWN
        chars[x:y] = cells[a : b + 1]
        pens[x:y] = [pen] * (y - x)
        self._tcur = (r, y)

    def _raw_text(self, out: list[str], text: str) -> None:
        """Text this cannot place cell by cell: written as it came, its row forgotten."""
        self._sync(out)
        out.append(text)
        if self._cur is None or not self._nowrap:
            self.forget()  # (the cursor: where the terminal has it, as it got the stream)
            return
        r, c = self._cur
        self._chars.pop(r, None)
        self._pens.pop(r, None)
        # Textual lays out the rest of the line by rich's measure; the terminal may not
        # agree, so its cursor is not known, and the next text goes to its place by a move.
        self._cur, self._tcur = (r, c + cell_len(text)), None


def _cells(text: str) -> list[str] | None:
    """One entry per terminal cell ("" for the right half of a wide character); None if the
    text has a grapheme of a width other than one or two cells."""
    if text.isascii():
        return list(text)
    spans, _ = split_graphemes(text)
    cells: list[str] = []
    for start, end, width in spans:
        if width == 1:
            cells.append(text[start:end])
        elif width == 2:
            cells.append(text[start:end])
            cells.append("")
        else:
            return None
    return cells


def diffing_driver(base: type[Driver]) -> type[Driver]:
    """``base`` with every write going through a ScreenDiff from the driver's first write
    on, so it sees the modes Textual sets as it starts (auto-wrap off, the cursor hidden)."""

    class DiffingDriver(base):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            measure = getattr(self, "_get_terminal_size", None)
            app = self._app
            self.screen_diff = ScreenDiff(measure if measure is not None else lambda: tuple(app.size))

        def write(self, data: str) -> None:
            super().write(self.screen_diff(data))

    DiffingDriver.__name__ = DiffingDriver.__qualname__ = f"Diffing{base.__name__}"
    return DiffingDriver
