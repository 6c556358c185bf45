"""Distributed trials in the UI, over the real backend and the simulator's training operator:
one row per trial with its pods, the master's log first, `r` to the next replica's; and the
launch form refusing a kind the cluster does not serve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ktui.cluster.kube.backend import KubeBackend
from ktui.sim.testing import running_sim
from ktui.sweep import load_sweep, render_trials
from ktui.ui.app import KtuiApp
from ktui.ui.screens.launch import LaunchScreen
from ktui.ui.widgets.line import Line
from ktui.ui.widgets.logpane import LogPane
from ktui.ui.widgets.vtable import VirtualTable

from .test_app_sim import table_rows, wait_until

SPEC = """\
name: ddp
image: python:3.11-slim
kind: PyTorchJob
workers: 2
command: [python, train.py]
args: ["--lr={lr}"]
restartPolicy: Never
parameters:
  grid: {lr: [0.1, 0.01, 0.001]}
"""


def _script(m: dict[str, Any], replica: str, **annotations: str) -> None:
    tmeta = m["spec"]["pytorchReplicaSpecs"][replica]["template"]["metadata"]
    tmeta.setdefault("annotations", {}).update({f"sim.ktui.dev/{k}": v for k, v in annotations.items()})


@pytest.fixture
def ksim():
    with running_sim(nodes=4, gpus_per_node=8, speed=50.0, kubeflow=True) as s:
        yield s


def _title(app: Any) -> str:
    return str(app.screen.query_one(LogPane).query_one("#log-title", Line)._shown)


async def test_rows_pods_and_r_cycles_through_the_replicas_logs(ksim, tmp_path: Path) -> None:
    path = tmp_path / "ddp.yaml"
    path.write_text(SPEC)
    manifests = list(render_trials(load_sweep(path), "default"))
    for i, m in enumerate(manifests):
        long = "100000" if i == 2 else None
        _script(m, "Master", duration=long or "60", log="master says hi\n")
        _script(m, "Worker", duration=long or "5", log="worker says hi\n")
    _script(manifests[1], "Worker", **{"fail-indexes": "0", "exit-code": "3"})
    for m in manifests:
        ksim.create(m)
    backend = KubeBackend.connect(str(ksim.kubeconfig))
    app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.state.trials.total == 3)
        await wait_until(pilot, lambda: any("ddp-002" in r and "Run 3/3" in r for r in table_rows(app, "jobs-table")))
        await wait_until(pilot, lambda: any("ddp-001" in r and "Failed" in r and "worker-0" in r
                                            for r in table_rows(app, "jobs-table")))
        await wait_until(pilot, lambda: any("ddp-000" in r and "Succeeded" in r for r in table_rows(app, "jobs-table")))
        table = app.screen.query_one("#jobs-table", VirtualTable)
        assert table.move_to_key(("default", "ddp-000"))
        await pilot.press("enter")
        pane = app.screen.query_one(LogPane)
        await wait_until(pilot, lambda: pane.view.line_count == 1 and pane.view.line_text(0) == "master says hi")
        assert "default/ddp-000 master" in _title(app)
        seen = []
        for _ in range(3):
            await pilot.press("r")
            await wait_until(pilot, lambda: pane.view.line_count == 1)
            seen.append((pane.replica, pane.view.line_text(0)))
            assert f"ddp-000 {pane.replica}" in _title(app)
        assert seen == [("worker-0", "worker says hi"), ("worker-1", "worker says hi"), ("master", "master says hi")]


async def test_r_on_a_job_says_it_has_no_replicas(tmp_path: Path) -> None:
    from .fakes import demo_backend

    app = KtuiApp(demo_backend(), keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.state.trials.total == 4)
        table = app.screen.query_one("#jobs-table", VirtualTable)
        assert table.move_to_key(("default", "mnist-001"))
        await pilot.press("enter", "r")
        await pilot.pause(0.2)
        assert app.screen.query_one(LogPane).replica is None
        assert any("mnist-001 runs one pod: it has no replicas" in str(n.message) for n in app._notifications)


async def test_launch_form_refuses_a_kind_the_cluster_does_not_serve(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    path = tmp_path / "ddp.yaml"
    path.write_text(SPEC)
    with running_sim(nodes=2, gpus_per_node=0, speed=20.0) as sim:
        backend = KubeBackend.connect(str(sim.kubeconfig))
        app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.5)
            await pilot.press("n", *str(path))
            await wait_until(pilot, lambda: isinstance(app.screen, LaunchScreen) and app.screen.sweep is not None)
            await pilot.press("ctrl+s")
            errors = app.screen.query_one("#launch-errors")
            await wait_until(pilot, lambda: "does not serve" in str(errors.render()))
            assert "this cluster does not serve PyTorchJob (pytorchjobs.kubeflow.org): install the Kubeflow " \
                   "training operator (v1)" in str(errors.render())
            assert isinstance(app.screen, LaunchScreen)
        assert sim.objects("jobs", "default") == []
