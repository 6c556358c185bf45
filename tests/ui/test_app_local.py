"""Issue 5's user story in the UI: on the local backend, `n` launches examples/params.json
and the four trials run as processes here and finish with their metrics in the table."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from ktui.cluster.local.backend import LocalBackend
from ktui.ui.app import KtuiApp
from ktui.ui.screens.launch import LaunchScreen
from tests.ui.test_app_sim import table_rows, wait_until

ROOT = Path(__file__).resolve().parents[2]


async def test_launch_params_json_locally_and_see_metrics(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("KTUI_EPOCH_SECONDS", "0.05")  # train.py: fast epochs
    backend = LocalBackend(tmp_path / "elsewhere", state_dir=tmp_path / "ktui-state")
    app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_until(pilot, lambda: app.state.nodes.total == 1)
        await pilot.press("n", *str(ROOT / "examples" / "params.json"))
        await wait_until(pilot, lambda: isinstance(app.screen, LaunchScreen) and app.screen.sweep is not None)
        preview = str(app.screen.query_one("#launch-preview", Static).render())
        # The image plays no part here, and the form says so instead of suggesting --image.
        assert "the image is ignored" in preview and "image python:3.11-slim" not in preview
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not isinstance(app.screen, LaunchScreen))
        await wait_until(pilot, lambda: app.state.trials.total == 4)
        await wait_until(pilot, lambda: sum("Succeeded" in r for r in table_rows(app, "jobs-table")) == 4, timeout=60)
        # The trials ran in the sweep file's directory (train.py is there), and their metrics show.
        await wait_until(pilot, lambda: len(app.state.metrics) == 4, timeout=20)
        assert all(m.get("accuracy", 0) > 0 for m in app.state.metrics.values())
