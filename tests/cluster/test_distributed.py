"""Distributed trials (`kind: PyTorchJob`): launched, watched, cancelled and rerun over real
HTTP against the simulator's training operator (`running_sim(kubeflow=True)`), and absent,
without errors, from a cluster that does not serve the CRD."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ktui.cli import main
from ktui.sim.testing import Sim, running_sim
from ktui.sweep import load_sweep, render_trials

from .conftest import SPEED, eventually, kubectl

SPEC = """\
name: ddp
image: python:3.11-slim
kind: PyTorchJob
workers: 3
command: [python, train.py]
args: ["--lr={lr}"]
resources: {cpu: "1", gpu: 1}
restartPolicy: Never
parameters:
  grid: {lr: [0.1, 0.01, 0.001]}
"""
NS = "default"


@pytest.fixture
def ksim() -> Iterator[Sim]:
    with running_sim(nodes=4, gpus_per_node=8, speed=SPEED, kubeflow=True) as s:
        yield s




def sweep_file(tmp_path: Path, text: str = SPEC) -> Path:
    path = tmp_path / "ddp.yaml"
    path.write_text(text)
    return path


def _script(manifest: dict[str, Any], replica: str, **annotations: str) -> None:
    tmeta = manifest["spec"]["pytorchReplicaSpecs"][replica]["template"]["metadata"]
    tmeta.setdefault("annotations", {}).update({f"sim.ktui.dev/{k}": v for k, v in annotations.items()})


def scripted(path: Path) -> list[dict[str, Any]]:
    """Trial 0 succeeds, trial 1's worker-1 exits 1, trial 2 runs until it is cancelled."""
    out = list(render_trials(load_sweep(path), NS))
    for i, m in enumerate(out):
        long = "100000" if i == 2 else None
        _script(m, "Master", duration=long or "30", log="master says hi\n")
        _script(m, "Worker", duration=long or "5", log="worker says hi\n")
    _script(out[1], "Worker", **{"fail-indexes": "1", "exit-code": "1"})
    return out


def _phases(backend: Any) -> dict[str, str]:
    return {t.name: t.phase for t in backend.store.trials_of_sweep("ddp")}


def _pod(sim: Sim, name: str) -> dict[str, Any]:
    return next(p for p in sim.objects("pods", NS) if p["metadata"]["name"] == name)


def test_three_trials_of_one_master_and_three_workers_one_failing(ksim: Sim, backend_factory, tmp_path: Path) -> None:
    backend = backend_factory(ksim.kubeconfig)
    backend.start()
    result = backend.submit(scripted(sweep_file(tmp_path)))
    assert len(result.created) == 3 and not result.failed
    eventually(lambda: _phases(backend) == {"ddp-000": "Succeeded", "ddp-001": "Failed", "ddp-002": "Running"},
               timeout=30, message=lambda: f"phases: {_phases(backend)}")
    # One row per trial, not one per pod; the running one has its four pods up.
    trials = {t.name: t for t in backend.store.trials_of_sweep("ddp")}
    assert len(trials) == 3 and all(t.kind == "PyTorchJob" and t.pods_total == 4 for t in trials.values())
    eventually(lambda: backend.store.get_trial((NS, "ddp-002")).pods_ready == 4, timeout=10)
    running = backend.store.get_trial((NS, "ddp-002"))
    assert running.node == _pod(ksim, "ddp-002-master-0")["spec"]["nodeName"]
    assert running.pod == "ddp-002-master-0"
    failed = trials["ddp-001"]
    assert failed.reason == "worker-1: exit code 1"
    assert "PyTorchJob ddp-001 is failed because 1 Worker replica(s) failed." in (failed.message or "")
    assert failed.node == _pod(ksim, "ddp-001-master-0")["spec"]["nodeName"]
    assert trials["ddp-000"].params == {"lr": 0.1} and trials["ddp-000"].index == 0
    # kubectl agrees.
    states = dict(line.split()[:2] for line in kubectl(ksim, tmp_path, "get", "pytorchjobs", "--no-headers").splitlines())
    assert states == {"ddp-000": "Succeeded", "ddp-001": "Failed", "ddp-002": "Running"}


def test_logs_of_the_master_and_of_a_worker(ksim: Sim, backend_factory, tmp_path: Path, capsys) -> None:
    backend = backend_factory(ksim.kubeconfig)
    backend.start()
    backend.submit(scripted(sweep_file(tmp_path)))
    eventually(lambda: _phases(backend).get("ddp-000") == "Succeeded", timeout=30)
    master = [line.text for line in backend.stream_logs((NS, "ddp-000"), follow=False)]
    worker = [line.text for line in backend.stream_logs((NS, "ddp-000"), follow=False, replica="worker-2")]
    assert master == ["master says hi"] and worker == ["worker says hi"]
    with pytest.raises(LookupError, match="no pod for replica worker-7"):
        backend.stream_logs((NS, "ddp-000"), follow=False, replica="worker-7")
    # The command line, with no store: it finds the trial's kind and pods on the server.
    assert main(["logs", "ddp-000", "--kubeconfig", str(ksim.kubeconfig), "--replica", "worker-0"]) == 0
    assert capsys.readouterr().out == "worker says hi\n"
    assert main(["logs", "ddp-000", "--kubeconfig", str(ksim.kubeconfig)]) == 0
    assert capsys.readouterr().out == "master says hi\n"


def test_cancel_and_rerun_act_on_the_whole_trial(ksim: Sim, backend_factory, tmp_path: Path) -> None:
    backend = backend_factory(ksim.kubeconfig)
    backend.start()
    backend.submit(scripted(sweep_file(tmp_path)))
    eventually(lambda: _phases(backend) == {"ddp-000": "Succeeded", "ddp-001": "Failed", "ddp-002": "Running"},
               timeout=30, message=lambda: f"phases: {_phases(backend)}")
    res = backend.cancel([(NS, "ddp-002")])
    assert res.done == ("default/ddp-002",) and not res.failed
    eventually(lambda: ksim.get("pytorchjobs", NS, "ddp-002") is None
               and not [p for p in ksim.objects("pods", NS) if p["metadata"]["name"].startswith("ddp-002-")],
               timeout=15)
    eventually(lambda: set(_phases(backend)) == {"ddp-000", "ddp-001"}, timeout=10)

    old_uid = ksim.get("pytorchjobs", NS, "ddp-001")["metadata"]["uid"]
    res = backend.rerun("ddp", namespace=NS)  # the failed ones: ddp-001
    assert res.done == ("default/ddp-001",) and not res.failed
    again = ksim.get("pytorchjobs", NS, "ddp-001")
    assert again["metadata"]["uid"] != old_uid
    assert again["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 3
    eventually(lambda: (t := backend.store.get_trial((NS, "ddp-001"))) is not None and t.uid != old_uid
               and t.phase == "Failed", timeout=30)


def test_relaunch_is_existing_and_a_changed_one_is_refused(ksim: Sim, tmp_path: Path, capsys) -> None:
    path = sweep_file(tmp_path)
    kc = str(ksim.kubeconfig)
    assert main(["launch", str(path), "--kubeconfig", kc]) == 0
    assert "created 3, existing 0, failed 0" in capsys.readouterr().out
    assert main(["launch", str(path), "--kubeconfig", kc]) == 0
    assert "created 0, existing 3, failed 0" in capsys.readouterr().out
    path.write_text(SPEC.replace("workers: 3", "workers: 2"))
    assert main(["launch", str(path), "--kubeconfig", kc]) == 2
    err = capsys.readouterr().err
    assert "workers: 3 -> 2" in err
    path.write_text(SPEC.replace('args: ["--lr={lr}"]', 'args: ["--learning-rate={lr}"]'))
    assert main(["launch", str(path), "--kubeconfig", kc]) == 2
    assert "args: --lr=0.1 -> --learning-rate=0.1" in capsys.readouterr().err
    # A sweep relaunched as plain Jobs is a change too, not a second object beside each one.
    path.write_text(SPEC.replace("kind: PyTorchJob\nworkers: 3\n", ""))
    assert main(["launch", str(path), "--kubeconfig", kc]) == 2
    assert "kind: PyTorchJob -> Job" in capsys.readouterr().err
    assert ksim.objects("jobs", NS) == []


def test_describe_shows_the_object_its_replicas_pods_and_events(ksim: Sim, backend_factory, tmp_path: Path) -> None:
    backend = backend_factory(ksim.kubeconfig)
    backend.start()
    backend.submit(scripted(sweep_file(tmp_path)))
    eventually(lambda: _phases(backend).get("ddp-001") == "Failed", timeout=30)
    d = backend.describe((NS, "ddp-001"))
    assert d.manifest["kind"] == "PyTorchJob"
    assert {p.name for p in d.pods} == {"ddp-001-master-0", "ddp-001-worker-0", "ddp-001-worker-1", "ddp-001-worker-2"}
    assert any(e.reason == "PyTorchJobFailed" and e.object == "PyTorchJob/ddp-001" for e in d.events)


# ---------------------------------------------------------------------------- a cluster without the CRD


def test_without_kubeflow_launch_is_refused_in_one_line_and_nothing_is_created(sim: Sim, tmp_path: Path, capsys) -> None:
    path = sweep_file(tmp_path)
    assert main(["launch", str(path), "--kubeconfig", str(sim.kubeconfig)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["ktui: this cluster does not serve PyTorchJob (pytorchjobs.kubeflow.org): install the "
                   "Kubeflow training operator (v1); nothing was submitted"]
    assert sim.objects("jobs", NS) == []


def test_without_kubeflow_the_monitor_shows_jobs_and_no_error(sim: Sim, backend_factory, tmp_path: Path) -> None:
    from .conftest import job_manifest

    sim.create(job_manifest("plain-000", sweep="plain", trial=0, duration=0.2))
    backend = backend_factory(sim.kubeconfig)
    backend.start()
    assert backend.training_kinds() == ()
    eventually(lambda: backend.store.get_trial((NS, "plain-000")) is not None, timeout=10)
    assert not backend.store.problems()
    assert "pytorchjobs" not in backend.reflectors


def test_ktui_jobs_lists_distributed_trials(ksim: Sim, tmp_path: Path, capsys) -> None:
    kc = str(ksim.kubeconfig)
    from ktui.cluster.kube.actions import Actions
    from ktui.cluster.kube.config import load
    from ktui.cluster.kube.transport import Transport

    Actions(Transport(load(kc).api_client), NS).submit(scripted(sweep_file(tmp_path)))
    eventually(lambda: (ksim.get("pytorchjobs", NS, "ddp-001") or {}).get("status", {}).get("conditions"), timeout=20)
    assert main(["jobs", "--kubeconfig", kc, "-o", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["name"] for r in rows) == ["ddp-000", "ddp-001", "ddp-002"]


def test_shipped_code_reaches_every_replica_and_gc_keeps_it_while_the_trial_lives(ksim: Sim, tmp_path: Path, capsys) -> None:
    from tests.sim.helpers import request

    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "train.py").write_text("print('hello')\n")
    path = proj / "ddp.yaml"
    path.write_text(SPEC.replace("parameters:", "code: .\nparameters:").replace("[0.1, 0.01, 0.001]", "[0.1]"))
    kc = str(ksim.kubeconfig)
    assert main(["launch", str(path), "--kubeconfig", kc]) == 0
    capsys.readouterr()
    (cm,) = [c["metadata"]["name"] for c in ksim.objects("configmaps", NS) if c["metadata"]["name"].startswith("ktui-code-")]
    job = ksim.get("pytorchjobs", NS, "ddp-000")
    for rspec in job["spec"]["pytorchReplicaSpecs"].values():
        pod = rspec["template"]["spec"]
        assert pod["volumes"][0]["configMap"]["name"] == cm and pod["initContainers"][0]["name"] == "unpack-code"
        assert pod["containers"][0]["name"] == "pytorch" and pod["containers"][0]["workingDir"] == "/workspace"
    eventually(lambda: [p for p in ksim.objects("pods", NS) if p["metadata"]["name"] == "ddp-000-worker-2"
                        and (p.get("status") or {}).get("phase") in ("Running", "Succeeded")], timeout=20)
    log = request(ksim, "GET", f"/api/v1/namespaces/{NS}/pods/ddp-000-worker-2/log?container=unpack-code")
    assert log.status == 200
    assert main(["gc", "--kubeconfig", kc, "--min-age", "0", "--yes"]) == 0
    assert "no unused code snapshots" in capsys.readouterr().out
    assert cm in {c["metadata"]["name"] for c in ksim.objects("configmaps", NS)}
