"""A distributed trial (PyTorchJob, TrainJob) as one row: which of its pods speaks for it
(the master: its node, its log, its GPUs), and which replica's trouble is the trial's.

Pure functions over the store's records, as join.py's; a Job (``replicas`` 0) has none of
this and keeps join.py's rules (its newest pod speaks for it).
"""

from __future__ import annotations

from collections.abc import Sequence

from ktui.cluster.records import JobRec, PodRec
from ktui.wire.training import replica_of

LEADERS = ("master", "node-0")  # a PyTorchJob's master, a TrainJob's first node (rank 0)


def _newest(pods: Sequence[PodRec]) -> PodRec | None:
    if not pods:
        return None
    return pods[0] if len(pods) == 1 else max(pods, key=lambda p: (p.created or 0.0, p.name))


def lead_pod(job: JobRec, pods: Sequence[PodRec]) -> PodRec | None:
    """The master's pod (its newest, should it have been recreated), else the newest pod."""
    if not job.replicas:
        return _newest(pods)
    return _newest([p for p in pods if replica_of(job.name, p.name) in LEADERS]) or _newest(pods)


def first_failed(job: JobRec, pods: Sequence[PodRec]) -> PodRec | None:
    """The replica that failed first: the others often fail because it did (a lost peer)."""
    failed = [p for p in pods if p.phase == "Failed" and p.reason]
    if not failed:
        return None
    return min(failed, key=lambda p: (p.finished or p.created or 0.0, replica_of(job.name, p.name)))


def troubled(job: JobRec, pods: Sequence[PodRec]) -> PodRec | None:
    """A live replica with something wrong (Unschedulable, ImagePullBackOff, restarted after a
    failure), the master first."""
    live = [p for p in pods if p.reason and not p.terminated]
    if not live:
        return None
    lead = lead_pod(job, live)
    return lead if lead is not None and replica_of(job.name, lead.name) in LEADERS else \
        min(live, key=lambda p: (p.created or 0.0, p.name))


def words(job: JobRec, pod: PodRec) -> str:
    """"worker-1: exit code 1"."""
    return f"{replica_of(job.name, pod.name)}: {pod.reason}"


def pods_ready(job: JobRec, pods: Sequence[PodRec], pods_known: bool) -> int:
    """Its pods running now (the operators keep no readiness: running is what they count)."""
    if not pods_known:
        return job.ready
    return sum(1 for p in pods if p.phase == "Running" and not p.deleting)
