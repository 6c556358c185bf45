"""What the screen says about the connection (issue 14, items 5 and 14): a server that
accepts and never answers, one that refuses, one that goes away and comes back. All over
real HTTP against the simulator (or against nothing, for the refused port)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from ktui.cli import main
from ktui.cluster.kube.backend import KubeBackend
from ktui.demo import demo_jobs
from ktui.sim.testing import kubeconfig_text, running_sim
from ktui.ui.app import KtuiApp
from tests.ui.hanging import hanging_proxy


@pytest.fixture
def sim():
    with running_sim(nodes=4, gpus_per_node=8, speed=20.0) as s:
        yield s


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def banner(app: KtuiApp) -> str:
    box = app.screen.query_one("#problems")
    return str(box.render()) if box.display else ""


async def wait_until(pilot, predicate, timeout: float = 30.0, app: KtuiApp | None = None) -> None:
    for _ in range(int(timeout / 0.1)):
        if predicate():
            return
        await pilot.pause(0.1)
    shown = f"; the banner says {banner(app)!r}" if app is not None else ""
    raise AssertionError(f"condition not met in time{shown}")


def kubeconfig(tmp_path: Path, url: str, token: str = "t") -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(kubeconfig_text(url, "admin", token))
    return str(path)


def drive_ui(monkeypatch, drive) -> dict[str, bool]:  # type: ignore[no-untyped-def]
    """`ktui` runs its app through `drive(app, pilot)` (headless, 80x24) instead of a terminal."""
    ran: dict[str, bool] = {}

    async def run_headless(app: KtuiApp) -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            ran["started"] = True
            await drive(app, pilot)
        ran["done"] = True

    monkeypatch.setattr(KtuiApp, "run", lambda self: asyncio.run(run_headless(self)))
    return ran


def test_a_server_that_never_answers_gets_a_first_frame_at_once_and_fills_in_when_it_does(
        sim, tmp_path, monkeypatch):
    for job in demo_jobs():
        sim.create(job)
    expected = len(sim.objects("jobs"))
    with hanging_proxy(sim.port) as proxy:
        seen: dict[str, object] = {}

        async def drive(app: KtuiApp, pilot) -> None:  # type: ignore[no-untyped-def]
            # The first frame, while no request has been answered: where it is connecting to.
            await wait_until(pilot, lambda: f"connecting to {proxy.url}" in banner(app))
            seen["trials"] = app.state.trials.total
            proxy.release()  # the server answers, late: the screen fills in, the banner goes
            await wait_until(pilot, lambda: app.state.trials.total == expected)
            await wait_until(pilot, lambda: banner(app) == "")
            await pilot.press("q")

        ran = drive_ui(monkeypatch, drive)
        rc = main(["ui", "--kubeconfig", kubeconfig(tmp_path, proxy.url, sim.token)])
    assert ran.get("started"), "the UI never came up"
    assert ran.get("done") and rc == 0
    assert seen["trials"] == 0


def test_a_refused_server_keeps_the_ui_up_saying_so_until_q(tmp_path, monkeypatch):
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]  # closed again: nothing listens there
    url = f"http://127.0.0.1:{port}"

    async def drive(app: KtuiApp, pilot) -> None:  # type: ignore[no-untyped-def]
        await wait_until(pilot, lambda: "connection refused" in banner(app))
        text = banner(app)
        assert f"connecting to {url}" in text and "retrying" in text
        await pilot.press("q")

    ran = drive_ui(monkeypatch, drive)
    rc = main(["ui", "--kubeconfig", kubeconfig(tmp_path, url)])
    assert ran.get("started"), "the UI never came up"
    assert ran.get("done") and rc == 0


async def test_the_banner_goes_on_the_first_answer_after_an_outage_and_says_how_long(sim, tmp_path):
    for job in demo_jobs()[:4]:
        sim.create(job)
    # Watches as long as a real server's: the stream that comes back is not ended for minutes.
    backend = KubeBackend.connect(str(sim.kubeconfig), backoff_base=0.05, backoff_cap=0.4)
    app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_until(pilot, lambda: app.state.trials.total == 4)
        assert banner(app) == ""
        sim.run(sim.server.stop_http)  # the server goes away (its state is kept)
        await wait_until(pilot, lambda: "cannot reach the cluster" in banner(app))
        sim.run(sim.server.start_http)  # ... and comes back on the same port
        job = demo_jobs()[4]
        sim.create(job)
        # Data flows again: the new job shows; the banner says the outage is over, and
        # how long it lasted.
        await wait_until(pilot, lambda: app.state.trials.total == 5)
        await wait_until(pilot, lambda: "cannot reach" not in banner(app), app=app)
        assert "reconnected after " in banner(app)
