"""GPU telemetry in the UI, whatever the source: a node's GPUs as rows under it, each
trial's GPU use, the allocated-but-idle ones flagged and found with the filter or sort."""

from __future__ import annotations

from ktui.cluster.gpuuse import GpuIdleRule, held_devices, pod_use
from ktui.cluster.model import GpuDevice
from ktui.ui.app import KtuiApp
from tests.ui.fakes import NOW, FakeBackend
from tests.ui.test_app_fake import rows

GiB = 2**30


def cluster_with_gpus() -> FakeBackend:
    """Two GPU nodes read from an exporter: node-a runs a busy trial on 2 GPUs and an idle
    one on 1 (for ten minutes), MIG on node-b."""
    b = FakeBackend()
    b.add_node("node-a", gpu=4)
    b.add_node("node-b", gpu=0)
    b.add_node("node-c", gpu=0)
    b.add_trial("sweep", 0, "Running", node="node-a", gpu=2)
    b.add_trial("sweep", 1, "Running", node="node-a", gpu=1)
    b.add_trial("sweep", 2, "Succeeded", node="node-c")
    a = (
        GpuDevice(0, "NVIDIA H100 80GB HBM3", 91, 60 * GiB, 80 * GiB, 63, 512.0, uuid="GPU-a0",
                  pod="default/sweep-000-abcde", processes=("sweep-000",)),
        GpuDevice(1, "NVIDIA H100 80GB HBM3", 87, 58 * GiB, 80 * GiB, 61, 498.0, uuid="GPU-a1",
                  pod="default/sweep-000-abcde", processes=("sweep-000",)),
        GpuDevice(2, "NVIDIA H100 80GB HBM3", 0, 1 * GiB, 80 * GiB, 35, 71.0, uuid="GPU-a2",
                  pod="default/sweep-001-abcde", processes=("sweep-001",)),
        GpuDevice(3, "NVIDIA H100 80GB HBM3", 0, 0, 80 * GiB, 33, 60.0, uuid="GPU-a3"),
    )
    mig = (GpuDevice(0, "NVIDIA A100-SXM4-40GB", 12, 2 * GiB, 5 * GiB, uuid="GPU-b0", mig="1g.5gb/7"),)
    rule = GpuIdleRule()
    first = pod_use(held_devices("node-a", a), {}, rule, NOW - 600)
    b.store.set_gpu({"node-a": a, "node-b": mig}, pod_use(held_devices("node-a", a), first, rule, NOW))
    b.store.set_gpu_source("dcgm-exporter (2 via pods/proxy)")
    return b


async def test_gpu_rows_per_trial_use_and_the_idle_trial(tmp_path):
    backend = cluster_with_gpus()
    app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml", clock=lambda: NOW)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.pause(0.5)
        nodes = rows(app, "nodes-table")
        assert [r.split()[0] for r in nodes] == ["node-a", "└", "└", "└", "└", "node-b", "└", "node-c"]
        assert "sweep-000" in nodes[1] and "91%" in nodes[1] and "H100" in nodes[1]
        assert "sweep-001" in nodes[3] and "allocated, idle" in nodes[3]
        assert "free" in nodes[4] and "allocated, idle" not in nodes[4]
        assert "1g.5gb/7" in nodes[6]
        summary = app.screen.query_one("#nodes-summary").render().plain  # type: ignore[attr-defined]
        assert "2 busy, 1 allocated but idle" in summary and "gpu from dcgm-exporter" in summary
        assert "1 trial GPU idle (filter gpu-idle)" in summary
        jobs = {r.split()[0]: r for r in rows(app, "jobs-table")}
        assert "89% 118Gi" in jobs["sweep-000"]  # mean of 91 and 87, memory summed
        assert "GPU idle 10m" in jobs["sweep-001"]
        assert "GPU idle" not in jobs["sweep-000"] and "GPU idle" not in jobs["sweep-002"]
        # The nodes on screen and the nodes of the running trials on screen are read.
        assert backend.gpu_focus == {"node-a", "node-b", "node-c"}

        await pilot.press("slash", *"gpu-idle", "enter")
        await pilot.pause(0.5)
        assert [r.split()[0] for r in rows(app, "jobs-table")] == ["sweep-001"]


async def test_sorting_by_gpu_puts_the_idle_first(tmp_path):
    app = KtuiApp(cluster_with_gpus(), keymap_file=tmp_path / "none.yaml", clock=lambda: NOW)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.5)
        app.screen.sort_trials("gpu")  # type: ignore[attr-defined]
        await pilot.pause(0.5)
        shown = rows(app, "jobs-table")
        assert [r.split()[0] for r in shown] == ["sweep-001", "sweep-000", "sweep-002"]
        assert " 0% " in shown[0] and shown[1].endswith(" 89%")  # the busy share alone where it is narrow
        header = app.screen.query_one("#jobs-table").render_line(0).text  # type: ignore[attr-defined]
        assert "GPU…" in header  # (its sort mark, cut by the narrow column)


async def test_a_trial_that_becomes_idle_is_found_by_the_filter(tmp_path):
    b = FakeBackend()
    b.add_node("node-a", gpu=1)
    b.add_trial("sweep", 0, "Running", node="node-a", gpu=1)
    b.add_trial("sweep", 1, "Running", node="node-a", gpu=0)
    dev = GpuDevice(0, "NVIDIA H100", 90, GiB, 80 * GiB, pod="default/sweep-000-abcde", processes=("sweep-000",))
    rule = GpuIdleRule()
    b.store.set_gpu({"node-a": (dev,)}, pod_use(held_devices("node-a", (dev,)), {}, rule, NOW))
    app = KtuiApp(b, keymap_file=tmp_path / "none.yaml", clock=lambda: NOW)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause(0.3)
        await pilot.press("slash", *"gpu-idle", "enter")
        await pilot.pause(0.3)
        assert rows(app, "jobs-table") == []
        idle = GpuDevice(0, "NVIDIA H100", 0, GiB, 80 * GiB, pod="default/sweep-000-abcde", processes=("sweep-000",))
        held = held_devices("node-a", (idle,))
        first = pod_use(held, {}, rule, NOW - 400)
        b.store.set_gpu({"node-a": (idle,)}, pod_use(held, first, rule, NOW))
        await pilot.pause(0.6)
        assert [r.split()[0] for r in rows(app, "jobs-table")] == ["sweep-000"]


def test_without_readings_a_gpu_node_says_what_its_gpus_are():
    import msgspec

    from ktui.cluster.model import NodeView, Resources
    from ktui.ui.render import node_cells

    n = NodeView("n1", Resources(64000, 2**40, 8), Resources(0, 0, 2), None, 1, 110, True, (), False, (), (), None,
                 gpu_product="NVIDIA-H100-80GB-HBM3", gpu_memory=81559 * 2**20)
    assert str(node_cells(n, [], 6)[-1]) == "Ready  H100-80GB-HBM3 80Gi"
    read = msgspec.structs.replace(n, devices=(GpuDevice(0, "NVIDIA H100 80GB HBM3", 50),))
    assert str(node_cells(read, [], 6)[-1]) == "Ready"  # its rows say it


async def test_describe_says_what_the_trials_gpus_do(tmp_path):
    from textual.widgets import Static

    from ktui.ui.screens.describe import DescribeScreen
    from tests.ui.test_app_sim import wait_until
    from tests.ui.test_view_fixes import _text

    b = cluster_with_gpus()
    app = KtuiApp(b, keymap_file=tmp_path / "none.yaml", clock=lambda: NOW)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_until(pilot, lambda: app.state.trials.total == 3)
        app.push_screen(DescribeScreen(b, ("default", "sweep-001"), clock=lambda: NOW))
        await wait_until(pilot, lambda: any("GPUs" in _text(w) for w in app.screen.query("#describe-body")))
        body = _text(app.screen.query_one("#describe-body", Static))
        line = next(ln for ln in body.splitlines() if ln.startswith("GPUs"))
        assert line.split(None, 1)[1].rstrip() == "1 requested, 0% busy, 1Gi memory  idle for 10m", body
