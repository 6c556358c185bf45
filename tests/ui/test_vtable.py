"""The virtual table shows 150,000 rows by rendering only what is on screen."""

from __future__ import annotations

import time

from textual.app import App, ComposeResult

from ktui.ui.widgets.vtable import Column, VirtualTable, layout_widths

COLUMNS = [Column("name", "NAME", 12, flex=1), Column("phase", "PHASE", 9), Column("n", "N", 6, align="right")]


class TableApp(App):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.data = {f"job-{i:06d}": ("Running" if i % 3 else "Failed", i) for i in range(n)}
        self.rendered: list[str] = []
        self.highlighted: list[object] = []
        self.selected: list[object] = []

    def render_row(self, key):
        self.rendered.append(key)
        phase, n = self.data[key]
        return (key, phase, str(n))

    def compose(self) -> ComposeResult:
        yield VirtualTable(COLUMNS, self.render_row, id="t")

    def on_mount(self) -> None:
        self.query_one(VirtualTable).update(list(self.data))
        self.query_one(VirtualTable).focus()

    def on_virtual_table_highlighted(self, m: VirtualTable.Highlighted) -> None:
        self.highlighted.append(m.key)

    def on_virtual_table_selected(self, m: VirtualTable.Selected) -> None:
        self.selected.append(m.key)


def screen_lines(app: App) -> list[str]:
    t = app.query_one(VirtualTable)
    return [t.render_line(y).text for y in range(t.size.height)]


async def test_150k_rows_render_only_visible_lines():
    app = TableApp(150_000)
    t0 = time.perf_counter()
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        first_paint = time.perf_counter() - t0
        t = app.query_one(VirtualTable)
        assert t.row_count == 150_000
        # The header and 19 rows, not 150,000 renders.
        assert len(set(app.rendered)) <= 40, len(set(app.rendered))
        lines = screen_lines(app)
        assert lines[0].startswith("NAME")
        assert lines[1].startswith("job-000000") and "Failed" in lines[1] and lines[1].rstrip().endswith("0")
        await pilot.press("end")
        await pilot.pause()
        assert t.cursor_key == "job-149999"
        assert screen_lines(app)[-1].startswith("job-149999")
        assert len(set(app.rendered)) <= 80
    assert first_paint < 10  # generous: the point is it is not O(rows); benchmarks time it


async def test_keys_move_the_cursor_and_enter_selects():
    app = TableApp(100)
    async with app.run_test(size=(60, 12)) as pilot:
        t = app.query_one(VirtualTable)
        await pilot.press("down", "down", "j")
        assert t.cursor_key == "job-000003"
        await pilot.press("pagedown")
        assert t.cursor_index == 3 + 10
        await pilot.press("up", "enter")
        assert app.selected == ["job-000012"]
        assert app.highlighted[-1] == "job-000012"
        await pilot.press("home")
        assert t.cursor_index == 0


async def test_update_repaints_changed_rows_and_keeps_cursor_on_its_key():
    app = TableApp(50)
    async with app.run_test(size=(60, 12)) as pilot:
        t = app.query_one(VirtualTable)
        await pilot.press("down", "down")
        assert t.cursor_key == "job-000002"
        app.data["job-000001"] = ("Succeeded", 1)
        t.update(t.keys, changed=["job-000001"])
        await pilot.pause()
        assert "Succeeded" in screen_lines(app)[2]
        # Reverse the order: the cursor follows its key, not its index, and the view
        # follows it (to where it was on screen, as far as the end allows).
        t.update(list(reversed(list(app.data))))
        await pilot.pause()
        assert t.cursor_key == "job-000002" and t.cursor_index == 47
        top = int(t.scroll_y)
        assert top == 50 + 1 - 12  # the last page
        assert screen_lines(app)[47 - top + 1].startswith("job-000002")
        # Scrolled away from the cursor (a wheel): a reorder leaves the view where it is.
        t.scroll_to(y=0, animate=False)
        await pilot.pause()
        t.update(list(app.data))
        await pilot.pause()
        assert t.cursor_index == 2 and int(t.scroll_y) == 0
        t.update([])
        await pilot.pause()
        assert t.cursor_key is None and screen_lines(app)[1].strip() == ""


def test_layout_widths_share_spare_space_by_flex():
    cols = [Column("a", "A", 10, flex=1), Column("b", "B", 5), Column("c", "C", 5, flex=3)]
    assert layout_widths(cols, 10 + 5 + 5 + 2 + 40) == [20, 5, 35]
    assert layout_widths(cols, 10) == [10, 5, 5]


async def test_refresh_visible_repaints_only_rows_whose_text_changed():
    app = TableApp(100)
    async with app.run_test(size=(60, 12)) as pilot:
        await pilot.pause()
        t = app.query_one(VirtualTable)
        repainted: list[int] = []
        original = t.refresh_line
        t.refresh_line = lambda y: (repainted.append(y), original(y))  # type: ignore[method-assign]
        t.refresh_visible()
        assert repainted == []  # nothing changed: nothing goes to the terminal
        app.data["job-000003"] = ("Succeeded", 3)  # e.g. a time cell that moved on
        t.refresh_visible()
        assert repainted == [4]  # header is line 0, row 3 is line 4
        await pilot.pause()
        assert "Succeeded" in screen_lines(app)[4]


def test_ages_change_rarely_once_past_two_minutes():
    from ktui.ui.render import fmt_age

    assert [fmt_age(x) for x in (5, 119, 125, 179, 3599, 7300, 40000, 200000)] == [
        "5s", "119s", "2m", "2m", "59m", "2h01m", "11h", "2d"]


def test_metric_cell_prefers_measures_over_counters():
    from ktui.cluster.model import Trial
    from ktui.ui.render import TRIAL_CELLS, trial_cells

    m = TRIAL_CELLS.index("metric")
    t = Trial("default", "t", "u", None, None, "{}", "Running", None, None, None, None, None, None, 0, None, None)
    cells = trial_cells(t, 0.0, {"epoch": 5.0, "loss": 0.3, "accuracy": 0.9}, None)
    assert str(cells[m]) == "loss=0.3 accuracy=0.9 epoch=5"
    assert str(trial_cells(t, 0.0, {"epoch": 5.0, "accuracy": 0.9}, "accuracy")[m]) == "0.9"
    # The sweep's metric is not in the log: the cell says so, not another key in its place.
    assert str(trial_cells(t, 0.0, {"epoch": 5.0, "accuracy": 0.9}, "val_loss")[m]) == "no val_loss"


def test_cpu_and_memory_cells_show_while_measured():
    from ktui.cluster.model import Trial
    from ktui.ui.render import TRIAL_CELLS, trial_cells

    t = Trial("default", "t", "u", None, None, "{}", "Running", None, None, None, None, None, None, 0, None, None,
              cpu_used=1950, mem_used=3 * 2**30 // 2)
    cells = dict(zip(TRIAL_CELLS, trial_cells(t, 0.0, None, None), strict=True))
    assert (cells["cpu"], cells["mem"]) == ("1.9", "1.5Gi")
    done = Trial("default", "t", "u", None, None, "{}", "Succeeded", None, None, None, None, None, None, 0, None, None)
    bare = dict(zip(TRIAL_CELLS, trial_cells(done, 0.0, None, None), strict=True))
    assert (bare["cpu"], bare["mem"]) == ("", "")


class CountingTable(VirtualTable):
    """Records which lines are asked to repaint (what reaches the terminal)."""

    def __init__(self, *a, **kw) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*a, **kw)
        self.refreshed: list[int] = []
        self.full = 0

    def refresh_line(self, y: int) -> None:
        self.refreshed.append(y)
        super().refresh_line(y)

    def refresh(self, *regions, **kw):  # type: ignore[no-untyped-def]
        if not regions:
            self.full += 1
        return super().refresh(*regions, **kw)


class ChurnApp(TableApp):
    def compose(self) -> ComposeResult:
        yield CountingTable(COLUMNS, self.render_row, id="t")

    def add(self, keys: list[str], indexes: range) -> list[str]:
        """Append rows zz-<i> (sorting after every job-* row) to the data and to `keys`."""
        for i in indexes:
            self.data[f"zz-{i}"] = ("Running", i)
            keys.append(f"zz-{i}")
        return keys


async def test_rows_added_off_screen_repaint_nothing_and_the_size_follows_lazily():
    app = ChurnApp(1000)
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        t = app.query_one(CountingTable)
        keys = list(app.data)
        assert t.virtual_size.height == 1001
        t.refreshed.clear()
        t.full = 0
        # Churn far below the screen: a row added, one removed, one added...
        for i in range(10):
            t.update(app.add(keys, range(i, i + 1)), [f"zz-{i}"], reordered=True)
        await pilot.pause()
        assert t.refreshed == [] and t.full == 0
        assert t.virtual_size.height == 1001  # 10 rows more: the thumb would not move
        assert t.row_count == 1010
        # A drift beyond ~2% resizes.
        t.update(app.add(keys, range(10, 40)), [], reordered=True)
        assert t.virtual_size.height == 1041
        # A row inserted on screen repaints the lines from there down, not the header.
        t.refreshed.clear()
        app.data["job-000000a"] = ("Pending", -1)
        keys.insert(1, "job-000000a")
        t.update(keys, ["job-000000a"], reordered=True)
        assert t.refreshed and min(t.refreshed) == 2  # line 1 (row 0) is unchanged


async def test_the_end_stays_reachable_when_the_size_lags():
    app = ChurnApp(1000)
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        t = app.query_one(CountingTable)
        keys = app.add(list(app.data), range(5))
        t.update(keys, [], reordered=True)
        assert t.virtual_size.height == 1001  # lagging
        await pilot.press("end")
        await pilot.pause()
        assert t.cursor_key == "zz-4"
        assert screen_lines(app)[-1].startswith("zz-4")
        # At the end, a further row is sized at once.
        t.update(app.add(keys, range(5, 6)), ["zz-5"], reordered=True)
        assert t.virtual_size.height == 1007


async def test_a_line_repaints_only_when_its_text_changes():
    from rich.text import Text

    from ktui.ui.widgets.line import Line

    class LineApp(App):
        def compose(self) -> ComposeResult:
            yield Line(id="l")

    app = LineApp()
    async with app.run_test(size=(40, 5)) as pilot:
        line = app.query_one(Line)
        calls: list[bool] = []
        orig = line.update

        def spy(content, *, layout=True):  # type: ignore[no-untyped-def]
            calls.append(layout)
            orig(content, layout=layout)

        line.update = spy  # type: ignore[method-assign]
        line.show(Text("3 running", style="bold"))
        line.show(Text("3 running", style="bold"))
        line.show(Text("4 running", style="bold"))
        line.show(Text("4 running\n1 failed"))
        await pilot.pause()
        assert calls == [True, False, True]
        assert "4 running" in str(line.render())


async def test_rows_go_straight_to_segments_exactly_as_through_rich_text():
    from rich.style import Style
    from rich.text import Text

    cols = [Column("a", "A", 8), Column("b", "B", 6, align="right"), Column("c", "C", 5), Column("d", "D", 4)]
    rows = [
        ("short", "12", Text("ok", style="green"), ""),
        ("a-name-longer-than-eight", "1234567", Text("Failed!", style="bold red"), "x"),
        ("日本語の名前です", "€5", Text(""), "wide字"),
        ("", "", Text("sp", style="yellow") + Text("an", style="blue"), Text("", style="red")),
        ("tab\tand\nnewline", "x", "y", "z"),
    ]
    app = App()
    async with app.run_test(size=(40, 10)) as pilot:
        table = VirtualTable(cols, lambda k: rows[k])
        await app.mount(table)
        await pilot.pause()
        assert table.size.width == 40
        for i, cells in enumerate(rows):
            via_text = table._strip(table._cells_text(cells), Style())
            direct = table._cells_strip(cells)
            if i == 4:  # rich keeps a newline (it would break the row); the table shows a space
                assert "\n" not in direct.text and direct.text.startswith("tab and")
                continue
            # (rich leaves some segments unstyled, None, where Style() means the same)
            assert [(t, st or Style()) for t, st, _ in direct] == [(t, st or Style()) for t, st, _ in via_text], cells
            assert direct.cell_length == via_text.cell_length
        # Escape codes from a termination message never reach the terminal.
        hostile = table._cells_strip(("\x1b[2J\x1b]0;pwned\x07", "\x9b1m", "ok", ""))
        assert "\x1b" not in hostile.text and "\x9b" not in hostile.text and "\x07" not in hostile.text
