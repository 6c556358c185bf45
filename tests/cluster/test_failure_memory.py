"""Why a trial failed survives the deletion of the pod that failed (restartPolicy OnFailure:
the Job controller deletes the pod when the backoff limit is reached)."""

from __future__ import annotations

from ktui.cluster.store import Store

from .conftest import eventually, job_manifest
from .helpers import job, pod


def test_reason_and_node_outlive_the_deleted_pod():
    s = Store()
    s.apply("jobs", [job("j", active=1)])
    s.apply("pods", [pod("p1", job_uid="uid-j", node="n1", phase="Running", restarts=1,
                         reason="OOMKilled, restarted")])
    t = s.get_trial(("default", "j"))
    assert t.phase == "Running" and t.reason == "OOMKilled, restarted" and t.node == "n1"
    s.apply("pods", deletes=[("default", "p1")])
    s.apply("jobs", [job("j", rv="2", failed=1, outcome="Failed", reason="BackoffLimitExceeded",
                         message="Job has reached the specified backoff limit")])
    t = s.get_trial(("default", "j"))
    assert t.phase == "Failed"
    assert t.reason == "OOMKilled"
    assert t.message == "BackoffLimitExceeded: Job has reached the specified backoff limit"
    assert t.node == "n1"


def test_a_recreated_job_does_not_inherit_the_old_failure():
    s = Store()
    s.apply("jobs", [job("j")])
    s.apply("pods", [pod("p1", job_uid="uid-j", node="n1", phase="Running", reason="exit code 1, restarted")])
    s.apply("pods", deletes=[("default", "p1")])
    s.apply("jobs", deletes=[("default", "j")])
    s.apply("jobs", [job("j", uid="uid-j2", rv="3", outcome="Failed", reason="DeadlineExceeded")])
    assert s.get_trial(("default", "j")).reason == "DeadlineExceeded"


def test_oom_with_on_failure_reads_oomkilled_over_http(sim, backend_factory):
    manifest = job_manifest("oomer", sweep="mem", oom=True, duration=0.5, backoff_limit=1)
    manifest["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    b = backend_factory(sim.kubeconfig)
    b.start()
    sim.create(manifest)
    eventually(lambda: (t := b.store.get_trial(("default", "oomer"))) is not None and t.phase == "Failed",
               timeout=20)
    t = b.store.get_trial(("default", "oomer"))
    assert t.reason == "OOMKilled", (t.reason, t.message)
    assert t.node is not None and t.node.startswith("sim-node-")
