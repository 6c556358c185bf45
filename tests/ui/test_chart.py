"""The learning-curve chart: drawn in braille with labelled axes, the selected and best
trials over the rest; `p` opens it from the job table, keys move it."""

from __future__ import annotations

import json

from ktui.ui.app import KtuiApp
from ktui.ui.chart import Curve, render_chart
from ktui.ui.screens.chart import ChartScreen
from ktui.wire.names import METRIC_ANNOTATION, PARAMS_ANNOTATION, SWEEP_LABEL, TRIAL_LABEL
from tests.ui.fakes import FakeBackend


def test_axes_are_labelled_and_the_ranked_line_owns_shared_cells():
    up = Curve([(0, 0.0), (10, 1.0)], "grey50")
    down = Curve([(0, 1.0), (10, 0.0)], "green", rank=1)
    lines = render_chart([up, down], 40, 12)
    assert len(lines) == 12 and all(len(line) <= 40 for line in lines)
    text = [line.plain for line in lines]
    assert text[-1].split() == ["step", "0", "5", "10"]
    assert any(t.lstrip().startswith("1 ┤") for t in text) and any(t.lstrip().startswith("0 ┤") for t in text)
    assert all(ch in " ⠀" or 0x2800 <= ord(ch) <= 0x28FF for t in text[:-2] for ch in t[10:])
    middle = lines[len(lines) // 2 - 1]  # where the two lines cross: the ranked one's style
    styles = {str(span.style) for span in middle.spans if span.start >= 10}
    assert "green" in styles


def test_no_values_says_so():
    assert "no values" in "".join(line.plain for line in render_chart([Curve([], "x")], 40, 6))


def manifest(i: int) -> dict:
    labels = {SWEEP_LABEL: "c", TRIAL_LABEL: str(i)}
    log = "".join(f"step={s} acc={0.1 * i + s / 100}\n" for s in range(1, 11))
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": f"c-{i:03d}", "namespace": "default", "labels": labels,
                         "annotations": {PARAMS_ANNOTATION: json.dumps({"i": i}),
                                         METRIC_ANNOTATION: json.dumps({"name": "acc", "goal": "maximize"})}},
            "spec": {"template": {"metadata": {"annotations": {"sim.ktui.dev/log": log}},
                                  "spec": {"containers": [{"name": "trial", "image": "x"}]}}}}


async def test_p_opens_the_sweeps_chart_and_keys_move_it(tmp_path):
    backend = FakeBackend()
    backend.add_node("node-a")
    backend.submit([manifest(i) for i in range(5)])
    app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(60):  # every trial's log read (the sweep line's best is the last)
            if "best c-004" in app.screen.query_one("#jobs").sweep_summary().plain:
                break
            await pilot.pause(0.05)
        await pilot.press("down", "p")
        screen = app.screen
        assert isinstance(screen, ChartScreen)

        async def legend() -> str:
            for _ in range(40):
                text = str(screen.query_one("#chart-legend").render())
                if "selected" in text:
                    return text
                await pilot.pause(0.05)
            return ""

        text = await legend()
        assert "best c-004 0.5" in text and "selected c-001 0.2" in text
        assert "acc (higher is better)  5 of 5 trials" in str(screen.query_one("#chart-title").render())
        await pilot.press("right_square_bracket")
        await pilot.pause(0.3)
        assert "selected c-002" in await legend()
        await pilot.press("m")  # the next metric: step
        await pilot.pause(0.3)
        assert " step " in str(screen.query_one("#chart-title").render())
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ChartScreen)


async def test_without_a_declared_metric_the_chart_opens_on_a_measure_not_a_counter(tmp_path):
    backend = FakeBackend()
    backend.add_node("node-a")
    ms = [manifest(i) for i in range(3)]
    for m in ms:
        del m["metadata"]["annotations"][METRIC_ANNOTATION]
    backend.submit(ms)
    app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(60):
            if ("default", "c-002") in app.state.metrics:
                break
            await pilot.pause(0.05)
        await pilot.press("p")
        await pilot.pause(0.5)
        assert " acc (higher is better)" in str(app.screen.query_one("#chart-title").render())
