"""`kind: TrainJob` (Kubeflow Trainer v2): each trial one TrainJob over the simulator's JobSet
(`running_sim(trainer=True)`); its phase from conditions and jobsStatus (no Running
condition), its JobSet's child Jobs never a trial of their own, its pods the trial's."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ktui.cli import main
from ktui.sim.testing import Sim, running_sim
from ktui.sweep import load_sweep, render_trials
from tests.sim.helpers import request

from .conftest import SPEED, eventually

TRAINER = "/apis/trainer.kubeflow.org/v1alpha1"
SPEC = """\
name: tj
image: python:3.11-slim
kind: TrainJob
workers: 2
runtime: torch-fail-fast
command: [torchrun, train.py]
args: ["--lr={lr}"]
resources: {cpu: "1"}
parameters:
  grid: {lr: [0.1, 0.01, 0.001]}
"""
NS = "default"


@pytest.fixture
def tsim() -> Iterator[Sim]:
    with running_sim(nodes=4, gpus_per_node=8, speed=SPEED, trainer=True) as s:
        # The stock runtime, failing fast: a node's Job gives up after one retry.
        rt = request(s, "GET", TRAINER + "/clustertrainingruntimes/torch-distributed").json()
        rjob = rt["spec"]["template"]["spec"]["replicatedJobs"][0]
        rjob["template"]["spec"]["backoffLimit"] = 1
        rjob["template"]["spec"]["template"]["spec"]["restartPolicy"] = "Never"
        body = {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "ClusterTrainingRuntime",
                "metadata": {"name": "torch-fail-fast", "labels": rt["metadata"].get("labels", {})},
                "spec": rt["spec"]}
        assert request(s, "POST", TRAINER + "/clustertrainingruntimes", body).status == 201
        yield s


def scripted(tmp_path: Path) -> list[dict[str, Any]]:
    """Trial 0 succeeds, trial 1's node 1 exits 3, trial 2 runs until cancelled."""
    path = tmp_path / "tj.yaml"
    path.write_text(SPEC)
    out = list(render_trials(load_sweep(path), NS))
    for i, m in enumerate(out):
        ann = {"sim.ktui.dev/duration": "100000" if i == 2 else "5", "sim.ktui.dev/log": "node says hi\n"}
        if i == 1:
            ann.update({"sim.ktui.dev/fail-indexes": "1", "sim.ktui.dev/exit-code": "3"})
        m["spec"]["runtimePatches"] = [{"manager": "ktui.dev/test", "trainingRuntimeSpec": {"template": {"spec": {
            "replicatedJobs": [{"name": "node", "template": {"spec": {"template": {"metadata": {"annotations": ann}}}}}]}}}}]
    return out


def _phases(backend: Any) -> dict[str, str]:
    return {t.name: t.phase for t in backend.store.trials_of_sweep("tj")}


def _pods(sim: Sim, trial: str) -> list[dict[str, Any]]:
    return [p for p in sim.objects("pods", NS)
            if (p["metadata"].get("labels") or {}).get("jobset.sigs.k8s.io/jobset-name") == trial]


def test_three_trainjob_trials_one_node_failing(tsim: Sim, backend_factory, tmp_path: Path) -> None:
    backend = backend_factory(tsim.kubeconfig)
    backend.start()
    assert len(backend.submit(scripted(tmp_path)).created) == 3
    eventually(lambda: _phases(backend) == {"tj-000": "Succeeded", "tj-001": "Failed", "tj-002": "Running"},
               timeout=40, message=lambda: f"phases: {_phases(backend)}")
    # The JobSets' Jobs (tj-000-node-0...) are not trials; the store has only the TrainJobs.
    assert {t.name for t in backend.store.snapshot_trials().values()} == {"tj-000", "tj-001", "tj-002"}
    assert tsim.get("jobs", NS, "tj-002-node-0") is not None
    eventually(lambda: backend.store.get_trial((NS, "tj-002")).pods_ready == 3, timeout=15)
    running = backend.store.get_trial((NS, "tj-002"))
    assert (running.kind, running.pods_total) == ("TrainJob", 3)
    first = next(p for p in _pods(tsim, "tj-002")
                 if p["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"] == "0")
    assert running.pod == first["metadata"]["name"] and running.node == first["spec"]["nodeName"]
    failed = backend.store.get_trial((NS, "tj-001"))
    assert failed.reason == "node-1: exit code 3"
    assert "jobset failed due to one or more job failures" in (failed.message or "")
    # Logs: the first node's, and another node's.
    eventually(lambda: _phases(backend).get("tj-000") == "Succeeded", timeout=10)
    assert [ln.text for ln in backend.stream_logs((NS, "tj-000"), follow=False)] == ["node says hi"]
    assert [ln.text for ln in backend.stream_logs((NS, "tj-000"), follow=False, replica="node-2")] == ["node says hi"]
    # kubectl agrees (a running TrainJob has no State: no Running condition).
    if shutil.which("kubectl"):
        env = dict(os.environ, KUBECONFIG=str(tsim.kubeconfig), HOME=str(tmp_path))
        out = subprocess.run(["kubectl", f"--cache-dir={tmp_path}/cache", "get", "trainjobs", "--no-headers"],
                             env=env, capture_output=True, text=True, timeout=30).stdout
        states = {line.split()[0]: line.split()[1] for line in out.splitlines()}
        assert states["tj-000"] == "Complete" and states["tj-001"] == "Failed"
    # Cancel the running one: its JobSet, Jobs and pods go; rerun the failed one anew.
    assert backend.cancel([(NS, "tj-002")]).done == ("default/tj-002",)
    eventually(lambda: tsim.get("trainjobs", NS, "tj-002") is None and not _pods(tsim, "tj-002"), timeout=20)
    eventually(lambda: set(_phases(backend)) == {"tj-000", "tj-001"}, timeout=10)
    old = tsim.get("trainjobs", NS, "tj-001")["metadata"]["uid"]
    assert backend.rerun("tj", namespace=NS).done == ("default/tj-001",)
    assert tsim.get("trainjobs", NS, "tj-001")["metadata"]["uid"] != old


def test_relaunch_is_existing_and_without_trainer_it_is_refused(tsim: Sim, sim: Sim, tmp_path: Path, capsys) -> None:
    path = tmp_path / "tj.yaml"
    path.write_text(SPEC)
    kc = str(tsim.kubeconfig)
    assert main(["launch", str(path), "--kubeconfig", kc]) == 0
    assert "created 3, existing 0, failed 0" in capsys.readouterr().out
    assert main(["launch", str(path), "--kubeconfig", kc]) == 0
    assert "created 0, existing 3, failed 0" in capsys.readouterr().out
    path.write_text(SPEC.replace("workers: 2", "workers: 3"))
    assert main(["launch", str(path), "--kubeconfig", kc]) == 2
    assert "numNodes: 3 -> 4" in capsys.readouterr().err
    assert main(["launch", str(path), "--kubeconfig", str(sim.kubeconfig)]) == 2
    assert capsys.readouterr().err.strip() == (
        "ktui: this cluster does not serve TrainJob (trainjobs.trainer.kubeflow.org): install Kubeflow Trainer (v2); "
        "nothing was submitted")
