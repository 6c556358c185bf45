"""Which of the optional APIs ktui can use a cluster serves: Kubeflow's PyTorchJob, Trainer
v2's TrainJob, Kueue's Workloads and its visibility API (issue 18).

Read from discovery, as kubectl does: `/apis` (the groups and their versions), then the
resource list of each group of interest that is served, at most one request per group.
A cluster without a group simply lacks it: nothing here is an error for the user, and a
refused or failed discovery reads as "not served" with the reason kept for the one line
that says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from ktui.cluster.kube.transport import ApiError, Transport, Unreachable

# (group, resource) -> the operator that serves it, for the line that says what to install.
KINDS: dict[str, tuple[str, str, str]] = {
    "PyTorchJob": ("kubeflow.org", "pytorchjobs", "the Kubeflow training operator (v1)"),
    "TrainJob": ("trainer.kubeflow.org", "trainjobs", "Kubeflow Trainer (v2)"),
    "Workload": ("kueue.x-k8s.io", "workloads", "Kueue"),
}
VISIBILITY_GROUP = "visibility.kueue.x-k8s.io"


class _Version(msgspec.Struct):
    groupVersion: str = ""
    version: str = ""


class _Group(msgspec.Struct):
    name: str = ""
    versions: list[_Version] = []
    preferredVersion: _Version | None = None


class _Groups(msgspec.Struct):
    groups: list[_Group] = []


class _Resource(msgspec.Struct):
    name: str = ""
    kind: str = ""


class _Resources(msgspec.Struct):
    groupVersion: str = ""
    resources: list[_Resource] = []


_GROUPS = msgspec.json.Decoder(_Groups)
_RESOURCES = msgspec.json.Decoder(_Resources)


@dataclass(frozen=True)
class Served:
    """kind -> the groupVersion serving it ("kubeflow.org/v1"), for the kinds of KINDS the
    cluster serves; ``visibility``: the visibility API's groupVersion, if served; ``error``:
    why discovery could not be read, if it could not."""

    kinds: dict[str, str] = field(default_factory=dict)
    visibility: str | None = None
    error: str | None = None

    def serves(self, kind: str) -> bool:
        return kind in self.kinds

    def missing(self, kind: str) -> str:
        """One line saying why ``kind`` cannot be launched here."""
        group, resource, operator = KINDS[kind]
        why = f" (discovery failed: {self.error})" if self.error else ""
        return f"this cluster does not serve {kind} ({resource}.{group}): install {operator}{why}"


def discover(transport: Transport) -> Served:
    try:
        groups = _GROUPS.decode(transport.get("/apis", timeout=(5.0, 30.0))).groups
    except (ApiError, Unreachable, msgspec.DecodeError) as exc:
        return Served(error=str(exc))
    by_name = {g.name: g for g in groups}
    kinds: dict[str, str] = {}
    for kind, (group, resource, _) in KINDS.items():
        g = by_name.get(group)
        if g is None:
            continue
        # The preferred version first (what kubectl uses), then the others, newest listed first.
        versions = ([g.preferredVersion] if g.preferredVersion else []) + list(g.versions)
        for v in dict.fromkeys(v.groupVersion for v in versions if v.groupVersion):
            try:
                served = _RESOURCES.decode(transport.get(f"/apis/{v}", timeout=(5.0, 30.0))).resources
            except (ApiError, Unreachable, msgspec.DecodeError):
                continue
            if any(r.name == resource for r in served):
                kinds[kind] = v
                break
    vis = by_name.get(VISIBILITY_GROUP)
    visibility = None
    if vis is not None:
        pref = vis.preferredVersion or (vis.versions[0] if vis.versions else None)
        visibility = pref.groupVersion if pref is not None else None
    return Served(kinds, visibility)
