"""An indexed sweep's Job fanned out into one trial per index, from the API's JSON (decoded as
the reflector decodes it) into the store."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ktui.cluster.indexfeed import IndexedJobRec, changed, contains, parse_intervals, trial_indexes
from ktui.cluster.join import build_trial as _build
from ktui.cluster.kube.decode import JOB_CODEC, POD_CODEC
from ktui.cluster.store import Store
from ktui.sweep.indexed import format_indexes

from .helpers import job, pod

NS = "default"


def job_json(name: str = "sw", *, sweep: str = "sw", uid: str = "u1", rv: str = "1", completions: int = 30,
             completed: str = "", failed: str | None = "", indexes: str | None = None, width: int = 3,
             conditions: list[dict[str, Any]] | None = None, created: str = "2026-12-05T10:00:00Z",
             suspend: bool = False) -> bytes:
    ann = {"ktui.dev/index-width": str(width), "ktui.dev/metric": '{"name":"acc","goal":"maximize"}'}
    if indexes is not None:
        ann["ktui.dev/indexes"] = indexes
    status: dict[str, Any] = {"active": 2, "completedIndexes": completed, "conditions": conditions or []}
    if failed is not None:
        status["failedIndexes"] = failed
    return json.dumps({
        "metadata": {"name": name, "namespace": NS, "uid": uid, "resourceVersion": rv, "creationTimestamp": created,
                     "labels": {"ktui.dev/sweep": sweep, "ktui.dev/mode": "indexed"}, "annotations": ann},
        "spec": {"completions": completions, "completionMode": "Indexed", "suspend": suspend,
                 "template": {"metadata": {"annotations": ann}, "spec": {"containers": [{"name": "trial"}]}}},
        "status": status,
    }).encode()


def pod_json(job: str, k: int, *, uid: str = "u1", sweep: str = "sw", phase: str = "Running", rv: str = "1",
             exit_code: int | None = None, indexes: str | None = None, suffix: str = "abcde",
             node: str = "n1") -> bytes:
    ann = {"batch.kubernetes.io/job-completion-index": str(k), "ktui.dev/index-width": "3"}
    if indexes is not None:
        ann["ktui.dev/indexes"] = indexes
    status: dict[str, Any] = {"phase": phase, "startTime": "2026-12-05T10:00:05Z"}
    if exit_code is not None:
        status["containerStatuses"] = [{"name": "trial", "state": {"terminated": {
            "exitCode": exit_code, "reason": "Error", "finishedAt": "2026-12-05T10:01:00Z"}}}]
    return json.dumps({
        "metadata": {"name": f"{job}-{k}-{suffix}", "namespace": NS, "resourceVersion": rv,
                     "creationTimestamp": "2026-12-05T10:00:01Z",
                     "labels": {"ktui.dev/sweep": sweep, "ktui.dev/mode": "indexed", "job-name": job,
                                "batch.kubernetes.io/job-completion-index": str(k)},
                     "annotations": ann,
                     "ownerReferences": [{"kind": "Job", "name": job, "uid": uid, "controller": True}]},
        "spec": {"nodeName": node, "containers": [{"name": "trial"}]},
        "status": status,
    }).encode()


def put_job(s: Store, data: bytes) -> None:
    rec = JOB_CODEC.decode_item(data)
    assert rec is not None
    s.apply("jobs", [rec])


def put_pod(s: Store, data: bytes) -> None:
    rec = POD_CODEC.decode_item(data)
    assert rec is not None
    s.apply("pods", [rec])


def store() -> Store:
    s = Store()
    s.mark_synced("pods")
    return s


def phases(s: Store, sweep: str = "sw") -> dict[int, str]:
    return {t.index: t.phase for t in s.trials_of_sweep(sweep) if t.index is not None}


# ---------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.sets(st.integers(0, 60)), st.sets(st.integers(0, 60)))
def test_interval_diff_is_the_symmetric_difference(a: set[int], b: set[int]) -> None:
    ia, ib = parse_intervals(format_indexes(sorted(a))), parse_intervals(format_indexes(sorted(b)))
    assert sorted(changed(ia, ib)) == sorted(a ^ b)
    assert all(contains(ia, k) == (k in a) for k in range(62))


def test_trial_indexes_of_a_rerun() -> None:
    assert list(trial_indexes(None, 3)) == [0, 1, 2]
    assert trial_indexes("3,17,40-42", 5) == (3, 17, 40, 41, 42)


def test_decode_an_indexed_job_and_its_pods() -> None:
    rec = JOB_CODEC.decode_item(job_json(completed="0-2", failed="4", indexes="1-3,9"))
    assert isinstance(rec, IndexedJobRec)
    assert (rec.completions, rec.completed_idx, rec.failed_idx, rec.indexes, rec.width) == (30, "0-2", "4", "1-3,9", 3)
    p = POD_CODEC.decode_item(pod_json("sw-r1", 3, uid="u2", indexes="1-3,9"))
    assert p is not None and (p.job, p.job_uid) == ("sw-009", "u2/3")
    plain = POD_CODEC.decode_item(pod_json("sw", 5).replace(b'"ktui.dev/mode": "indexed", ', b""))
    assert plain is not None and (plain.job, plain.job_uid) == ("sw", "u1")


def test_one_trial_per_index_with_phases_pods_and_params() -> None:
    s = store()
    asked: list[tuple[str, str, str]] = []
    s.params_wanted = lambda ns, name, uid: asked.append((ns, name, uid))
    put_job(s, job_json(completed="0-9", failed="12"))
    put_pod(s, pod_json("sw", 10, phase="Running", node="gpu-1"))
    put_pod(s, pod_json("sw", 12, phase="Failed", exit_code=3))
    got = phases(s)
    assert len(got) == 30 and s.get_trial((NS, "sw")) is None  # the Job itself is no trial
    assert [got[k] for k in (0, 9, 10, 11, 12)] == ["Succeeded", "Succeeded", "Running", "Pending", "Failed"]
    t10 = s.get_trial((NS, "sw-010"))
    assert t10 is not None and (t10.node, t10.source, t10.sweep, t10.metric) == ("gpu-1", "sw", "sw", {"name": "acc", "goal": "maximize"})
    t12 = s.get_trial((NS, "sw-012"))
    assert t12 is not None and t12.reason == "exit code 3" and t12.pod == "sw-12-abcde"
    assert len({t.uid for t in s.trials_of_sweep("sw")}) == 30  # results are kept per trial uid
    assert [p.name for p in s.pods_of((NS, "sw-012"))] == ["sw-12-abcde"]
    assert asked == [(NS, "sw", "u1")]
    s.set_index_params((NS, "sw"), "u1", {k: json.dumps({"lr": k / 10}) for k in range(30)})
    t3 = s.get_trial((NS, "sw-003"))
    assert t3 is not None and t3.params == {"lr": 0.3}
    assert [x.total for x in s.sweeps()] == [30]


def test_a_status_update_marks_only_the_trials_that_moved() -> None:
    s = store()
    done = "0-4998"
    put_job(s, job_json(completions=10_000, completed=done, width=4, rv="1"))
    v = s.changes_since(0).version
    put_job(s, job_json(completions=10_000, completed="0-4999", width=4, rv="2"))
    ch = s.changes_since(v)
    assert ch.trials == frozenset({(NS, "sw-4999")})
    v = ch.version
    put_job(s, job_json(completions=10_000, completed="0-4999", failed="5001,7000", width=4, rv="3"))
    assert s.changes_since(v).trials == frozenset({(NS, "sw-5001"), (NS, "sw-7000")})
    assert phases(s)[7000] == "Failed" and phases(s)[4999] == "Succeeded"


def test_indexes_that_never_ran_say_why_the_job_failed() -> None:
    s = store()
    cond = [{"type": "Failed", "status": "True", "reason": "MaxFailedIndexesExceeded",
             "message": "Job has exceeded the specified maximal number of failed indexes",
             "lastTransitionTime": "2026-12-05T10:05:00Z"}]
    put_job(s, job_json(completions=6, completed="0", failed="1-3", conditions=cond))
    put_pod(s, pod_json("sw", 4, phase="Failed", exit_code=143))  # running when the Job failed
    got = phases(s)
    assert got == {0: "Succeeded", 1: "Failed", 2: "Failed", 3: "Failed", 4: "Failed", 5: "Failed"}
    t5 = s.get_trial((NS, "sw-005"))
    assert t5 is not None and t5.reason == "MaxFailedIndexesExceeded"
    assert t5.message is not None and t5.message.startswith("never started: the Job failed first")
    assert t5.finished is not None
    t4 = s.get_trial((NS, "sw-004"))
    assert t4 is not None and t4.reason == "exit code 143"


def test_a_rerun_job_takes_over_its_trials_until_deleted() -> None:
    s = store()
    put_job(s, job_json(completions=5, completed="0,1,3", failed="2,4"))
    put_pod(s, pod_json("sw", 2, phase="Failed", exit_code=1))
    rerun = job_json("sw-r1", completions=2, indexes="2,4", uid="u2", created="2026-12-05T11:00:00Z")
    put_job(s, rerun)
    put_pod(s, pod_json("sw-r1", 0, uid="u2", indexes="2,4", phase="Running", node="n9"))
    got = phases(s)
    assert (got[2], got[4], len(got)) == ("Running", "Pending", 5)
    t2 = s.get_trial((NS, "sw-002"))
    assert t2 is not None and (t2.source, t2.node, t2.retries) == ("sw-r1", "n9", 0)
    assert s.index_source((NS, "sw-002")) is not None
    s.apply("jobs", deletes=[(NS, "sw-r1")])
    got = phases(s)
    assert (got[2], got[4]) == ("Failed", "Failed")
    t2 = s.get_trial((NS, "sw-002"))
    assert t2 is not None and t2.source == "sw" and t2.reason == "exit code 1"
    s.apply("jobs", deletes=[(NS, "sw")])
    assert s.trials_of_sweep("sw") == [] and s.sweeps() == []


def test_a_warning_on_the_job_explains_its_pending_trials() -> None:
    from tests.cluster.helpers import event

    s = store()
    put_job(s, job_json(completions=3, completed="0"))
    assert s.get_trial((NS, "sw-002")) is not None
    s.apply("events", [event("e1", kind="Job", obj="sw", type="Warning", reason="FailedCreate",
                             message="exceeded quota", last=1.0)])
    t = s.get_trial((NS, "sw-002"))
    assert t is not None and t.reason == "FailedCreate: exceeded quota"
    t0 = s.get_trial((NS, "sw-000"))
    assert t0 is not None and t0.reason is None  # (done: nothing to explain)


def test_an_indexed_trial_whose_pod_succeeded_is_done_before_the_job_says_so():
    child = job("ix-003", source="ix", completion_index=3, active=1)
    done = pod("ix-3-abcde", job="ix-003", job_uid=child.uid, phase="Succeeded")
    assert _build(child, [done]).phase == "Succeeded"
    # A Job's own pod (not an index of one): the Job decides, as before.
    plain = job("p-000", active=1)
    assert _build(plain, [pod("p-000-x", job="p-000", job_uid=plain.uid, phase="Succeeded")]).phase == "Pending"
