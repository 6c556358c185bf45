"""The app over the real Kubernetes backend and the in-repo simulator: what a user sees."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from ktui.cluster.kube.backend import KubeBackend
from ktui.demo import demo_jobs
from ktui.sim.testing import running_sim
from ktui.ui.app import KtuiApp
from ktui.ui.screens.launch import LaunchScreen
from ktui.ui.widgets.line import Line
from ktui.ui.widgets.logpane import LogPane
from ktui.ui.widgets.vtable import VirtualTable

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sim():
    with running_sim(nodes=4, gpus_per_node=8, speed=20.0) as s:
        yield s


def table_rows(app, table_id: str) -> list[str]:
    t = app.screen.query_one(f"#{table_id}", VirtualTable)
    return [t.render_line(y).text.rstrip() for y in range(1, t.row_count + 1)]


async def wait_until(pilot, predicate, timeout: float = 20.0) -> None:
    for _ in range(int(timeout / 0.1)):
        if predicate():
            return
        await pilot.pause(0.1)
    raise AssertionError("condition not met in time")


async def test_trials_run_fail_for_visible_reasons_and_logs_follow(sim, tmp_path):
    for job in demo_jobs():
        sim.create(job)
    backend = KubeBackend.connect(str(sim.kubeconfig))
    app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(160, 48)) as pilot:
        state = app.state
        await wait_until(pilot, lambda: state.trials.total == 18)
        nodes = table_rows(app, "nodes-table")
        assert [r.split()[0] for r in nodes] == [f"sim-node-000{i}" for i in range(1, 5)]
        # The GPU trial that wants 16 GPUs stays Pending, and says why.
        await wait_until(pilot, lambda: any("resnet-gpu-005" in r and "Unschedulable" in r for r in table_rows(app, "jobs-table")))
        await wait_until(pilot, lambda: any("resnet-gpu-003" in r and "ImagePull" in r for r in table_rows(app, "jobs-table")))
        # Open the long-running trial's log and see it follow.
        table = app.screen.query_one("#jobs-table", VirtualTable)
        assert table.move_to_key(("default", "mnist-grid-009"))
        await pilot.press("enter")
        pane = app.screen.query_one(LogPane)
        await wait_until(pilot, lambda: pane.view.line_count > 3)
        first = pane.view.line_count
        await wait_until(pilot, lambda: pane.view.line_count > first)
        assert any("accuracy=" in pane.view.line_text(i) for i in range(pane.view.line_count))


async def test_launch_form_submits_and_trials_appear(sim, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    backend = KubeBackend.connect(str(sim.kubeconfig))
    app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.5)
        await pilot.press("n", *str(ROOT / "examples" / "grid.yaml"))
        await wait_until(pilot, lambda: isinstance(app.screen, LaunchScreen) and app.screen.sweep is not None)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not isinstance(app.screen, LaunchScreen))
        await wait_until(pilot, lambda: app.state.trials.total == 6)
        await wait_until(pilot, lambda: all("Succeeded" in r for r in table_rows(app, "jobs-table")), timeout=30)
        names = sorted(o["metadata"]["name"] for o in sim.objects("jobs"))
        assert names == [f"mnist-grid-00{i}" for i in range(6)]


async def test_forbidden_pods_are_reported_and_jobs_still_show(sim, tmp_path):
    sim.deny("viewer", "list", "pods")
    sim.deny("viewer", "watch", "pods")
    for job in demo_jobs()[:3]:
        sim.create(job)
    backend = KubeBackend.connect(str(sim.kubeconfig_for("viewer")))
    app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.state.trials.total == 3)
        await wait_until(pilot, lambda: any("pods" in p.message for p in app.state.problems))
        problems = str(app.screen.query_one("#problems").render())
        assert "pods" in problems and "orbidden" in problems
        await asyncio.sleep(0)


async def test_switch_namespace_from_the_command_palette(sim, tmp_path):
    sim.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-b"}})
    for job in demo_jobs("default")[:2] + demo_jobs("team-b")[12:15]:
        sim.create(job)
    kc = str(sim.kubeconfig)

    def switch(context, namespace, all_namespaces):
        return KubeBackend.connect(kc, context, namespace, all_namespaces=all_namespaces)

    app = KtuiApp(KubeBackend.connect(kc), keymap_file=tmp_path / "none.yaml", switch=switch, contexts=["ktui-sim"])
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.state.trials.total == 2)
        await pilot.press("colon", *"ns team-b")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.state.trials.total == 3)
        assert {k[0] for k in app.state.trials.keys} == {"team-b"}
        assert "namespace team-b" in app.backend.location
        app.switch_to(None, None, True)
        await wait_until(pilot, lambda: app.state.trials.total == 5)


async def test_a_slow_first_list_shows_its_progress_then_every_trial(tmp_path):
    # A server that takes its time (like a kube-apiserver listing 150,000 pods): the job
    # header says how far the lists have come; the trials are joined as they arrive and
    # shown together at the list's end.
    with running_sim(nodes=4, gpus_per_node=8, speed=1.0, pods=240, seed=3) as sim:
        n_jobs = len(sim.objects("jobs"))
        n_pods = len(sim.objects("pods"))  # 240 trials' and the GPU telemetry's (4 exporters, a Prometheus)
        sim.faults.set_list_cost(0.01)  # 10 ms per object: ~2.4 s for the pods
        backend = KubeBackend.connect(str(sim.kubeconfig), all_namespaces=True, page_limit=20)
        app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
        seen: list[str] = []
        async with app.run_test(size=(120, 40)) as pilot:
            header = app.screen.query_one("#sweeps", Line)

            def shown() -> str:
                return str(header.content)

            def progress() -> bool:
                seen.append(shown())
                return "listing" in seen[-1] and "pods" in seen[-1]

            await wait_until(pilot, progress, timeout=10)
            # "listing pods 40/245": the server's remainingItemCount gives the whole.
            assert re.search(rf"pods \d+/{n_pods}\b", seen[-1]), seen[-1]
            assert app.state.trials.total < n_jobs  # held until the list is in
            await pilot.press("s")  # a sort while it is held lands, and is kept
            await wait_until(pilot, lambda: app.state.trial_sort == "phase")
            await wait_until(pilot, lambda: app.state.trials.total == n_jobs, timeout=30)
            await wait_until(pilot, lambda: "listing" not in shown())
            assert len(table_rows(app, "jobs-table")) == n_jobs
            assert app.state.trial_sort == "phase"
            assert backend.store.list_progress() == {}
