"""A finished trial's TIME is its own run, from its start to its end, whatever runs it: a
PyTorchJob (startTime to completionTime), a TrainJob (its first node's pod to Complete), one
index of an indexed sweep (its first pod's start, retries included, to its last pod's end).

Against the simulator over HTTP. Durations are checked from below only (a trial cannot end
before it has run its simulated seconds; under load it may take longer), and against the
times the server recorded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ktui.cluster.model import Trial
from ktui.sim.clock import parse_rfc3339
from ktui.sim.testing import Sim, running_sim
from ktui.sweep import Overrides, load_sweep
from ktui.sweep.render import launch_manifests
from ktui.ui.render import trial_time
from tests.sim.test_kubeflow import pytorchjob
from tests.sim.test_trainer import trainjob

from .conftest import eventually

SPEED = 20.0  # timestamps are whole seconds: runs of a few seconds tell a run from none
RUN = 40.0  # simulated seconds each run lasts: 2 s
BACKOFF = 10.0  # the simulator's first per-index retry back-off (simulated seconds)


@pytest.fixture
def tsim() -> Iterator[Sim]:
    with running_sim(nodes=4, gpus_per_node=8, speed=SPEED, kubeflow=True, trainer=True) as s:
        yield s


def finished(backend: Any, name: str) -> Trial:
    def done() -> Trial | None:
        t = backend.store.get_trial(("default", name))
        return t if t is not None and t.phase in ("Succeeded", "Failed") and t.finished else None
    return eventually(done, timeout=60, message=f"{name} did not finish")


def at_least(t: Trial, seconds: float) -> None:
    assert t.started is not None and t.finished is not None
    # (-1: both ends are whole seconds)
    assert t.finished - t.started >= seconds - 1, (t.name, t.started, t.finished)
    assert trial_time(t, t.finished + 3600) == trial_time(t, t.finished)  # a duration, not an age


def test_pytorchjob_trainjob_and_indexed_trials_time_their_own_runs(tsim: Sim, backend_factory: Any,
                                                                      tmp_path: Path) -> None:
    pt = pytorchjob("pt", workers=1, seconds=str(RUN), master_seconds=str(RUN))
    pt["metadata"]["labels"] = {"ktui.dev/sweep": "pt", "ktui.dev/trial": "0"}
    tsim.create(pt)
    tj = trainjob("tj", nodes=2, seconds=str(RUN))
    tj["metadata"]["labels"] = {"ktui.dev/sweep": "tj", "ktui.dev/trial": "0"}
    tsim.create(tj)
    f = tmp_path / "ix.yaml"
    f.write_text("name: ix\nimage: python:3.11-slim\nmode: indexed\nretries: 2\nargs: ['--lr={lr}']\n"
                 "parameters:\n  grid: {lr: [0.1, 0.01]}\n")
    *maps, job = launch_manifests(load_sweep(f, Overrides()), "default", None, {})
    # Index 1 fails its first attempt: the trial's time spans both, and the back-off between.
    job["spec"]["template"]["metadata"]["annotations"].update({
        "sim.ktui.dev/duration": str(RUN), "sim.ktui.dev/fail-indexes": "1", "sim.ktui.dev/fail-attempts": "1"})
    for m in [*maps, job]:
        tsim.create(m)
    backend = backend_factory(tsim.kubeconfig, namespace="default", all_namespaces=False)
    backend.start()

    t = finished(backend, "pt")
    status = tsim.get("pytorchjobs", "default", "pt")["status"]
    assert (t.started, t.finished) == (parse_rfc3339(status["startTime"]), parse_rfc3339(status["completionTime"]))
    at_least(t, RUN / SPEED)

    t = finished(backend, "tj")
    pods = [p for p in tsim.objects("pods", "default") if p["metadata"]["name"].startswith("tj-")]
    assert t.started == min(parse_rfc3339(p["status"]["startTime"]) for p in pods)
    at_least(t, RUN / SPEED)

    first, retried = finished(backend, "ix-000"), finished(backend, "ix-001")
    assert first.phase == retried.phase == "Succeeded"
    at_least(first, RUN / SPEED)
    at_least(retried, (2 * RUN + BACKOFF) / SPEED)
    pods = [p for p in tsim.objects("pods", "default") if p["metadata"]["name"].startswith("ix-1-")]
    assert len(pods) == 2
    assert retried.started == min(parse_rfc3339(p["status"]["startTime"]) for p in pods)
