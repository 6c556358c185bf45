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
