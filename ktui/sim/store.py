"""Objects, the global resourceVersion, per-resource watch history, and watchers.

Every stored object is an immutable `ObjVersion` holding its compact JSON (without kind and
apiVersion, exactly as list items are served) plus the few things selectors and indexes need
(labels, field-selector values, controller owner uid). Dicts are decoded only on demand, so
150k pre-populated pods cost their JSON bytes and little else, and lists are assembled from
cached bytes.

All methods run on the simulator's event loop thread; none of them awaits.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import msgspec

from ktui.sim.resources import EVENTS, JOBS, NAMESPACES, NODES, PODS, STORED, ResourceInfo
from ktui.sim.selectors import FieldSelector, LabelSelector

_encode = msgspec.json.encode
_decode = msgspec.json.decode

META_ORDER = (
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields",
)
_META_SET = frozenset(META_ORDER)


def canonical(obj: Mapping[str, Any]) -> dict[str, Any]:
    """Strip kind/apiVersion and put metadata first, its keys in ObjectMeta field order.

    The resourceVersion rewrite in `with_rv` relies on this order: metadata comes first and
    its resourceVersion precedes labels and annotations, so the first match is the right one.
    """
    meta = obj.get("metadata") or {}
    ordered = {k: meta[k] for k in META_ORDER if k in meta}
    for k, v in meta.items():
        if k not in _META_SET:
            ordered[k] = v
    out: dict[str, Any] = {"metadata": ordered}
    for k, v in obj.items():
        if k not in ("kind", "apiVersion", "metadata"):
            out[k] = v
    return out


def key_of(info: ResourceInfo, namespace: str | None, name: str) -> str:
    return f"{namespace}/{name}" if info.namespaced else name


def _pod_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    out = {}
    for k, v in (
        ("spec.nodeName", spec.get("nodeName")),
        ("spec.restartPolicy", spec.get("restartPolicy")),
        ("spec.schedulerName", spec.get("schedulerName")),
        ("spec.serviceAccountName", spec.get("serviceAccountName")),
        ("status.phase", status.get("phase")),
        ("status.podIP", status.get("podIP")),
        ("status.nominatedNodeName", status.get("nominatedNodeName")),
    ):
        if v:
            out[k] = v
    out["spec.hostNetwork"] = "true" if spec.get("hostNetwork") else "false"
    return out


def _event_fields(obj: Mapping[str, Any]) -> dict[str, str]:
    inv = obj.get("involvedObject") or {}
    out = {f"involvedObject.{k}": str(inv[k]) for k in
           ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
           if inv.get(k)}
    for k in ("reason", "reportingComponent", "type"):
        if obj.get(k):
            out[k] = obj[k]
    src = (obj.get("source") or {}).get("component")
    if src:
        out["source"] = src
    return out


def field_values(info: ResourceInfo, obj: Mapping[str, Any]) -> dict[str, str]:
    if info is PODS:
        return _pod_fields(obj)
    if info is EVENTS:
        return _event_fields(obj)
    if info is JOBS:
        return {"status.successful": str((obj.get("status") or {}).get("succeeded") or 0)}
    if info is NODES:
        return {"spec.unschedulable": "true" if (obj.get("spec") or {}).get("unschedulable")
                else "false"}
    if info is NAMESPACES:
        return {"status.phase": (obj.get("status") or {}).get("phase", "")}
    return {}


def controller_uid(meta: Mapping[str, Any]) -> str | None:
    for ref in meta.get("ownerReferences") or ():
        if ref.get("controller"):
            uid = ref.get("uid")
            return uid if isinstance(uid, str) else None
    return None


class ObjVersion:
    """One immutable version of one object."""

    __slots__ = ("key", "namespace", "name", "uid", "rv", "raw", "labels", "fields", "owner",
                 "deleting")

    def __init__(self, key: str, namespace: str | None, name: str, uid: str, rv: int,
                 raw: bytes, labels: dict[str, str], fields: dict[str, str],
                 owner: str | None, deleting: bool = False) -> None:
        self.key = key
        self.namespace = namespace
        self.name = name
        self.uid = uid
        self.rv = rv
        self.raw = raw
        self.labels = labels
        self.fields = fields
        self.owner = owner
        # metadata.deletionTimestamp is set (graceful deletion or finalizers pending).
        self.deleting = deleting

    def obj(self) -> dict[str, Any]:
        """A fresh dict (no kind/apiVersion) that the caller may mutate."""
        out: dict[str, Any] = _decode(self.raw)
        return out

    def full(self, info: ResourceInfo) -> bytes:
        if info.down is not None:  # (a deprecated version: converted on the way out)
            return msgspec.json.encode({"kind": info.kind, "apiVersion": info.api_version,
                                        **info.down(self.obj())})
        return info.kind_prefix + self.raw[1:]

    def with_rv(self, rv: int) -> ObjVersion:
        old = b'"resourceVersion":"%d"' % self.rv
        new = b'"resourceVersion":"%d"' % rv
        return ObjVersion(self.key, self.namespace, self.name, self.uid, rv,
                          self.raw.replace(old, new, 1), self.labels, self.fields, self.owner,
                          self.deleting)


def make_version(info: ResourceInfo, obj: Mapping[str, Any], rv: int) -> ObjVersion:
    """Encode `obj` (whose metadata.resourceVersion the caller already set to `rv`)."""
    body = canonical(obj)
    meta = body["metadata"]
    ns = meta.get("namespace") if info.namespaced else None
    name = meta["name"]
    return ObjVersion(key_of(info, ns, name), ns, name, meta.get("uid", ""), rv, _encode(body),
                      meta.get("labels") or {}, field_values(info, body), controller_uid(meta),
                      bool(meta.get("deletionTimestamp")))


class WatchEvent:
    __slots__ = ("type", "rv", "obj", "prev")

    def __init__(self, type_: str, rv: int, obj: ObjVersion, prev: ObjVersion | None) -> None:
        self.type = type_
        self.rv = rv
        self.obj = obj
        self.prev = prev


class Watcher:
    """Server side of one watch: filters store events into a queue the HTTP stream drains."""

    def __init__(self, info: ResourceInfo, namespace: str | None, labels: LabelSelector,
                 fields: FieldSelector, max_queue: int = 200_000) -> None:
        self.info = info
        self.namespace = namespace
        self.label_selector = labels
        self.field_selector = fields
        self.queue: deque[tuple[str, Any]] = deque()
        self.wake = asyncio.Event()
        self.closed = False
        self.max_queue = max_queue
        # Set by the HTTP layer so faults can cut the connection mid-stream.
        self.abort: Callable[[], None] | None = None
        self.aborted = False

    def matches(self, v: ObjVersion) -> bool:
        if self.namespace is not None and v.namespace != self.namespace:
            return False
        if not self.label_selector.empty and not self.label_selector.matches(v.labels):
            return False
        if not self.field_selector.empty:
            values = {"metadata.name": v.name, "metadata.namespace": v.namespace or "",
                      **v.fields}
            if not self.field_selector.matches(values):
                return False
        return True

    def push(self, type_: str, payload: Any) -> None:
        if self.closed:
            return
        if len(self.queue) >= self.max_queue:
            # A client this slow would make us buffer without bound; kube-apiserver also
            # drops such watchers and lets the client re-list.
            self.close()
            return
        self.queue.append((type_, payload))
        self.wake.set()

    def offer(self, ev: WatchEvent) -> None:
        cur = ev.type != "DELETED" and self.matches(ev.obj)
        old = ev.prev is not None and self.matches(ev.prev)
        if cur and not old:
            self.push("ADDED", ev.obj)
        elif cur and old:
            self.push("MODIFIED", ev.obj)
        elif old and ev.prev is not None:
            # Leaving the selector looks like a deletion, carrying the last matching content
            # at the event's resourceVersion (cacher.go does the same).
            self.push("DELETED", ev.obj if ev.type == "DELETED" else ev.prev.with_rv(ev.rv))

    def close(self) -> None:
        self.closed = True
        self.wake.set()

    def kill(self) -> None:
        """Cut the connection without ending the chunked stream (what a dropped link looks like)."""
        self.aborted = True
        if self.abort is not None:
            self.abort()
        self.close()


class ResourceStore:
    def __init__(self, info: ResourceInfo, history_size: int, floor: int) -> None:
        self.info = info
        self.objects: dict[str, ObjVersion] = {}
        self.keys: list[str] = []
        self.history: deque[WatchEvent] = deque()
        self.history_size = history_size
        # A watch may resume from any resourceVersion >= floor.
        self.floor = floor
        self.watchers: set[Watcher] = set()

    def range_bounds(self, namespace: str | None) -> tuple[str, str]:
        if namespace is None or not self.info.namespaced:
            return "", "\U0010ffff"
        # '/' + 1 == '0': every key of the namespace sorts between these two.
        return namespace + "/", namespace + "0"

    def _record(self, ev: WatchEvent) -> None:
        self.history.append(ev)
        while len(self.history) > self.history_size:
            self.floor = self.history.popleft().rv
        for w in list(self.watchers):
            w.offer(ev)

    def changed_since(self, rv: int) -> dict[str, ObjVersion | None]:
        """key -> its version as of `rv` (None: absent then) for keys changed after `rv`."""
        changed: dict[str, ObjVersion | None] = {}
        for ev in reversed(self.history):
            if ev.rv <= rv:
                break
            changed[ev.obj.key] = ev.prev
        return changed

    def iter_range(self, lo: str, hi: str, at_rv: int | None,
                   changed: dict[str, ObjVersion | None] | None = None) -> Iterator[ObjVersion]:
        """Objects with lo <= key < hi in key order, as they were at `at_rv` (None: now).

        Must be consumed without yielding to the event loop in between.
        """
        keys = self.keys
        i = bisect_left(keys, lo)
        j = bisect_left(keys, hi)
        if at_rv is None:
            objects = self.objects
            for idx in range(i, j):
                yield objects[keys[idx]]
            return
        if changed is None:
            changed = self.changed_since(at_rv)
        gone = sorted(k for k, v in changed.items()
                      if v is not None and k not in self.objects and lo <= k < hi)
        g = 0
        idx = i
        while idx < j or g < len(gone):
            if g < len(gone) and (idx >= j or gone[g] < keys[idx]):
                yield changed[gone[g]]  # type: ignore[misc]
                g += 1
                continue
            key = keys[idx]
            idx += 1
            if key in changed:
                old = changed[key]
                if old is not None:
                    yield old
            else:
                yield self.objects[key]

    def count_after(self, key: str, hi: str, changed: dict[str, ObjVersion | None] | None) -> int:
        n = bisect_left(self.keys, hi) - bisect_left(self.keys, key + "\x00")
        if changed:
            for k, v in changed.items():
                if not (key < k < hi):
                    continue
                present_now = k in self.objects
                if v is None and present_now:
                    n -= 1
                elif v is not None and not present_now:
                    n += 1
        return n


Listener = Callable[[ResourceInfo, WatchEvent], None]


class Store:
    def __init__(self, history_size: int = 10_000) -> None:
        self.rv = 1
        self.resources: dict[str, ResourceStore] = {
            info.plural: ResourceStore(info, history_size, self.rv) for info in STORED
        }
        # Controllers subscribe here; a listener must only queue work, never write the store
        # from inside the callback (that would reorder watch events).
        self.listeners: list[Listener] = []

    def __getitem__(self, plural: str) -> ResourceStore:
        return self.resources[plural]

    def next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def get(self, info: ResourceInfo, namespace: str | None, name: str) -> ObjVersion | None:
        return self.resources[info.plural].objects.get(key_of(info, namespace, name))

    def _notify(self, info: ResourceInfo, ev: WatchEvent) -> None:
        self.resources[info.plural]._record(ev)
        for fn in self.listeners:
            fn(info, ev)

    def add(self, info: ResourceInfo, obj: dict[str, Any]) -> ObjVersion:
        """Insert a new object; metadata (uid, creationTimestamp...) must be complete."""
        rv = self.next_rv()
        obj["metadata"]["resourceVersion"] = str(rv)
        v = make_version(info, obj, rv)
        rs = self.resources[info.plural]
        if v.key in rs.objects:
            raise KeyError(v.key)
        rs.objects[v.key] = v
        insort(rs.keys, v.key)
        self._notify(info, WatchEvent("ADDED", rv, v, None))
        return v

    def replace(self, info: ResourceInfo, obj: dict[str, Any]) -> ObjVersion:
        """Store a new version of an existing object (matched by namespace/name)."""
        rv = self.next_rv()
        obj["metadata"]["resourceVersion"] = str(rv)
        v = make_version(info, obj, rv)
        rs = self.resources[info.plural]
        prev = rs.objects[v.key]
        rs.objects[v.key] = v
        self._notify(info, WatchEvent("MODIFIED", rv, v, prev))
        return v

    def remove(self, info: ResourceInfo, key: str) -> ObjVersion:
        rs = self.resources[info.plural]
        prev = rs.objects.pop(key)
        i = bisect_left(rs.keys, key)
        del rs.keys[i]
        rv = self.next_rv()
        gone = prev.with_rv(rv)
        self._notify(info, WatchEvent("DELETED", rv, gone, prev))
        return gone

    def bulk_load(self, info: ResourceInfo, versions: list[ObjVersion]) -> None:
        """Load pre-populated objects without watch events (they predate every watch)."""
        rs = self.resources[info.plural]
        for v in versions:
            rs.objects[v.key] = v
        rs.keys = sorted(rs.objects)

    def compact(self) -> None:
        """Forget all watch history: resuming from any older resourceVersion gets 410."""
        for rs in self.resources.values():
            rs.history.clear()
            rs.floor = self.rv

    def set_floor_to_now(self) -> None:
        for rs in self.resources.values():
            rs.floor = self.rv
