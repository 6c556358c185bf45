"""Decoders against bytes captured from a real kube-apiserver 1.32 (tests/cluster/fixtures)."""

from __future__ import annotations

import json

import msgspec
import pytest

from ktui.cluster.kube.decode import (
    EVENT_CODEC,
    JOB_CODEC,
    NODE_CODEC,
    NODE_METRICS_CODEC,
    POD_CODEC,
    decode_status,
)
from ktui.wire.quantity import cpu_millis, format_bytes, format_cpu, to_int

from .helpers import fixture


def _pods(name: str):
    recs, meta = POD_CODEC.decode_list(fixture(name))
    return recs, meta


def test_succeeded_pod():
    (p,), meta = _pods("obj-pods-ok-job.json")
    assert meta.resourceVersion == "122018"
    assert (p.namespace, p.name, p.rv) == ("ref", "ok-job-q9wk9", "122012")
    assert p.job == "ok-job" and p.job_uid == "742d4e70-f8bd-4fea-9281-b1bf5f4f727f"
    assert p.phase == "Succeeded" and p.terminated
    assert p.node == "gpu-node-2"
    assert (p.cpu_m, p.memory, p.gpu) == (2000, 8 * 2**30, 0)
    assert p.reason is None
    assert p.finished is not None and p.started is not None and p.finished > p.started


def test_failed_pods_exit_code():
    pods, _ = _pods("obj-pods-fail-job.json")
    assert len(pods) == 2
    for p in pods:
        assert p.phase == "Failed"
        assert p.reason == "exit code 1"
        assert p.restarts == 0


def test_unschedulable_pod():
    (p,), _ = _pods("obj-pods-gpu-pending.json")
    assert p.phase == "Pending" and p.node is None
    assert p.gpu == 64 and p.cpu_m == 8000
    assert p.reason == "Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
    assert p.message is not None and "preemption" in p.message


def test_empty_pod_list():
    pods, meta = _pods("obj-pods-suspended.json")
    assert pods == [] and meta.resourceVersion == "122018"


def test_paged_list_metadata():
    pods1, meta1 = _pods("list-pods-limit2-page1.json")
    pods2, meta2 = _pods("list-pods-limit2-page2.json")
    assert len(pods1) == len(pods2) == 2
    assert meta1.continue_ and meta1.remainingItemCount == 6
    assert meta2.continue_ and meta2.remainingItemCount == 4
    assert meta1.resourceVersion == meta2.resourceVersion
    assert {p.name for p in pods1}.isdisjoint({p.name for p in pods2})


def test_jobs():
    ok = JOB_CODEC.decode_item(fixture("obj-job-ok-job.json"))
    assert ok is not None
    assert ok.outcome == "Complete" and ok.completed is not None
    assert (ok.sweep, ok.trial) == ("ref", 0)

    fail = JOB_CODEC.decode_item(fixture("obj-job-fail-job.json"))
    assert fail is not None
    assert fail.outcome == "Failed" and fail.reason == "BackoffLimitExceeded"
    assert fail.failed == 2 and fail.completed is not None
    assert fail.message == "Job has reached the specified backoff limit"

    pending = JOB_CODEC.decode_item(fixture("obj-job-gpu-pending.json"))
    assert pending is not None
    assert pending.outcome is None and pending.active == 1 and pending.gpu == 64

    susp = JOB_CODEC.decode_item(fixture("obj-job-suspended.json"))
    assert susp is not None
    assert susp.suspended and susp.started is None and susp.trial == 3


def test_job_list_all_namespaces_items_without_kind():
    jobs, meta = JOB_CODEC.decode_list(fixture("list-jobs-all-namespaces.json"))
    assert len(jobs) == 7 and meta.resourceVersion
    assert len({j.key for j in jobs}) == 7


def test_params_annotation_and_huge_other_annotations():
    body = {
        "metadata": {
            "name": "t-3",
            "namespace": "ml",
            "labels": {"ktui.dev/sweep": "lr", "ktui.dev/trial": "x3"},
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "x" * 100_000,
                "ktui.dev/params": json.dumps({"lr": 0.1, "opt": "adam"}),
            },
        },
        "spec": {"template": {"spec": {"containers": [{"resources": {"limits": {"nvidia.com/gpu": 2}}}]}}},
    }
    j = JOB_CODEC.decode_item(json.dumps(body).encode())
    assert j is not None
    assert json.loads(j.params) == {"lr": 0.1, "opt": "adam"}  # type: ignore[arg-type]
    assert j.trial is None  # unparsable label: None, not an exception
    assert j.gpu == 2  # extended resources: requests default to limits


def test_nodes():
    nodes, _ = NODE_CODEC.decode_list(fixture("obj-nodes.json"))
    assert len(nodes) == 3
    by = {n.name: n for n in nodes}
    cpu = by["cpu-node-1"]
    assert (cpu.cpu_m, cpu.memory, cpu.gpu, cpu.max_pods) == (16000, 64 * 2**30, 0, 110)
    assert any(c.type == "Ready" and c.status == "True" for c in cpu.conditions)
    assert any(n.gpu > 0 for n in nodes)


def test_events_core_v1_with_null_event_time():
    events, _ = EVENT_CODEC.decode_list(fixture("obj-events-core-v1-ref.json"))
    assert len(events) == 12
    backoff = [e for e in events if e.reason == "BackoffLimitExceeded"]
    assert len(backoff) == 1
    e = backoff[0]
    assert (e.kind, e.obj, e.type, e.count) == ("Job", "fail-job", "Warning", 1)
    assert e.last is not None  # lastTimestamp, eventTime being null
    sched = [e for e in events if e.reason == "Scheduled"]
    assert sched and all(s.last is not None for s in sched)  # eventTime, lastTimestamp null
    assert all(s.count == 1 for s in sched)  # count null -> 1


def test_watch_stream_with_bookmarks():
    types = []
    rvs = []
    for line in fixture("watch-jobs-ref-75s-bookmarks.jsonl").splitlines():
        ev = JOB_CODEC.decode_event(line)
        types.append(ev.type)
        rvs.append(ev.rv)
        if ev.type in ("ADDED", "MODIFIED", "DELETED"):
            assert ev.record is not None and ev.record.namespace == "ref"
        else:
            assert ev.record is None
    assert types.count("BOOKMARK") == 3 and types.count("DELETED") == 3
    assert all(rvs)
    assert [int(r) for r in rvs] == sorted(int(r) for r in rvs)


def test_watch_410_error_event():
    (line,) = fixture("watch-jobs-rv1-410.jsonl").splitlines()
    ev = JOB_CODEC.decode_event(line)
    assert ev.type == "ERROR" and ev.status is not None
    assert (ev.status.code, ev.status.reason) == (410, "Expired")


def test_delete_watch_event_carries_the_object():
    (line,) = fixture("watch-jobs-del-job-background.jsonl").splitlines()
    ev = JOB_CODEC.decode_event(line)
    assert ev.type == "DELETED" and ev.record is not None and ev.record.name == "del-job"


@pytest.mark.parametrize(
    ("name", "code", "reason"),
    [
        ("err-404-get-missing-job.json", 404, "NotFound"),
        ("err-409-post-ok-job-again.json", 409, "AlreadyExists"),
        ("err-422-post-bad-name.json", 422, "Invalid"),
        ("err-410-list-expired-continue.json", 410, "Expired"),
        ("err-404-delete-missing-pod.json", 404, "NotFound"),
    ],
)
def test_status_errors(name, code, reason):
    st = decode_status(fixture(name))
    assert st is not None and (st.code, st.reason) == (code, reason)
    assert st.message


def test_status_of_non_json_body():
    assert decode_status(b"<html>bad gateway</html>") is None
    assert decode_status(b"") is None


def _pod_json(status: dict, spec: dict | None = None) -> bytes:
    return json.dumps(
        {"metadata": {"name": "p", "namespace": "ns", "resourceVersion": "5"},
         "spec": spec or {"containers": [{"name": "trial"}]}, "status": status}
    ).encode()


def test_pod_reasons():
    oom = POD_CODEC.decode_item(_pod_json({
        "phase": "Failed",
        "containerStatuses": [{"name": "trial", "restartCount": 0, "state": {
            "terminated": {"exitCode": 137, "reason": "OOMKilled"}}}],
    }))
    assert oom is not None and oom.reason == "OOMKilled"

    pull = POD_CODEC.decode_item(_pod_json({
        "phase": "Pending",
        "containerStatuses": [{"name": "trial", "state": {
            "waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}}],
    }))
    assert pull is not None and pull.reason == "ImagePullBackOff"
    assert pull.message == "Back-off pulling image"

    creating = POD_CODEC.decode_item(_pod_json({
        "phase": "Pending",
        "containerStatuses": [{"name": "trial", "state": {"waiting": {"reason": "ContainerCreating"}}}],
    }))
    assert creating is not None and creating.reason is None

    loop = POD_CODEC.decode_item(_pod_json({
        "phase": "Running",
        "containerStatuses": [{"name": "trial", "restartCount": 4,
                               "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                               "lastState": {"terminated": {"exitCode": 3, "reason": "Error"}}}],
    }))
    assert loop is not None and loop.reason == "CrashLoopBackOff (exit code 3)" and loop.restarts == 4

    evicted = POD_CODEC.decode_item(_pod_json({"phase": "Failed", "reason": "Evicted",
                                               "message": "low on memory"}))
    assert evicted is not None and (evicted.reason, evicted.message) == ("Evicted", "low on memory")


def test_pod_requests_with_init_containers_and_sidecars():
    spec = {
        "nodeName": "n1",
        "containers": [
            {"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}},
            {"resources": {"requests": {"cpu": "250m"}, "limits": {"nvidia.com/gpu": "1"}}},
        ],
        "initContainers": [
            {"resources": {"requests": {"cpu": "2", "memory": "512Mi"}}},  # runs alone first
            {"restartPolicy": "Always", "resources": {"requests": {"memory": "256Mi"}}},  # sidecar
        ],
        "overhead": {"cpu": "100m"},
    }
    p = POD_CODEC.decode_item(_pod_json({"phase": "Running"}, spec))
    assert p is not None
    assert p.cpu_m == 2000 + 100  # max(750 app, 2000 init) + overhead
    assert p.memory == 2**30 + 256 * 2**20
    assert p.gpu == 1


def test_bad_values_do_not_raise():
    p = POD_CODEC.decode_item(_pod_json({"phase": "Running"},
                                        {"containers": [{"resources": {"requests": {"cpu": "lots"}}}]}))
    assert p is not None and p.cpu_m == 0
    assert POD_CODEC.decode_item(b'{"metadata": {}}') is None  # no name: skipped
    with pytest.raises(msgspec.DecodeError):
        POD_CODEC.decode_event(b'{"type":"ADDED","object":{"metadata":')


def test_owner_from_label_when_no_owner_reference():
    body = json.dumps({"metadata": {"name": "p", "namespace": "n",
                                    "labels": {"job-name": "j", "controller-uid": "u1"}}}).encode()
    p = POD_CODEC.decode_item(body)
    assert p is not None and (p.job, p.job_uid) == ("j", "u1")


def test_node_metrics():
    body = json.dumps({"kind": "NodeMetricsList", "metadata": {}, "items": [
        {"metadata": {"name": "n1"}, "timestamp": "2026-01-01T00:00:00Z", "window": "20s",
         "usage": {"cpu": "1500000000n", "memory": "2048Ki"}}]}).encode()
    (u,), _ = NODE_METRICS_CODEC.decode_list(body)
    assert (u.name, u.cpu_m, u.memory) == ("n1", 1500, 2 * 2**20)


@pytest.mark.parametrize(
    ("q", "millis"),
    [("2", 2000), ("500m", 500), ("1.5", 1500), ("0.1m", 1), ("1e3", 1_000_000),
     ("100n", 1), ("250000u", 250), (4, 4000), (None, 0), ("", 0), ("bogus", 0)],
)
def test_cpu_quantities(q, millis):
    assert cpu_millis(q) == millis


@pytest.mark.parametrize(
    ("q", "n"),
    [("8Gi", 8 * 2**30), ("100M", 100_000_000), ("1k", 1000), ("1Ki", 1024), ("0.5Gi", 2**29),
     ("12E-1", 2), ("2E", 2 * 10**18), ("64", 64)],
)
def test_quantities(q, n):
    assert to_int(q) == n


def test_formatting():
    assert format_cpu(2000) == "2" and format_cpu(250) == "250m" and format_cpu(2500) == "2.5"
    assert format_bytes(8 * 2**30) == "8.0Gi" and format_bytes(512) == "512"


def test_params_from_the_pod_template_and_the_metric():
    body = {
        "metadata": {"name": "t", "namespace": "ml",
                     "annotations": {"ktui.dev/metric": '{"name":"val_loss","goal":"minimize"}'}},
        "spec": {"template": {"metadata": {"annotations": {"ktui.dev/params": '{"lr": 0.3}'}}}},
    }
    j = JOB_CODEC.decode_item(json.dumps(body).encode())
    assert j is not None and j.params == '{"lr": 0.3}'
    assert j.metric == {"name": "val_loss", "goal": "minimize"}
    other = JOB_CODEC.decode_item(json.dumps(body).encode())
    assert other is not None and other.metric is j.metric  # one shared dict per sweep
    plain = JOB_CODEC.decode_item(b'{"metadata":{"name":"x","annotations":{"a":"b"}}}')
    assert plain is not None and plain.params is None and plain.metric is None
