"""Line: a wrapping Line must grow and shrink with its wrapped text; a no-wrap Line must
not lay out the screen when only its text changes (idle terminal output depends on it)."""

from __future__ import annotations

import pytest
from rich.text import Text
from textual.app import App, ComposeResult

from ktui.cluster.model import Problem
from ktui.ui.app import KtuiApp
from ktui.ui.widgets.line import Line
from tests.ui.fakes import demo_backend

SHORT = "short"
# No newline: 96 cells that wrap at word boundaries to 3 lines at 40 columns, 2 at 60.
LONG = " ".join(["wrapping"] * 10) + " END-OF-TEXT"


class SpyLine(Line):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.layouts = 0

    def refresh(self, *regions, repaint=True, layout=False, recompose=False):
        self.layouts += layout
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)


class LineApp(App):
    CSS = """
    #wrap { height: auto; }
    #nowrap { height: auto; text-wrap: nowrap; text-overflow: ellipsis; }
    #fixed { height: 1; }
    """

    def compose(self) -> ComposeResult:
        yield SpyLine(id="wrap")
        yield SpyLine(id="nowrap")
        yield SpyLine(id="fixed")


def screen_text(app: App) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def test_a_wrapping_line_follows_its_wrapped_height():
    app = LineApp()
    async with app.run_test(size=(40, 10)) as pilot:
        line = app.query_one("#wrap", Line)
        line.show(SHORT)
        await pilot.pause()
        assert line.size.height == 1
        line.show(Text(LONG, style="bold"))
        await pilot.pause()
        assert line.size.height == 3
        assert "END-OF-TEXT" in screen_text(app)
        # Wider: Textual's own layout reflows it; a new text is then measured at the new width.
        await pilot.resize_terminal(60, 10)
        await pilot.pause()
        assert line.size.height == 2
        line.show(LONG + " more")
        await pilot.pause()
        assert line.size.height == 2
        line.show(SHORT)
        await pilot.pause()
        assert line.size.height == 1
        assert "END-OF-TEXT" not in screen_text(app)


async def test_a_wrapping_line_lays_out_only_when_its_height_changes():
    app = LineApp()
    async with app.run_test(size=(40, 10)) as pilot:
        line = app.query_one("#wrap", SpyLine)
        line.show(LONG)
        await pilot.pause()
        line.layouts = 0
        line.show(LONG.replace("END", "end"))  # same wrapped height
        assert line.layouts == 0


@pytest.mark.parametrize("line_id", ["nowrap", "fixed"])
async def test_a_nowrap_or_fixed_line_does_not_lay_out_when_only_its_text_changes(line_id):
    # The title and summaries: shown on every tick, they must keep the cheap path.
    app = LineApp()
    async with app.run_test(size=(40, 10)) as pilot:
        line = app.query_one(f"#{line_id}", SpyLine)
        line.show(SHORT)
        await pilot.pause()
        line.layouts = 0
        line.show(LONG)
        line.show(SHORT + "!")
        assert line.layouts == 0
        line.show(SHORT + "\nsecond line")  # a new line count still lays out
        assert line.layouts == 1
        if line_id == "nowrap":
            await pilot.pause()
            assert line.size.height == 2


async def test_the_problems_box_grows_when_a_problem_message_gets_longer(tmp_path):
    backend = demo_backend()
    app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(80, 30)) as pilot:
        await pilot.pause(0.3)
        box = app.screen.query_one("#problems", Line)
        backend.store.report_problem(Problem("error", "pods", "watch failed"))
        for _ in range(30):
            await pilot.pause(0.1)
            if box.display and "watch failed" in screen_text(app):
                break
        assert box.size.height == 1
        # The same problem, now with a message that wraps to two lines (78 columns inside).
        message = "watch failed: " + "connection reset by peer " * 4 + "END-OF-MESSAGE"
        backend.store.report_problem(Problem("error", "pods", message))
        for _ in range(30):
            await pilot.pause(0.1)
            if "connection reset" in str(box.render()):
                break
        await pilot.pause(0.1)
        assert box.size.height == 2
        assert "END-OF-MESSAGE" in screen_text(app)
