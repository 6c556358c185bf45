"""Queued local trials keep being admitted whatever becomes of the process that queued them:
ktui quit with `q` (issue 14, item 1), killed with SIGKILL (item 2), or a runner exiting just
as a trial is queued."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ktui.cli.local import hand_off
from ktui.cluster.local.backend import LocalBackend
from ktui.cluster.local.state import State
from tests.local.conftest import job, wait_for

ROOT = Path(__file__).resolve().parents[2]
# Each start of a trial appends its name to the file given as its argument.
STAMP = "import sys, time; open(sys.argv[1], 'a').write(sys.argv[2] + '\\n'); time.sleep({secs})"


def stamped_jobs(n: int, stamps: Path, secs: float, sweep: str = "q") -> list[dict]:
    return [job(f"{sweep}-{i:03d}", STAMP.format(secs=secs), sweep=sweep, cpu="1",
                args=[str(stamps), f"{sweep}-{i:03d}"]) for i in range(n)]


def states(state_dir: Path) -> dict[str, str]:
    s = State(state_dir / "local.db")
    try:
        return {r["name"]: r["state"] for r in s.query("SELECT name, state FROM jobs")}
    finally:
        s.close()


def wait_all_ran_once(state_dir: Path, stamps: Path, names: list[str], timeout: float = 60.0) -> None:
    wait_for(lambda: set(states(state_dir).values()) == {"succeeded"}, timeout,
             f"every trial succeeded (now {states(state_dir)})")
    started = stamps.read_text().split()
    assert sorted(started) == sorted(names), f"each trial must start exactly once: {started}"


def wait_runner_gone(state_dir: Path, timeout: float = 30.0) -> None:
    """The runner holds scheduler.lock while it lives: wait until it can be taken."""
    import fcntl

    def free() -> bool:
        with open(state_dir / "scheduler.lock", "w") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

    wait_for(free, timeout, "the queue runner to exit")


@pytest.fixture(autouse=True)
def quick_runner(monkeypatch):
    monkeypatch.setenv("KTUI_RUNNER_IDLE_EXIT", "0.3")


async def test_quit_with_trials_queued_hands_them_to_the_runner(tmp_path):
    """Item 1: `n`, submit 6 trials x 1 cpu on 2 cpus, `q`: a clean exit, the runner takes
    over, every trial runs exactly once."""
    from ktui.ui.app import KtuiApp
    from ktui.ui.screens.launch import LaunchScreen
    from tests.ui.test_app_sim import wait_until

    state_dir, stamps = tmp_path / "state", tmp_path / "stamps"
    (tmp_path / "stamp.py").write_text(STAMP.format(secs=0.5))
    sweep = tmp_path / "six.yaml"
    sweep.write_text(textwrap.dedent(f"""\
        name: six
        image: python:3.11-slim
        command: [{sys.executable!r}, stamp.py]
        args: ["{stamps}", "six-{{i}}"]
        resources: {{cpu: 1}}
        parameters: {{grid: {{i: [0, 1, 2, 3, 4, 5]}}}}
        """))
    backend = LocalBackend(tmp_path, state_dir=state_dir, cpus=2, keep_queue_running=True)
    app = KtuiApp(backend, keymap_file=tmp_path / "none.yaml")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.state.nodes.total == 1)
        await pilot.press("n", *str(sweep))
        await wait_until(pilot, lambda: isinstance(app.screen, LaunchScreen) and app.screen.sweep is not None)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: app.state.trials.total == 6)
        await pilot.press("q")
    hand_off(backend)  # what `ktui` does once the app has closed: it must not raise
    wait_all_ran_once(state_dir, stamps, [f"six-{i}" for i in range(6)])
    wait_runner_gone(state_dir)


def test_hand_off_after_the_backend_was_stopped_starts_the_runner(tmp_path, work):
    """Item 1 at its root: the UI stops the backend as it closes, before the hand-off."""
    state_dir, stamps = tmp_path / "state", tmp_path / "stamps"
    b = LocalBackend(work, state_dir=state_dir, cpus=1)  # never started: nothing admits here
    b.submit(stamped_jobs(3, stamps, 0.1))
    b.stop()
    hand_off(b)
    wait_all_ran_once(state_dir, stamps, [f"q-{i:03d}" for i in range(3)])
    wait_runner_gone(state_dir)


def test_sigkill_after_queueing_leaves_the_trials_to_the_runner(tmp_path, work):
    """Item 2: the process that queued is killed at once; the waiting trials still start,
    each once."""
    state_dir, stamps = tmp_path / "state", tmp_path / "stamps"
    script = textwrap.dedent(f"""\
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from ktui.cli.local import make_local_backend
        from tests.local.test_queue_handoff import stamped_jobs
        from pathlib import Path
        b = make_local_backend({str(work)!r}, state_dir={str(state_dir)!r}, cpus=1)
        # Not started: this process admits nothing itself, so the kill never lands between an
        # admission and its spawn (such an attempt is "lost" after start_grace, by design never
        # started twice); what is tested is that the queue outlives its queuer.
        b.submit(stamped_jobs(4, Path({str(stamps)!r}), 0.3))
        print("queued", flush=True)
        time.sleep(120)
        """)
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "KTUI_RUNNER_IDLE_EXIT": "0.3"})
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "queued"
        p.send_signal(signal.SIGKILL)
        p.wait(10)
        wait_all_ran_once(state_dir, stamps, [f"q-{i:03d}" for i in range(4)])
    finally:
        p.kill()
    wait_runner_gone(state_dir)


def test_a_trial_queued_as_the_runner_exits_is_not_stranded(tmp_path, work):
    """The runner exits 0.3 s after the queue empties; trials queued one at a time, at
    delays around that moment, each by a process that admits nothing itself."""
    state_dir, stamps = tmp_path / "state", tmp_path / "stamps"
    names = []
    for i, delay in enumerate([0.0, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.3, 0.33, 0.37, 0.42]):
        b = LocalBackend(work, state_dir=state_dir, cpus=1, keep_queue_running=True)
        name = f"r-{i:03d}"
        b.submit([job(name, STAMP.format(secs=0), sweep="r", args=[str(stamps), name])])
        b.stop()
        names.append(name)
        wait_for(lambda n=name: states(state_dir).get(n) == "succeeded", 30, f"{name} to run")
        time.sleep(delay)  # lands before, at or after the runner's exit
    wait_all_ran_once(state_dir, stamps, names)
    wait_runner_gone(state_dir)


def test_the_queue_runner_enforces_early_stopping_with_no_ktui_open(tmp_path, work):
    import json

    from ktui.wire.names import EARLY_STOPPING_ANNOTATION, METRIC_ANNOTATION

    state_dir = tmp_path / "state"
    good = "print('step=1 acc=0.5'); print('step=2 acc=0.7', flush=True)"
    loser = "import time; print('step=1 acc=0.1', flush=True); time.sleep(60)"
    ms = [job(f"es-{i:03d}", good, sweep="es", cpu="100m") for i in range(3)]
    ms.append(job("es-003", loser, sweep="es", cpu="100m"))
    for m in ms:
        m["metadata"]["annotations"].update({
            METRIC_ANNOTATION: json.dumps({"name": "acc"}),
            EARLY_STOPPING_ANNOTATION: json.dumps({"rule": "median", "minTrials": 3, "startStep": 1})})
    b = LocalBackend(work, state_dir=state_dir, keep_queue_running=True)  # never started: the runner admits
    b.submit(ms)
    b.stop()
    wait_for(lambda: states(state_dir) == {"es-000": "succeeded", "es-001": "succeeded", "es-002": "succeeded",
                                           "es-003": "stopped"}, 60, lambda: f"the loser stopped: {states(state_dir)}")
    s = State(state_dir / "local.db")
    try:
        note = json.loads(s.query("SELECT message FROM jobs WHERE name='es-003'")[0]["message"])
    finally:
        s.close()
    assert (note["step"], note["best"], note["median"], note["peers"]) == (1.0, 0.1, 0.5, 3)  # averages at step 1
    wait_runner_gone(state_dir)
