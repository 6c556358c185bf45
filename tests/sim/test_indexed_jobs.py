"""Indexed Jobs against the captures of a real v1.32 job controller (more/indexed-job-*)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from ktui.sim.controllers.indexed import format_indexes, parse_indexes
from ktui.sim.testing import Sim

from .helpers import condition, fixture, job_done, pods_of, request
from .test_watch import Stream

INDEX = "batch.kubernetes.io/job-completion-index"
FAILURES = "batch.kubernetes.io/job-index-failure-count"
GENERATED = ("batch.kubernetes.io/controller-uid", "controller-uid")


def indexed_job(name: str, annotations: dict[str, str], **spec: Any) -> dict[str, Any]:
    """The captured idx-* Job as a client sent it (no server defaults), renamed."""
    ref = fixture("indexed-job-per-index-backoff-created.json")
    container = {k: v for k, v in ref["spec"]["template"]["spec"]["containers"][0].items()
                 if k in ("name", "image", "command", "args", "resources")}
    body = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "sweep"}},
        "spec": {"completionMode": "Indexed", "completions": 6, "parallelism": 3,
                 "backoffLimitPerIndex": 1, "maxFailedIndexes": 2,
                 "template": {"metadata": {"labels": {"app": "sweep"},
                                           "annotations": annotations},
                              "spec": {"restartPolicy": "Never", "containers": [container]}}},
    }
    body["spec"].update(spec)
    return body


def post(sim: Sim, body: dict[str, Any]) -> dict[str, Any]:
    resp = request(sim, "POST", "/apis/batch/v1/namespaces/default/jobs", body)
    assert resp.status == 201, resp.body
    out: dict[str, Any] = resp.json()
    return out


def comparable(status: dict[str, Any]) -> dict[str, Any]:
    """A Job status without its timestamps (and uids inside uncountedTerminatedPods)."""
    out = copy.deepcopy(status)
    out.pop("startTime", None)
    out.pop("completionTime", None)
    for c in out.get("conditions") or ():
        c.pop("lastProbeTime", None)
        c.pop("lastTransitionTime", None)
    return out


def job_events(sim: Sim, name: str) -> list[tuple[str, str, str]]:
    return [(e["type"], e["reason"], e["message"]) for e in sim.objects("events", "default")
            if e["involvedObject"]["name"] == name and e["involvedObject"]["kind"] == "Job"]


@pytest.mark.parametrize(("text", "indexes"), [
    ("", set()), ("0", {0}), ("0,1", {0, 1}), ("0-2", {0, 1, 2}), ("0-2,4,5", {0, 1, 2, 4, 5}),
    ("0,1,3,5", {0, 1, 3, 5}), ("0-5", set(range(6))), ("1,3-6,9", {1, 3, 4, 5, 6, 9}),
])
def test_interval_format_round_trips_like_the_controller(text: str, indexes: set[int]) -> None:
    assert parse_indexes(text) == indexes
    assert format_indexes(indexes) == text


def test_create_defaults_as_the_captured_server(sim: Sim) -> None:
    ref = fixture("indexed-job-per-index-backoff-created.json")
    got = post(sim, indexed_job("idx-mixed", ref["spec"]["template"]["metadata"]["annotations"]))
    spec, ref_spec = got["spec"], copy.deepcopy(ref["spec"])
    for s in (spec, ref_spec):
        s.pop("selector")
        for k in GENERATED:
            s["template"]["metadata"]["labels"].pop(k)
    assert spec["backoffLimit"] == 2147483647
    # (kubectl -o json printed the capture with sorted keys: compare values, not order.)
    assert {k: v for k, v in spec.items() if k != "template"} == \
        {k: v for k, v in ref_spec.items() if k != "template"}
    assert got["status"] == {}


def test_per_index_backoff_fails_the_listed_indexes_like_the_capture(sim: Sim) -> None:
    ref = fixture("indexed-job-per-index-backoff-final.json")
    start = request(sim, "GET", "/apis/batch/v1/namespaces/default/jobs").json()
    rv = start["metadata"]["resourceVersion"]
    stream = Stream(sim, "/apis/batch/v1/namespaces/default/jobs?watch=1&resourceVersion="
                         f"{rv}&fieldSelector=metadata.name%3Didx-mixed")
    try:
        post(sim, indexed_job("idx-mixed", {"sim.ktui.dev/duration": "8",
                                            "sim.ktui.dev/fail-indexes": "2,4"}))
        stream.wait(lambda evs: any(condition(e["object"], "Failed") for e in evs), timeout=30)
    finally:
        stream.close()
    final = request(sim, "GET", "/apis/batch/v1/namespaces/default/jobs/idx-mixed").json()
    assert comparable(final["status"]) == comparable(ref["status"])
    assert list(final["status"]) == list(ref["status"])

    statuses = [e["object"]["status"] for e in stream.events if e["type"] == "MODIFIED"]
    assert statuses[0]["failedIndexes"] == ""  # present from the first update
    assert any((s.get("uncountedTerminatedPods") or {}).get("failed") for s in statuses)
    kinds = [[c["type"] for c in s.get("conditions") or ()] for s in statuses]
    assert kinds[-2:] == [["FailureTarget"], ["FailureTarget", "Failed"]]
    seen = [s.get("completedIndexes") for s in statuses if s.get("completedIndexes")]
    assert seen[-1] == "0,1,3,5"

    pods = pods_of(sim, "idx-mixed")
    ref_pods = fixture("indexed-job-per-index-backoff-pods-final.json")["items"]

    def summary(p: dict[str, Any]) -> tuple[str, str, str, str]:
        m = p["metadata"]
        return (m["labels"][INDEX], m["annotations"][INDEX], m["annotations"][FAILURES],
                p["status"]["phase"])
    assert sorted(map(summary, pods)) == sorted(map(summary, ref_pods))
    for p in pods:
        m, idx = p["metadata"], p["metadata"]["labels"][INDEX]
        assert m["generateName"] == f"idx-mixed-{idx}-"
        assert m["name"].startswith(m["generateName"]) and len(m["name"]) == len(
            m["generateName"]) + 5
        assert p["spec"]["hostname"] == f"idx-mixed-{idx}" and "subdomain" not in p["spec"]
        assert "finalizers" not in m
    events = job_events(sim, "idx-mixed")
    assert [r for _, r, _ in events].count("SuccessfulCreate") == 8
    assert events[-1] == ("Warning", "FailedIndexes", "Job has failed indexes")


def test_running_pod_carries_the_index_label_annotation_env_and_hostname(sim: Sim) -> None:
    post(sim, indexed_job("idx-ok", {"sim.ktui.dev/duration": "30"}))
    sim.wait_for(lambda s: any(p["status"]["phase"] == "Running"
                               for p in pods_of(s, "idx-ok")), timeout=10)
    ref = fixture("indexed-job-pod-running.json")
    pod = next(p for p in pods_of(sim, "idx-ok") if p["metadata"]["labels"][INDEX] == "1")
    pod = request(sim, "GET", f"/api/v1/namespaces/default/pods/{pod['metadata']['name']}").json()
    meta, ref_meta = pod["metadata"], ref["metadata"]
    assert {k: v for k, v in meta["labels"].items() if k not in GENERATED} == \
        {k: v for k, v in ref_meta["labels"].items() if k not in GENERATED}
    assert list(meta["labels"]) == list(ref_meta["labels"])
    assert {k: v for k, v in meta["annotations"].items() if not k.startswith(("sim.", "fake"))} \
        == {k: v for k, v in ref_meta["annotations"].items() if not k.startswith("fake")}
    assert meta["finalizers"] == ref_meta["finalizers"]
    assert pod["spec"]["hostname"] == "idx-ok-1"
    assert list(pod["spec"]).index("hostname") == list(ref["spec"]).index("hostname") or \
        list(pod["spec"])[list(pod["spec"]).index("hostname") - 1] == "securityContext"
    c, ref_c = pod["spec"]["containers"][0], ref["spec"]["containers"][0]
    assert c["env"] == ref_c["env"]
    assert list(c)[:6] == list(ref_c)[:6]


def test_all_indexes_failing_exceeds_max_failed_indexes(sim: Sim) -> None:
    ref = fixture("indexed-job-all-fail-max-failed-indexes-final.json")
    post(sim, indexed_job("idx-allfail", {"sim.ktui.dev/duration": "3",
                                          "sim.ktui.dev/exit-code": "1"}))
    sim.wait_for(lambda s: job_done(s, "idx-allfail", "Failed"), timeout=30)
    final = sim.get("jobs", "default", "idx-allfail")
    assert comparable(final["status"]) == comparable(ref["status"])
    indexes = sorted(p["metadata"]["labels"][INDEX] for p in pods_of(sim, "idx-allfail"))
    assert indexes == ["0", "0", "1", "1", "2", "2"]  # indexes 3-5 never started
    assert job_events(sim, "idx-allfail")[-1] == (
        "Warning", "MaxFailedIndexesExceeded",
        "Job has exceeded the specified maximal number of failed indexes")


def test_pod_failure_policy_fail_index_fails_the_index_at_once(sim: Sim) -> None:
    ref = fixture("indexed-job-pod-failure-policy-failindex-final.json")
    body = indexed_job("idx-pfp", {"sim.ktui.dev/duration": "4", "sim.ktui.dev/exit-code": "42",
                                   "sim.ktui.dev/fail-indexes": "3"},
                       podFailurePolicy=ref["spec"]["podFailurePolicy"])
    created = post(sim, body)
    assert created["spec"]["podReplacementPolicy"] == "Failed"
    sim.wait_for(lambda s: job_done(s, "idx-pfp", "Failed"), timeout=30)
    final = sim.get("jobs", "default", "idx-pfp")
    assert comparable(final["status"]) == comparable(ref["status"])
    assert len(pods_of(sim, "idx-pfp")) == 6


def test_success_reaches_completions_and_kubectl_agrees(sim: Sim, kubectl) -> None:
    ref = fixture("indexed-job-success-final.json")
    post(sim, indexed_job("idx-ok", {"sim.ktui.dev/duration": "4"}))
    sim.wait_for(lambda s: job_done(s, "idx-ok"), timeout=30)
    final = sim.get("jobs", "default", "idx-ok")
    assert comparable(final["status"]) == comparable(ref["status"])
    assert list(final["status"]) == list(ref["status"])
    out = kubectl("get", "job", "idx-ok", "-o",
                  "jsonpath={.status.completedIndexes} {.status.failedIndexes}|"
                  "{.status.succeeded}")
    assert out.stdout == "0-5 |6"
    table = kubectl("get", "job", "idx-ok", "--no-headers").stdout.split()
    assert table[:3] == ["idx-ok", "Complete", "6/6"]
    assert job_events(sim, "idx-ok")[-1] == ("Normal", "Completed", "Job completed")


def test_without_per_index_limit_failures_count_against_backoff_limit(sim: Sim) -> None:
    body = indexed_job("idx-global", {"sim.ktui.dev/duration": "2",
                                      "sim.ktui.dev/fail-indexes": "1"}, backoffLimit=1)
    del body["spec"]["backoffLimitPerIndex"], body["spec"]["maxFailedIndexes"]
    post(sim, body)
    sim.wait_for(lambda s: job_done(s, "idx-global", "Failed"), timeout=30)
    st = sim.get("jobs", "default", "idx-global")["status"]
    assert condition({"status": st}, "Failed")["reason"] == "BackoffLimitExceeded"
    assert st["failed"] == 2 and "failedIndexes" not in st
    for p in pods_of(sim, "idx-global"):
        assert FAILURES not in p["metadata"]["annotations"]
    assert json.dumps(st["uncountedTerminatedPods"]) == "{}"


def test_an_indexed_sweep_of_a_thousand_trials_runs(sim: Sim) -> None:
    body = indexed_job("idx-1000", {"sim.ktui.dev/duration": "2",
                                    "sim.ktui.dev/fail-indexes": "7,500"},
                       completions=1000, parallelism=200, maxFailedIndexes=10)
    body["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": "10m", "memory": "16Mi"}}
    post(sim, body)
    sim.wait_for(lambda s: job_done(s, "idx-1000", "Failed"), timeout=120, interval=0.2)
    st = sim.get("jobs", "default", "idx-1000")["status"]
    assert st["completedIndexes"] == "0-6,8-499,501-999"
    assert st["failedIndexes"] == "7,500"
    assert st["succeeded"] == 998 and st["failed"] == 4
    assert condition({"status": st}, "Failed")["reason"] == "FailedIndexes"
