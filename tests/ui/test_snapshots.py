"""SVG snapshots of the screens where layout matters, at 80x24 and 160x48.

Update after a deliberate change with `pytest tests/ui/test_snapshots.py --snapshot-update`
and look at the SVGs (snapshot_report.html) before committing them."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input

from ktui.ui.app import KtuiApp
from ktui.ui.widgets.logpane import LogPane
from tests.ui.fakes import NOW, demo_backend, machine_backend

ROOT = Path(__file__).resolve().parents[2]
SIZES = [(80, 24), (160, 48)]


def make_app(tmp_path: Path) -> KtuiApp:
    b = demo_backend()
    b.add_node("gpu-node-with-a-long-name", cpu=64, gpu=8, ready=False, used_cpu_m=50_000)
    b.add_trial("resnet", 0, "Running", node="gpu-node-with-a-long-name", gpu=4, params='{"lr":0.05,"batch":256,"warmup":1000}')
    b.add_trial("resnet", 1, "Pending", node=None, gpu=8, params='{"lr":0.01,"batch":256,"warmup":2000}')
    b.logs[("default", "mnist-001")] += ["\x1b[2J\x1b]0;pwned\x07 escape codes stay inert", "\x1b[31mred text\x1b[0m"]
    return KtuiApp(b, keymap_file=tmp_path / "none.yaml", clock=lambda: NOW)


async def settle(pilot) -> None:
    """Wait for what arrives in workers (the first view build, the running trial's metrics
    read from its log), so the picture does not depend on how busy the machine is."""
    app = pilot.app
    for _ in range(200):
        screen = app.screen
        if (getattr(screen, "_rebuilding", True) is False and app.state.trials.total == 6
                and ("default", "mnist-001") in app.state.metrics):
            break
        await pilot.pause(0.05)
    await pilot.pause(0.5)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_main_screen(snap_compare, tmp_path, size):
    assert snap_compare(make_app(tmp_path), terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_log_pane(snap_compare, tmp_path, size):
    async def open_log(pilot) -> None:
        await settle(pilot)
        await pilot.press("down", "enter")
        pane = pilot.app.screen.query_one(LogPane)
        for _ in range(100):  # the stream runs in a worker: wait for all of it, drained
            if pane.view.line_count == 11 and "ended" in str(pane.query_one("#log-title").render()):
                break
            await pilot.pause(0.05)
        await pilot.pause(0.3)

    assert snap_compare(make_app(tmp_path), terminal_size=size, run_before=open_log)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help(snap_compare, tmp_path, size):
    assert snap_compare(make_app(tmp_path), press=["question_mark"], terminal_size=size, run_before=settle)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_launch_form(snap_compare, tmp_path, size, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(ROOT)

    async def type_path(pilot) -> None:
        await settle(pilot)
        await pilot.press("n", *"examples/grid.yaml")
        for _ in range(100):  # the preview is built in a worker: wait for the whole file's
            screen = pilot.app.screen
            if getattr(screen, "sweep", None) is not None and screen.sweep.source.endswith("grid.yaml"):
                break
            await pilot.pause(0.05)
        for box in pilot.app.screen.query(Input):
            box.cursor_blink = False  # a blinking cursor makes the picture depend on timing
        await pilot.pause(0.5)

    assert snap_compare(make_app(tmp_path), terminal_size=size, run_before=type_path)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_one_machine_with_gpus(snap_compare, tmp_path, size):
    """The local backend's picture: per-core meters and load, a row per GPU, and (one node)
    the job table's CPU and MEM columns even at 80 columns."""
    app = KtuiApp(machine_backend(), keymap_file=tmp_path / "none.yaml", clock=lambda: NOW)

    async def wait(pilot) -> None:
        for _ in range(200):
            if getattr(pilot.app.screen, "_rebuilding", True) is False and pilot.app.state.trials.total == 3:
                break
            await pilot.pause(0.05)
        await pilot.pause(0.5)

    assert snap_compare(app, terminal_size=size, run_before=wait)
