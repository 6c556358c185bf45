"""ScreenDiff: the terminal shows what Textual drew, written in fewer bytes.

Each write goes to two models of a terminal (tests/ui/terminal_model.py, written apart from
ktui): one gets Textual's stream as it is, the other what ScreenDiff makes of it. After
every write both must show the same cells, and the same cursor when it is shown.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ktui.ui.screendiff import ScreenDiff
from tests.ui.terminal_model import Terminal, width

COLS, ROWS = 24, 6

colour = st.one_of(
    st.integers(30, 37).map(str),
    st.integers(0, 255).map(lambda n: f"38;5;{n}"),
    st.tuples(*[st.integers(0, 3)] * 3).map(lambda t: "38;2;{};{};{}".format(*t)))
background = st.one_of(st.just(""), st.integers(40, 41).map(str), st.just("48;5;233"))
style = st.tuples(st.none() | colour, background, st.sets(st.sampled_from(["1", "2", "4", "7"]), max_size=2)).map(
    lambda t: ";".join([*(p for p in t[:2] if p), *sorted(t[2])]))
# Few characters, so that frames often repeat cells (what the diff is for).
# (a combining accent comes with its letter, as Textual writes graphemes whole)
text = st.lists(st.sampled_from(["a", "b", " ", "·", "█", "日", "é", "e\u0301"]), min_size=1,
                max_size=6).map("".join)
segment = st.tuples(style, text).map(lambda t: f"\x1b[{t[0]}m{t[1]}\x1b[0m" if t[0] else t[1])


@st.composite
def line(draw):
    """A line or part of one, as Textual writes it: a move, then styled runs, never past
    the last column."""
    r, c = draw(st.integers(0, ROWS - 1)), draw(st.integers(0, COLS - 1))
    out, used = [f"\x1b[{r + 1};{c + 1}H"], c
    for seg in draw(st.lists(segment, min_size=1, max_size=5)):
        plain = "".join(ch for ch in _plain(seg))
        w = sum(width(ch) for ch in plain)
        if used + w > COLS:
            break
        out.append(seg)
        used += w
    return "".join(out)


def _plain(seg: str) -> str:
    import re
    return re.sub(r"\x1b\[[0-9;]*m", "", seg)


@st.composite
def frame(draw):
    """One compositor update: lines joined by newlines, then the cursor's place."""
    lines = draw(st.lists(line(), min_size=1, max_size=4))
    r, c = draw(st.integers(1, ROWS)), draw(st.integers(1, COLS))
    return "\n".join(lines) + f"\x1b[{r};{c}H"


other = st.sampled_from([
    "\x1b[?2026h", "\x1b[?2026l", "\x1b[?25l", "\x1b[?25h", "\x1b[?1049h", "\x1b[2J",
    "\x1b7", "\x1b8", "\x1b[4:3m", "\x1b[K", "\x07", "\x1b]0;title\x07", "\x1b[>1u",
    "\x1b[0m", "\x1b[31m", "\x1b[1m", "\x1bc", "\x1b[?7l", "\x1b[?7h", "\x1b[6n",
    "\r", "\n", "xy", "\x1b[3;4Hab\nc", "\x1b[2;20Hend of line\n", "\x1b[6;1H\nx",
])
write = st.one_of(frame(), frame(), frame(), other, st.tuples(st.integers(1, 40), st.integers(1, 8)))


def _split(data: str, cuts: list[int]) -> list[str]:
    # Anywhere but inside a grapheme (Textual writes whole frames; a terminal joins an
    # accent to the cell written before it, wherever the cursor was moved since).
    points = sorted({min(c, len(data)) for c in cuts if data[c : c + 1] != "\u0301"})
    parts, last = [], 0
    for p in points:
        parts.append(data[last:p])
        last = p
    parts.append(data[last:])
    return [p for p in parts if p]


@settings(max_examples=600, deadline=None)
@given(st.lists(st.tuples(write, st.lists(st.integers(0, 60), max_size=2)), min_size=1, max_size=14))
def test_the_terminal_shows_what_textual_drew(writes):
    size = [COLS, ROWS]
    diff = ScreenDiff(lambda: (size[0], size[1]))
    plain, diffed = Terminal(COLS, ROWS), Terminal(COLS, ROWS)
    sent = written = 0
    writes = [("\x1b[?7l", []), *writes]  # as Textual starts
    for w, cuts in writes:
        if isinstance(w, tuple):  # the terminal is resized
            size[:] = [max(8, min(w[0], COLS)), max(2, min(w[1], ROWS))]
            plain.resize(*size)
            diffed.resize(*size)
            diff.forget()  # the app is told (a Resize event) and says so
            continue
        for part in _split(w, cuts):
            out = diff(part)
            plain.write(part)
            diffed.write(out)
            sent += len(part)
            written += len(out)
            assert diffed.screen() == plain.screen(), (part, out)
            assert diffed.cursor_shown == plain.cursor_shown
            if plain.cursor_shown and not plain._partial:
                assert (diffed.r, diffed.c) == (plain.r, plain.c), (part, out)


def test_a_node_row_whose_cpu_figure_moved_writes_only_that_figure():
    row = ("\x1b[5;1H\x1b[38;5;253;48;5;233msim-node-0002  \x1b[0m\x1b[38;5;112;48;5;233m████\x1b[0m"
           "\x1b[38;5;246;48;5;233m··\x1b[0m\x1b[38;5;253;48;5;233m \x1b[0m"
           "\x1b[38;5;112;48;5;233m{cpu}\x1b[0m\x1b[38;5;253;48;5;233m/32   \x1b[0m"
           "\x1b[38;5;112;48;5;233m{mem}\x1b[0m\x1b[38;5;253;48;5;233m/128Gi\x1b[0m\x1b[40;1H")
    diff = ScreenDiff(lambda: (120, 40))
    diff("\x1b[?7l\x1b[?25l\x1b[0m")  # as Textual starts: no auto-wrap, no cursor, a reset
    first = diff(row.format(cpu="21.8", mem="111Gi"))
    assert "sim-node-0002" in first
    again = diff(row.format(cpu="21.8", mem="111Gi"))
    assert again == ""  # the same row again: nothing at all
    moved = diff(row.format(cpu="22.3", mem="112Gi"))
    # A move to the first changed cell, the changed cells of each figure ("2.3": the
    # unchanged "." between costs less than a move), one colour change, and the cursor
    # back where Textual leaves it.
    assert moved == "\x1b[5;24H\x1b[38;5;112m2.3\x1b[8C2\x1b[40;1H"
    t = Terminal(120, 40)
    t.write(first)
    t.write(moved)
    full = Terminal(120, 40)
    full.write(row.format(cpu="22.3", mem="112Gi"))
    assert t.screen() == full.screen()


def test_an_unknown_sequence_is_passed_on_and_the_copy_forgotten():
    diff = ScreenDiff(lambda: (20, 4))
    diff("\x1b[?7l\x1b[?25l\x1b[0m")
    diff("\x1b[1;1Hhello")
    assert diff("\x1b[1;1Hhello") == ""
    assert diff("\x1b[2J") == "\x1b[2J"  # the screen is cleared: what it held is not known
    assert "hello" in diff("\x1b[1;1Hhello")


def test_a_resize_forgets_the_copy():
    size = [20, 4]
    diff = ScreenDiff(lambda: (size[0], size[1]))
    diff("\x1b[?7l\x1b[?25l\x1b[0m")
    diff("\x1b[1;1Hhello")
    size[0] = 30
    assert "hello" in diff("\x1b[1;1Hhello")


def test_forget_writes_everything_again():
    diff = ScreenDiff(lambda: (20, 4))
    diff("\x1b[?25l\x1b[1;1Hhello")
    diff.forget()
    assert "hello" in diff("\x1b[1;1Hhello")


def test_a_sequence_cut_between_writes_is_held_until_whole():
    diff = ScreenDiff(lambda: (20, 4))
    diff("\x1b[?7l\x1b[?25l\x1b[0m")
    # (the terminal's style is not known at first: the first text sets it whole)
    assert diff("\x1b[1;1Hab\x1b[3") == "\x1b[1;1H\x1b[0mab"
    assert diff("1mc") == "\x1b[31mc"


async def test_the_apps_own_frames_through_the_diff_show_the_same_screen(tmp_path):
    """Textual's real frames for ktui's screens (keys pressed, a resize, a log opened), each
    sent as it is to one terminal model and through a ScreenDiff to another."""
    from rich.control import Control
    from textual._compositor import CompositorUpdate

    from ktui.ui.app import KtuiApp
    from tests.ui.fakes import demo_backend

    size = [100, 30]
    diff = ScreenDiff(lambda: (size[0], size[1]))
    plain, diffed = Terminal(*size), Terminal(*size)
    for t in (plain, diffed):  # as the driver starts (Textual turns auto-wrap off)
        t.write("\x1b[?7l\x1b[?25l")
    diff("\x1b[?7l\x1b[?25l")
    counts = {"frames": 0, "sent": 0, "written": 0}
    app = KtuiApp(demo_backend(), keymap_file=tmp_path / "none.yaml")
    real_display = app._display

    def display(screen, renderable):
        if isinstance(renderable, CompositorUpdate):
            cursor = screen.outer_size.clamp_offset(app.cursor_position)
            seq = renderable.render_segments(app.console) + Control.move_to(*cursor).segment.text
            out = diff(seq)
            plain.write(seq)
            diffed.write(out)
            assert diffed.screen() == plain.screen()
            counts["frames"] += 1
            counts["sent"] += len(seq)
            counts["written"] += len(out)
        return real_display(screen, renderable)

    app._display = display  # type: ignore[method-assign]
    async with app.run_test(size=tuple(size)) as pilot:
        await pilot.pause(0.5)
        for key in ["s", "s", "down", "down", "enter", "slash", "m", "n", "escape", "pagedown", "l"]:
            await pilot.press(key)
            await pilot.pause(0.15)
        size[:] = [80, 24]
        for t in (plain, diffed):
            t.resize(*size)
        diff.forget()  # (the app's Resize handler does this for the real driver)
        await pilot.resize_terminal(*size)
        await pilot.pause(0.5)
        await pilot.press("s")
        await pilot.pause(0.3)
    assert counts["frames"] > 10
    assert counts["written"] < counts["sent"] / 2, counts


def test_wide_characters_are_not_split_by_a_bridge_or_a_write():
    writes = ["\x1b[?7l\x1b[?25l\x1b[0m\x1b[1;1H日xy日\x1b[1;1H",
              "\x1b[1;2Hab\x1b[1;1H",  # over the right half of 日: its left half is blanked
              "\x1b[1;1H日xy日\x1b[1;1H",
              "\x1b[1;4Hz\x1b[1;1H",  # past 日 and x from the cursor: no bridge ending mid-日
              "\x1b[1;5H\x1b[31mq\x1b[0m\x1b[1;1H"]  # over the left half of the second 日
    diff = ScreenDiff(lambda: (12, 2))
    plain, diffed = Terminal(12, 2), Terminal(12, 2)
    for w in writes:
        out = diff(w)
        plain.write(w)
        diffed.write(out)
        assert diffed.screen() == plain.screen(), (w, out)


def test_ktui_screendiff_0_writes_textuals_frames_as_they_come(monkeypatch, tmp_path):
    """The way out if a terminal or a Textual release disagrees with the diff's model."""
    from ktui.ui.app import KtuiApp
    from tests.ui.fakes import demo_backend

    app = KtuiApp(demo_backend(), keymap_file=tmp_path / "none.yaml")
    monkeypatch.delenv("KTUI_SCREENDIFF", raising=False)
    assert app.get_driver_class().__name__.startswith("Diffing")
    monkeypatch.setenv("KTUI_SCREENDIFF", "0")
    assert not app.get_driver_class().__name__.startswith("Diffing")
