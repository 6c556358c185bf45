"""Fewer bytes per frame: a reset followed at once by a new style becomes the change alone.

Textual writes every styled run as a full SGR sequence closed by a reset:
``\\x1b[38;5;112;48;5;233m23.7\\x1b[0m\\x1b[38;5;253;48;5;233m/\\x1b[0m...``. In a node row
that is about half of its ~790 bytes (256 colours), and at an idle 150,000-pod cluster the
node rows are most of what goes down an SSH link. Where a reset is followed directly by
another SGR sequence, nothing is drawn in between, so the pair can be replaced by the
difference between the style before the reset and the new one (``\\x1b[38;5;112m``).

Only what this module fully understands is rewritten: the common attributes, the 8/16,
256 and truecolor colours, and their "off" codes. Anything else (a colon sub-parameter,
an unknown code, a sequence cut between two writes) makes the current style unknown, and
sequences pass through untouched until a reset makes it known again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SGR = re.compile(r"\x1b\[([0-9;:]*)m")
# A write that ends inside an escape sequence: its style effect is not seen here.
_CUT = re.compile(r"\x1b(\[[0-9;:?<>=!]*)?$")
# Sequences that restore or reset the style behind this module's back: DECRC (restores the
# attributes DECSC saved), RIS and DECSTR. A write holding one is left alone.
_RESTORES = ("\x1b8", "\x1bc", "\x1b[!p")

_ATTRS = {1, 2, 3, 4, 5, 7, 8, 9, 53}
_OFF = {22: (1, 2), 23: (3,), 24: (4,), 25: (5,), 27: (7,), 28: (8,), 29: (9,), 55: (53,)}


@dataclass(frozen=True, slots=True)
class Style:
    fg: str | None = None  # the SGR code(s) that set it: "31", "38;5;112", "38;2;1;2;3"
    bg: str | None = None
    attrs: frozenset[int] = frozenset()


DEFAULT = Style()


def apply(params: str, style: Style | None) -> Style | None:
    """The style after SGR ``params`` on top of ``style``; None if not understood."""
    codes = params.split(";") if params else [""]
    if any(":" in c for c in codes):
        return None
    fg, bg = (style.fg, style.bg) if style is not None else (None, None)
    attrs = set(style.attrs) if style is not None else set()
    known = style is not None
    i = 0
    while i < len(codes):
        c = codes[i]
        n = int(c) if c else 0
        if n == 0:
            fg, bg, known = None, None, True
            attrs.clear()
        elif not known:
            return None  # a change on top of a style not known
        elif n in _ATTRS:
            attrs.add(n)
        elif n in _OFF:
            attrs.difference_update(_OFF[n])
        elif 30 <= n <= 37 or 90 <= n <= 97:
            fg = c
        elif 40 <= n <= 47 or 100 <= n <= 107:
            bg = c
        elif n == 39:
            fg = None
        elif n == 49:
            bg = None
        elif n in (38, 48):
            kind = codes[i + 1] if i + 1 < len(codes) else ""
            width = 2 if kind == "5" else 4 if kind == "2" else 0
            parts = codes[i + 1 : i + 1 + width]
            if not width or len(parts) != width or not all(p.isdigit() for p in parts):
                return None
            value = ";".join([c, *parts])
            if n == 38:
                fg = value
            else:
                bg = value
            i += width
        else:
            return None
        i += 1
    return Style(fg, bg, frozenset(attrs))


def change(old: Style, new: Style) -> str:
    """The shortest parameters taking ``old`` to ``new`` (empty: nothing to do)."""
    # From scratch: always right (an attribute going off needs it: 22 would take dim and
    # bold off together).
    fresh = ";".join(["0", *(p for p in (new.fg, new.bg) if p), *(str(a) for a in sorted(new.attrs))])
    if old.attrs - new.attrs:
        return fresh
    parts = []
    if new.fg != old.fg:
        parts.append(new.fg or "39")
    if new.bg != old.bg:
        parts.append(new.bg or "49")
    parts.extend(str(a) for a in sorted(new.attrs - old.attrs))
    diff = ";".join(parts)
    return diff if len(diff) <= len(fresh) else fresh


class SgrCompactor:
    """Rewrites a terminal byte stream, one write at a time (the style carries over)."""

    def __init__(self) -> None:
        # None: not known (see the module's docstring). Not known at first either: what
        # was written before this compactor was put in place is not seen.
        self.style: Style | None = None

    def __call__(self, data: str) -> str:
        if "\x1b" not in data:
            return data
        if any(r in data for r in _RESTORES):
            self.style = None
            return data
        out: list[str] = []
        pos = 0
        matches = list(_SGR.finditer(data))
        skip = -1
        for k, m in enumerate(matches):
            if k == skip:
                continue
            params = m.group(1)
            nxt = matches[k + 1] if k + 1 < len(matches) else None
            if params in ("", "0") and nxt is not None and nxt.start() == m.end() and self.style is not None:
                new = apply(nxt.group(1), DEFAULT)
                diff = change(self.style, new) if new is not None else None
                if new is not None and diff is not None and len(diff) + 3 < nxt.end() - m.start():
                    out.append(data[pos : m.start()])
                    if diff:
                        out.append(f"\x1b[{diff}m")
                    self.style = new
                    pos = nxt.end()
                    skip = k + 1
                    continue
            self.style = apply(params, self.style)
        out.append(data[pos:])
        if _CUT.search(data):
            self.style = None
        return "".join(out)
