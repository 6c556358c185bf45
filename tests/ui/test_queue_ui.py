"""Kueue on screen, against the simulator's Kueue: the queue line above the job table, a
waiting trial's reason with its place in line, and describe's Workload conditions."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from ktui.cluster.kube.backend import KubeBackend
from ktui.sim.testing import running_sim
from ktui.ui.app import KtuiApp
from ktui.ui.screens.describe import DescribeScreen
from ktui.ui.widgets.queueline import QueueLine
from ktui.ui.widgets.vtable import VirtualTable

from .test_app_sim import table_rows, wait_until

SPEED = 20.0


def queued_trial(i: int, seconds: float) -> dict:
    labels = {"ktui.dev/sweep": "qs", "ktui.dev/trial": str(i),
              "kueue.x-k8s.io/queue-name": "user-queue"}
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": f"qs-{i:03d}", "namespace": "default", "labels": labels,
                         "annotations": {"ktui.dev/params": json.dumps({"lr": i})}},
            "spec": {"backoffLimit": 3, "template": {
                "metadata": {"labels": dict(labels),
                             "annotations": {"sim.ktui.dev/duration": str(seconds * SPEED)}},
                "spec": {"restartPolicy": "Never", "containers": [{
                    "name": "trial", "image": "python:3.11", "command": ["python", "train.py"],
                    "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]}}}}


@pytest.fixture
def qsim():
    with running_sim(nodes=2, gpus_per_node=0, speed=SPEED, kueue=True,
                     kueue_quota={"cpu": "1", "memory": "64Gi"}) as s:
        yield s


def plain(widget) -> str:  # type: ignore[no-untyped-def]
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_the_queue_line_and_a_waiting_trials_place(qsim, tmp_path, size) -> None:
    for i in range(4):
        qsim.create(queued_trial(i, 600))
    backend = KubeBackend.connect(str(qsim.kubeconfig), queue_interval=0.1)
    app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=size) as pilot:
        line = app.screen.query_one(QueueLine)
        await wait_until(pilot, lambda: line.display and "user-queue 3 pending 1 admitted"
                         in str(line.render()))
        assert str(line.render()).startswith("queues  user-queue")

        def row(name: str) -> str:
            return next((r for r in table_rows(app, "jobs-table") if r.startswith(name)), "")
        await wait_until(pilot, lambda: "queued #3" in row("qs-003"))
        assert "Pending" in row("qs-003")
        if size[0] >= 200:
            assert "queued #3 in user-queue" in row("qs-003")
        assert "Running" in row("qs-000") and "queued" not in row("qs-000")

        table = app.screen.query_one("#jobs-table", VirtualTable)
        assert table.move_to_key(("default", "qs-002"))
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, DescribeScreen)
                         and "workload conditions" in plain(app.screen.query_one("#describe-body")))
        text = plain(app.screen.query_one("#describe-body"))
        assert "job-qs-002-" in text and "#2 in user-queue, #2 in its ClusterQueue" in text
        cells = [[c.strip() for c in line.split("│")] for line in text.splitlines()]
        assert ["", "QuotaReserved", "False", "Pending", "couldn't assign flavors to pod set main: "
                "insufficient unused quota for cpu in flavor default-flavor, 1 more needed",
                ""] in cells
        await pilot.press("escape")


async def test_no_queue_line_without_a_waiting_trial(tmp_path) -> None:
    with running_sim(nodes=1, gpus_per_node=0, speed=SPEED, kueue=True) as sim:
        sim.create(queued_trial(0, 600))
        backend = KubeBackend.connect(str(sim.kubeconfig), queue_interval=0.1)
        app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_until(pilot, lambda: any("Running" in r for r in table_rows(app, "jobs-table")))
            await pilot.pause(0.3)
            assert not app.screen.query_one(QueueLine).display
