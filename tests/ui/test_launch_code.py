"""The launch form's code field (issue 17): the file's `code:` by default, the snapshot's
size in the preview, its refusals before anything is submitted, and ctrl+s shipping it as
`ktui launch --code DIR` does. The snapshot is taken off the UI's event loop."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from textual.widgets import Button, Input, Static

import ktui.cluster.shipment as code_mod
from ktui.ui.app import KtuiApp
from ktui.ui.screens.launch import LaunchScreen
from ktui.wire.names import CODE_ANNOTATION
from tests.ui.fakes import demo_backend
from tests.ui.test_app_sim import wait_until

ROOT = Path(__file__).resolve().parents[2]


def project(tmp_path: Path, code: str | None = ".") -> Path:
    d = tmp_path / "proj"
    d.mkdir()
    (d / "train.py").write_text("print('accuracy=0.9')\n")
    (d / "util.py").write_text("X = 1\n")
    text = (ROOT / "examples" / "grid.yaml").read_text()
    if code is not None:
        text += f"code: {code}\n"
    (d / "grid.yaml").write_text(text)
    return d


def text(app, selector: str) -> str:  # type: ignore[no-untyped-def]
    return str(app.screen.query_one(selector, Static).render())


async def open_form(app, pilot, path: Path) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("n")
    assert isinstance(app.screen, LaunchScreen)
    await pilot.press(*str(path))
    await wait_until(pilot, lambda: app.screen.sweep is not None or "code" in text(app, "#launch-errors"))


async def test_the_files_code_is_shown_sized_and_shipped_from_a_worker_thread(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    d = project(tmp_path)
    threads: list[str] = []
    real_take = code_mod.take

    def take(*a, **kw):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return real_take(*a, **kw)

    monkeypatch.setattr(code_mod, "take", take)
    backend = demo_backend()
    app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause(0.3)
        await open_form(app, pilot, d / "grid.yaml")
        await wait_until(pilot, lambda: "code:" in text(app, "#launch-preview"))
        assert os.path.samefile(app.screen.query_one("#launch-code", Input).value, d)
        preview = text(app, "#launch-preview")
        assert "code: 3 files, 684 B" in preview and "ktui-code-" in preview
        assert threads and threading.main_thread().name not in threads
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not isinstance(app.screen, LaunchScreen))
    call = backend.submit_calls[-1]
    cm = call["code"]
    assert cm["kind"] == "ConfigMap" and cm["metadata"]["name"].startswith("ktui-code-")
    job = backend.submitted[-1]
    assert CODE_ANNOTATION in job["metadata"]["annotations"]
    assert "ktui.dev/launched-by" in job["metadata"]["annotations"]
    volumes = job["spec"]["template"]["spec"]["volumes"]
    assert any((v.get("configMap") or {}).get("name") == cm["metadata"]["name"] for v in volumes)


async def test_a_typed_code_dir_overrides_and_an_emptied_field_ships_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    d = project(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    (other / "train.py").write_text("print(1)\n")
    backend = demo_backend()
    app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause(0.3)
        await open_form(app, pilot, d / "grid.yaml")
        await wait_until(pilot, lambda: "code: 3 files" in text(app, "#launch-preview"))
        field = app.screen.query_one("#launch-code", Input)
        field.value = str(other)
        await wait_until(pilot, lambda: "code: 1 files" in text(app, "#launch-preview")
                         or "code: 1 file" in text(app, "#launch-preview"))
        field.value = ""
        await wait_until(pilot, lambda: "no code shipped" in text(app, "#launch-preview"))
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not isinstance(app.screen, LaunchScreen))
    assert backend.submit_calls[-1]["code"] is None
    assert "volumes" not in backend.submitted[-1]["spec"]["template"]["spec"]


async def test_a_symlink_out_of_the_tree_is_refused_with_its_path_and_nothing_submitted(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    d = project(tmp_path)
    (tmp_path / "secret").write_text("x")
    (d / "leak").symlink_to(tmp_path / "secret")
    backend = demo_backend()
    app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause(0.3)
        await open_form(app, pilot, d / "grid.yaml")
        await wait_until(pilot, lambda: "symlink" in text(app, "#launch-errors"))
        assert str(d / "leak") in text(app, "#launch-errors")
        assert app.screen.query_one("#launch-submit", Button).disabled
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert isinstance(app.screen, LaunchScreen)
    assert backend.submit_calls == []


async def test_a_snapshot_over_a_configmaps_mib_is_refused_with_its_largest_files(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    d = project(tmp_path)
    (d / "weights.bin").write_bytes(os.urandom(1_300_000))
    backend = demo_backend()
    app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause(0.3)
        await open_form(app, pilot, d / "grid.yaml")
        await wait_until(pilot, lambda: "over the 1.0 MiB" in text(app, "#launch-errors"))
        assert "weights.bin" in text(app, "#launch-errors")
        assert app.screen.query_one("#launch-submit", Button).disabled
    assert backend.submit_calls == []


async def test_the_form_ships_code_to_a_cluster_as_the_cli_does(tmp_path, monkeypatch):
    from ktui.cluster.kube.backend import KubeBackend
    from ktui.sim.testing import running_sim

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    d = project(tmp_path)
    with running_sim(nodes=2, speed=20.0) as sim:
        backend = KubeBackend.connect(str(sim.kubeconfig))
        app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
        async with app.run_test(size=(100, 40)) as pilot:
            await open_form(app, pilot, d / "grid.yaml")
            await wait_until(pilot, lambda: "code: 3 files" in text(app, "#launch-preview"))
            name = app.screen.ship.snapshot.name
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: not isinstance(app.screen, LaunchScreen))
            cms = {c["metadata"]["name"]: c for c in sim.objects("configmaps")}
            assert name in cms and cms[name]["immutable"] is True
            jobs = [j for j in sim.objects("jobs") if j["metadata"]["name"].startswith("mnist-grid-")]
            assert len(jobs) == 6
            assert all(json_code(j)["configMap"] == name for j in jobs)


def json_code(job: dict) -> dict:  # type: ignore[type-arg]
    import json

    return json.loads(job["metadata"]["annotations"][CODE_ANNOTATION])
