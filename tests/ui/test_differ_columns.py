"""The job table's IMAGE and CODE columns (issue 17): shown only when the trials of the view
differ in them, kept current as trials change without a pass over every trial."""

from __future__ import annotations

from ktui.ui.app import KtuiApp
from ktui.ui.render import short_digest
from ktui.ui.widgets.jobs import JobsPane
from tests.ui.fakes import demo_backend
from tests.ui.test_app_sim import table_rows, wait_until

SHA_A = "1d90aaef4918ab3a" + "0" * 48
SHA_B = "7c21ffee00112233" + "0" * 48


def prov(image: str = "python:3.11-slim", sha: str | None = SHA_A) -> dict:  # type: ignore[type-arg]
    return {"image": image, "code": {"sha256": sha} if sha else None, "git": None,
            "ktuiVersion": "0", "launchedBy": "me@here"}


def header(app) -> str:  # type: ignore[no-untyped-def]
    return table_rows(app, "jobs-table") and app.screen.query_one("#jobs-table").render_line(0).text


def columns(app) -> list[str]:  # type: ignore[no-untyped-def]
    return [c.key for c in app.screen.query_one(JobsPane).table.columns]


async def test_code_and_image_columns_appear_only_when_trials_differ(tmp_path):
    backend = demo_backend()
    for i in range(3):
        backend.add_trial("same", i, "Succeeded", provenance=prov())
    app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_until(pilot, lambda: app.state.trials.total == 7)
        assert "code" not in columns(app) and "image" not in columns(app)

        backend.add_trial("same", 3, "Running", provenance=prov(sha=SHA_B))  # other code
        await wait_until(pilot, lambda: "code" in columns(app))
        assert "image" not in columns(app)
        rows = "\n".join(table_rows(app, "jobs-table"))
        assert "1d90aaef" in rows and "7c21ffee" in rows
        assert "CODE" in header(app)

        # the same image, but one pod resolved another digest: what ran differs
        backend.add_trial("same", 0, "Succeeded", provenance=prov(),
                          image_id="docker.io/library/python@sha256:aaaaaaaaaaaaaaaa")
        backend.add_trial("same", 1, "Succeeded", provenance=prov(),
                          image_id="docker.io/library/python@sha256:bbbbbbbbbbbbbbbb")
        await wait_until(pilot, lambda: "image" in columns(app))
        rows = "\n".join(table_rows(app, "jobs-table"))
        assert "python@aaaaaaaaaaaa" in rows and "python@bbbbbbbbbbbb" in rows
        assert "IMAGE" in header(app)

        # the trials that differ go: so do the columns (counted as they change)
        backend.store.apply("jobs", (), [("default", "same-003")])
        await wait_until(pilot, lambda: "code" not in columns(app))
        backend.add_trial("same", 1, "Succeeded", provenance=prov(),
                          image_id="docker.io/library/python@sha256:aaaaaaaaaaaaaaaa")
        await wait_until(pilot, lambda: "image" not in columns(app))


async def test_the_sweep_filter_decides_for_its_own_trials(tmp_path):
    backend = demo_backend()
    backend.add_trial("one", 0, "Succeeded", provenance=prov(sha=SHA_A))
    backend.add_trial("two", 0, "Succeeded", provenance=prov(sha=SHA_B))
    app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: "code" in columns(app))
        for _ in range(4):
            if app.state.sweep_filter == "one":
                break
            await pilot.press("f")
            await pilot.pause(0.05)
        assert app.state.sweep_filter == "one"
        await wait_until(pilot, lambda: "code" not in columns(app))


def test_short_digest():
    assert short_digest("docker-pullable://ghcr.io/org/train@sha256:0123456789abcdef") == "train@0123456789ab"
    assert short_digest("python:3.11") == "python:3.11"


def test_the_columns_fit_the_width_without_scrolling():
    from ktui.ui.widgets.jobs import job_columns

    for width in (80, 100, 120, 140, 200):
        for differ in ((), ("code",), ("image",), ("image", "code")):
            for one_node in (False, True):
                cols = job_columns(width, one_node, gpu=True, differ=differ)
                assert sum(c.width for c in cols) + len(cols) - 1 <= width - 2, (width, differ, one_node)
