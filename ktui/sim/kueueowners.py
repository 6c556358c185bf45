"""The kinds of object Kueue queues, as its job framework sees each one (the integrations of
pkg/controller/jobs/*): how it is suspended and resumed, which PodSets its Workload asks
for, and when it has finished.

batch/v1 Job: `spec.suspend`, one PodSet `main` of min(parallelism, completions) pods (an
Indexed Job likewise: its parallelism). Kubeflow PyTorchJob: `spec.runPolicy.suspend`, one
PodSet per replica type in lower case (`master`, `worker`) with its replica count. Kubeflow
Trainer v2 TrainJob: `spec.suspend`, the PodSets of the JobSet it would make (Kueue builds
it with Trainer's runtime framework): one per replicatedJob of its runtime, named after it,
parallelism x replicas pods (the stock runtime's `node`: numNodes), the trainer's
resourcesPerNode in its template.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ktui.sim.cluster import Cluster
from ktui.sim.resources import (
    CLUSTERTRAININGRUNTIMES,
    JOBS,
    PYTORCHJOBS,
    TRAININGRUNTIMES,
    TRAINJOBS,
    ResourceInfo,
)
from ktui.sim.trainer import build_jobset


@dataclass(frozen=True)
class Owner:
    info: ResourceInfo
    group: str
    # Its Workload's PodSets (the cluster: for what the object refers to, a runtime).
    podsets: Callable[[dict[str, Any], Cluster], list[dict[str, Any]]]
    # The dict holding `suspend` (created on demand).
    suspend_holder: Callable[[dict[str, Any]], dict[str, Any]]
    # (succeeded, message) once finished, else None.
    finished: Callable[[dict[str, Any]], tuple[bool, str] | None]
    # Where the flavor's nodeSelector goes on admission: each pod template's spec.
    templates: Callable[[dict[str, Any]], list[dict[str, Any]]]

    @property
    def kind(self) -> str:
        return self.info.kind

    def suspended(self, obj: dict[str, Any]) -> bool:
        return bool(self.suspend_holder(obj).get("suspend"))


def _template(t: dict[str, Any] | None) -> dict[str, Any]:
    t = t or {}
    return {"metadata": t.get("metadata") or {}, "spec": t.get("spec") or {}}


def _job_podsets(job: dict[str, Any], _: Cluster) -> list[dict[str, Any]]:
    spec = job.get("spec") or {}
    count = min(spec.get("parallelism", 1), spec.get("completions") or 10 ** 9)
    return [{"count": count, "name": "main", "template": _template(spec.get("template"))}]


def _true_condition(obj: dict[str, Any], types: tuple[str, ...]) -> dict[str, Any] | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or ()
                 if c.get("type") in types and c.get("status") == "True"), None)


def _job_finished(job: dict[str, Any]) -> tuple[bool, str] | None:
    done = _true_condition(job, ("Complete", "Failed"))
    if done is None:
        return None
    ok = done["type"] == "Complete"
    return ok, "Job finished successfully" if ok else done.get("message", "")


def _job_spec(job: dict[str, Any]) -> dict[str, Any]:
    return job.setdefault("spec", {})


def _job_templates(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [_job_spec(job).setdefault("template", {}).setdefault("spec", {})]


def _replicas(obj: dict[str, Any]) -> dict[str, Any]:
    return (obj.get("spec") or {}).get("pytorchReplicaSpecs") or {}


def _ptj_podsets(obj: dict[str, Any], _: Cluster) -> list[dict[str, Any]]:
    order = {"Master": 0, "Worker": 1}
    return [{"count": int(r.get("replicas", 1)), "name": rtype.lower(),
             "template": _template(r.get("template"))}
            for rtype, r in sorted(_replicas(obj).items(), key=lambda kv: order.get(kv[0], 9))]


def _ptj_finished(obj: dict[str, Any]) -> tuple[bool, str] | None:
    done = _true_condition(obj, ("Succeeded", "Failed"))
    if done is None:
        return None
    return done["type"] == "Succeeded", done.get("message", "")


def _run_policy(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.setdefault("spec", {}).setdefault("runPolicy", {})


def _ptj_templates(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return [r.setdefault("template", {}).setdefault("spec", {})
            for r in _replicas(obj).values() if isinstance(r, dict)]


def _runtime(cluster: Cluster, obj: dict[str, Any]) -> dict[str, Any] | None:
    ref = (obj.get("spec") or {}).get("runtimeRef") or {}
    if ref.get("kind") == TRAININGRUNTIMES.kind:
        v = cluster.store.get(TRAININGRUNTIMES, obj["metadata"].get("namespace"), ref.get("name", ""))
    else:
        v = cluster.store.get(CLUSTERTRAININGRUNTIMES, None, ref.get("name", ""))
    return v.obj() if v is not None else None


def _tj_podsets(obj: dict[str, Any], cluster: Cluster) -> list[dict[str, Any]]:
    runtime = _runtime(cluster, obj)
    if runtime is None:
        # (Its runtime went after the TrainJob was admitted by the webhook: what it asks for.)
        trainer = (obj.get("spec") or {}).get("trainer") or {}
        container = {"name": "node", "resources": trainer.get("resourcesPerNode") or {}}
        return [{"count": int(trainer.get("numNodes") or 1), "name": "node",
                 "template": {"metadata": {}, "spec": {"containers": [container]}}}]
    js = build_jobset(obj, runtime)
    out = []
    for rjob in js["spec"].get("replicatedJobs") or ():
        jspec = (rjob.get("template") or {}).get("spec") or {}
        count = int(jspec.get("parallelism", 1)) * int(rjob.get("replicas", 1))
        out.append({"count": count, "name": rjob["name"],
                    "template": _template(jspec.get("template"))})
    return out


def _tj_finished(obj: dict[str, Any]) -> tuple[bool, str] | None:
    done = _true_condition(obj, ("Complete", "Failed"))
    if done is None:
        return None
    return done["type"] == "Complete", done.get("message", "")


def _no_templates(obj: dict[str, Any]) -> list[dict[str, Any]]:
    # Kueue reaches a TrainJob's pods through a runtimePatch, which the simulated TrainJob
    # controller applies only when it makes the JobSet: a flavor's nodeLabels are not
    # applied to TrainJobs (the default flavor has none).
    return []


OWNERS: dict[str, Owner] = {
    "jobs": Owner(JOBS, "batch", _job_podsets, _job_spec, _job_finished, _job_templates),
    "pytorchjobs": Owner(PYTORCHJOBS, "kubeflow.org", _ptj_podsets, _run_policy,
                         _ptj_finished, _ptj_templates),
    "trainjobs": Owner(TRAINJOBS, TRAINJOBS.group, _tj_podsets, _job_spec, _tj_finished,
                       _no_templates),
}
