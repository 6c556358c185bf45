"""core/v1 Events as the job controller, the scheduler and the kubelet write them.

Shapes follow obj-events-core-v1-ref.json: controller and kubelet events carry source,
count and first/lastTimestamp with eventTime null; scheduler events (written through
events.k8s.io) carry eventTime, action and reporting fields and an empty source. Repeats of
the same (object, reason, message) are aggregated into one event (count / series), which
keeps crash and image-pull loops from flooding watches.
"""

from __future__ import annotations

import itertools
from typing import Any

from ktui.sim import clock
from ktui.sim.cluster import Cluster
from ktui.sim.resources import EVENTS, ResourceInfo
from ktui.sim.store import WatchEvent
from ktui.sim.validate import new_uid

SCHEDULER_INSTANCE = "default-scheduler-ktui-sim"


class EventRecorder:
    def __init__(self, cluster: Cluster, ttl: float = 3600.0) -> None:
        self.cluster = cluster
        self.ttl = ttl
        self._seq = itertools.count()
        # (involved uid, reason, message) -> event key, for aggregation.
        self._seen: dict[tuple[str, str, str], str] = {}
        self._by_key: dict[str, tuple[str, str, str]] = {}
        # event key -> wall time of its last occurrence, so expiry needs no decoding.
        self._last: dict[str, float] = {}
        cluster.store.listeners.append(self._forget)

    def _forget(self, info: ResourceInfo, ev: WatchEvent) -> None:
        if info is EVENTS and ev.type == "DELETED":
            self._last.pop(ev.obj.key, None)
            ident = self._by_key.pop(ev.obj.key, None)
            if ident is not None:
                self._seen.pop(ident, None)

    def _remember(self, ident: tuple[str, str, str], key: str) -> None:
        self._seen[ident] = key
        self._by_key[key] = ident
        self._last[key] = clock.now()

    def _name(self, involved_name: str) -> str:
        # kube's recorder names events "<object>.<unix nanos in hex>"; the counter keeps two
        # events from the same nanosecond apart.
        return f"{involved_name}.{clock.now_ns() + next(self._seq):x}"

    @staticmethod
    def _ref(kind: str, api_version: str, meta: dict[str, Any],
             field_path: str | None = None) -> dict[str, Any]:
        ref = {"kind": kind, "namespace": meta.get("namespace"), "name": meta["name"],
               "uid": meta.get("uid"), "apiVersion": api_version,
               "resourceVersion": meta.get("resourceVersion")}
        if field_path:
            ref["fieldPath"] = field_path
        return ref

    def _aggregate(self, uid: str, reason: str, message: str, scheduler: bool) -> bool:
        key = self._seen.get((uid, reason, message))
        if key is None or key not in self.cluster.store["events"].objects:
            return False
        now = clock.now()

        def bump(ev: dict[str, Any]) -> None:
            if scheduler:
                series = ev.get("series") or {"count": 1}
                ev["series"] = {"count": series["count"] + 1,
                                "lastObservedTime": clock.rfc3339_micro(now)}
            else:
                ev["count"] = (ev.get("count") or 1) + 1
                ev["lastTimestamp"] = clock.rfc3339(now)

        self.cluster.mutate(EVENTS, key, bump)
        self._last[key] = now
        return True

    def controller(self, component: str, kind: str, api_version: str, meta: dict[str, Any],
                   type_: str, reason: str, message: str, host: str = "",
                   field_path: str | None = None) -> None:
        """An event written by a controller or the kubelet through core/v1."""
        uid = meta.get("uid") or ""
        if self._aggregate(uid, reason, message, scheduler=False):
            return
        now = clock.rfc3339(clock.now())
        source: dict[str, Any] = {"component": component}
        if host:
            source["host"] = host
        ev = {
            "metadata": {"name": self._name(meta["name"]), "namespace": meta.get("namespace"),
                         "uid": new_uid(), "creationTimestamp": now},
            "involvedObject": self._ref(kind, api_version, meta, field_path),
            "reason": reason,
            "message": message,
            "source": source,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": type_,
            "eventTime": None,
            "reportingComponent": component,
            "reportingInstance": host,
        }
        v = self.cluster.store.add(EVENTS, ev)
        self._remember((uid, reason, message), v.key)

    def job(self, job_meta: dict[str, Any], type_: str, reason: str, message: str) -> None:
        self.controller("job-controller", "Job", "batch/v1", job_meta, type_, reason, message)

    def kubelet(self, pod_meta: dict[str, Any], node: str, type_: str, reason: str,
                message: str, container: str | None = None) -> None:
        path = f"spec.containers{{{container}}}" if container else None
        self.controller("kubelet", "Pod", "v1", pod_meta, type_, reason, message, host=node,
                        field_path=path)

    def scheduler(self, pod_meta: dict[str, Any], type_: str, reason: str, message: str,
                  action: str) -> None:
        uid = pod_meta.get("uid") or ""
        if self._aggregate(uid, reason, message, scheduler=True):
            return
        now = clock.now()
        ev = {
            "metadata": {"name": self._name(pod_meta["name"]),
                         "namespace": pod_meta.get("namespace"), "uid": new_uid(),
                         "creationTimestamp": clock.rfc3339(now)},
            "involvedObject": self._ref("Pod", "v1", pod_meta),
            "reason": reason,
            "message": message,
            "source": {},
            "firstTimestamp": None,
            "lastTimestamp": None,
            "type": type_,
            "eventTime": clock.rfc3339_micro(now),
            "action": action,
            "reportingComponent": "default-scheduler",
            "reportingInstance": SCHEDULER_INSTANCE,
        }
        v = self.cluster.store.add(EVENTS, ev)
        self._remember((uid, reason, message), v.key)

    def expire(self) -> None:
        """Delete events whose last occurrence is older than the TTL (kube-apiserver: 1h)."""
        cutoff = clock.now() - self.ttl
        rs = self.cluster.store["events"]
        for key, v in list(rs.objects.items()):
            when = self._last.get(key)
            if when is None:
                # Created through the API: read its time once.
                ev = v.obj()
                last = (ev.get("lastTimestamp")
                        or (ev.get("series") or {}).get("lastObservedTime")
                        or ev.get("eventTime") or ev["metadata"].get("creationTimestamp"))
                when = clock.parse_rfc3339(last) if last else clock.now()
                self._last[key] = when
            if when < cutoff:
                self.cluster.store.remove(EVENTS, key)
