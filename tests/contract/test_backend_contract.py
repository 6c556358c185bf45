"""The Backend contract, proven by behaviour on every backend: the Kubernetes one over real
HTTP against the simulator, the local one with real processes, and the UI tests' fake (so
what the UI tests prove holds for a backend that behaves like the real ones). The UI and
the CLI use only this interface, so a backend that passes here works under both.

Each trial's manifest carries both scripts: a `python -c` command the local backend runs,
and the simulator's pod annotations (its kubelet runs no commands) for the same log and
exit code.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from ktui.cluster.backend import Backend
from ktui.wire.names import PARAMS_ANNOTATION, SWEEP_LABEL, TRIAL_LABEL
from tests.local.conftest import wait_for

NS = "default"


def manifest(sweep: str, i: int, *, lines: list[str], exit_code: int = 0) -> dict[str, Any]:
    name = f"{sweep}-{i:03d}"
    log = "".join(f"{ln}\n" for ln in lines)
    code = f"import sys; sys.stdout.write({log!r}); sys.stdout.flush(); sys.exit({exit_code})"
    labels = {SWEEP_LABEL: sweep, TRIAL_LABEL: str(i)}
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": NS, "labels": labels,
                     "annotations": {PARAMS_ANNOTATION: f'{{"i": {i}}}'}},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": labels, "annotations": {
                    "sim.ktui.dev/log": log, "sim.ktui.dev/duration": "0.5",
                    **({"sim.ktui.dev/exit-code": str(exit_code)} if exit_code else {})}},
                "spec": {"restartPolicy": "Never", "containers": [{
                    "name": "trial", "image": "python:3.11-slim",
                    "command": [sys.executable, "-c", code],
                    "resources": {"requests": {"cpu": "100m"}}}]},
            },
        },
    }


@dataclass
class Subject:
    backend: Backend
    name: str


@pytest.fixture(params=["kubernetes", "local", "fake"])
def subject(request, tmp_path) -> Iterator[Subject]:
    if request.param == "kubernetes":
        from ktui.sim.testing import running_sim
        from tests.cluster.conftest import SPEED, make_backend

        with running_sim(nodes=2, gpus_per_node=0, speed=SPEED, pods=0, seed=1) as sim:
            b = make_backend(sim.kubeconfig, namespace=NS, all_namespaces=False)
            b.start()
            try:
                yield Subject(b, "kubernetes")
            finally:
                b.stop(timeout=3.0)
    elif request.param == "fake":
        from tests.ui.fakes import FakeBackend

        fake = FakeBackend()
        fake.start()
        yield Subject(fake, "fake")
    else:
        from ktui.cluster.local.backend import LocalBackend

        b = LocalBackend(tmp_path, state_dir=tmp_path / "state", cpus=4, poll_interval=0.05, kill_grace=1.0)
        b.start()
        try:
            yield Subject(b, "local")
        finally:
            b.cancel(list(b.store.snapshot_trials()))
            b.stop()


def phases(b: Backend, sweep: str) -> dict[str, str]:
    return {t.name: t.phase for t in b.store.snapshot_trials().values() if t.sweep == sweep}


def test_submit_is_idempotent_and_the_trials_show(subject):
    b = subject.backend
    ms = [manifest("c", i, lines=[f"epoch=1 acc=0.{i}"]) for i in range(3)]
    first = b.submit(ms)
    assert sorted(first.created) == [f"{NS}/c-{i:03d}" for i in range(3)] and not first.failed, first
    again = b.submit(ms)
    assert not again.created and sorted(again.existing) == sorted(first.created), again
    wait_for(lambda: set(phases(b, "c").values()) == {"Succeeded"}, 30, "three succeeded trials")
    assert sorted(t.key for t in b.sweep_trials("c", NS)) == [(NS, f"c-{i:03d}") for i in range(3)]
    assert all(t.outcome == "Complete" for t in b.sweep_trials("c", NS))
    assert b.find_trial((NS, "c-001")) is not None and b.find_trial((NS, "nope")) is None
    assert b.sweep_trials("no-such-sweep", NS) == []
    assert b.default_namespace == NS


def test_a_failure_is_worded_the_same_and_rerun_takes_only_the_failed(subject):
    b = subject.backend
    b.submit([manifest("f", 0, lines=["ok"]), manifest("f", 1, lines=["boom"], exit_code=3)])
    wait_for(lambda: phases(b, "f") == {"f-000": "Succeeded", "f-001": "Failed"}, 30, "one ok, one failed")
    failed = b.store.get_trial((NS, "f-001"))
    assert failed is not None and failed.reason == "exit code 3", failed
    assert {t.key: t.outcome for t in b.sweep_trials("f", NS)} == {(NS, "f-000"): "Complete",
                                                                    (NS, "f-001"): "Failed"}
    ok_uid = b.store.get_trial((NS, "f-000")).uid
    res = b.rerun("f", namespace=NS, failed_only=True)
    assert res.done == (f"{NS}/f-001",) and not res.failed, res

    def rerun_seen() -> bool:  # a new incarnation of the failed trial; the succeeded one kept
        t = b.store.get_trial((NS, "f-001"))
        return t is not None and t.uid != failed.uid

    wait_for(rerun_seen, 30, "the failed trial recreated")
    assert b.store.get_trial((NS, "f-000")).uid == ok_uid


def test_logs_of_a_finished_trial_and_describe(subject):
    b = subject.backend
    b.submit([manifest("l", 0, lines=["alpha", "beta", "epoch=2 loss=0.5"])])
    wait_for(lambda: phases(b, "l") == {"l-000": "Succeeded"}, 30, "the trial to finish")
    stream = b.stream_logs((NS, "l-000"), follow=False)
    try:
        assert [line.text for line in stream] == ["alpha", "beta", "epoch=2 loss=0.5"]
    finally:
        stream.close()
    d = b.describe((NS, "l-000"))
    assert d.trial.name == "l-000" and d.trial.phase == "Succeeded" and d.pods
    with pytest.raises(LookupError):
        b.stream_logs((NS, "never-submitted"), follow=False)


def test_cancel_a_sweep_removes_every_trial(subject):
    b = subject.backend
    b.submit([manifest("x", i, lines=["x"]) for i in range(3)])
    wait_for(lambda: len(phases(b, "x")) == 3, 30, "three trials in the store")
    res = b.cancel(sweep="x", namespace=NS)
    assert sorted(res.done) == [f"{NS}/x-{i:03d}" for i in range(3)] and not res.failed, res
    wait_for(lambda: not b.sweep_trials("x", NS), 30, "the sweep gone at its source")
    wait_for(lambda: not phases(b, "x"), 30, "the sweep gone from the store")


def test_stop_early_stops_a_running_trial_once_and_it_shows_early_stopped(subject):
    from ktui.cluster.earlystop import Verdict

    b = subject.backend
    m = manifest("s", 0, lines=["step=1 acc=0.1"])
    container = m["spec"]["template"]["spec"]["containers"][0]
    container["command"] = [sys.executable, "-c", "import time; print('step=1 acc=0.1', flush=True); time.sleep(120)"]
    m["spec"]["template"]["metadata"]["annotations"]["sim.ktui.dev/duration"] = "600"
    b.submit([m])
    key = (NS, "s-000")
    wait_for(lambda: phases(b, "s") == {"s-000": "Running"}, 30, "the trial running")
    note = Verdict(1, 0.1, 0.6, 3, True).to_json()
    first = b.stop_early(key, note)
    assert first.done == (f"{NS}/s-000",) and not first.failed, first
    wait_for(lambda: phases(b, "s") == {"s-000": "EarlyStopped"}, 30, "the trial stopped early")
    t = b.store.get_trial(key)
    assert t.reason == "EarlyStopped" and "best 0.1 < median 0.6 of 3 completed trials" in (t.message or "")
    wait_for(lambda: b.store.get_trial(key).retries == 0, 10, "no retry counted for the stop")
    again = b.stop_early(key, note)
    assert not again.done and again.failed[0].message == "already stopped early", again
    missing = b.stop_early((NS, "nope"), note)
    assert not missing.done and missing.failed
