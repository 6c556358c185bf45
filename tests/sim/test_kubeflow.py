"""`--kubeflow`: PyTorchJobs served like an installed CRD, run by a training-operator."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from ktui.sim.testing import Sim, running_sim

from .conftest import SPEED
from .helpers import AGG, TBL, fixture, request

BASE = "/apis/kubeflow.org/v1/namespaces/default/pytorchjobs"


@pytest.fixture
def ksim() -> Iterator[Sim]:
    with running_sim(nodes=4, gpus_per_node=8, speed=SPEED, kubeflow=True) as s:
        yield s


@pytest.fixture
def kctl(ksim: Sim, tmp_path: Any) -> Any:
    import os
    import shutil
    import subprocess

    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")

    def run(*args: str) -> str:
        env = dict(os.environ, KUBECONFIG=str(ksim.kubeconfig), HOME=str(tmp_path))
        proc = subprocess.run(["kubectl", f"--cache-dir={tmp_path}/cache", *args], env=env,
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout
    return run


def pytorchjob(name: str, workers: int = 3, *, worker_annotations: dict[str, str] | None = None,
               policy: str = "OnFailure", backoff: int = 3, seconds: str = "5",
               master_seconds: str = "60", nproc: str | None = None) -> dict[str, Any]:
    """The captured mnist-ddp, renamed, with simulated durations instead of the stand-in's
    (the master outlives its workers, as a DDP master waits for them)."""
    body = copy.deepcopy(fixture("pytorchjob-created.json"))
    body["metadata"] = {"name": name, "namespace": "default"}
    specs = body["spec"]["pytorchReplicaSpecs"]
    for rtype, rspec in specs.items():
        rspec["restartPolicy"] = policy
        ann = {"sim.ktui.dev/duration": seconds if rtype == "Worker" else master_seconds}
        if rtype == "Worker":
            rspec["replicas"] = workers
            ann.update(worker_annotations or {})
        rspec["template"]["metadata"] = {"annotations": ann}
    body["spec"]["runPolicy"]["backoffLimit"] = backoff
    if nproc is not None:
        body["spec"]["nprocPerNode"] = nproc
    return body


def conds(obj: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [(c["type"], c["status"], c["reason"], c["message"])
            for c in (obj.get("status") or {}).get("conditions") or ()]


def finished(sim: Sim, name: str) -> bool:
    obj = sim.get("pytorchjobs", "default", name)
    return obj is not None and any(t in ("Succeeded", "Failed") and s == "True"
                                   for t, s, _, _ in conds(obj))


def pods(sim: Sim, name: str) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p for p in sim.objects("pods", "default")
            if p["metadata"].get("labels", {}).get("training.kubeflow.org/job-name") == name}


# ---------------------------------------------------------------------------- absent by default


def test_without_the_flag_kubeflow_is_absent_like_a_cluster_without_the_crd(sim: Sim) -> None:
    groups = [g["name"] for g in request(sim, "GET", "/apis").json()["groups"]]
    assert "kubeflow.org" not in groups
    agg = request(sim, "GET", "/apis", accept=AGG).json()
    assert "kubeflow.org" not in [g["metadata"]["name"] for g in agg["items"]]
    ref = fixture("crd-not-installed-404-variants.txt")
    for path in (BASE, "/apis/kubeflow.org/v1/pytorchjobs", BASE + "?watch=1",
                 "/apis/kubeflow.org/v1", "/apis/kubeflow.org",
                 "/apis/jobset.x-k8s.io/v1alpha2/namespaces/default/jobsets"):
        resp = request(sim, "GET", path)
        assert resp.status == 404, path
        assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.body == b"404 page not found\n"
    assert "Content-Type: text/plain; charset=utf-8\nX-Content-Type-Options: nosniff" in ref
    post = request(sim, "POST", BASE, pytorchjob("x"))
    assert post.status == 404 and post.body == b"404 page not found\n"
    builtin = request(sim, "GET", "/apis/batch/v1/namespaces/default/nosuchresources")
    assert builtin.status == 404 and builtin.json()["reason"] == "NotFound"


# ---------------------------------------------------------------------------- served


def test_discovery_matches_the_captured_crd_group(ksim: Sim) -> None:
    assert request(ksim, "GET", "/apis/kubeflow.org").json() == \
        fixture("discovery-apis-kubeflow.org.json")
    assert request(ksim, "GET", "/apis/kubeflow.org/v1").json() == \
        fixture("discovery-apis-kubeflow.org-v1.json")
    ref_group = next(g for g in fixture("discovery-apis-after-crds.json")["groups"]
                     if g["name"] == "kubeflow.org")
    assert ref_group in request(ksim, "GET", "/apis").json()["groups"]
    ref_agg = next(g for g in fixture("discovery-apis-aggregated-v2-after-crds.json")["items"]
                   if g["metadata"]["name"] == "kubeflow.org")
    agg = request(ksim, "GET", "/apis", accept=AGG).json()["items"]
    assert ref_agg in agg


def test_crud_list_table_and_delete_like_the_captures(ksim: Sim) -> None:
    sent = pytorchjob("mnist-ddp")
    resp = request(ksim, "POST", BASE + "?fieldValidation=Strict", sent)
    assert resp.status == 201
    created = resp.json()
    assert created["spec"] == sent["spec"]  # stored as sent: no defaulting
    assert created["metadata"]["generation"] == 1 and "status" not in created
    assert created["apiVersion"] == "kubeflow.org/v1" and created["kind"] == "PyTorchJob"

    listed = request(ksim, "GET", BASE).json()
    ref_list = fixture("pytorchjob-list.json")
    assert listed["kind"] == ref_list["kind"] == "PyTorchJobList"
    assert listed["metadata"]["continue"] == ""
    assert [(i["kind"], i["apiVersion"]) for i in listed["items"]] == [
        ("PyTorchJob", "kubeflow.org/v1")]

    patched = request(ksim, "PATCH", BASE + "/mnist-ddp/status",
                      {"status": {"conditions": [{"type": "Running", "status": "True"}]}},
                      content_type="application/merge-patch+json").json()
    ref_patch = fixture("pytorchjob-status-patch-response.json")
    # (The operator already wrote replicaStatuses/startTime; the merge patch keeps them.)
    assert patched["status"]["conditions"] == ref_patch["status"]["conditions"]
    assert patched["metadata"]["generation"] == 1
    main = request(ksim, "PATCH", BASE + "/mnist-ddp",
                   {"metadata": {"labels": {"team": "vision"}},
                    "status": {"conditions": [{"type": "Failed", "status": "True"}]}},
                   content_type="application/merge-patch+json").json()
    assert main["metadata"]["labels"] == {"team": "vision"}
    assert {"type": "Failed", "status": "True"} not in main["status"]["conditions"]

    table = request(ksim, "GET", BASE, accept=TBL).json()
    ref_table = fixture("pytorchjob-list-as-table.json")
    assert table["columnDefinitions"] == ref_table["columnDefinitions"]
    assert table["rows"][0]["cells"][0] == "mnist-ddp"

    gone = request(ksim, "DELETE", BASE + "/mnist-ddp").json()
    ref_gone = fixture("pytorchjob-delete-response.json")
    assert gone["details"] | {"name": "x", "uid": "x"} == ref_gone["details"] | {
        "name": "x", "uid": "x"}
    assert {k: v for k, v in gone.items() if k != "details"} == \
        {k: v for k, v in ref_gone.items() if k != "details"}
    ksim.wait_for(lambda s: not pods(s, "mnist-ddp") and not [
        v for v in s.objects("services", "default") if v["metadata"]["name"].startswith("mnist")])


def test_operator_runs_master_and_workers_to_succeeded(ksim: Sim, kctl) -> None:
    request(ksim, "POST", BASE, pytorchjob("ddp", workers=3, nproc="2"))
    ksim.wait_for(lambda s: finished(s, "ddp"), timeout=30)
    job = ksim.get("pytorchjobs", "default", "ddp")
    assert conds(job) == [
        ("Created", "True", "PyTorchJobCreated", "PyTorchJob ddp is created."),
        ("Running", "False", "PyTorchJobRunning", "PyTorchJob ddp is running."),
        ("Succeeded", "True", "PyTorchJobSucceeded", "PyTorchJob ddp is successfully completed."),
    ]
    st = job["status"]
    assert list(st) == sorted(st)  # unstructured: keys come back sorted
    assert st["replicaStatuses"]["Master"] == {
        "selector": "training.kubeflow.org/job-name=ddp,training.kubeflow.org/operator-name="
                    "pytorchjob-controller,training.kubeflow.org/replica-type=master",
        "succeeded": 1}
    assert st["replicaStatuses"]["Worker"]["succeeded"] == 3
    assert st["startTime"] <= st["completionTime"]

    got = pods(ksim, "ddp")
    assert sorted(got) == ["ddp-master-0", "ddp-worker-0", "ddp-worker-1", "ddp-worker-2"]
    w1 = got["ddp-worker-1"]
    assert w1["metadata"]["labels"] == {
        "training.kubeflow.org/job-name": "ddp",
        "training.kubeflow.org/operator-name": "pytorchjob-controller",
        "training.kubeflow.org/replica-index": "1",
        "training.kubeflow.org/replica-type": "worker"}
    assert got["ddp-master-0"]["metadata"]["labels"]["training.kubeflow.org/job-role"] == "master"
    assert w1["metadata"]["ownerReferences"][0]["kind"] == "PyTorchJob"
    c = w1["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env == {"PYTHONUNBUFFERED": "1", "MASTER_PORT": "23456", "PET_MASTER_PORT": "23456",
                   "MASTER_ADDR": "ddp-master-0", "PET_MASTER_ADDR": "ddp-master-0",
                   "WORLD_SIZE": "8", "RANK": "2", "PET_NPROC_PER_NODE": "2",
                   "PET_NODE_RANK": "2", "PET_NNODES": "4"}
    assert {"name": "pytorchjob-port", "containerPort": 23456, "protocol": "TCP"} in c["ports"]
    svc = ksim.get("services", "default", "ddp-master-0")
    assert svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["ports"][0]["name"] == "pytorchjob-port"
    assert svc["spec"]["ports"][0]["port"] == 23456
    assert svc["spec"]["selector"]["training.kubeflow.org/replica-type"] == "master"

    out = kctl("get", "pytorchjobs", "--no-headers").split()
    assert out[:2] == ["ddp", "Succeeded"]
    assert kctl("get", "pytorchjob", "ddp", "-o", "jsonpath={.status.replicaStatuses.Worker"
                ".succeeded}") == "3"


def test_a_failing_worker_with_never_fails_the_job(ksim: Sim) -> None:
    request(ksim, "POST", BASE, pytorchjob("bad", workers=2, policy="Never",
                                           worker_annotations={"sim.ktui.dev/fail-indexes": "1",
                                                               "sim.ktui.dev/exit-code": "3"}))
    ksim.wait_for(lambda s: finished(s, "bad"), timeout=30)
    job = ksim.get("pytorchjobs", "default", "bad")
    assert conds(job)[-1] == ("Failed", "True", "PyTorchJobFailed",
                              "PyTorchJob bad is failed because 1 Worker replica(s) failed.")
    assert job["status"]["replicaStatuses"]["Worker"]["failed"] == 1
    failed = pods(ksim, "bad")["bad-worker-1"]
    assert failed["status"]["phase"] == "Failed"
    events = [(e["reason"], e["message"]) for e in ksim.objects("events", "default")
              if e["involvedObject"]["name"] == "bad" and e["involvedObject"]["kind"] == "PyTorchJob"]
    assert ("SuccessfulCreatePod", "Created pod: bad-worker-1") in events
    assert events[-1] == ("PyTorchJobFailed",
                          "PyTorchJob bad is failed because 1 Worker replica(s) failed.")


def test_on_failure_restarts_in_place_until_the_backoff_limit(ksim: Sim) -> None:
    request(ksim, "POST", BASE, pytorchjob("crashy", workers=1, backoff=2, seconds="1",
                                           worker_annotations={"sim.ktui.dev/fail-indexes": "0"}))
    ksim.wait_for(lambda s: finished(s, "crashy"), timeout=60)
    job = ksim.get("pytorchjobs", "default", "crashy")
    assert conds(job)[-1] == ("Failed", "True", "PyTorchJobFailed",
                              "Job crashy has failed because it has reached the specified "
                              "backoff limit")
    worker = pods(ksim, "crashy")["crashy-worker-0"]
    assert worker["status"]["containerStatuses"][0]["restartCount"] >= 2


def test_three_trials_of_four_workers_one_failing_and_kubectl_agrees(ksim: Sim, kctl) -> None:
    for i in range(3):
        ann = {"sim.ktui.dev/fail-indexes": "2"} if i == 1 else {}
        body = pytorchjob(f"trial-{i}", workers=4, policy="Never", worker_annotations=ann)
        for rspec in body["spec"]["pytorchReplicaSpecs"].values():
            rspec["template"]["spec"]["containers"][0]["resources"] = {
                "limits": {"nvidia.com/gpu": "1"}, "requests": {"cpu": "1", "nvidia.com/gpu": "1"}}
        assert request(ksim, "POST", BASE, body).status == 201
    ksim.wait_for(lambda s: all(finished(s, f"trial-{i}") for i in range(3)), timeout=60)
    states = dict(line.split()[:2] for line in kctl("get", "pytorchjobs", "--no-headers")
                  .splitlines())
    assert states == {"trial-0": "Succeeded", "trial-1": "Failed", "trial-2": "Succeeded"}
    assert len(pods(ksim, "trial-1")) == 5
    out = json.loads(kctl("get", "pods", "-l", "training.kubeflow.org/job-name=trial-1,"
                          "training.kubeflow.org/replica-index=2,"
                          "training.kubeflow.org/replica-type=worker", "-o", "json"))
    assert [p["status"]["phase"] for p in out["items"]] == ["Failed"]
