"""The app driven by keys over an in-memory backend with hand-made states."""

from __future__ import annotations

import contextlib
from pathlib import Path

from textual.driver import Driver

from ktui.cluster.model import Capabilities, Capability
from ktui.ui.app import KtuiApp
from ktui.ui.screendiff import diffing_driver
from ktui.ui.screens.confirm import ConfirmScreen
from ktui.ui.screens.launch import LaunchScreen
from ktui.ui.widgets.logpane import LogPane
from ktui.ui.widgets.vtable import VirtualTable
from tests.ui.fakes import NOW, FakeBackend, demo_backend

ROOT = Path(__file__).resolve().parents[2]


def rows(app, table_id: str) -> list[str]:
    t = app.screen.query_one(f"#{table_id}", VirtualTable)
    return [t.render_line(y).text.rstrip() for y in range(1, t.row_count + 1)]


async def test_main_screen_shows_nodes_and_jobs(tmp_path):
    app = KtuiApp(demo_backend(), keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        jobs = rows(app, "jobs-table")
        assert [r.split()[0] for r in jobs] == ["mnist-000", "mnist-001", "mnist-002", "mnist-003"]
        assert "OOMKilled" in jobs[2] and "Failed" in jobs[2] and "node-c" in jobs[2]
        nodes = rows(app, "nodes-table")
        assert [r.split()[0] for r in nodes] == ["node-a", "node-b", "node-c"]


async def test_enter_opens_the_log_and_metrics_reach_the_table(tmp_path):
    app = KtuiApp(demo_backend(), keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        await pilot.press("down", "enter")
        await pilot.pause(0.8)
        pane = app.screen.query_one(LogPane)
        assert pane.trial == ("default", "mnist-001")
        assert pane.view.line_count == 9
        assert pane.view.line_text(8) == "epoch=9 loss=0.81 accuracy=0.59"
        assert "loss=0.81" in rows(app, "jobs-table")[1]  # measures before counters


@contextlib.asynccontextmanager
async def held_log(tmp_path):
    """mnist-001's log opened over a stream that stays open after its tail (a quiet
    running trial): yields the app, its pilot and the log pane."""
    backend = demo_backend()
    backend.follow_until.clear()
    app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.3)
            await pilot.press("down", "enter")
            yield app, pilot, app.screen.query_one(LogPane)
    finally:
        backend.follow_until.set()


async def until(pilot, predicate, tries: int = 20) -> None:
    for _ in range(tries):
        if predicate():
            return
        await pilot.pause(0.05)


async def test_a_quiet_running_trial_shows_its_log_tail_at_once(tmp_path):
    # The stream delivers the tail and then nothing for a long time (a trial between
    # epochs): the lines already read must show, not wait for the next one.
    async with held_log(tmp_path) as (app, pilot, pane):
        await until(pilot, lambda: pane.view.line_count == 9)
        assert pane.view.line_count == 9
        assert "following" in str(pane.query_one("#log-title").render())


async def test_an_older_streams_last_word_does_not_label_the_log_shown(tmp_path):
    # The worker of a log the user left posts "ended" after the next log opened: the
    # title must keep the status of the log it shows.
    async with held_log(tmp_path) as (app, pilot, pane):
        title = pane.query_one("#log-title")
        await until(pilot, lambda: "following" in str(title.render()))
        pane.post_message(LogPane.StreamStatus(("default", "mnist-000"), "ended (the container finished)"))
        await pilot.pause(0.1)
        assert "following" in str(title.render()) and "ended" not in str(title.render())
        pane.post_message(LogPane.StreamStatus(("default", "mnist-001"), "stream broke: reset"))
        await pilot.pause(0.1)
        assert "stream broke: reset" in str(title.render())


async def test_terminal_writes_go_through_a_screen_diff(tmp_path):
    # (Headless runs write nothing, so the driver class is checked on a stand-in base.)
    class StandIn(Driver):
        def __init__(self, app, **kwargs) -> None:
            super().__init__(app, **kwargs)
            self.written: list[str] = []

        def write(self, data: str) -> None:
            self.written.append(data)

        def start_application_mode(self) -> None: ...
        def stop_application_mode(self) -> None: ...
        def disable_input(self) -> None: ...

    app = KtuiApp(demo_backend(), keymap_file=tmp_path / "none.yaml")
    assert app.driver_class.__name__.startswith("Diffing")  # what `ktui` runs with
    driver = diffing_driver(StandIn)(app, size=(20, 4))
    driver.screen_diff._size = lambda: (20, 4)
    frame = "\x1b[1;1H\x1b[31mhello\x1b[0m\x1b[1;1H"
    driver.write("\x1b[?7l\x1b[?25l\x1b[0m")
    driver.write(frame)
    driver.write(frame)
    assert driver.written[1] == "\x1b[1;1H\x1b[0;31mhello\x1b[1G"
    assert driver.written[2] == ""  # the same frame again writes nothing
    async with app.run_test() as pilot:
        app._driver.screen_diff = driver.screen_diff  # type: ignore[union-attr]
        await pilot.press("ctrl+l")  # redraw: everything is written again
        driver.write(frame)
        assert "hello" in driver.written[-1]
        driver.write(frame)
        assert driver.written[-1] == ""
        await pilot.resize_terminal(100, 30)
        driver.write(frame)
        assert "hello" in driver.written[-1]


async def test_a_filter_scanned_in_steps_ends_with_every_match(tmp_path):
    backend = demo_backend()
    app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        # One row per step and no time for more: the screen must scan on by itself.
        app.state.narrow_step_rows, app.state.narrow_budget = 1, 0.0
        await pilot.press("slash", *"mnist-00")
        await pilot.pause(0.3)
        assert not app.state.narrowing
        assert [r.split()[0] for r in rows(app, "jobs-table")] == ["mnist-000", "mnist-001", "mnist-002", "mnist-003"]
        assert "4 of 4 jobs" in str(app.screen.query_one("#sweeps").render())


async def test_a_filter_puts_the_cursor_on_its_first_match(tmp_path):
    app = KtuiApp(demo_backend(), keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        table = app.screen.query_one("#jobs-table", VirtualTable)
        await pilot.press("end")
        assert table.cursor_key == ("default", "mnist-003")
        await pilot.press("slash", *"mnist-00")
        await pilot.pause(0.2)
        assert table.cursor_index == 0 and table.cursor_key == ("default", "mnist-000")


async def test_a_sort_shows_its_top_with_the_cursor_on_the_first_row(tmp_path):
    app = KtuiApp(demo_backend(), keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        table = app.screen.query_one("#jobs-table", VirtualTable)
        for key in ["end", "s", "end", "S"]:  # a sort, then its reverse, each from the end
            await pilot.press(key)
            if key in "sS":
                await until(pilot, lambda: not app.screen.pacer.rebuilding and table.cursor_index == 0)
                assert table.cursor_key == table.keys[0] and int(table.scroll_y) == 0
            else:
                assert table.cursor_index == table.row_count - 1


async def test_keys_read_with_the_slash_go_to_the_filter_box(tmp_path):
    # Fast typing, a paste or one SSH packet: "/oom" arrives in one read, before the app
    # has handled the "/". The letters must be typed into the box, not act on the table.
    from textual import events

    app = KtuiApp(demo_backend(), keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        for key, char in [("slash", "/"), ("o", "o"), ("s", "s"), ("o", "o")]:  # "s" would sort
            app.post_message(events.Key(key, char))
        await pilot.pause(0.3)
        assert app.screen.query_one("#job-filter").value == "oso"
        assert app.state.trial_sort == "sweep"
        # In the box, "/" is a character; in the log, it searches.
        app.post_message(events.Key("slash", "/"))
        await pilot.pause(0.1)
        assert app.screen.query_one("#job-filter").value == "oso/"
        await pilot.press("enter", "down", "enter")  # leave the box; open a log
        await pilot.pause(0.3)
        app.screen.query_one(LogPane).view.focus()
        await pilot.pause()
        await pilot.press("slash")
        assert app.screen.query_one("#log-search").has_class("-active")
        assert app.screen.query_one("#job-filter").value == "oso/"


async def test_filter_cancel_with_confirmation(tmp_path):
    backend = demo_backend()
    app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        await pilot.press("slash", *"oom", "enter")
        await pilot.pause(0.1)
        assert [r.split()[0] for r in rows(app, "jobs-table")] == ["mnist-002"]
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause(0.3)
        assert backend.cancelled == [[("default", "mnist-002")]]


async def test_unavailable_action_is_dimmed_and_its_reason_shown(tmp_path):
    caps = Capabilities(cancel=Capability(False, "Forbidden: cannot delete jobs in default"))
    backend = demo_backend()
    backend.capabilities = caps
    app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        await pilot.press("c")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ConfirmScreen)
        assert backend.cancelled == []
        assert "cancel unavailable: Forbidden: cannot delete jobs in default" in str(app.screen.query_one("#problems").render())
        assert app.screen.check_action("cancel_trial", ()) is None  # dimmed in the footer
        assert app.screen.check_action("describe", ()) is True


async def test_launch_form_previews_and_submits(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    backend = demo_backend()
    app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        await pilot.press("n")
        assert isinstance(app.screen, LaunchScreen)
        await pilot.press(*str(ROOT / "examples" / "grid.yaml"))
        await pilot.pause(0.5)
        assert app.screen.sweep is not None and app.screen.sweep.count() == 6
        await pilot.press("ctrl+s")
        await pilot.pause(0.5)
        assert not isinstance(app.screen, LaunchScreen)
        assert [m["metadata"]["name"] for m in backend.submitted] == [f"mnist-grid-00{i}" for i in range(6)]
        assert backend.source_dir == str(ROOT / "examples")  # where a local backend runs them


async def test_launch_form_shows_file_errors_inline_and_stays_open(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: s\nimage: i\nresources: {gpu: two}\nparameters: {grid: {lr: [1]}}\n")
    app = KtuiApp(demo_backend(), keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        await pilot.press("n", *str(bad))
        await pilot.pause(0.5)
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert isinstance(app.screen, LaunchScreen)
        errors = str(app.screen.query_one("#launch-errors").render())
        assert f"{bad}:3:18: resources.gpu must be a whole number of GPUs, got 'two'" in errors


async def test_user_keymap_remaps_a_binding(tmp_path):
    keys = tmp_path / "keys.yaml"
    keys.write_text("jobs.cancel: x\n")
    app = KtuiApp(demo_backend(), keymap_file=keys)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        await pilot.press("c")
        assert not isinstance(app.screen, ConfirmScreen)
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen)


async def test_broken_keymap_is_reported_not_fatal(tmp_path):
    keys = tmp_path / "keys.yaml"
    keys.write_text("jobs.cancel: [x\n")
    app = KtuiApp(demo_backend(), keymap_file=keys)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        assert any(str(keys) in n.message and "invalid YAML" in n.message for n in app._notifications)


async def test_sort_key_swaps_in_the_view_built_ahead(tmp_path):
    app = KtuiApp(demo_backend(), keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(1.0)  # the next column's view is built in the background meanwhile
        assert app.state.prebuilt.view is not None and app.state.prebuilt.column == "phase"
        await pilot.press("s")
        assert not app.screen.pacer.rebuilding  # swapped in, no rebuild
        await pilot.pause(0.1)
        assert app.state.trial_sort == "phase"
        jobs = rows(app, "jobs-table")
        assert jobs[0].split()[0] == "mnist-002" and "Failed" in jobs[0]  # failures first
        await pilot.press("S")  # reverse: immediate too
        assert not app.screen.pacer.rebuilding
        await pilot.pause(0.1)
        assert rows(app, "jobs-table")[-1].split()[0] == "mnist-002"


async def test_sort_key_awaits_the_view_being_built_ahead(tmp_path):
    app = KtuiApp(demo_backend(), keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(1.0)
        screen, state = app.screen, app.state
        token = state.start_prebuilt()  # a build of the next column under way (this test builds it)
        await pilot.press("s")
        assert screen.pacer.rebuilding and state.prebuilt.promoted  # it is awaited, not started over
        assert state.trial_sort == "phase"
        screen._prebuilt_built(screen.PrebuiltBuilt(token, state.build_prebuilt(token)))
        assert not screen.pacer.rebuilding
        await pilot.pause(0.1)
        jobs = rows(app, "jobs-table")
        assert jobs[0].split()[0] == "mnist-002" and "Failed" in jobs[0]  # failures first
        # The column after it is built ahead right after that frame, not a tick later.
        assert state.prebuilt.column == "metric"


async def test_a_failed_build_ahead_falls_back_to_a_sort_from_scratch(tmp_path, monkeypatch):
    app = KtuiApp(demo_backend(), keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(1.0)
        screen, state = app.screen, app.state

        def broken(*a, **k):  # type: ignore[no-untyped-def]
            raise RuntimeError("boom")

        monkeypatch.setattr(state, "build_prebuilt", broken)
        state.prebuilt.drop()
        screen._start_prebuilt()  # a build of the next column that fails
        await pilot.press("s")  # asked for while it runs, or after it failed
        for _ in range(50):
            await pilot.pause(0.05)
            if not screen.pacer.rebuilding and state.trial_sort == "phase":
                break
        assert not screen.pacer.rebuilding and state.trial_sort == "phase"
        jobs = rows(app, "jobs-table")
        assert jobs[0].split()[0] == "mnist-002" and "Failed" in jobs[0]  # sorted all the same


async def test_keys_read_with_the_enter_that_leaves_the_filter_go_to_the_table(tmp_path):
    # "/mni", enter (keep the filter), enter (open the log) typed fast, or in one SSH
    # packet: the second enter must reach the table, not the box it just left.
    from textual import events

    app = KtuiApp(demo_backend(), keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        for key, char in [("slash", "/"), ("m", "m"), ("n", "n"), ("i", "i"), ("enter", "\r"), ("enter", "\r")]:
            app.post_message(events.Key(key, char))
        await pilot.pause(0.5)
        assert app.state.filter_text == "mni"
        assert app.screen.logs_open
        assert app.screen.query_one(LogPane).trial is not None


async def test_keys_read_with_the_escape_that_leaves_the_filter_go_to_the_table(tmp_path):
    # "/mni", escape, s typed fast (or one SSH packet): the s sorts, it is not typed into
    # the box being closed.
    from textual import events

    app = KtuiApp(demo_backend(), keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        before = app.state.trial_sort
        for key, char in [("slash", "/"), ("m", "m"), ("n", "n"), ("i", "i"), ("escape", "\x1b"), ("s", "s")]:
            app.post_message(events.Key(key, char))
        await pilot.pause(0.5)
        assert app.state.filter_text == "mni"
        assert app.state.trial_sort != before
        assert isinstance(app.focused, VirtualTable)


def screen_text(app) -> list[str]:
    """What the terminal shows: the compositor's picture, as export_screenshot takes it."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text().splitlines()


async def _settled(pilot) -> list[str]:
    """The screen once the views are built and the running trial's metrics are in."""
    app = pilot.app
    for _ in range(100):
        if getattr(app.screen, "_rebuilding", True) is False and ("default", "mnist-001") in app.state.metrics:
            break
        await pilot.pause(0.05)
    await pilot.pause(0.3)
    return screen_text(app)


async def test_a_resize_repaints_the_tables_for_the_new_width(tmp_path):
    # Between 80 and 99 columns both tables keep their column sets, so nothing but the
    # width tells them to lay their columns out again: the header and the idle rows once
    # kept the previous width's layout (cut off when shrinking, short when growing).
    def make() -> KtuiApp:
        return KtuiApp(demo_backend(), keymap_file=tmp_path / "none.yaml", clock=lambda: NOW)

    async with make().run_test(size=(80, 24)) as pilot:
        fresh_80 = await _settled(pilot)
    async with make().run_test(size=(99, 30)) as pilot:
        fresh_99 = await _settled(pilot)
        await pilot.resize_terminal(80, 24)
        shrunk = await _settled(pilot)
        await pilot.resize_terminal(99, 30)
        grown = await _settled(pilot)
    assert shrunk == fresh_80
    assert grown == fresh_99


async def test_screens_paint_on_a_short_frame_timer(tmp_path):
    # (Textual's default 60 fps timer held each key's frame back 15-30 ms; if Textual
    # renames the knob, this fails rather than the latency quietly coming back.)
    import textual.screen

    from ktui.ui import app as app_module

    assert textual.screen.UPDATE_PERIOD == 1 / app_module.FRAME_RATE
    app = KtuiApp(demo_backend(), keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("down")
        await pilot.pause(0.1)
        assert app.screen._update_timer._interval == 1 / app_module.FRAME_RATE


async def test_cancelling_one_trial_of_an_indexed_sweep_is_refused_before_asking(tmp_path):
    from tests.cluster.test_indexfeed import job_json, put_job

    backend = FakeBackend()
    backend.add_node("node-a")
    put_job(backend.store, job_json("ix", sweep="ix", completions=3, completed="0"))
    app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        assert [r.split()[0] for r in rows(app, "jobs-table")] == ["ix-000", "ix-001", "ix-002"]
        await pilot.press("c")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ConfirmScreen) and backend.cancelled == []
        assert any("one trial of the indexed sweep ix (Job ix)" in n.message and "cancel the whole sweep" in n.message
                   for n in app._notifications)
