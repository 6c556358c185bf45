"""`d` (describe) shows what a trial ran: the code snapshot, the image and the digest its pod
resolved, who launched it; a Job launched without provenance shows none of it."""

from __future__ import annotations

from textual.widgets import Static

from ktui.cli import main
from ktui.snapshot import take
from ktui.ui.app import KtuiApp
from ktui.ui.screens.describe import DescribeScreen
from tests.cluster.conftest import eventually, job_manifest
from tests.code.test_code_cluster import project
from tests.ui.test_app_sim import wait_until
from tests.ui.test_view_fixes import _text


async def test_describe_shows_the_provenance(sim, backend_factory, tmp_path, capsys):
    f = project(tmp_path)
    kc = str(sim.kubeconfig)
    assert main(["launch", str(f), "--kubeconfig", kc]) == 0
    capsys.readouterr()
    sim.create(job_manifest("plain-000", sweep="plain", duration=60))
    snap = take(f.parent)
    eventually(lambda: any(p["status"].get("containerStatuses", [{}])[0].get("imageID")
                           for p in sim.objects("pods") if p["metadata"]["labels"].get("job-name") == "cs-000"),
               timeout=30)
    b = backend_factory(sim.kubeconfig, namespace="default", all_namespaces=False)
    app = KtuiApp(b, keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(200, 50)) as pilot:
        await wait_until(pilot, lambda: app.state.trials.total == 3)
        app.push_screen(DescribeScreen(b, ("default", "cs-000")))
        await wait_until(pilot, lambda: any("Code" in _text(w) for w in app.screen.query("#describe-body")))
        body = _text(app.screen.query_one("#describe-body", Static))
        lines = {ln.split(None, 1)[0]: ln.split(None, 1)[1].rstrip() for ln in body.splitlines() if ln.strip()
                 and ln.split(None, 1)[0] in ("Code", "Image", "Launched", "Git")}
        assert lines["Code"] == f"{snap.name}  4 files, {snap.total_bytes} B  sha256 {snap.sha256[:16]}"
        assert lines["Image"].startswith("python:3.11-slim -> docker.io/library/python@sha256:")
        assert lines["Launched"].startswith("by ") and "with ktui " in lines["Launched"]
        assert "Git" not in lines
        app.pop_screen()
        app.push_screen(DescribeScreen(b, ("default", "plain-000")))
        await wait_until(pilot, lambda: any("Retries" in _text(w) for w in app.screen.query("#describe-body")))
        body = _text(app.screen.query_one("#describe-body", Static))
        assert "Launched" not in body and "\nCode" not in body
        assert "\nImage     docker.io/library/python@sha256:" in body
