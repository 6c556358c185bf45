"""`v` on one trial, then `v` on another: what `ktui diff A B` prints, in a screen (issue 17),
read through the real backend over HTTP from the simulator; escape closes it."""

from __future__ import annotations

import pytest
from textual.widgets import Static

from ktui.cli import main
from ktui.cluster.kube.backend import KubeBackend
from ktui.ui.app import KtuiApp
from ktui.ui.screens.compare import CompareScreen
from ktui.ui.widgets.vtable import VirtualTable
from tests.code.test_code_cluster import project
from tests.ui.fakes import demo_backend
from tests.ui.test_app_sim import wait_until


def select(app, name: str) -> None:  # type: ignore[no-untyped-def]
    table = app.screen.query_one("#jobs-table", VirtualTable)
    assert table.move_to_key(("default", name))


async def test_v_marks_then_v_on_another_trial_shows_the_diff(sim, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    f = project(tmp_path)
    kc = str(sim.kubeconfig)
    assert main(["launch", str(f), "--kubeconfig", kc]) == 0
    (f.parent / "train.py").write_text("print('hello, v2')\n")
    assert main(["launch", str(f), "--kubeconfig", kc, "--name", "cs2"]) == 0
    capsys.readouterr()
    assert main(["diff", "cs-000", "cs2-001", "--kubeconfig", kc]) == 0
    want = capsys.readouterr().out.splitlines()[1:]
    assert any("hello, v2" in ln for ln in want)

    app = KtuiApp(KubeBackend.connect(kc), keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.state.trials.total == 4)
        select(app, "cs-000")
        await pilot.press("v")
        assert app.screen.compare_mark == ("default", "cs-000")
        select(app, "cs2-001")
        await pilot.press("v")
        await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.lines is not None)
        assert app.screen.lines == want
        body = str(app.screen.query_one("#compare-body", Static).render())
        assert "cs-000 -> cs2-001" in body and "hello, v2" in body and "lr: 0.1 -> 0.01" in body
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, CompareScreen))
        assert app.screen.compare_mark is None


async def test_v_twice_on_the_same_trial_unmarks_and_the_key_is_remappable(tmp_path):
    keys = tmp_path / "keys.yaml"
    keys.write_text("jobs.compare: x\n")
    app = KtuiApp(demo_backend(), keymap_file=keys)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.state.trials.total == 4)
        await pilot.press("x")
        assert app.screen.compare_mark is not None
        await pilot.press("x")
        assert app.screen.compare_mark is None


@pytest.fixture
def sim():
    from ktui.sim.testing import running_sim

    with running_sim(nodes=2, speed=20.0) as s:
        yield s
