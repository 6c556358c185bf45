"""Kueue's API surface besides its controllers: the v1beta1 spelling of objects stored in
v1beta2, and the visibility group's discovery.

Kueue v0.16+ stores v1beta2 and still serves v1beta1 through a conversion webhook, with
the CRD's deprecation warning on every answer (ecosystem-facts section 5). The renames
(apis/kueue/v1beta1/*_conversion.go): a Workload's `priorityClassRef {group, kind, name}`
was `priorityClassName` + `priorityClassSource`, its status's
`accumulatedPastExecutionTimeSeconds` was misspelt `accumulatedPastExexcutionTimeSeconds`,
a LocalQueue's `status.flavorsUsage` was `flavorUsage`.

The visibility API (`visibility.kueue.x-k8s.io` v1beta2 and v1beta1) is an aggregated
APIService, not a CRD: its discovery lists the queues and their `pendingworkloads`
subresource, get only.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

KUEUE = "kueue.x-k8s.io"
VISIBILITY = "visibility.kueue.x-k8s.io"
VERSIONS = ("v1beta2", "v1beta1")
DEPRECATED = '299 - "This version is deprecated. Use v1beta2 instead."'

WPC_SOURCE = "kueue.x-k8s.io/workloadpriorityclass"
POD_SOURCE = "scheduling.k8s.io/priorityclass"
_REFS = {WPC_SOURCE: (KUEUE, "WorkloadPriorityClass"),
         POD_SOURCE: ("scheduling.k8s.io", "PriorityClass")}
_APET_V2 = "accumulatedPastExecutionTimeSeconds"
_APET_V1 = "accumulatedPastExexcutionTimeSeconds"

Convert = Callable[[dict[str, Any]], dict[str, Any]]


def _rename(d: dict[str, Any] | None, old: str, new: str) -> None:
    if isinstance(d, dict) and old in d:
        d[new] = d.pop(old)


def workload_down(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    spec = out.get("spec")
    if isinstance(spec, dict):
        ref = spec.pop("priorityClassRef", None) or {}
        source = next((s for s, gk in _REFS.items()
                       if gk == (ref.get("group"), ref.get("kind"))), "")
        if source:
            spec["priorityClassName"] = ref.get("name", "")
        spec["priorityClassSource"] = source  # (defaulted to "" in v1beta1)
        out["spec"] = dict(sorted(spec.items()))
    _rename(out.get("status"), _APET_V2, _APET_V1)
    return out


def workload_up(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    spec = out.get("spec")
    if isinstance(spec, dict):
        name = spec.pop("priorityClassName", None)
        source = spec.pop("priorityClassSource", None)
        if name and source in _REFS:
            group, kind = _REFS[source]
            spec["priorityClassRef"] = {"group": group, "kind": kind, "name": name}
    _rename(out.get("status"), _APET_V1, _APET_V2)
    return out


def localqueue_down(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    _rename(out.get("status"), "flavorsUsage", "flavorUsage")
    return out


def localqueue_up(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    _rename(out.get("status"), "flavorUsage", "flavorsUsage")
    return out


def _same(obj: dict[str, Any]) -> dict[str, Any]:
    return obj


_CONVERSIONS: dict[str, tuple[Convert, Convert]] = {
    "workloads": (workload_down, workload_up),
    "localqueues": (localqueue_down, localqueue_up),
}


def served_as(plural: str, version: str) -> dict[str, Any]:
    """ResourceInfo fields for a Kueue resource served in ``version``: nothing for the
    storage version; for v1beta1 the conversions (if its fields differ) and the warning."""
    if version != "v1beta1":
        return {}
    down, up = _CONVERSIONS.get(plural, (_same, _same))
    return {"down": down, "up": up, "warning": DEPRECATED}


# ---------------------------------------------------------------------- visibility discovery

_VIS_RESOURCES = (("clusterqueues", "ClusterQueue", "clusterqueue", False),
                  ("localqueues", "LocalQueue", "localqueue", True))


def visibility_resources(version: str) -> dict[str, Any]:
    resources: list[dict[str, Any]] = []
    for plural, kind, singular, namespaced in _VIS_RESOURCES:
        resources.append({"name": plural, "singularName": singular, "namespaced": namespaced,
                          "kind": kind, "verbs": ["get"]})
        resources.append({"name": f"{plural}/pendingworkloads", "singularName": "",
                          "namespaced": namespaced, "kind": "PendingWorkloadsSummary",
                          "verbs": ["get"]})
    return {"kind": "APIResourceList", "apiVersion": "v1",
            "groupVersion": f"{VISIBILITY}/{version}", "resources": resources}


def visibility_aggregated() -> dict[str, Any]:
    versions = []
    for version in VERSIONS:
        resources = []
        for plural, kind, singular, namespaced in _VIS_RESOURCES:
            rkind = {"group": VISIBILITY, "version": version, "kind": kind}
            resources.append({
                "resource": plural, "responseKind": rkind,
                "scope": "Namespaced" if namespaced else "Cluster",
                "singularResource": singular, "verbs": ["get"],
                "subresources": [{"subresource": "pendingworkloads", "responseKind": {
                    "group": VISIBILITY, "version": version,
                    "kind": "PendingWorkloadsSummary"}, "verbs": ["get"]}]})
        versions.append({"version": version, "resources": resources, "freshness": "Current"})
    return {"metadata": {"name": VISIBILITY, "creationTimestamp": None}, "versions": versions}
