"""Custom resources the simulator can serve, as kube-apiserver serves installed CRDs.

Each feature (`SimConfig.kubeflow`, `SimConfig.kueue`) turns on a group: its discovery
(legacy and aggregated), its REST paths and its Tables (additionalPrinterColumns). Off, the
group is absent as on a plain cluster: discovery omits it and its paths answer the text/plain
`404 page not found` (k8s-reference/more/crd-not-installed-404-variants.txt). Objects of
every version live in one store (conversion strategy None: only apiVersion differs).
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, replace
from typing import Any

from ktui.sim import clock
from ktui.sim.config import SimConfig
from ktui.sim.resources import (
    CLUSTERQUEUES,
    CLUSTERTRAININGRUNTIMES,
    JOBSET,
    JOBSETS,
    KUEUE,
    LOCALQUEUES,
    PYTORCHJOBS,
    RESOURCEFLAVORS,
    TRAINER,
    TRAININGRUNTIMES,
    TRAINJOBS,
    WORKLOADS,
    ResourceInfo,
)

CRUD_VERBS = ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"]
STATUS_VERBS = ["get", "patch", "update"]
NAME_COLUMN = {
    "name": "Name", "type": "string", "format": "name",
    "description": "Name must be unique within a namespace. Is required when creating resources, "
    "although some resources may allow a client to request the generation of an appropriate "
    "name automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
    "priority": 0,
}
# Captured storageVersionHash values; others derived the way the server does (sha256 of
# group/version/kind, first 8 bytes, base64).
_HASHES = {"pytorchjobs": "qvtXFuAPskk=", "workloads": "/RGEkJN+gBs="}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    path: str
    priority: int = 0
    description: str = ""  # the CRD's own; empty: the server's generic one


@dataclass(frozen=True)
class Crd:
    info: ResourceInfo  # the storage version
    singular: str
    versions: tuple[str, ...]
    columns: tuple[Column, ...]
    categories: tuple[str, ...] = ()
    status: bool = True  # has the status subresource


AGE = Column("Age", "date", ".metadata.creationTimestamp")
CRDS = {
    "pytorchjobs": Crd(PYTORCHJOBS, "pytorchjob", ("v1",),
                       (Column("State", "string", ".status.conditions[-1:].type"), AGE)),
    "workloads": Crd(WORKLOADS, "workload", ("v1beta2", "v1beta1"), (
        Column("Queue", "string", ".spec.queueName"),
        Column("Reserved in", "string", ".status.admission.clusterQueue"),
        Column("Admitted", "string", ".status.conditions[?(@.type=='Admitted')].status"),
        Column("Finished", "string", ".status.conditions[?(@.type=='Finished')].status"),
        AGE), ("kueue",)),
    "clusterqueues": Crd(CLUSTERQUEUES, "clusterqueue", ("v1beta2", "v1beta1"), (
        Column("Cohort", "string", ".spec.cohortName"),
        Column("Strategy", "string", ".spec.queueingStrategy", 1),
        Column("Pending Workloads", "integer", ".status.pendingWorkloads"),
        Column("Admitted Workloads", "integer", ".status.admittedWorkloads", 1)), ("kueue",)),
    "localqueues": Crd(LOCALQUEUES, "localqueue", ("v1beta2", "v1beta1"), (
        Column("ClusterQueue", "string", ".spec.clusterQueue"),
        Column("Pending Workloads", "integer", ".status.pendingWorkloads"),
        Column("Admitted Workloads", "integer", ".status.admittedWorkloads")), ("kueue",)),
    "resourceflavors": Crd(RESOURCEFLAVORS, "resourceflavor", ("v1beta2", "v1beta1"), (AGE,),
                           ("kueue",)),
    # Kubeflow Trainer v2.3 (trainjob_types.go, trainingruntime_types.go) and JobSet v0.12.
    "trainjobs": Crd(TRAINJOBS, "trainjob", ("v1alpha1",),
                     (Column("State", "string", ".status.conditions[-1:].type"), AGE)),
    "trainingruntimes": Crd(TRAININGRUNTIMES, "trainingruntime", ("v1alpha1",), (AGE,),
                            status=False),
    "clustertrainingruntimes": Crd(CLUSTERTRAININGRUNTIMES, "clustertrainingruntime",
                                   ("v1alpha1",), (AGE,), status=False),
    "jobsets": Crd(JOBSETS, "jobset", ("v1alpha2",), (
        Column("TerminalState", "string", ".status.terminalState",
               description="Final state of JobSet"),
        Column("Restarts", "string", ".status.restarts", description="Number of restarts"),
        Column("Completed", "string", '.status.conditions[?(@.type=="Completed")].status'),
        Column("Suspended", "string", ".spec.suspend", description="JobSet suspended"),
        Column("Age", "date", ".metadata.creationTimestamp",
               description="Time this JobSet was created"))),
}
GROUP_RESOURCES = {"kubeflow.org": ("pytorchjobs",),
                   KUEUE: ("workloads", "clusterqueues", "localqueues", "resourceflavors"),
                   TRAINER: ("trainjobs", "trainingruntimes", "clustertrainingruntimes"),
                   JOBSET: ("jobsets",)}
GROUP_VERSIONS = {"kubeflow.org": ("v1",), KUEUE: ("v1beta2", "v1beta1"),
                  TRAINER: ("v1alpha1",), JOBSET: ("v1alpha2",)}


def _hash(crd: Crd) -> str:
    if crd.info.plural in _HASHES:
        return _HASHES[crd.info.plural]
    digest = hashlib.sha256(f"{crd.info.group}/{crd.info.version}/{crd.info.kind}".encode())
    return base64.b64encode(digest.digest()[:8]).decode()


def is_builtin_group(group: str) -> bool:
    """Groups compiled into kube-apiserver (no dot, or *.k8s.io) answer unknown resources with
    a JSON Status 404; everything else is a CRD group or nothing."""
    return "." not in group or group.endswith(".k8s.io") and not group.endswith(".x-k8s.io")


class CustomResources:
    def __init__(self, config: SimConfig) -> None:
        self.groups: list[str] = []
        if config.kubeflow:
            self.groups.append("kubeflow.org")
        if config.kueue:
            self.groups.append(KUEUE)
        if config.trainer:
            self.groups += [TRAINER, JOBSET]
        self._by_gvr: dict[tuple[str, str, str], ResourceInfo] = {}
        for group in self.groups:
            for plural in GROUP_RESOURCES[group]:
                crd = CRDS[plural]
                for version in crd.versions:
                    info = crd.info if version == crd.info.version else replace(crd.info,
                                                                                version=version)
                    self._by_gvr[(group, version, plural)] = info

    def lookup(self, group: str, version: str, plural: str) -> ResourceInfo | None:
        return self._by_gvr.get((group, version, plural))

    def serves(self, group: str) -> bool:
        return group in self.groups

    # ------------------------------------------------------------------ discovery

    def api_group(self, group: str) -> dict[str, Any]:
        versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in GROUP_VERSIONS[group]]
        return {"name": group, "versions": versions, "preferredVersion": versions[0]}

    def resource_list(self, group: str, version: str) -> dict[str, Any] | None:
        if version not in GROUP_VERSIONS.get(group, ()) or group not in self.groups:
            return None
        resources: list[dict[str, Any]] = []
        for plural in GROUP_RESOURCES[group]:
            crd = CRDS[plural]
            main: dict[str, Any] = {"name": plural, "singularName": crd.singular,
                                    "namespaced": crd.info.namespaced, "kind": crd.info.kind,
                                    "verbs": CRUD_VERBS}
            if crd.info.short_names and group != "kubeflow.org":
                main["shortNames"] = list(crd.info.short_names)
            if crd.categories:
                main["categories"] = list(crd.categories)
            main["storageVersionHash"] = _hash(crd)
            resources.append(main)
            if crd.status:
                resources.append({"name": f"{plural}/status", "singularName": "",
                                  "namespaced": crd.info.namespaced, "kind": crd.info.kind,
                                  "verbs": STATUS_VERBS})
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/{version}",
                "resources": resources}

    def aggregated(self) -> list[dict[str, Any]]:
        out = []
        for group in self.groups:
            versions = []
            for version in GROUP_VERSIONS[group]:
                resources = []
                for plural in GROUP_RESOURCES[group]:
                    crd = CRDS[plural]
                    kind = {"group": group, "version": version, "kind": crd.info.kind}
                    entry: dict[str, Any] = {
                        "resource": plural, "responseKind": kind,
                        "scope": "Namespaced" if crd.info.namespaced else "Cluster",
                        "singularResource": crd.singular}
                    if crd.info.short_names and group != "kubeflow.org":
                        entry["shortNames"] = list(crd.info.short_names)
                    entry["verbs"] = CRUD_VERBS
                    if crd.categories:
                        entry["categories"] = list(crd.categories)
                    if crd.status:
                        entry["subresources"] = [{"subresource": "status",
                                                  "responseKind": kind, "verbs": STATUS_VERBS}]
                    resources.append(entry)
                versions.append({"version": version, "resources": resources,
                                 "freshness": "Current"})
            out.append({"metadata": {"name": group, "creationTimestamp": None},
                        "versions": versions})
        return out

    # ------------------------------------------------------------------ tables


def columns(plural: str) -> list[dict[str, Any]]:
    out = [dict(NAME_COLUMN)]
    for c in CRDS[plural].columns:
        out.append({"name": c.name, "type": c.type, "format": "",
                    "description": c.description or "Custom resource definition column (in "
                    "JSONPath format): " + c.path, "priority": c.priority})
    return out


def _jsonpath(obj: Any, path: str) -> Any:
    """The few JSONPath forms printer columns use: .a.b, [-1:], [?(@.type=='X')]."""
    cur: list[Any] = [obj]
    # Brackets first: a filter's own dot (`@.type`) must not split it.
    for part in re.findall(r"\[[^\]]*\]|[^.\[]+", path):
        nxt: list[Any] = []
        for value in cur:
            if part == "[-1:]":
                if isinstance(value, list) and value:
                    nxt.append(value[-1])
            elif part.startswith("[?(@."):
                key, _, want = part[5:-2].partition("==")
                if isinstance(value, list):
                    nxt.extend(v for v in value if isinstance(v, dict)
                               and v.get(key) == want.strip("'\""))
            elif isinstance(value, dict) and part in value:
                nxt.append(value[part])
        cur = nxt
    return cur[0] if cur else None


def cells(plural: str, obj: dict[str, Any], now: float) -> list[Any]:
    out: list[Any] = [obj["metadata"]["name"]]
    for c in CRDS[plural].columns:
        value = _jsonpath(obj, c.path)
        if c.type == "date":
            out.append(clock.since(value, now) if value else None)
        else:
            out.append(value)
    return out
