"""The sweep's best trial and the read progress, over every trial of the sweep: not only
the rows on screen, nor only those the filter shows."""

from __future__ import annotations

import json

from ktui.cluster.model import SweepSummary
from ktui.ui.app import KtuiApp
from ktui.ui.render import sweep_line
from ktui.ui.widgets.jobs import JobsPane
from ktui.wire.names import METRIC_ANNOTATION, PARAMS_ANNOTATION, SWEEP_LABEL, TRIAL_LABEL
from tests.ui.fakes import FakeBackend


def manifest(i: int, acc: float) -> dict:
    labels = {SWEEP_LABEL: "big", TRIAL_LABEL: str(i)}
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": f"big-{i:03d}", "namespace": "default", "labels": labels,
                         "annotations": {PARAMS_ANNOTATION: json.dumps({"i": i}),
                                         METRIC_ANNOTATION: json.dumps({"name": "acc", "goal": "maximize"})}},
            "spec": {"template": {"metadata": {"annotations": {"sim.ktui.dev/log": f"step=1 acc={acc}\n"}},
                                  "spec": {"containers": [{"name": "trial", "image": "x"}]}}}}


async def test_the_best_trial_covers_every_trial_of_the_sweep(tmp_path):
    backend = FakeBackend()
    backend.add_node("node-a")
    backend.submit([manifest(i, 0.5 if i != 250 else 0.99) for i in range(300)])
    app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.screen.query_one(JobsPane)

        async def summary_has(text: str, present: bool = True) -> bool:
            for _ in range(100):
                if (text in pane.sweep_summary().plain) == present:
                    return True
                await pilot.pause(0.05)
            return False

        # big-250 is far below the screen's rows: read because its sweep is shown.
        assert await summary_has("best big-250 acc=0.99"), pane.sweep_summary().plain
        assert await summary_has("metrics", present=False)  # every finished trial read
        await pilot.press("slash", *"big-00", "enter")
        await pilot.pause(0.3)
        assert await summary_has("best big-250 acc=0.99")  # hidden by the filter, still the best


def test_the_sweep_line_says_how_far_its_logs_are_read():
    s = SweepSummary("default", "big", 10_000, succeeded=10_000)
    assert "metrics 4,120/10,000" in sweep_line(s, None, (4_120, 10_000)).plain
    assert "metrics" not in sweep_line(s, None, (10_000, 10_000)).plain


async def test_the_params_column_leads_with_what_varies_in_the_sweep(tmp_path):
    from tests.ui.test_app_fake import rows

    backend = FakeBackend()
    backend.add_node("node-a")
    ms = [manifest(i, 0.5) for i in range(40)]
    for i, m in enumerate(ms):  # the constant one first, as the sweep file lists them
        m["metadata"]["annotations"][PARAMS_ANNOTATION] = json.dumps(
            {"model": "resnet50-long-name", "dataset": "imagenet", "lr": [0.1, 0.01][i // 20]})
    backend.submit(ms)
    app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(60):
            if rows(app, "jobs-table") and "lr=0.1" in rows(app, "jobs-table")[0]:
                break
            await pilot.pause(0.05)
        first = rows(app, "jobs-table")[0]
        assert "lr=0.1" in first, first  # lr leads, though it is listed last


def test_short_params_puts_the_named_first():
    from ktui.cluster.format import short_params

    p = {"model": "m", "dataset": "d", "lr": 0.1}
    assert short_params(p, 80) == "model=m dataset=d lr=0.1"
    assert short_params(p, 80, {"lr"}) == "lr=0.1 model=m dataset=d"
