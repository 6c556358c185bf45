"""A small model of a VT terminal, for the tests of what ktui writes to one.

Written apart from ktui.ui.sgr and ktui.ui.screendiff (its own SGR reading, its own
character widths from unicodedata), so that a misreading in one is not hidden by the same
misreading in the other. It models what those rewrite: cursor moves (CUP, CHA, CUF, CUB,
CUU, CUD), SGR, text with wide characters (writing over half of one blanks the other
half), CR and LF (a pty's ONLCR: LF is CR LF; scrolling at the last line), auto-wrap
(DECAWM, with the pending wrap at the last column), erases (ED, EL), the alternate screen,
DECSC/DECRC and RIS.
"""

from __future__ import annotations

import re
import unicodedata

_TOKEN = re.compile(r"\x1b\[([0-9;:?<>=!]*)([ -/]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[^\[\]]|\r|\n|.", re.S)
# An escape sequence cut at the end of a write: a terminal's parser waits for the rest.
_INCOMPLETE = re.compile(r"\x1b(\[[0-9;:?<>=!]*[ -/]*|\][^\x07\x1b]*\x1b?)?\Z")
BLANK = (" ", ())


def width(ch: str) -> int:
    if unicodedata.combining(ch) or ch in "\u200d\ufe0f":
        return 0
    return 2 if unicodedata.east_asian_width(ch) in "WF" else 1


def _sgr(state: dict, params: str) -> dict | None:
    """The style after SGR ``params``, or None when the model does not read it."""
    state = dict(state)
    if ":" in params:
        return None
    codes = [int(c) if c else 0 for c in params.split(";")] if params else [0]
    i = 0
    while i < len(codes):
        c = codes[i]
        if c == 0:
            state.clear()
        elif c in (38, 48):
            key = "fg" if c == 38 else "bg"
            if codes[i + 1] == 5:
                state[key] = ("256", codes[i + 2])
                i += 2
            else:
                state[key] = ("rgb", codes[i + 2], codes[i + 3], codes[i + 4])
                i += 4
        elif 30 <= c <= 37 or 90 <= c <= 97:
            state["fg"] = ("16", c)
        elif 40 <= c <= 47 or 100 <= c <= 107:
            state["bg"] = ("16", c)
        elif c == 39:
            state.pop("fg", None)
        elif c == 49:
            state.pop("bg", None)
        elif c == 22:
            state.pop("a1", None)
            state.pop("a2", None)
        elif c in (23, 24, 25, 27, 28, 29, 55):
            state.pop(f"a{c - 20 if c != 55 else 53}", None)
        else:
            state[f"a{c}"] = True
        i += 1
    return state


class Terminal:
    def __init__(self, cols: int = 30, rows: int = 6) -> None:
        self.cols, self.rows = cols, rows
        self.cells: dict[tuple[int, int], tuple[str, tuple]] = {}
        self.r = self.c = 0
        self.wrap_pending = False
        self.autowrap = True
        self.cursor_shown = True
        self.style: dict = {}
        self.saved: tuple[int, int, dict] = (0, 0, {})
        self.odd: list[str] = []  # sequences written that the model does not read
        self._partial = ""

    def screen(self) -> dict[tuple[int, int], tuple[str, tuple]]:
        return {k: v for k, v in self.cells.items() if v != BLANK}

    def resize(self, cols: int, rows: int) -> None:
        self.cols, self.rows = cols, rows
        self.cells = {(r, c): v for (r, c), v in self.cells.items() if r < rows and c < cols}
        self.r, self.c = min(self.r, rows - 1), min(self.c, cols - 1)
        self.wrap_pending = False

    def _move(self, r: int, c: int) -> None:
        self.r = max(0, min(r, self.rows - 1))
        self.c = max(0, min(c, self.cols - 1))
        self.wrap_pending = False

    def _blank(self, r: int, c: int) -> None:
        self.cells.pop((r, c), None)

    def _put(self, ch: str, w: int) -> None:
        if w == 0:  # joins the cell before
            c = self.c - 1 if not self.wrap_pending else self.c
            if c >= 0 and (self.r, c) in self.cells:
                prev, st = self.cells[(self.r, c)]
                if prev == "":
                    prev, st = self.cells.get((self.r, c - 1), BLANK)
                    c -= 1
                self.cells[(self.r, c)] = (prev + ch, st)
            return
        if self.wrap_pending and self.autowrap:
            self._linefeed()
            self.c = 0
        self.wrap_pending = False
        if self.c + w > self.cols:
            if not self.autowrap:
                return
            self._linefeed()
            self.c = 0
        r, c = self.r, self.c
        # Writing over half of a wide character blanks its other half.
        for x in range(c, c + w):
            cur = self.cells.get((r, x), BLANK)[0]
            if cur == "" and x > 0:
                self._blank(r, x - 1)
            right = self.cells.get((r, x + 1), BLANK)[0]
            if right == "" and x + 1 >= c + w:
                self._blank(r, x + 1)
        style = tuple(sorted(self.style.items()))
        self.cells[(r, c)] = (ch, style)
        if w == 2:
            self.cells[(r, c + 1)] = ("", style)
        if c + w >= self.cols:
            self.c = self.cols - 1
            self.wrap_pending = True
        else:
            self.c = c + w

    def _linefeed(self) -> None:
        if self.r == self.rows - 1:
            self.cells = {(r - 1, c): v for (r, c), v in self.cells.items() if r > 0}
        else:
            self.r += 1

    def write(self, data: str) -> None:
        data, self._partial = self._partial + data, ""
        cut = _INCOMPLETE.search(data)
        if cut:
            data, self._partial = data[: cut.start()], data[cut.start() :]
        for m in _TOKEN.finditer(data):
            tok = m.group(0)
            if m.group(3) is not None:
                self._csi(m.group(1), m.group(2), m.group(3), tok)
            elif tok == "\x1b7":
                self.saved = (self.r, self.c, dict(self.style))
            elif tok == "\x1b8":
                self.r, self.c, style = self.saved
                self.style = dict(style)
                self.wrap_pending = False
            elif tok == "\x1bc":
                self.cells.clear()
                self.style = {}
                self._move(0, 0)
            elif tok.startswith("\x1b"):
                if not tok.startswith("\x1b]"):
                    self.odd.append(tok)
            elif tok == "\r":
                self.c = 0
                self.wrap_pending = False
            elif tok == "\n":
                self._linefeed()
                self.c = 0
                self.wrap_pending = False
            elif tok in "\x07":
                pass
            else:
                for ch in tok:
                    self._put(ch, width(ch))

    def _csi(self, params: str, inter: str, final: str, tok: str) -> None:
        if params.startswith("?") and final in "hl":
            on = final == "h"
            for mode in params[1:].split(";"):
                if mode == "7":
                    self.autowrap = on
                elif mode == "25":
                    self.cursor_shown = on
                elif mode in ("1049", "47", "1047"):
                    self.cells.clear()
            return
        if params[:1] in "?<>=" and params or inter:
            return  # queries, keyboard modes, cursor shape: nothing drawn
        if final == "m":
            style = _sgr(self.style, params)
            if style is None:
                self.odd.append(tok)
                self.style = {"odd": tok}
            else:
                self.style = style
            return
        nums = [int(p) if p else 0 for p in params.split(";")] if params else []
        n = nums[0] if nums and nums[0] else 1
        if final in "Hf":
            r = nums[0] if nums and nums[0] else 1
            c = nums[1] if len(nums) > 1 and nums[1] else 1
            self._move(r - 1, c - 1)
        elif final == "G":
            self._move(self.r, n - 1)
        elif final == "C":
            self._move(self.r, self.c + n)
        elif final == "D":
            self._move(self.r, self.c - n)
        elif final == "A":
            self._move(self.r - n, self.c)
        elif final == "B":
            self._move(self.r + n, self.c)
        elif final == "J":
            self.cells.clear() if (nums[0] if nums else 0) == 2 else self.odd.append(tok)
        elif final == "K":
            mode = nums[0] if nums else 0
            for x in range(self.cols):
                if mode == 2 or (mode == 0 and x >= self.c) or (mode == 1 and x <= self.c):
                    self._blank(self.r, x)
        elif final in "nc":
            pass
        else:
            self.odd.append(tok)
