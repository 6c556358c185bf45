"""SGR styles as ktui.ui.screendiff reads and writes them.

Textual writes every styled run as a full SGR sequence closed by a reset. ``apply`` reads
a sequence's parameters on top of a style; ``change`` gives the shortest parameters from
one style to another (``\x1b[38;5;112m`` rather than a reset and the whole style again).
Only what is fully understood is read: the common attributes, the 8/16, 256 and truecolor
colours, and their "off" codes. Anything else (a colon sub-parameter, an unknown code)
reads as not known.
"""

from __future__ import annotations

from dataclasses import dataclass

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
