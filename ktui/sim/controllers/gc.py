"""Garbage collector: propagationPolicy Background, Foreground and Orphan for Job -> Pods,
and Job -> ConfigMaps (an indexed sweep's parameters, owned by their Job); Foreground for
PyTorchJob -> Pods and Services (the training-operator removes them on a plain deletion)."""

from __future__ import annotations

import contextlib
from functools import partial
from typing import Any

from ktui.sim import errors
from ktui.sim.cluster import Cluster
from ktui.sim.resources import CONFIGMAPS, JOBS, PODS, PYTORCHJOBS, SERVICES, ResourceInfo
from ktui.sim.store import WatchEvent

# Simulated seconds between an owner's deletion and the GC acting on its dependents.
GC_DELAY = 0.05
# Owners whose pods a foreground deletion waits for (a PyTorchJob's only with --kubeflow).
OWNERS = {JOBS.plural: JOBS, PYTORCHJOBS.plural: PYTORCHJOBS}


class GarbageCollector:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        # uid -> (kind, key) of owners being deleted in the foreground
        self._foreground: dict[str, tuple[ResourceInfo, str]] = {}
        cluster.store.listeners.append(self._on_event)

    def _on_event(self, info: ResourceInfo, ev: WatchEvent) -> None:
        if info is JOBS and ev.type == "DELETED":
            uid = ev.obj.uid
            self._foreground.pop(uid, None)
            if uid in self.cluster.pods_by_owner:
                self.cluster.after(GC_DELAY, partial(self._delete_dependents, uid))
            self.cluster.after(GC_DELAY, partial(self._delete_config_maps, uid))
        elif info is PODS and ev.type == "DELETED" and ev.obj.owner in self._foreground:
            self.cluster.after(GC_DELAY, partial(self._finalize, *self._foreground[ev.obj.owner]))
        elif info.plural in OWNERS:
            if ev.type == "DELETED":
                self._foreground.pop(ev.obj.uid, None)
            elif ev.obj.deleting and (ev.prev is None or not ev.prev.deleting):
                self.cluster.after(GC_DELAY, partial(self._finalize, OWNERS[info.plural], ev.obj.key))

    def _delete_dependents(self, owner_uid: str) -> None:
        for v in self.cluster.pods_of(owner_uid):
            if not v.deleting:
                with contextlib.suppress(errors.ApiError):
                    self.cluster.delete(PODS, v.namespace, v.name,
                                        {"propagationPolicy": "Background"})

    def _owned_config_maps(self, owner_uid: str) -> list[Any]:
        needle = owner_uid.encode()
        return [v for v in list(self.cluster.store["configmaps"].objects.values()) if needle in v.raw
                and any(r.get("uid") == owner_uid for r in v.obj()["metadata"].get("ownerReferences") or ())]

    def _delete_config_maps(self, owner_uid: str) -> None:
        for v in self._owned_config_maps(owner_uid):
            with contextlib.suppress(errors.ApiError):
                self.cluster.delete(CONFIGMAPS, v.namespace, v.name, {"propagationPolicy": "Background"})

    def _delete_services(self, owner_uid: str, namespace: str) -> None:
        rs = self.cluster.store[SERVICES.plural]
        lo, hi = rs.range_bounds(namespace)
        for v in list(rs.iter_range(lo, hi, None)):
            if v.owner == owner_uid:
                with contextlib.suppress(errors.ApiError):
                    self.cluster.delete(SERVICES, v.namespace, v.name)

    def _finalize(self, info: ResourceInfo, key: str) -> None:
        cur = self.cluster.store[info.plural].objects.get(key)
        if cur is None:
            return
        fins = cur.obj()["metadata"].get("finalizers") or []
        if info is PYTORCHJOBS:
            if "foregroundDeletion" in fins:
                self._delete_services(cur.uid, cur.namespace or "")
                self._foreground_step(info, key, cur.uid)
            return
        if "orphan" in fins:
            for v in self.cluster.pods_of(cur.uid):
                self.cluster.mutate(PODS, v.key, partial(_drop_owner, uid=cur.uid))
            for v in self._owned_config_maps(cur.uid):
                self.cluster.mutate(CONFIGMAPS, v.key, partial(_drop_owner, uid=cur.uid))
            self._remove_finalizer(info, key, "orphan")
        elif "foregroundDeletion" in fins:
            self._foreground_step(info, key, cur.uid)

    def _foreground_step(self, info: ResourceInfo, key: str, uid: str) -> None:
        """Delete the owner's pods; once none is left, let the owner go."""
        if self.cluster.pods_of(uid):
            self._foreground[uid] = (info, key)
            self._delete_dependents(uid)
        else:
            self._foreground.pop(uid, None)
            self._remove_finalizer(info, key, "foregroundDeletion")

    def _remove_finalizer(self, info: ResourceInfo, key: str, name: str) -> None:
        def drop(obj: dict[str, Any]) -> bool | None:
            fins = obj["metadata"].get("finalizers") or []
            if name not in fins:
                return False
            rest = [f for f in fins if f != name]
            if rest:
                obj["metadata"]["finalizers"] = rest
            else:
                obj["metadata"].pop("finalizers", None)
            return None

        self.cluster.mutate(info, key, drop)


def _drop_owner(pod: dict[str, Any], uid: str) -> bool | None:
    refs = pod["metadata"].get("ownerReferences") or []
    rest = [r for r in refs if r.get("uid") != uid]
    if len(rest) == len(refs):
        return False
    if rest:
        pod["metadata"]["ownerReferences"] = rest
    else:
        pod["metadata"].pop("ownerReferences", None)
    return None
