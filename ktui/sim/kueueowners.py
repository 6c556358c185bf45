"""The kinds of object Kueue queues, as its job framework sees each one (the integrations of
pkg/controller/jobs/*): how it is suspended and resumed, which PodSets its Workload asks
for, and when it has finished.

batch/v1 Job: `spec.suspend`, one PodSet `main` of min(parallelism, completions) pods (an
Indexed Job likewise: its parallelism). Kubeflow PyTorchJob: `spec.runPolicy.suspend`, one
PodSet per replica type in lower case (`master`, `worker`) with its replica count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ktui.sim.resources import JOBS, PYTORCHJOBS, ResourceInfo


@dataclass(frozen=True)
class Owner:
    info: ResourceInfo
    group: str
    podsets: Callable[[dict[str, Any]], list[dict[str, Any]]]
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


def _job_podsets(job: dict[str, Any]) -> list[dict[str, Any]]:
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


def _ptj_podsets(obj: dict[str, Any]) -> list[dict[str, Any]]:
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


OWNERS: dict[str, Owner] = {
    "jobs": Owner(JOBS, "batch", _job_podsets, _job_spec, _job_finished, _job_templates),
    "pytorchjobs": Owner(PYTORCHJOBS, "kubeflow.org", _ptj_podsets, _run_policy,
                         _ptj_finished, _ptj_templates),
}
