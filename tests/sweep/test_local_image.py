"""Issue 14 item 16a: `image` is optional where it is ignored (--local, the launch form on
the local backend) and still required for a cluster."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from textual.widgets import Static

from ktui.cluster.model import Capabilities, Capability
from ktui.sweep import Overrides, SweepError, load_sweep
from ktui.ui.app import KtuiApp
from ktui.ui.screens.launch import LaunchScreen
from tests.ui.fakes import FakeBackend
from tests.ui.test_app_sim import wait_until

ROOT = Path(__file__).resolve().parents[2]
NO_IMAGE = "name: noimg\ncommand: [python, train.py]\nparameters: {grid: {lr: [0.1, 0.2]}}\n"


def ktui(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ktui", *args], capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_local_dry_run_needs_no_image(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(NO_IMAGE)
    r = ktui("launch", str(f), "--local", "--dry-run", "-o", "json")
    assert r.returncode == 0, r.stderr
    c = json.loads(r.stdout)["items"][0]["spec"]["template"]["spec"]["containers"][0]
    assert c["command"] == ["python", "train.py"] and "image" not in c
    assert "image" not in r.stderr


def test_a_cluster_still_needs_an_image(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(NO_IMAGE)
    r = ktui("launch", str(f), "--dry-run")
    assert r.returncode == 2
    assert r.stderr.splitlines() == [f"{f}:1:1: no 'image': name the container image that holds your code, or pass --image"]


def test_overrides_flag(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(NO_IMAGE)
    assert load_sweep(f, Overrides(image_required=False)).image == ""
    try:
        load_sweep(f, Overrides())
    except SweepError as e:
        assert "no 'image'" in str(e)
    else:
        raise AssertionError("a spec without an image loaded for a cluster")


async def test_launch_form_on_the_local_backend_needs_no_image(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    f = tmp_path / "s.yaml"
    f.write_text(NO_IMAGE)
    local = Capabilities(images=Capability(False, "the trials run here, so the image is ignored"))
    app = KtuiApp(FakeBackend(local), keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n", *str(f))
        await wait_until(pilot, lambda: isinstance(app.screen, LaunchScreen) and app.screen.sweep is not None)
        assert "2 trials" in str(app.screen.query_one("#launch-preview", Static).render())


async def test_launch_form_for_a_cluster_still_asks_for_an_image(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    f = tmp_path / "s.yaml"
    f.write_text(NO_IMAGE)
    app = KtuiApp(FakeBackend(), keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n", *str(f))
        await wait_until(pilot, lambda: isinstance(app.screen, LaunchScreen)
                         and "no 'image'" in str(app.screen.query_one("#launch-errors", Static).render()))
        assert app.screen.sweep is None
