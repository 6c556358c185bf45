"""Namespace controller: empties a Terminating namespace, then removes it."""

from __future__ import annotations

import contextlib
from typing import Any

from ktui.sim import errors
from ktui.sim.cluster import Cluster
from ktui.sim.resources import EVENTS, JOBS, NAMESPACES, PODS, ResourceInfo
from ktui.sim.store import WatchEvent

RETRY = 1.0


class NamespaceController:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        cluster.store.listeners.append(self._on_event)

    def _on_event(self, info: ResourceInfo, ev: WatchEvent) -> None:
        if info is NAMESPACES and ev.type != "DELETED" and ev.obj.deleting and (
                ev.prev is None or not ev.prev.deleting):
            self.cluster.after(0.05, lambda: self._sync(ev.obj.name))

    def _sync(self, name: str) -> None:
        ns = self.cluster.store.get(NAMESPACES, None, name)
        if ns is None:
            return
        left = 0
        for info, options in ((JOBS, {"propagationPolicy": "Background"}),
                              (PODS, {}), (EVENTS, {})):
            rs = self.cluster.store[info.plural]
            lo, hi = rs.range_bounds(name)
            for v in list(rs.iter_range(lo, hi, None)):
                left += 1
                if not v.deleting:
                    with contextlib.suppress(errors.ApiError):
                        self.cluster.delete(info, v.namespace, v.name, options)
        if left:
            self.cluster.after(RETRY, lambda: self._sync(name))
            return

        def finalize(obj: dict[str, Any]) -> None:
            obj["spec"] = {}

        self.cluster.mutate(NAMESPACES, ns.key, finalize)
        if ns.key in self.cluster.store["namespaces"].objects:
            self.cluster.store.remove(NAMESPACES, ns.key)
