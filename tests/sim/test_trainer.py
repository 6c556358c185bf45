"""`--trainer`: Kubeflow Trainer v2 TrainJobs over JobSets, served like installed CRDs and run
by their controllers (ecosystem-facts.md 4b, 4c)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ktui.sim.testing import Sim, running_sim

from .conftest import SPEED
from .helpers import AGG, TBL, request

TRAINER = "/apis/trainer.kubeflow.org/v1alpha1"
BASE = TRAINER + "/namespaces/default/trainjobs"
JOBSETS = "/apis/jobset.x-k8s.io/v1alpha2/namespaces/default/jobsets"
MERGE = "application/merge-patch+json"


@pytest.fixture
def tsim() -> Iterator[Sim]:
    with running_sim(nodes=4, gpus_per_node=8, speed=SPEED, trainer=True) as s:
        yield s


def _kubectl(kubeconfig: Path, tmp_path: Path) -> Any:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")

    def run(*args: str) -> str:
        env = dict(os.environ, KUBECONFIG=str(kubeconfig), HOME=str(tmp_path))
        proc = subprocess.run(["kubectl", f"--cache-dir={tmp_path}/cache", *args], env=env,
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout
    return run


@pytest.fixture
def kctl(tsim: Sim, tmp_path: Path) -> Any:
    return _kubectl(tsim.kubeconfig, tmp_path)


def trainjob(name: str, nodes: int = 2, *, seconds: str = "5", suspend: bool | None = None,
             pod_annotations: dict[str, str] | None = None,
             runtime: dict[str, str] | None = None) -> dict[str, Any]:
    """The migration guide's minimal TrainJob, with a trainer container and a runtime patch
    carrying the simulator's script annotations to the node pods (the v2.3 way to annotate
    them)."""
    ann = {"sim.ktui.dev/duration": seconds, **(pod_annotations or {})}
    body: dict[str, Any] = {
        "apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "runtimeRef": runtime or {"name": "torch-distributed"},
            "trainer": {"numNodes": nodes, "image": "ghcr.io/acme/train:1",
                        "command": ["torchrun", "train.py"], "args": ["lr=0.01"],
                        "env": [{"name": "KTUI_TRIAL", "value": name}],
                        "resourcesPerNode": {"limits": {"nvidia.com/gpu": "1"},
                                             "requests": {"cpu": "2", "nvidia.com/gpu": "1"}}},
            "runtimePatches": [{"manager": "ktui.dev/sweep", "trainingRuntimeSpec": {
                "template": {"spec": {"replicatedJobs": [{"name": "node", "template": {
                    "spec": {"template": {"metadata": {"annotations": ann}}}}}]}}}}],
        },
    }
    if suspend is not None:
        body["spec"]["suspend"] = suspend
    return body


def conds(obj: dict[str, Any] | None) -> list[tuple[str, str, str, str]]:
    return [(c["type"], c["status"], c["reason"], c["message"])
            for c in ((obj or {}).get("status") or {}).get("conditions") or ()]


def finished(sim: Sim, name: str) -> bool:
    return any(t in ("Complete", "Failed") and s == "True"
               for t, s, _, _ in conds(sim.get("trainjobs", "default", name)))


def node_pods(sim: Sim, name: str) -> dict[str, dict[str, Any]]:
    return {p["metadata"]["name"]: p for p in sim.objects("pods", "default")
            if p["metadata"].get("labels", {}).get("jobset.sigs.k8s.io/jobset-name") == name}


# ---------------------------------------------------------------------------- absent by default


def test_without_the_flag_trainer_and_jobset_are_absent(sim: Sim) -> None:
    groups = [g["name"] for g in request(sim, "GET", "/apis").json()["groups"]]
    assert "trainer.kubeflow.org" not in groups and "jobset.x-k8s.io" not in groups
    agg = [g["metadata"]["name"] for g in request(sim, "GET", "/apis", accept=AGG).json()["items"]]
    assert "trainer.kubeflow.org" not in agg and "jobset.x-k8s.io" not in agg
    for path in (BASE, TRAINER + "/clustertrainingruntimes", BASE + "?watch=1", TRAINER,
                 "/apis/trainer.kubeflow.org", JOBSETS):
        resp = request(sim, "GET", path)
        assert (resp.status, resp.body) == (404, b"404 page not found\n"), path
        assert resp.headers["Content-Type"] == "text/plain; charset=utf-8"
    post = request(sim, "POST", BASE, trainjob("x"))
    assert (post.status, post.body) == (404, b"404 page not found\n")


# ---------------------------------------------------------------------------- served


def test_discovery_serves_both_groups_like_installed_crds(tsim: Sim) -> None:
    groups = {g["name"]: g for g in request(tsim, "GET", "/apis").json()["groups"]}
    assert groups["trainer.kubeflow.org"]["preferredVersion"] == {
        "groupVersion": "trainer.kubeflow.org/v1alpha1", "version": "v1alpha1"}
    assert groups["jobset.x-k8s.io"]["versions"] == [
        {"groupVersion": "jobset.x-k8s.io/v1alpha2", "version": "v1alpha2"}]
    res = request(tsim, "GET", TRAINER).json()["resources"]
    assert [(r["name"], r["namespaced"], r["kind"]) for r in res] == [
        ("trainjobs", True, "TrainJob"), ("trainjobs/status", True, "TrainJob"),
        ("trainingruntimes", True, "TrainingRuntime"),
        ("clustertrainingruntimes", False, "ClusterTrainingRuntime")]
    res = request(tsim, "GET", "/apis/jobset.x-k8s.io/v1alpha2").json()["resources"]
    assert [r["name"] for r in res] == ["jobsets", "jobsets/status"]
    agg = {g["metadata"]["name"]: g for g in
           request(tsim, "GET", "/apis", accept=AGG).json()["items"]}
    version = agg["trainer.kubeflow.org"]["versions"][0]
    assert version["freshness"] == "Current"
    by_name = {r["resource"]: r for r in version["resources"]}
    assert by_name["trainjobs"]["subresources"][0]["subresource"] == "status"
    assert "subresources" not in by_name["clustertrainingruntimes"]
    assert by_name["clustertrainingruntimes"]["scope"] == "Cluster"
    assert agg["jobset.x-k8s.io"]["versions"][0]["resources"][0]["resource"] == "jobsets"


def test_the_stock_torch_distributed_runtime_exists_from_the_start(tsim: Sim) -> None:
    rt = request(tsim, "GET", TRAINER + "/clustertrainingruntimes/torch-distributed").json()
    assert rt["kind"] == "ClusterTrainingRuntime"
    assert rt["metadata"]["labels"] == {"trainer.kubeflow.org/framework": "torch"}
    assert rt["spec"]["mlPolicy"] == {"numNodes": 1, "torch": {"numProcPerNode": "auto"}}
    rjob = rt["spec"]["template"]["spec"]["replicatedJobs"][0]
    assert rjob["name"] == "node"
    assert rjob["template"]["metadata"]["labels"] == {
        "trainer.kubeflow.org/trainjob-ancestor-step": "trainer"}
    assert rjob["template"]["spec"]["template"]["spec"]["containers"][0]["name"] == "node"


def test_crud_defaults_list_table_watch_and_status(tsim: Sim) -> None:
    resp = request(tsim, "POST", BASE, trainjob("tj", seconds="600"))
    assert resp.status == 201, resp.body
    created = resp.json()
    # The CRD schema's defaults, keys sorted (unstructured); no status on create.
    assert created["spec"]["runtimeRef"] == {"apiGroup": "trainer.kubeflow.org",
                                             "kind": "ClusterTrainingRuntime",
                                             "name": "torch-distributed"}
    assert created["spec"]["suspend"] is False
    assert created["spec"]["managedBy"] == "trainer.kubeflow.org/trainjob-controller"
    assert list(created["spec"]) == sorted(created["spec"])
    assert "status" not in created and created["metadata"]["generation"] == 1

    listed = request(tsim, "GET", BASE).json()
    assert listed["kind"] == "TrainJobList" and listed["metadata"]["continue"] == ""
    assert [(i["kind"], i["metadata"]["name"]) for i in listed["items"]] == [("TrainJob", "tj")]
    rv = listed["metadata"]["resourceVersion"]

    table = request(tsim, "GET", BASE, accept=TBL).json()
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "State", "Age"]
    assert table["columnDefinitions"][1]["description"] == (
        "Custom resource definition column (in JSONPath format): .status.conditions[-1:].type")
    assert table["rows"][0]["cells"][:2] == ["tj", None]  # running: no condition at all
    tsim.wait_for(lambda s: (s.get("jobsets", "default", "tj") or {}).get("status"))
    js_table = request(tsim, "GET", JOBSETS, accept=TBL).json()
    assert [(c["name"], c["description"]) for c in js_table["columnDefinitions"]][1:] == [
        ("TerminalState", "Final state of JobSet"), ("Restarts", "Number of restarts"),
        ("Completed", "Custom resource definition column (in JSONPath format): "
                      '.status.conditions[?(@.type=="Completed")].status'),
        ("Suspended", "JobSet suspended"), ("Age", "Time this JobSet was created")]
    assert js_table["rows"][0]["cells"][:5] == ["tj", None, None, None, False]

    patched = request(tsim, "PATCH", BASE + "/tj", {"metadata": {"labels": {"team": "nlp"}}},
                      content_type=MERGE).json()
    assert patched["metadata"]["labels"] == {"team": "nlp"}
    watch = request(tsim, "GET", BASE + f"?watch=1&resourceVersion={rv}&timeoutSeconds=1")
    events = watch.lines()
    assert [e["type"] for e in events][-1] == "MODIFIED"
    assert events[-1]["object"]["metadata"]["labels"] == {"team": "nlp"}
    assert events[-1]["object"]["apiVersion"] == "trainer.kubeflow.org/v1alpha1"

    gone = request(tsim, "DELETE", BASE + "/tj").json()
    assert gone["kind"] == "Status" and gone["details"]["kind"] == "trainjobs"


def test_a_trainjob_runs_as_a_jobset_an_indexed_job_and_its_node_pods(tsim: Sim, kctl) -> None:
    assert request(tsim, "POST", BASE, trainjob("llm", nodes=3, seconds="600")).status == 201
    tsim.wait_for(lambda s: any(
        (j.get("ready"), j.get("active")) == (1, 1) for j in
        ((s.get("trainjobs", "default", "llm") or {}).get("status") or {}).get("jobsStatus", ())))
    tj = tsim.get("trainjobs", "default", "llm")
    # No Created/Running condition: "running" is jobsStatus (State column stays empty).
    assert "conditions" not in tj["status"]
    assert tj["status"]["jobsStatus"] == [
        {"active": 1, "failed": 0, "name": "node", "ready": 1, "succeeded": 0, "suspended": 0}]

    js = tsim.get("jobsets", "default", "llm")
    assert js["metadata"]["ownerReferences"] == [{
        "apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob", "name": "llm",
        "uid": tj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]
    assert js["status"]["replicatedJobsStatus"] == [
        {"active": 1, "failed": 0, "name": "node", "ready": 1, "succeeded": 0, "suspended": 0}]

    job = tsim.get("jobs", "default", "llm-node-0")
    assert job["metadata"]["ownerReferences"][0]["kind"] == "JobSet"
    assert job["metadata"]["ownerReferences"][0]["uid"] == js["metadata"]["uid"]
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == \
        ("Indexed", 3, 3)
    jobset_labels = {
        "jobset.sigs.k8s.io/jobset-name": "llm",
        "jobset.sigs.k8s.io/jobset-uid": js["metadata"]["uid"],
        "jobset.sigs.k8s.io/replicatedjob-name": "node",
        "jobset.sigs.k8s.io/replicatedjob-replicas": "1",
        "jobset.sigs.k8s.io/global-replicas": "1",
        "jobset.sigs.k8s.io/job-index": "0",
        "jobset.sigs.k8s.io/job-global-index": "0",
        # sha1 of "<namespace>/<job name>"
        "jobset.sigs.k8s.io/job-key": hashlib.sha1(b"default/llm-node-0").hexdigest(),
        "jobset.sigs.k8s.io/restart-attempt": "0"}
    assert jobset_labels.items() <= job["metadata"]["labels"].items()
    assert jobset_labels.items() <= job["metadata"]["annotations"].items()
    assert job["metadata"]["labels"]["trainer.kubeflow.org/trainjob-ancestor-step"] == "trainer"
    assert jobset_labels.items() <= spec["template"]["metadata"]["labels"].items()

    pods = node_pods(tsim, "llm")
    assert len(pods) == 3
    by_index = {p["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"]: p
                for p in pods.values()}
    pod = by_index["1"]
    assert pod["metadata"]["name"].startswith("llm-node-0-1-")
    assert len(pod["metadata"]["name"]) == len("llm-node-0-1-") + 5
    labels = pod["metadata"]["labels"]
    assert jobset_labels.items() <= labels.items()
    assert labels["batch.kubernetes.io/job-name"] == "llm-node-0"
    assert labels["trainer.kubeflow.org/trainjob-ancestor-step"] == "trainer"
    assert (pod["spec"]["hostname"], pod["spec"]["subdomain"]) == ("llm-node-0-1", "llm")
    (c,) = pod["spec"]["containers"]
    assert c["name"] == "node" and c["image"] == "ghcr.io/acme/train:1"
    assert (c["command"], c["args"]) == (["torchrun", "train.py"], ["lr=0.01"])
    assert c["resources"] == {"limits": {"nvidia.com/gpu": "1"},
                              "requests": {"cpu": "2", "nvidia.com/gpu": "1"}}
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in c["env"]}
    assert env == {
        "KTUI_TRIAL": "llm", "PET_NNODES": "3", "PET_NPROC_PER_NODE": "auto",
        "PET_NODE_RANK": {"fieldRef": {"apiVersion": "v1", "fieldPath":
                                       "metadata.annotations['batch.kubernetes.io/job-"
                                       "completion-index']"}},
        "PET_MASTER_ADDR": "llm-node-0-0.llm", "PET_MASTER_PORT": "29500",
        "JOB_COMPLETION_INDEX": {"fieldRef": {"apiVersion": "v1", "fieldPath":
                                              "metadata.labels['batch.kubernetes.io/job-"
                                              "completion-index']"}}}
    assert "RANK" not in env and "WORLD_SIZE" not in env
    assert pod["metadata"]["annotations"]["sim.ktui.dev/duration"] == "600"
    svc = tsim.get("services", "default", "llm")
    assert svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["selector"] == {"jobset.sigs.k8s.io/jobset-name": "llm"}

    out = kctl("get", "trainjobs", "--no-headers").split()
    assert out[0] == "llm" and len(out) == 2  # Name, Age: the State cell is empty
    out = kctl("get", "jobsets", "llm", "-o", "jsonpath={.status.replicatedJobsStatus[0].active}")
    assert out == "1"
    rows = kctl("get", "pods", "-l", "jobset.sigs.k8s.io/jobset-name=llm", "--no-headers")
    assert len(rows.splitlines()) == 3


def test_all_nodes_succeeding_completes_jobset_and_trainjob(tsim: Sim, kctl) -> None:
    assert request(tsim, "POST", BASE, trainjob("ok", nodes=2)).status == 201
    tsim.wait_for(lambda s: finished(s, "ok"), timeout=30)
    tj = tsim.get("trainjobs", "default", "ok")
    assert conds(tj) == [("Complete", "True", "AllJobsCompleted", "jobset completed successfully")]
    assert tj["status"]["jobsStatus"] == [
        {"active": 0, "failed": 0, "name": "node", "ready": 0, "succeeded": 1, "suspended": 0}]
    js = tsim.get("jobsets", "default", "ok")
    assert js["status"]["terminalState"] == "Completed"
    assert conds(js) == [("Completed", "True", "AllJobsCompleted",
                          "jobset completed successfully")]
    assert [p["status"]["phase"] for p in node_pods(tsim, "ok").values()] == ["Succeeded"] * 2
    assert kctl("get", "trainjobs", "--no-headers").split()[:2] == ["ok", "Complete"]
    row = request(tsim, "GET", JOBSETS, accept=TBL).json()["rows"][0]["cells"]
    assert row[:5] == ["ok", "Completed", None, "True", False]  # restarts: 0 is omitted
    assert kctl("get", "jobsets", "--no-headers").split()[:4] == ["ok", "Completed", "True",
                                                                  "false"]


def test_a_node_that_exhausts_the_backoff_limit_fails_jobset_and_trainjob(tsim: Sim, kctl) -> None:
    # A namespaced runtime, like the stock one but failing fast (backoffLimit 1, Never).
    rt = request(tsim, "GET", TRAINER + "/clustertrainingruntimes/torch-distributed").json()
    rjob = rt["spec"]["template"]["spec"]["replicatedJobs"][0]
    rjob["template"]["spec"]["backoffLimit"] = 1
    rjob["template"]["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    runtime = {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainingRuntime",
               "metadata": {"name": "torch-fail-fast"}, "spec": rt["spec"]}
    assert request(tsim, "POST", TRAINER + "/namespaces/default/trainingruntimes",
                   runtime).status == 201
    body = trainjob("bad", nodes=3, pod_annotations={"sim.ktui.dev/fail-indexes": "1",
                                                     "sim.ktui.dev/exit-code": "3"},
                    runtime={"name": "torch-fail-fast", "kind": "TrainingRuntime"})
    assert request(tsim, "POST", BASE, body).status == 201
    tsim.wait_for(lambda s: finished(s, "bad"), timeout=60)
    msg = "jobset failed due to one or more job failures"
    tj = tsim.get("trainjobs", "default", "bad")
    assert conds(tj) == [("Failed", "True", "FailedJobs", msg)]
    assert tj["status"]["jobsStatus"][0]["failed"] == 1
    js = tsim.get("jobsets", "default", "bad")
    assert js["status"]["terminalState"] == "Failed"
    assert conds(js) == [("Failed", "True", "FailedJobs", msg)]
    job = tsim.get("jobs", "default", "bad-node-0")
    assert [c["reason"] for c in job["status"]["conditions"]
            if c["type"] == "Failed"] == ["BackoffLimitExceeded"]
    failed = [p for p in node_pods(tsim, "bad").values() if p["status"]["phase"] == "Failed"
              and p["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"] == "1"]
    assert len(failed) == 2  # the first attempt and its one retry
    term = failed[0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 3
    events = [(e["reason"], e["message"]) for e in tsim.objects("events", "default")
              if e["involvedObject"]["kind"] == "JobSet"]
    assert ("FailedJobs", msg) in events
    assert kctl("get", "trainjobs", "--no-headers").split()[:2] == ["bad", "Failed"]
    out = json.loads(kctl("get", "pods", "-l", "jobset.sigs.k8s.io/jobset-name=bad,"
                          "batch.kubernetes.io/job-completion-index=1", "-o", "json"))
    assert {p["status"]["phase"] for p in out["items"]} == {"Failed"}


def test_suspend_and_resume_flip_the_suspended_condition(tsim: Sim) -> None:
    assert request(tsim, "POST", BASE, trainjob("held", nodes=2, suspend=True)).status == 201
    tsim.wait_for(lambda s: conds(s.get("trainjobs", "default", "held"))
                  and (s.get("jobs", "default", "held-node-0") or {}).get("status"))
    assert conds(tsim.get("trainjobs", "default", "held")) == [
        ("Suspended", "True", "Suspended", "TrainJob is suspended")]
    assert tsim.get("jobsets", "default", "held")["spec"]["suspend"] is True
    assert tsim.get("jobs", "default", "held-node-0")["spec"]["suspend"] is True
    assert node_pods(tsim, "held") == {}

    request(tsim, "PATCH", BASE + "/held", {"spec": {"suspend": False}}, content_type=MERGE)
    tsim.wait_for(lambda s: finished(s, "held"), timeout=30)
    assert conds(tsim.get("trainjobs", "default", "held")) == [
        ("Suspended", "False", "Resumed", "TrainJob is resumed"),
        ("Complete", "True", "AllJobsCompleted", "jobset completed successfully")]
    js_conds = conds(tsim.get("jobsets", "default", "held"))
    assert js_conds[0] == ("Suspended", "False", "ResumeJobs", "jobset is resumed")
    assert len(node_pods(tsim, "held")) == 2


def test_deleting_the_trainjob_removes_jobset_job_pods_and_service(tsim: Sim, kctl) -> None:
    for name in ("gone", "fg"):
        assert request(tsim, "POST", BASE, trainjob(name, nodes=2, seconds="600")).status == 201
    tsim.wait_for(lambda s: len(node_pods(s, "gone")) == 2 and len(node_pods(s, "fg")) == 2)
    kctl("delete", "trainjob", "gone")
    request(tsim, "DELETE", BASE + "/fg", {"propagationPolicy": "Foreground"})

    def cleared(s: Sim) -> bool:
        return (not s.objects("trainjobs", "default") and not s.objects("jobsets", "default")
                and not s.objects("jobs", "default") and not node_pods(s, "gone")
                and not node_pods(s, "fg") and s.get("services", "default", "gone") is None
                and s.get("services", "default", "fg") is None)
    tsim.wait_for(cleared, timeout=30)


def test_a_missing_runtime_is_refused_naming_it(tsim: Sim) -> None:
    resp = request(tsim, "POST", BASE, trainjob("orphan", runtime={"name": "mpi-distributed"}))
    assert resp.status == 422
    status = resp.json()
    assert status["reason"] == "Invalid"
    assert status["message"] == (
        'TrainJob.trainer.kubeflow.org "orphan" is invalid: spec.runtimeRef: Invalid value: '
        '"mpi-distributed": clustertrainingruntimes.trainer.kubeflow.org "mpi-distributed" not '
        "found: specified clusterTrainingRuntime must be created before the TrainJob is created")
    assert tsim.objects("trainjobs", "default") == []


def test_ktui_sim_trainer_flag_serves_the_groups(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ktui", "sim", "--nodes", "1", "--gpus-per-node", "0",
         "--gpu-telemetry", "none", "--port", "0", "--trainer", "--kubeconfig-out",
         str(kubeconfig)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("ktui sim: serving")
        proc.stdout.readline()
        out = _kubectl(kubeconfig, tmp_path)("get", "clustertrainingruntimes", "--no-headers")
        assert out.split()[0] == "torch-distributed"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert proc.returncode == 0
