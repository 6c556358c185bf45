"""Distributed trials' objects (Kubeflow's PyTorchJob, Trainer v2's TrainJob) as every layer
reads them: their API names, and a batch/v1-Job-shaped view of one, so what reads a Job's
trial (its container, restartPolicy, backoffLimit) reads theirs without knowing their shape.

A PyTorchJob's trial is its Master replica's pod template (the Workers run the same); a
TrainJob's is its ``spec.trainer`` (image, command, args, env, resourcesPerNode).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

JOB = "Job"
PYTORCHJOB = "PyTorchJob"
TRAINJOB = "TrainJob"
DISTRIBUTED_KINDS = (PYTORCHJOB, TRAINJOB)

PYTORCHJOB_API = "kubeflow.org/v1"
TRAINJOB_API = "trainer.kubeflow.org/v1alpha1"
# The training operator looks up MASTER_PORT on the container of this name (it adds the
# port `pytorchjob-port` to it): a PyTorchJob's trial container must be called so.
PYTORCH_CONTAINER = "pytorch"
# Trainer v2's stock runtime for PyTorch (a ClusterTrainingRuntime), and the container its
# trainer step runs in.
DEFAULT_RUNTIME = "torch-distributed"
TRAINJOB_CONTAINER = "node"
# On a TrainJob's JobSet's Jobs and their pods (which step of the TrainJob they run): they
# are the TrainJob's, not trials of their own.
TRAINJOB_STEP_LABEL = "trainer.kubeflow.org/trainjob-ancestor-step"


def kind_of(obj: Mapping[str, Any]) -> str:
    return str(obj.get("kind") or JOB)


def job_view(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """``obj`` itself for a Job; for a PyTorchJob or TrainJob, a Job carrying its trial: the
    same metadata, ``spec.template`` (the master's pod template, with the replica's
    restartPolicy), ``backoffLimit`` and ``ttlSecondsAfterFinished`` from its runPolicy."""
    kind = kind_of(obj)
    if kind == PYTORCHJOB:
        spec = obj.get("spec") or {}
        replicas = spec.get("pytorchReplicaSpecs") or {}
        master = replicas.get("Master") or next(iter(replicas.values()), None) or {}
        template = dict(master.get("template") or {})
        pod = dict(template.get("spec") or {})
        pod["restartPolicy"] = master.get("restartPolicy") or "OnFailure"  # PyTorch's default
        template["spec"] = pod
        run = spec.get("runPolicy") or {}
        return {"metadata": obj.get("metadata") or {},
                "spec": {"template": template, "backoffLimit": run.get("backoffLimit"),
                         "ttlSecondsAfterFinished": run.get("ttlSecondsAfterFinished"),
                         "suspend": run.get("suspend")}}
    if kind == TRAINJOB:
        spec = obj.get("spec") or {}
        trainer = spec.get("trainer") or {}
        container: dict[str, Any] = {"name": TRAINJOB_CONTAINER}
        for key in ("image", "command", "args", "env"):
            if key in trainer:
                container[key] = trainer[key]
        if trainer.get("resourcesPerNode"):
            container["resources"] = trainer["resourcesPerNode"]
        return {"metadata": obj.get("metadata") or {},
                "spec": {"template": {"spec": {"containers": [container]}},
                         "suspend": spec.get("suspend")}}
    return obj


def shape_of(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What a distributed object runs beyond its trial's container: its kind and replicas
    (empty for a Job, so a Job's fields are what they always were)."""
    kind = kind_of(obj)
    spec = obj.get("spec") or {}
    if kind == PYTORCHJOB:
        replicas = spec.get("pytorchReplicaSpecs") or {}
        worker = replicas.get("Worker") or {}
        return {"kind": kind, "workers": int(worker.get("replicas", 1)) if worker else 0,
                "nprocPerNode": spec.get("nprocPerNode")}
    if kind == TRAINJOB:
        trainer = spec.get("trainer") or {}
        return {"kind": kind, "numNodes": trainer.get("numNodes"),
                "numProcPerNode": trainer.get("numProcPerNode"),
                "runtime": (spec.get("runtimeRef") or {}).get("name")}
    return {}


def replica_of(trial: str, pod: str) -> str:
    """A distributed trial's pod, named for its place in the trial: "master", "worker-1"
    (PyTorchJob pods are <trial>-master-0, <trial>-worker-<i>); "node-2" (a TrainJob's are
    <trial>-node-0-<index>-<random>); else the pod's own name."""
    if not pod.startswith(trial + "-"):
        return pod
    rest = pod[len(trial) + 1:]
    if rest == "master-0":
        return "master"
    if rest.startswith("worker-"):
        return rest
    parts = rest.split("-")
    if len(parts) >= 3 and parts[0] == "node" and parts[1].isdigit() and parts[2].isdigit():
        return f"node-{parts[2]}"
    return rest


def replica_order(name: str) -> tuple[int, int, str]:
    """Sort key: the master first, then workers (nodes) by index."""
    if name == "master":
        return (0, 0, name)
    head, _, index = name.rpartition("-")
    if index.isdigit() and head in ("worker", "node"):
        return (1, int(index), name)
    return (2, 0, name)
