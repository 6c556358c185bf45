"""The SGR compactor: what a terminal shows is the same, in fewer bytes.

The terminal model here is written apart from ktui.ui.sgr (its own SGR reading), so that
a misreading in one is not hidden by the same misreading in the other.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from ktui.ui.sgr import SgrCompactor

_TOKEN = re.compile(r"\x1b\[([0-9;:]*)m|\x1b\[(\d+);(\d+)H|\x1b\[[0-9;?]*[A-Za-ln-z]|\x1b[78c]|\r|\n|.", re.S)


def _sgr(state: dict, params: str) -> None:
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


def screen(stream: str, rows: int = 6, cols: int = 30) -> dict:
    """(row, col) -> (char, style) after the stream, on a small terminal."""
    cells: dict = {}
    state: dict = {}
    saved: dict = {}
    r = c = 0
    for m in _TOKEN.finditer(stream):
        tok = m.group(0)
        if m.group(1) is not None:
            _sgr(state, m.group(1))
        elif m.group(2) is not None:
            r, c = int(m.group(2)) - 1, int(m.group(3)) - 1
        elif tok == "\x1b7":
            saved = dict(state)
        elif tok == "\x1b8":
            state = dict(saved)
        elif tok == "\x1bc":
            state = {}
        elif tok.startswith("\x1b"):
            continue
        elif tok == "\r":
            c = 0
        elif tok == "\n":
            r += 1
        else:
            cells[(r % rows, c % cols)] = (tok, tuple(sorted(state.items())))
            c += 1
    return cells


colour = st.one_of(
    st.integers(30, 37).map(str), st.integers(90, 97).map(str),
    st.integers(0, 255).map(lambda n: f"38;5;{n}"),
    st.tuples(*[st.integers(0, 255)] * 3).map(lambda t: "38;2;{};{};{}".format(*t)))
background = st.one_of(
    st.integers(40, 47).map(str), st.integers(0, 255).map(lambda n: f"48;5;{n}"),
    st.tuples(*[st.integers(0, 255)] * 3).map(lambda t: "48;2;{};{};{}".format(*t)))
style = st.tuples(st.none() | colour, st.none() | background,
                  st.sets(st.sampled_from(["1", "2", "3", "4", "5", "7", "9", "53"]), max_size=3)).map(
    lambda t: ";".join([*(p for p in t[:2] if p), *sorted(t[2])]))
piece = st.one_of(
    # Textual's shape: a styled run closed by a reset.
    st.tuples(style, st.text("ab █·", min_size=1, max_size=4)).map(lambda t: f"\x1b[{t[0]}m{t[1]}\x1b[0m"),
    st.tuples(st.integers(1, 6), st.integers(1, 30)).map(lambda t: f"\x1b[{t[0]};{t[1]}H"),
    st.sampled_from(["\r\n", "x", "\x1b[0m", "\x1b[?25l", "\x1b[?2026h", "\x1b[2K", "\x1b7", "\x1b8"]),
    # Changes on top of the current style, and the "off" codes.
    st.sampled_from(["22", "23", "24", "27", "29", "39", "49", "1", "4;31", "0;7"]).map(lambda p: f"\x1b[{p}m"),
    style.map(lambda p: f"\x1b[{p}m"),
)


@settings(max_examples=400)
@given(st.lists(st.lists(piece, max_size=12), min_size=1, max_size=4))
def test_the_terminal_shows_the_same_in_no_more_bytes(writes):
    compact = SgrCompactor()
    original = "".join("".join(w) for w in writes)
    compacted = "".join(compact("".join(w)) for w in writes)
    assert screen(compacted) == screen(original)
    assert len(compacted) <= len(original)


def test_a_node_row_loses_its_resets_and_repeated_styles():
    row = ("\x1b[38;5;253;48;5;233msim-node-0002  \x1b[0m\x1b[38;5;112;48;5;233m████\x1b[0m"
           "\x1b[38;5;135;48;5;233m▒▒\x1b[0m\x1b[38;5;246;48;5;233m····\x1b[0m"
           "\x1b[38;5;253;48;5;233m \x1b[0m\x1b[1;38;5;208;48;5;233m8/8\x1b[0m")
    compact = SgrCompactor()
    compact("\x1b[0m")  # (a frame before: the style is known from its last reset on)
    out = compact(row)
    assert screen(out) == screen(row)
    assert out == ("\x1b[38;5;253;48;5;233msim-node-0002  \x1b[38;5;112m████\x1b[38;5;135m▒▒"
                   "\x1b[38;5;246m····\x1b[38;5;253m \x1b[38;5;208;1m8/8\x1b[0m")
    assert len(out.encode()) < 0.7 * len(row.encode())  # a third less, here


def test_a_sequence_cut_between_writes_or_not_understood_is_left_alone():
    compact = SgrCompactor()
    compact("\x1b[31mx\x1b[0m")
    assert compact("y\x1b[38;5") == "y\x1b[38;5"  # cut: the style is no longer known
    rest = ";1mz\x1b[0m\x1b[31mw"
    assert compact(rest) == rest  # so the reset before the next style stays
    compact("\x1b[0m")
    odd = "\x1b[4:3mu\x1b[0m\x1b[31mv"  # a colon sub-parameter (curly underline)
    assert compact(odd) == "\x1b[4:3mu\x1b[0m\x1b[31mv"
