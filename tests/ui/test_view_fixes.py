"""Issue 14's view fixes: describe says a reason once (item 12), the CPU sparkline is scaled
to the node's allocatable (item 13)."""

from __future__ import annotations

import io

from rich.console import Console
from textual.widgets import Static

from ktui.cluster.format import reason_line
from ktui.cluster.records import NodeUsage, PodRec
from ktui.ui.app import KtuiApp
from ktui.ui.render import SPARK
from ktui.ui.screens.describe import DescribeScreen
from tests.ui.fakes import NOW, FakeBackend, demo_backend
from tests.ui.test_app_fake import rows
from tests.ui.test_app_sim import wait_until

SCHED = "0/8 nodes are available: 8 Insufficient nvidia.com/gpu."
SCHED_FULL = SCHED + " preemption: 0/8 nodes are available: 8 No preemption victims found for incoming pod."


def _text(widget: Static) -> str:
    console = Console(width=400, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


def test_reason_line_says_the_message_once():
    assert reason_line(f"Unschedulable: {SCHED}", SCHED_FULL) == f"Unschedulable: {SCHED_FULL}"
    assert reason_line("Unschedulable: 0/8 nodes are…", SCHED_FULL) == f"Unschedulable: {SCHED_FULL}"
    assert reason_line("OOMKilled", "BackoffLimitExceeded: Job has reached the specified backoff limit") == \
        "OOMKilled: BackoffLimitExceeded: Job has reached the specified backoff limit"
    assert reason_line("ImagePullBackOff", "ImagePullBackOff") == "ImagePullBackOff"
    assert reason_line("exit code 1", None) == "exit code 1"
    assert reason_line(None, None) == ""


async def test_describe_says_an_unschedulable_reason_once(tmp_path):
    b = FakeBackend()
    b.add_node("node-a")
    key = b.add_trial("big", 0, "Pending", node=None, gpu=9)
    b.store.apply("pods", [PodRec("default", "big-000-abcde", b.rv(), "big-000", "uid-big-000", None, "Pending",
                                  NOW - 5, None, None, False, 1000, 2**30, 9, 0,
                                  f"Unschedulable: {SCHED}", SCHED_FULL)])
    app = KtuiApp(b, keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_until(pilot, lambda: app.state.trials.total == 1)
        app.push_screen(DescribeScreen(b, key, clock=lambda: NOW))
        await wait_until(pilot, lambda: any("Reason" in _text(w) for w in app.screen.query("#describe-body")))
        body = _text(app.screen.query_one("#describe-body", Static))
        line = next(ln for ln in body.splitlines() if ln.startswith("Reason"))
        assert line.split(None, 1)[1].rstrip() == f"Unschedulable: {SCHED_FULL}", body


async def test_an_idle_nodes_sparkline_looks_idle(tmp_path):
    b = demo_backend()
    b.add_node("idle", cpu=64, used_cpu_m=300)  # 0.3 of 64 cores
    app = KtuiApp(b, keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(200, 40)) as pilot:
        for _ in range(4):  # a few samples
            b.usage["idle"] = NodeUsage("idle", 300, 2**30)
            b.store.set_usage(dict(b.usage))
            await pilot.pause(0.3)
        hist = app.state.cpu_history["idle"]
        assert len(hist) >= 2 and max(hist) < 0.01
        row = next(r for r in rows(app, "nodes-table") if r.startswith("idle"))
        spark = row.split()[-2]  # the CPU HIST column, before STATUS
        assert set(spark) <= set(SPARK) and set(spark) == {"▁"}, row  # not full bars at 0.3 of 64 cores


def _sim_like_backend() -> FakeBackend:
    b = FakeBackend()
    for i in range(1, 9):
        b.add_node(f"sim-node-{i:04d}", used_cpu_m=500 * i)
    for i in range(12):
        b.add_trial("mnist-grid", i, "Running", node=f"sim-node-{i % 8 + 1:04d}")
    return b


def test_node_prefix_is_cut_at_a_separator():
    from ktui.ui.render import node_prefix, short_node

    assert node_prefix([f"sim-node-{i:04d}" for i in range(1, 9)]) == "sim-node-"
    assert node_prefix(["gke-a-pool-1-x", "gke-a-pool-2-y"]) == "gke-a-pool-"
    assert node_prefix(["only-one"]) == "" and node_prefix(["ab1", "ab2"]) == ""
    assert short_node("sim-node-0007", "sim-node-") == "…0007"
    assert short_node(None, "x") == "-" and short_node("other", "sim-node-") == "other"


async def test_80x24_node_cells_tell_nodes_apart_and_o_goes_to_the_trials_node(tmp_path):
    """Issue 14, item 11: `sim-node…` for every trial; nothing took you from a trial to its node."""
    app = KtuiApp(_sim_like_backend(), keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.state.trials.total == 12 and len(rows(app, "jobs-table")) >= 5)
        await pilot.pause(0.3)
        jobs = rows(app, "jobs-table")
        assert "…0001" in jobs[0] and "…0002" in jobs[1], jobs[:2]
        await pilot.press("down", "down", "o")  # mnist-grid-002 runs on sim-node-0003
        await pilot.pause(0.2)
        nodes = app.screen.query_one("#nodes-table")
        assert app.focused is nodes and nodes.cursor_key == "sim-node-0003"
        # the node's row is on screen, with its CPU figures
        assert any(r.startswith("sim-node-0003") and "1.5/" in r for r in rows(app, "nodes-table")), \
            rows(app, "nodes-table")


async def test_60x15_keeps_a_few_job_rows(tmp_path):
    app = KtuiApp(_sim_like_backend(), keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(60, 15)) as pilot:
        await wait_until(pilot, lambda: app.state.trials.total == 12)
        await pilot.pause(0.3)
        table = app.screen.query_one("#jobs-table")
        assert table.size.height - 1 >= 3, table.size  # header + at least 3 rows
        assert len([r for r in rows(app, "jobs-table")[: table.size.height - 1] if r.strip()]) >= 3
