"""The launch form on a relaunch of an edited sweep (issue 14 item 3): it never silently
keeps the old trials; it says what differs and offers a new name or a confirmed replace."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Button, Input, Static

from ktui.ui.app import KtuiApp
from ktui.ui.screens.confirm import ConfirmScreen
from ktui.ui.screens.launch import LaunchScreen
from tests.ui.fakes import demo_backend
from tests.ui.test_app_sim import wait_until

ROOT = Path(__file__).resolve().parents[2]


def edited_grid(tmp_path: Path, depths: str) -> Path:
    f = tmp_path / "grid.yaml"
    text = (ROOT / "examples" / "grid.yaml").read_text()
    f.write_text(text.replace("depth: [2, 3, 4]", f"depth: {depths}"))
    return f


async def launch(app, pilot, path: Path) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("n")
    assert isinstance(app.screen, LaunchScreen)
    await pilot.press(*str(path))
    await wait_until(pilot, lambda: app.screen.sweep is not None)
    await pilot.press("ctrl+s")


def text(app, selector: str) -> str:  # type: ignore[no-untyped-def]
    return str(app.screen.query_one(selector, Static).render())


async def test_edited_sweep_is_refused_then_replaced_after_a_confirm(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    backend = demo_backend()
    app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
    f = edited_grid(tmp_path, "[2, 3, 4]")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        await launch(app, pilot, f)
        await wait_until(pilot, lambda: not isinstance(app.screen, LaunchScreen))
        assert len(backend.jobs) == 6

        edited_grid(tmp_path, "[5, 3, 4]")  # trials 000 and 003: depth 2 -> 5
        await launch(app, pilot, f)
        await wait_until(pilot, lambda: app.screen.refused is not None)
        assert isinstance(app.screen, LaunchScreen)  # stays open: nothing was submitted
        assert "nothing submitted: 2 trials of sweep mnist-grid already exist" in text(app, "#launch-errors")
        preview = text(app, "#launch-preview")
        assert "default/mnist-grid-000: params.depth: 2 -> 5" in preview
        assert "default/mnist-grid-003: params.depth: 2 -> 5" in preview
        assert "new sweep name" in preview and "identical ones are kept" in preview
        assert backend.submit_calls[-1]["replace"] is False and len(backend.submitted) == 6
        button = app.screen.query_one("#launch-replace", Button)
        assert button.display and str(button.label) == "Replace 2 trials…"

        await pilot.click("#launch-replace")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")  # no: nothing happens
        await wait_until(pilot, lambda: isinstance(app.screen, LaunchScreen))
        await pilot.pause()  # the form is laid out again before it is clicked
        assert len(backend.submit_calls) == 2

        await pilot.click("#launch-replace")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: not isinstance(app.screen, (LaunchScreen, ConfirmScreen)))
        assert backend.submit_calls[-1]["replace"] is True
        args = backend.jobs[("default", "mnist-grid-000")]["spec"]["template"]["spec"]["containers"][0]["args"]
        assert "--depth=5" in args
        assert any("replaced 2" in n.message for n in app._notifications)


async def test_a_new_name_is_the_other_way_out(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    backend = demo_backend()
    app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
    f = edited_grid(tmp_path, "[2, 3, 4]")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        await launch(app, pilot, f)
        await wait_until(pilot, lambda: not isinstance(app.screen, LaunchScreen))
        edited_grid(tmp_path, "[5, 3, 4]")
        await launch(app, pilot, f)
        await wait_until(pilot, lambda: app.screen.refused is not None)
        app.screen.query_one("#launch-name", Input).value = "grid-deeper"
        await wait_until(pilot, lambda: app.screen.refused is None and app.screen.sweep is not None
                         and app.screen.sweep.name == "grid-deeper")
        assert not app.screen.query_one("#launch-replace", Button).display
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not isinstance(app.screen, LaunchScreen))
        assert sum(1 for ns, n in backend.jobs if n.startswith("grid-deeper-")) == 6
        assert len(backend.jobs) == 12
