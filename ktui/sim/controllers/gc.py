"""Garbage collector: propagationPolicy Background, Foreground and Orphan for Job -> Pods,
and Job -> ConfigMaps (an indexed sweep's parameters, owned by their Job)."""

from __future__ import annotations

import contextlib
from functools import partial
from typing import Any

from ktui.sim import errors
from ktui.sim.cluster import Cluster
from ktui.sim.resources import CONFIGMAPS, JOBS, PODS, ResourceInfo
from ktui.sim.store import WatchEvent

# Simulated seconds between an owner's deletion and the GC acting on its dependents.
GC_DELAY = 0.05


class GarbageCollector:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        # uid -> key of owners being deleted in the foreground
        self._foreground: dict[str, str] = {}
        cluster.store.listeners.append(self._on_event)

    def _on_event(self, info: ResourceInfo, ev: WatchEvent) -> None:
        if info is JOBS:
            if ev.type == "DELETED":
                uid = ev.obj.uid
                self._foreground.pop(uid, None)
                if uid in self.cluster.pods_by_owner:
                    self.cluster.after(GC_DELAY, partial(self._delete_dependents, uid))
                self.cluster.after(GC_DELAY, partial(self._delete_config_maps, uid))
            elif ev.obj.deleting and (ev.prev is None or not ev.prev.deleting):
                self.cluster.after(GC_DELAY, partial(self._finalize, ev.obj.key))
        elif info is PODS and ev.type == "DELETED" and ev.obj.owner in self._foreground:
            self.cluster.after(GC_DELAY, partial(self._finalize, self._foreground[ev.obj.owner]))

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

    def _finalize(self, key: str) -> None:
        cur = self.cluster.store["jobs"].objects.get(key)
        if cur is None:
            return
        fins = cur.obj()["metadata"].get("finalizers") or []
        if "orphan" in fins:
            for v in self.cluster.pods_of(cur.uid):
                self.cluster.mutate(PODS, v.key, partial(_drop_owner, uid=cur.uid))
            for v in self._owned_config_maps(cur.uid):
                self.cluster.mutate(CONFIGMAPS, v.key, partial(_drop_owner, uid=cur.uid))
            self._remove_finalizer(key, "orphan")
        elif "foregroundDeletion" in fins:
            dependents = self.cluster.pods_of(cur.uid)
            if dependents:
                self._foreground[cur.uid] = key
                self._delete_dependents(cur.uid)
            else:
                self._foreground.pop(cur.uid, None)
                self._remove_finalizer(key, "foregroundDeletion")

    def _remove_finalizer(self, key: str, name: str) -> None:
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

        self.cluster.mutate(JOBS, key, drop)


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
