"""A preempted trial waiting in line again, on screen: that it was preempted and its new
place in line, both within an 80-column REASON cell, against the simulator's Kueue."""

from __future__ import annotations

import pytest

from ktui.cluster.kube.backend import KubeBackend
from ktui.sim.testing import running_sim
from ktui.ui.app import KtuiApp

from .test_app_sim import table_rows, wait_until
from .test_queue_ui import SPEED, queued_trial


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_a_preempted_trial_shows_its_place_in_line(tmp_path, size) -> None:
    with running_sim(nodes=2, gpus_per_node=0, speed=SPEED, kueue=True,
                     kueue_quota={"cpu": "1", "memory": "64Gi"}) as sim:
        sim.create({"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "WorkloadPriorityClass",
                    "metadata": {"name": "high"}, "value": 1000})
        sim.create(queued_trial(0, 600))
        backend = KubeBackend.connect(str(sim.kubeconfig), queue_interval=0.1)
        app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
        async with app.run_test(size=size) as pilot:
            def row(name: str) -> str:
                return next((r for r in table_rows(app, "jobs-table") if r.startswith(name)), "")
            await wait_until(pilot, lambda: "Running" in row("qs-000"))
            # Two of higher priority: the first takes qs-000's quota, the second waits ahead.
            for i in (1, 2):
                high = queued_trial(i, 2.0)
                high["metadata"]["labels"]["kueue.x-k8s.io/priority-class"] = "high"
                sim.create(high)
            await wait_until(pilot, lambda: "#2 (preempt" in row("qs-000"))
            assert "Pending" in row("qs-000")
            if size[0] >= 200:
                assert "#2 (preempted) in user-" in row("qs-000")
            # Its place goes down as those ahead run, then it runs again.
            await wait_until(pilot, lambda: "#1 (preempt" in row("qs-000"))
            await wait_until(pilot, lambda: "Running" in row("qs-000"))
            assert "preempt" not in row("qs-000")
