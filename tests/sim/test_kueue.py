"""`--kueue`: Workloads for queued Jobs, admission by ClusterQueue quota, the visibility API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ktui.sim.testing import Sim, running_sim

from .conftest import SPEED
from .helpers import condition, fixture, job, job_done, request

WL = "/apis/kueue.x-k8s.io/{v}/namespaces/default/workloads"
VIS = "/apis/visibility.kueue.x-k8s.io/v1beta2"


@pytest.fixture
def qsim() -> Iterator[Sim]:
    with running_sim(nodes=3, gpus_per_node=8, speed=SPEED, kueue=True,
                     kueue_quota={"cpu": "2", "memory": "8Gi"}) as s:
        yield s


@pytest.fixture
def qctl(qsim: Sim, tmp_path: Any) -> Any:
    import os
    import shutil
    import subprocess

    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")

    def run(*args: str) -> str:
        env = dict(os.environ, KUBECONFIG=str(qsim.kubeconfig), HOME=str(tmp_path))
        proc = subprocess.run(["kubectl", f"--cache-dir={tmp_path}/cache", *args], env=env,
                              capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout
    return run


def queued(name: str, seconds: str = "20") -> dict[str, Any]:
    return job(name, labels={"kueue.x-k8s.io/queue-name": "user-queue"},
               annotations={"sim.ktui.dev/duration": seconds})


def wl_of(sim: Sim, job_name: str) -> dict[str, Any] | None:
    return next((w for w in sim.objects("workloads", "default")
                 if w["metadata"]["ownerReferences"][0]["name"] == job_name), None)


def test_without_the_flag_kueue_is_absent(sim: Sim) -> None:
    assert "kueue.x-k8s.io" not in [g["name"] for g in request(sim, "GET", "/apis").json()["groups"]]
    for path in (WL.format(v="v1beta2"), WL.format(v="v1beta1"),
                 VIS + "/clusterqueues/cluster-queue/pendingworkloads"):
        resp = request(sim, "GET", path)
        assert resp.status == 404 and resp.body == b"404 page not found\n"


def test_queued_jobs_wait_for_quota_and_positions_go_down(qsim: Sim, qctl) -> None:
    for i, seconds in enumerate(("10", "60", "20", "20")):
        created = request(qsim, "POST", "/apis/batch/v1/namespaces/default/jobs",
                          queued(f"q{i}", seconds)).json()
        assert created["spec"]["suspend"] is True  # the webhook suspends it
    qsim.wait_for(lambda s: all(wl_of(s, f"q{i}") for i in range(4)))
    qsim.wait_for(lambda s: all(condition(wl_of(s, f"q{i}"), "Admitted") for i in range(2)))
    ref = fixture("workload-status-patch-response.json")
    w0 = wl_of(qsim, "q0")
    assert w0["metadata"]["name"].startswith("job-q0-") and len(w0["metadata"]["name"]) == 12
    assert w0["metadata"]["labels"]["kueue.x-k8s.io/job-uid"] == \
        qsim.get("jobs", "default", "q0")["metadata"]["uid"]
    assert [(c["type"], c["reason"], c["message"]) for c in w0["status"]["conditions"]] == [
        (c["type"], c["reason"], c["message"]) for c in ref["status"]["conditions"]]
    assert w0["status"]["admission"]["podSetAssignments"][0]["resourceUsage"] == {
        "cpu": "1", "memory": "1Gi"}
    assert qsim.get("jobs", "default", "q0")["spec"]["suspend"] is False
    w3 = wl_of(qsim, "q3")
    pending = w3["status"]["conditions"][0]
    assert (pending["type"], pending["status"], pending["reason"]) == (
        "QuotaReserved", "False", "Pending")
    assert pending["message"] == ("couldn't assign flavors to pod set main: insufficient unused "
                                  "quota for cpu in flavor default-flavor, 1 more needed")
    summary = request(qsim, "GET", VIS + "/clusterqueues/cluster-queue/pendingworkloads").json()
    assert summary["kind"] == "PendingWorkloadsSummary"
    assert [(i["metadata"]["ownerReferences"][0]["name"], i["positionInClusterQueue"],
             i["positionInLocalQueue"], i["localQueueName"]) for i in summary["items"]] == [
        ("q2", 0, 0, "user-queue"), ("q3", 1, 1, "user-queue")]
    lq = request(qsim, "GET", VIS + "/namespaces/default/localqueues/user-queue/pendingworkloads")
    assert [i["positionInLocalQueue"] for i in lq.json()["items"]] == [0, 1]

    def q3_position(s: Sim) -> int | None:
        items = request(s, "GET", VIS + "/clusterqueues/cluster-queue/pendingworkloads").json()
        return next((i["positionInClusterQueue"] for i in items["items"]
                     if i["metadata"]["ownerReferences"][0]["name"] == "q3"), None)
    qsim.wait_for(lambda s: q3_position(s) == 0, timeout=20)  # q0 done: q2 admitted
    qsim.wait_for(lambda s: all(job_done(s, f"q{i}") for i in range(4)), timeout=30)
    assert condition(wl_of(qsim, "q0"), "Finished")["reason"] == "Succeeded"
    v1beta1 = request(qsim, "GET", WL.format(v="v1beta1")).json()
    assert {i["apiVersion"] for i in v1beta1["items"]} == {"kueue.x-k8s.io/v1beta1"}
    rows = qctl("get", "workloads.v1beta2.kueue.x-k8s.io", "--no-headers").splitlines()
    assert len(rows) == 4 and all("user-queue" in r and "cluster-queue" in r for r in rows)
    cq = qctl("get", "clusterqueue", "cluster-queue", "-o",
              "jsonpath={.status.pendingWorkloads}/{.status.admittedWorkloads}")
    assert cq == "0/0"
