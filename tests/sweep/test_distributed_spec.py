"""`kind: PyTorchJob` in a sweep spec: its keys' errors, and the PyTorchJob each trial becomes
(the same container as the Job it replaces, on a Master and `workers` Workers)."""

from __future__ import annotations

import pytest

from ktui.sweep import SweepError, loads_sweep, render_job, render_trial

BASE = """\
name: ddp
image: python:3.11-slim
command: [python, train.py]
args: ["--lr={lr}"]
env: {MODE: "fast-{lr}"}
resources: {cpu: "2", gpu: 1}
limits: {memory: 8Gi}
retries: 2
ttlSecondsAfterFinished: 600
queue: team-a
"""
PARAMS = "parameters:\n  grid: {lr: [0.1, 0.01]}\n"


def problems(extra: str, name: str = "ddp") -> list[str]:
    with pytest.raises(SweepError) as e:
        loads_sweep(BASE.replace("name: ddp", f"name: {name}") + extra + PARAMS, "s.yaml")
    return [str(p) for p in e.value.problems]


def test_errors_name_the_cause_with_a_did_you_mean() -> None:
    assert problems("kind: PytorchJob\nworkers: 3\n") == [
        "s.yaml:11:7: kind must be Job, PyTorchJob or TrainJob, not 'PytorchJob' (did you mean 'PyTorchJob'?)"]
    assert problems("kind: PyTorchJobs\nworkers: 3\n")[0].endswith("(did you mean 'PyTorchJob'?)")
    assert problems("kind: PyTorchJob\n") == [
        "s.yaml:11:7: kind: PyTorchJob needs 'workers' (how many worker nodes beside the first)"]
    assert problems("kind: PyTorchJob\nworkers: 0\n") == ["s.yaml:12:10: workers must be at least 1, got 0"]
    assert problems("workers: 2\n") == [
        "s.yaml:11:10: workers needs kind: PyTorchJob or TrainJob (a Job runs one pod per trial)"]
    assert problems("kind: PyTorchJob\nworkers: 2\nnprocPerNode: 0\n") == [
        "s.yaml:13:15: nprocPerNode must be a whole number of processes (at least 1) or one of auto, cpu, gpu, not integer 0"]
    assert problems("kind: PyTorchJob\nworkers: 2\nruntime: torch-distributed\n") == [
        "s.yaml:13:10: runtime is a TrainJob's (kind: TrainJob): a training runtime's name"]


def test_the_name_must_leave_room_for_the_replicas_pods_and_services() -> None:
    long = "a" * 50  # ddp-000-worker-11: 50 + 4 + 10 characters
    (p,) = problems("kind: PyTorchJob\nworkers: 12\n", name=long)
    assert f"name '{long}' is too long for kind: PyTorchJob" in p and "use at most 49" in p
    (p,) = problems("kind: PyTorchJob\nworkers: 2\n", name="1ddp")
    assert "must start with a letter for kind: PyTorchJob" in p
    loads_sweep(BASE.replace("name: ddp", "name: " + "a" * 49) + "kind: PyTorchJob\nworkers: 12\n" + PARAMS)


def test_each_trial_is_one_pytorchjob_running_the_jobs_container() -> None:
    sweep = loads_sweep(BASE + "kind: PyTorchJob\nworkers: 3\nnprocPerNode: 2\n" + PARAMS, "s.yaml")
    trial = sweep.trial(1)
    m = render_trial(sweep, trial, "default")
    job = render_job(sweep, trial, "default")
    assert (m["apiVersion"], m["kind"]) == ("kubeflow.org/v1", "PyTorchJob")
    assert m["metadata"] == job["metadata"]  # name, ktui's labels (queue too), annotations
    assert m["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    spec = m["spec"]
    assert spec["runPolicy"] == {"backoffLimit": 2, "ttlSecondsAfterFinished": 600}
    assert spec["nprocPerNode"] == "2"
    replicas = spec["pytorchReplicaSpecs"]
    assert {k: (v["replicas"], v["restartPolicy"]) for k, v in replicas.items()} == {
        "Master": (1, "OnFailure"), "Worker": (3, "OnFailure")}
    want = dict(job["spec"]["template"]["spec"]["containers"][0], name="pytorch")
    for r in replicas.values():
        assert r["template"]["metadata"] == job["spec"]["template"]["metadata"]
        assert r["template"]["spec"]["containers"] == [want]
        assert "restartPolicy" not in r["template"]["spec"]  # the replica's, set by the operator
    assert want["args"] == ["--lr=0.01"]
    assert {e["name"]: e["value"] for e in want["env"]}["KTUI_PARAM_LR"] == "0.01"
    # Without a kind, nothing changes: a Job.
    plain = loads_sweep(BASE + PARAMS, "s.yaml")
    assert render_trial(plain, plain.trial(1), "default") == render_job(plain, plain.trial(1), "default")


def test_a_trainjob_trial_carries_the_container_as_its_trainer() -> None:
    base = BASE.replace("retries: 2\nttlSecondsAfterFinished: 600\n", "")
    sweep = loads_sweep(base + "kind: TrainJob\nworkers: 3\nnprocPerNode: 2\n" + PARAMS, "s.yaml")
    m = render_trial(sweep, sweep.trial(0), "default")
    job = render_job(sweep, sweep.trial(0), "default")
    c = job["spec"]["template"]["spec"]["containers"][0]
    assert (m["apiVersion"], m["kind"]) == ("trainer.kubeflow.org/v1alpha1", "TrainJob")
    assert m["metadata"] == job["metadata"]
    assert m["spec"] == {"runtimeRef": {"name": "torch-distributed"}, "trainer": {
        "numNodes": 4, "image": c["image"], "command": c["command"], "args": c["args"], "env": c["env"],
        "resourcesPerNode": c["resources"], "numProcPerNode": 2}}
    other = loads_sweep(base + "kind: TrainJob\nworkers: 1\nruntime: my-runtime\n" + PARAMS, "s.yaml")
    assert render_trial(other, other.trial(0))["spec"]["runtimeRef"] == {"name": "my-runtime"}


def test_what_a_trainjob_cannot_carry_is_refused() -> None:
    out = problems("kind: TrainJob\nworkers: 1\nrestartPolicy: Never\ncode: .\n")
    assert out == [
        "s.yaml:8:10: retries is not carried by a TrainJob: its runtime's JobSet decides how often a node is "
        "retried (remove it, or use kind: PyTorchJob)",
        "s.yaml:9:26: ttlSecondsAfterFinished is not carried by a TrainJob: remove it, or use kind: PyTorchJob",
        "s.yaml:13:16: restartPolicy is not carried by a TrainJob: its runtime's pods restart OnFailure (remove it, "
        "or use kind: PyTorchJob)",
        "s.yaml:14:7: code is not carried by a TrainJob: its trainer has no step to unpack a snapshot: bake the "
        "code into the image, or use kind: PyTorchJob",
    ]


def test_a_distributed_kind_cannot_be_indexed():
    out = problems("kind: PyTorchJob\nworkers: 2\nrestartPolicy: Never\nmode: indexed\n")
    assert any("kind: PyTorchJob cannot run in mode: indexed" in p for p in out), out
