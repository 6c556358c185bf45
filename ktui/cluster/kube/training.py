"""Distributed trials on a cluster: which training kinds it serves (discovery, once the
server answers), a reflector for each of those (none for the others: a cluster without
Kubeflow shows nothing of it, and says nothing), and the pods of one trial's replicas."""

from __future__ import annotations

from collections.abc import Callable

from ktui.cluster.kube.decode import POD_CODEC
from ktui.cluster.kube.kinds import JOB_KIND, OPTIONAL, Kind
from ktui.cluster.kube.transport import Transport
from ktui.cluster.records import PodRec
from ktui.wire.names import JOBSET_NAME_LABEL, KUBEFLOW_JOB_NAME_LABEL
from ktui.wire.training import PYTORCH_CONTAINER, PYTORCHJOB, TRAINJOB, TRAINJOB_CONTAINER, replica_of

# The trial's container in each kind's pods.
CONTAINERS = {PYTORCHJOB: PYTORCH_CONTAINER, TRAINJOB: TRAINJOB_CONTAINER}
# The label a kind's operator puts on its pods, naming the object (a Job's: job-name); a
# TrainJob's JobSet has its name.
POD_LABELS = {PYTORCHJOB: KUBEFLOW_JOB_NAME_LABEL, TRAINJOB: JOBSET_NAME_LABEL}


def served_kinds(serves: Callable[[str], bool]) -> list[Kind]:
    return [k for k in OPTIONAL if serves(k.kind)]


def container_of(kind: str) -> str:
    return CONTAINERS.get(kind, "trial")


def list_pods(transport: Transport, kind: Kind, namespace: str, name: str, uid: str | None) -> list[PodRec]:
    """The object's pods, from the server (no store of pods to ask), newest first."""
    label = POD_LABELS.get(kind.kind, "job-name")
    pods, _ = POD_CODEC.decode_list(
        transport.get(f"/api/v1/namespaces/{namespace}/pods", [("labelSelector", f"{label}={name}")]))
    if uid is not None:  # (this incarnation's: a recreated one's predecessor may linger)
        pods = [p for p in pods if p.job_uid in (None, uid)]
    return sorted(pods, key=lambda p: (p.created or 0.0, p.name), reverse=True)


def pick(trial: str, pods: list[PodRec], replica: str | None) -> PodRec | None:
    """The newest pod of ``replica`` ("master", "worker-1"); None names the master."""
    want = replica or "master"
    for p in pods:  # newest first
        if replica_of(trial, p.name) == want or (replica is None and replica_of(trial, p.name) == "node-0"):
            return p
    return None if replica is not None else (pods[0] if pods else None)


__all__ = ["JOB_KIND", "container_of", "list_pods", "pick", "served_kinds"]
