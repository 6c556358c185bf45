"""`--kueue`, the parts beyond admission by quota: Workloads in v1beta1 (renamed fields, the
deprecation warning), the visibility group in discovery, priorities and preemption, and
Workloads for PyTorchJobs and Indexed Jobs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ktui.sim.kueueapi import DEPRECATED
from ktui.sim.testing import Sim, running_sim

from . import test_kueue
from .conftest import SPEED
from .helpers import AGG, condition, job, request
from .test_kubeflow import pytorchjob
from .test_kueue import WL, queued, wl_of

qsim, qctl = test_kueue.qsim, test_kueue.qctl  # (fixtures)

VIS = "visibility.kueue.x-k8s.io"
WPC = "/apis/kueue.x-k8s.io/v1beta2/workloadpriorityclasses"


def conds(w: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    return {c["type"]: (c["status"], c["reason"], c["message"])
            for c in (w.get("status") or {}).get("conditions") or ()}


def prio_class(sim: Sim, name: str, value: int) -> None:
    resp = request(sim, "POST", WPC, {"apiVersion": "kueue.x-k8s.io/v1beta2",
                                      "kind": "WorkloadPriorityClass",
                                      "metadata": {"name": name}, "value": value})
    assert resp.status == 201, resp.body


def test_v1beta1_is_served_with_its_old_field_names_and_the_deprecation_warning(qsim: Sim) -> None:
    prio_class(qsim, "high", 1000)
    body = queued("hi", "600")
    body["metadata"]["labels"]["kueue.x-k8s.io/priority-class"] = "high"
    request(qsim, "POST", "/apis/batch/v1/namespaces/default/jobs", body)
    qsim.wait_for(lambda s: wl_of(s, "hi") is not None)
    name = wl_of(qsim, "hi")["metadata"]["name"]

    new = request(qsim, "GET", f"{WL.format(v='v1beta2')}/{name}")
    assert new.headers.get("Warning") is None
    spec = new.json()["spec"]
    assert spec["priority"] == 1000 and spec["priorityClassRef"] == {
        "group": "kueue.x-k8s.io", "kind": "WorkloadPriorityClass", "name": "high"}
    assert "priorityClassSource" not in spec and "priorityClassName" not in spec

    old = request(qsim, "GET", f"{WL.format(v='v1beta1')}/{name}")
    assert old.headers.get("Warning") == DEPRECATED
    doc = old.json()
    assert doc["apiVersion"] == "kueue.x-k8s.io/v1beta1"
    assert doc["spec"]["priorityClassName"] == "high"
    assert doc["spec"]["priorityClassSource"] == "kueue.x-k8s.io/workloadpriorityclass"
    assert "priorityClassRef" not in doc["spec"]
    listed = request(qsim, "GET", WL.format(v="v1beta1"))
    assert listed.headers.get("Warning") == DEPRECATED
    assert {i["spec"]["priorityClassSource"] for i in listed.json()["items"]} == {
        "kueue.x-k8s.io/workloadpriorityclass"}
    watched = request(qsim, "GET", WL.format(v="v1beta1") + "?watch=1&resourceVersion=0"
                      "&timeoutSeconds=1")
    assert watched.headers.get("Warning") == DEPRECATED
    assert watched.lines()[0]["object"]["spec"]["priorityClassName"] == "high"

    # Written in v1beta1, stored (and read back in v1beta2) in the new spelling.
    made = request(qsim, "POST", WL.format(v="v1beta1"), {
        "apiVersion": "kueue.x-k8s.io/v1beta1", "kind": "Workload",
        "metadata": {"name": "by-hand"},
        "spec": {"queueName": "nowhere", "priorityClassName": "high",
                 "priorityClassSource": "kueue.x-k8s.io/workloadpriorityclass", "priority": 1000,
                 "podSets": [{"name": "main", "count": 1, "template": {"spec": {
                     "containers": [{"name": "c", "image": "x"}]}}}]}})
    assert made.status == 201 and made.json()["spec"]["priorityClassName"] == "high"
    stored = qsim.get("workloads", "default", "by-hand")
    assert stored["spec"]["priorityClassRef"]["name"] == "high"
    assert "priorityClassName" not in stored["spec"]

    # A LocalQueue's flavorsUsage was flavorUsage.
    lq = "/apis/kueue.x-k8s.io/{v}/namespaces/default/localqueues/user-queue/status"
    patched = request(qsim, "PATCH", lq.format(v="v1beta2"),
                      {"status": {"flavorsUsage": [{"name": "default-flavor", "resources": []}]}},
                      content_type="application/merge-patch+json")
    assert patched.status == 200, patched.body
    got = request(qsim, "GET", lq.format(v="v1beta1")).json()["status"]
    assert "flavorUsage" in got and "flavorsUsage" not in got


def test_the_visibility_group_is_in_discovery_only_with_kueue(qsim: Sim, sim: Sim) -> None:
    groups = {g["name"]: g for g in request(qsim, "GET", "/apis").json()["groups"]}
    assert [v["version"] for v in groups[VIS]["versions"]] == ["v1beta2", "v1beta1"]
    assert groups[VIS]["preferredVersion"]["groupVersion"] == f"{VIS}/v1beta2"
    for version in ("v1beta2", "v1beta1"):
        res = request(qsim, "GET", f"/apis/{VIS}/{version}").json()
        names = {r["name"]: r for r in res["resources"]}
        assert names["localqueues/pendingworkloads"]["namespaced"] is True
        assert names["clusterqueues/pendingworkloads"]["kind"] == "PendingWorkloadsSummary"
    agg = request(qsim, "GET", "/apis", accept=AGG).json()
    vis = next(i for i in agg["items"] if i["metadata"]["name"] == VIS)
    assert [v["version"] for v in vis["versions"]] == ["v1beta2", "v1beta1"]
    assert request(qsim, "GET", f"/apis/{VIS}").json()["name"] == VIS
    assert VIS not in {g["name"] for g in request(sim, "GET", "/apis").json()["groups"]}
    assert VIS not in {i["metadata"]["name"] for i in request(sim, "GET", "/apis",
                                                              accept=AGG).json()["items"]}


def test_a_higher_priority_workload_preempts_the_last_admitted_lower_one(qsim: Sim, qctl) -> None:
    prio_class(qsim, "high", 1000)
    for name in ("low-a", "low-b"):
        request(qsim, "POST", "/apis/batch/v1/namespaces/default/jobs", queued(name, "900"))
        qsim.wait_for(lambda s, n=name: wl_of(s, n) and condition(wl_of(s, n), "Admitted"))
    qsim.wait_for(lambda s: all(s.get("jobs", "default", n)["status"].get("active")
                                for n in ("low-a", "low-b")))
    body = queued("high", "30")
    body["metadata"]["labels"]["kueue.x-k8s.io/priority-class"] = "high"
    request(qsim, "POST", "/apis/batch/v1/namespaces/default/jobs", body)
    qsim.wait_for(lambda s: wl_of(s, "high") and condition(wl_of(s, "high"), "Admitted"))

    victim = wl_of(qsim, "low-b")  # the most recently admitted of the two
    c = conds(victim)
    assert c["Evicted"] == ("True", "Preempted", "Preempted to accommodate a higher priority Workload")
    assert c["Preempted"][:2] == ("True", "InClusterQueue")
    assert c["Preempted"][2].startswith("Preempted to accommodate a workload (UID: ")
    assert c["Preempted"][2].endswith("due to prioritization in the ClusterQueue")
    assert c["QuotaReserved"][0] == "False" and c["Admitted"][:2] == ("False", "NoReservation")
    assert "admission" not in victim["status"]
    assert condition(wl_of(qsim, "low-a"), "Admitted") is not None
    # Its Job is suspended again (as more/job-kueue-style-resuspended-preempted.json): pods
    # gone, Suspended True, and it waits first in line.
    qsim.wait_for(lambda s: condition(s.get("jobs", "default", "low-b"), "Suspended") is not None)
    assert qsim.get("jobs", "default", "low-b")["spec"]["suspend"] is True
    qsim.wait_for(lambda s: not s.get("jobs", "default", "low-b")["status"].get("active"))
    pending = request(qsim, "GET", f"/apis/{VIS}/v1beta2/namespaces/default/localqueues/"
                      "user-queue/pendingworkloads").json()["items"]
    assert [(i["metadata"]["name"], i["positionInLocalQueue"]) for i in pending] == [
        (victim["metadata"]["name"], 0)]
    rows = qctl("get", "workloads", "-o", "custom-columns=NAME:.metadata.name,"
                "EVICTED:.status.conditions[?(@.type=='Evicted')].reason", "--no-headers")
    assert f"{victim['metadata']['name']}   Preempted" in rows

    # The preemptor done, the victim is admitted again; its eviction is history.
    qsim.wait_for(lambda s: condition(wl_of(s, "low-b"), "Admitted") is not None, timeout=30)
    c = conds(wl_of(qsim, "low-b"))
    assert c["Evicted"] == ("False", "QuotaReserved",
                            "Previously: Preempted to accommodate a higher priority Workload")
    assert c["Preempted"][:2] == ("False", "QuotaReserved")
    assert qsim.get("jobs", "default", "low-b")["spec"]["suspend"] is False


def test_equal_priorities_never_preempt(qsim: Sim) -> None:
    for name in ("a", "b", "c"):
        request(qsim, "POST", "/apis/batch/v1/namespaces/default/jobs", queued(name, "900"))
    qsim.wait_for(lambda s: all(wl_of(s, n) for n in "abc"))
    qsim.wait_for(lambda s: conds(wl_of(s, "c")).get("QuotaReserved", ("",))[0] == "False")
    assert all(condition(wl_of(qsim, n), "Admitted") for n in "ab")
    assert "Evicted" not in conds(wl_of(qsim, "a")) and "Evicted" not in conds(wl_of(qsim, "b"))


@pytest.fixture
def kqsim() -> Iterator[Sim]:
    with running_sim(nodes=4, gpus_per_node=8, speed=SPEED, kueue=True, kubeflow=True,
                     kueue_quota={"cpu": "16", "memory": "64Gi", "nvidia.com/gpu": "8"}) as s:
        yield s


def test_a_queued_pytorchjob_gets_a_workload_with_master_and_worker_podsets(kqsim: Sim) -> None:
    body = pytorchjob("ddp", workers=2, master_seconds="20")
    body["metadata"]["labels"] = {"kueue.x-k8s.io/queue-name": "user-queue"}
    created = request(kqsim, "POST", "/apis/kubeflow.org/v1/namespaces/default/pytorchjobs", body)
    assert created.status == 201 and created.json()["spec"]["runPolicy"]["suspend"] is True

    def workload(s: Sim) -> dict[str, Any] | None:
        return next(iter(s.objects("workloads", "default")), None)
    kqsim.wait_for(lambda s: workload(s) is not None and condition(workload(s), "Admitted"))
    w = workload(kqsim)
    assert w["metadata"]["name"].startswith("pytorchjob-ddp-")
    assert w["metadata"]["ownerReferences"][0]["kind"] == "PyTorchJob"
    assert [(p["name"], p["count"]) for p in w["spec"]["podSets"]] == [("master", 1), ("worker", 2)]
    assert [(a["name"], a["count"]) for a in w["status"]["admission"]["podSetAssignments"]] == [
        ("master", 1), ("worker", 2)]
    assert w["status"]["admission"]["podSetAssignments"][1]["resourceUsage"]["nvidia.com/gpu"] == "2"
    kqsim.wait_for(lambda s: len([p for p in s.objects("pods", "default")
                                  if p["metadata"]["name"].startswith("ddp-")]) == 3)
    assert kqsim.get("pytorchjobs", "default", "ddp")["spec"]["runPolicy"]["suspend"] is False
    kqsim.wait_for(lambda s: condition(workload(s), "Finished") is not None, timeout=30)
    assert condition(workload(kqsim), "Finished")["reason"] == "Succeeded"


def test_an_indexed_job_asks_for_its_parallelism(qsim: Sim) -> None:
    body = job("idx", labels={"kueue.x-k8s.io/queue-name": "user-queue"},
               annotations={"sim.ktui.dev/duration": "5"}, completionMode="Indexed",
               completions=10, parallelism=2)
    assert request(qsim, "POST", "/apis/batch/v1/namespaces/default/jobs", body).status == 201
    qsim.wait_for(lambda s: wl_of(s, "idx") is not None)
    assert [p["count"] for p in wl_of(qsim, "idx")["spec"]["podSets"]] == [2]


def test_a_deleted_job_takes_its_workload_along(qsim: Sim) -> None:
    request(qsim, "POST", "/apis/batch/v1/namespaces/default/jobs", queued("gone", "900"))
    qsim.wait_for(lambda s: wl_of(s, "gone") is not None)
    qsim.delete("jobs", "default", "gone")
    qsim.wait_for(lambda s: wl_of(s, "gone") is None)


def test_kubectl_shows_admitted_and_finished(qsim: Sim, qctl) -> None:
    request(qsim, "POST", "/apis/batch/v1/namespaces/default/jobs", queued("done", "5"))
    qsim.wait_for(lambda s: wl_of(s, "done") and condition(wl_of(s, "done"), "Finished"),
                  timeout=20)
    row = qctl("get", "workloads", "--no-headers").split()
    # NAME QUEUE RESERVED-IN ADMITTED FINISHED AGE (the filters' "@.type" read right)
    assert row[1:5] == ["user-queue", "cluster-queue", "True", "True"]
