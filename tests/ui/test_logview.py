"""The log view: only visible lines rendered, inert escapes, wrap, search, follow, bound."""

from __future__ import annotations

import re

from textual.app import App, ComposeResult

from ktui.logtext.buffer import LogBuffer
from ktui.ui.widgets.logview import LogView

CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


class LogApp(App):
    def __init__(self, buffer: LogBuffer) -> None:
        super().__init__()
        self.buffer = buffer

    def compose(self) -> ComposeResult:
        yield LogView(self.buffer)


def screen(app: App) -> list[str]:
    v = app.query_one(LogView)
    return [v.render_line(y).text for y in range(v.size.height)]


async def test_follows_new_lines_and_renders_only_the_tail():
    buf = LogBuffer()
    app = LogApp(buf)
    async with app.run_test(size=(40, 10)) as pilot:
        buf.feed([f"epoch={i} loss=0.{i:03d}" for i in range(5000)])
        await pilot.pause(0.3)
        lines = screen(app)
        assert lines[-1].rstrip() == "epoch=4999 loss=0.4999"
        assert lines[0].rstrip() == "epoch=4990 loss=0.4990"
        await pilot.press("home")
        assert screen(app)[0].rstrip() == "epoch=0 loss=0.000"
        assert not app.query_one(LogView).follow
        buf.feed(["late line"])
        await pilot.pause(0.3)
        assert screen(app)[0].rstrip() == "epoch=0 loss=0.000"  # not yanked to the end
        await pilot.press("end")
        assert screen(app)[-1].rstrip() == "late line"


async def test_escape_sequences_render_inert():
    buf = LogBuffer()
    app = LogApp(buf)
    evil = "ok \x1b[2J\x1b[H\x1b]0;pwned\x07\x1b]52;c;Zm9v\x07\x9b31m \x1b[31mred\x1b[0m"
    async with app.run_test(size=(80, 5)) as pilot:
        buf.feed([evil])
        await pilot.pause(0.3)
        v = app.query_one(LogView)
        strip = v.render_line(0)
        text = strip.text
        assert not CONTROL.search(text)
        assert "\x1b" not in "".join(seg.text for seg in strip)
        assert text.startswith("ok ^[[2J^[[H^[]0;pwned^G")
        red = [seg for seg in strip if seg.text == "red"]
        assert red and red[0].style.color.name == "red"


async def test_wrap_search_and_bound():
    buf = LogBuffer(max_lines=1000)
    app = LogApp(buf)
    async with app.run_test(size=(20, 6)) as pilot:
        buf.feed(["x" * 50, "short", "needle here", *[f"n{i}" for i in range(100)]])
        await pilot.pause(0.3)
        v = app.query_one(LogView)
        v.focus()
        await pilot.press("home", "w")
        assert v.wrap
        # (wrapped beside the vertical scrollbar, 2 columns, not under it)
        assert [ln.rstrip() for ln in screen(app)[:4]] == ["x" * 18, "x" * 18, "x" * 14, "short"]
        assert v.set_search("NEEDLE")
        assert v.match_line == 2
        await pilot.press("n")  # no further match: stays
        assert v.match_line == 2
        buf.feed([f"more {i}" for i in range(3000)])
        await pilot.pause(0.3)
        assert v.line_count <= 1000 and v.line_text(v.line_count - 1) == "more 2999"


def visible(app: App) -> list[str]:
    """What the terminal shows: the composed screen, scrollbars included."""
    return [s.text for s in app.screen._compositor.render_strips()]


async def test_following_wide_lines_shows_the_newest_under_a_horizontal_scrollbar():
    """Issue 14, item 6: at 80 columns the last line hid under the horizontal scrollbar."""
    buf = LogBuffer()
    app = LogApp(buf)
    async with app.run_test(size=(80, 24)) as pilot:
        buf.feed([f"line {i:03d} " + "x" * 120 for i in range(100)])
        await pilot.pause(0.3)
        assert any(row.startswith("line 099") for row in visible(app)), visible(app)
        buf.feed(["line 100 " + "y" * 150])
        await pilot.pause(0.3)
        assert any(row.startswith("line 100") for row in visible(app)), visible(app)


async def test_wrap_keeps_the_position_and_follow_keeps_the_end():
    """Issue 14, item 6: `w` jumped to the top of the buffer while the header said following."""
    buf = LogBuffer()
    app = LogApp(buf)
    async with app.run_test(size=(80, 24)) as pilot:
        buf.feed([f"line {i:03d} " + "x" * 120 for i in range(200)])
        await pilot.pause(0.3)
        v = app.query_one(LogView)
        v.focus()
        await pilot.press("w")  # following: still at the end, wrapped
        await pilot.pause(0.1)
        assert v.wrap and v.follow
        rows = visible(app)
        assert any(row.startswith("xxxx") for row in rows[-3:]) and any("line 199" in r for r in rows), rows
        await pilot.press("w")
        await pilot.pause(0.1)
        assert any(row.startswith("line 199") for row in visible(app)), visible(app)
        await pilot.press("home", "pagedown", "pagedown")  # somewhere in the middle, not following
        await pilot.pause(0.1)
        assert not v.follow
        top = visible(app)[0][:8]
        for _ in range(2):
            await pilot.press("w")
            await pilot.pause(0.1)
            assert visible(app)[0][:8] == top, (v.wrap, visible(app)[:3])
