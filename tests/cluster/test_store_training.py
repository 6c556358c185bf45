"""Distributed trials in the store: a PyTorchJob's record is listed by its own reflector and
joined as a Job is; the Job list's relist does not take it for a vanished Job."""

from __future__ import annotations

from ktui.cluster.store import Store

from .helpers import job, pod


def _store() -> Store:
    s = Store()
    for kind in ("pods", "jobs", "pytorchjobs"):
        s.mark_synced(kind)
    return s


def test_a_jobs_relist_keeps_the_pytorchjobs_and_their_own_relist_reconciles_them() -> None:
    s = _store()
    s.apply("jobs", [job("plain")])
    s.apply("pytorchjobs", [job("ddp-000", kind="PyTorchJob", replicas=4, uid="u1")])
    s.apply("pods", [pod("ddp-000-master-0", job="ddp-000", job_uid="u1", phase="Running", node="n3"),
                     pod("ddp-000-worker-0", job="ddp-000", job_uid="u1", phase="Running", node="n1",
                         created=2000.0)])
    t = s.get_trial(("default", "ddp-000"))
    assert t is not None and (t.kind, t.pods_ready, t.pods_total, t.node) == ("PyTorchJob", 2, 4, "n3")
    # The Job reflector relists and finds only its Job: the PyTorchJob is not its to delete.
    s.begin_resync("jobs")
    s.apply("jobs", [job("plain")])
    s.end_resync("jobs")
    assert s.get_trial(("default", "ddp-000")) is not None
    assert s.keys("jobs") == {("default", "plain")} and s.keys("pytorchjobs") == {("default", "ddp-000")}
    # Its own relist, without it: gone.
    s.begin_resync("pytorchjobs")
    s.end_resync("pytorchjobs")
    assert s.get_trial(("default", "ddp-000")) is None
    assert s.get_trial(("default", "plain")) is not None


def test_the_failing_replica_speaks_for_the_trial() -> None:
    s = _store()
    s.apply("pytorchjobs", [job("ddp-001", kind="PyTorchJob", replicas=3, uid="u", outcome="Failed",
                                reason="PyTorchJobFailed", message="PyTorchJob ddp-001 is failed because 2 Worker replica(s) failed.")])
    s.apply("pods", [
        pod("ddp-001-master-0", job="ddp-001", phase="Running", node="n2"),
        # worker-1 failed first; worker-0 failed after it (its peer was gone).
        pod("ddp-001-worker-1", job="ddp-001", phase="Failed", reason="exit code 1", finished=1500.0, node="n1"),
        pod("ddp-001-worker-0", job="ddp-001", phase="Failed", reason="exit code 2", finished=1600.0, node="n1"),
    ])
    t = s.get_trial(("default", "ddp-001"))
    assert t is not None and t.phase == "Failed"
    assert t.reason == "worker-1: exit code 1" and t.node == "n2" and t.pod == "ddp-001-master-0"
    assert t.message == "PyTorchJobFailed: PyTorchJob ddp-001 is failed because 2 Worker replica(s) failed."


def test_a_running_trial_says_which_replica_is_in_trouble() -> None:
    s = _store()
    s.apply("pytorchjobs", [job("ddp-002", kind="PyTorchJob", replicas=3, uid="u", active=2, ready=2)])
    s.apply("pods", [
        pod("ddp-002-master-0", job="ddp-002", phase="Running", node="n2"),
        pod("ddp-002-worker-0", job="ddp-002", phase="Running", node="n1"),
        pod("ddp-002-worker-1", job="ddp-002", phase="Pending", reason="Unschedulable: 0/3 nodes are available"),
    ])
    t = s.get_trial(("default", "ddp-002"))
    assert t is not None and (t.phase, t.pods_ready, t.pods_total) == ("Running", 2, 3)
    assert t.reason == "worker-1: Unschedulable: 0/3 nodes are available"
