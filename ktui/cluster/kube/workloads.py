"""Kueue Workloads -> slim records: whose they are, which queues, and why they wait.

One Workload per queued object (a Job, a PyTorchJob...), named after it and pointing at it
with its controller ownerReference. The reflector watches them in the version discovery says
is served (kueue.x-k8s.io v1beta2, else v1beta1); the fields read here are spelt the same in
both (the renames between them are fields ktui does not read: ecosystem-facts section 5).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from datetime import datetime

import msgspec

from ktui.cluster.kube.decode import Codec
from ktui.cluster.kube.discovery import Served, discover
from ktui.cluster.kube.reflector import Reflector
from ktui.cluster.kube.resources import Resource
from ktui.cluster.kube.transport import Transport
from ktui.cluster.kube.visibility import VisibilityPoller
from ktui.cluster.queuefeed import WorkloadRec
from ktui.cluster.records import ObjKey
from ktui.cluster.store import Store

GROUP = "kueue.x-k8s.io"
# The conditions a queued trial's state is told from, in the order describe lists them.
CONDITIONS = ("QuotaReserved", "Admitted", "Evicted", "Preempted", "Requeued", "PodsReady",
              "Finished")


class _Owner(msgspec.Struct, gc=False):
    kind: str = ""
    name: str = ""
    uid: str = ""
    controller: bool | None = None


class _Meta(msgspec.Struct, gc=False):
    name: str = ""
    namespace: str = ""
    resourceVersion: str = ""
    creationTimestamp: datetime | None = None
    ownerReferences: list[_Owner] | None = None


class _Spec(msgspec.Struct, gc=False):
    queueName: str | None = None
    priority: int | None = None


class _Condition(msgspec.Struct, gc=False):
    type: str = ""
    status: str = ""
    reason: str = ""
    message: str = ""


class _Admission(msgspec.Struct, gc=False):
    clusterQueue: str | None = None


class _Status(msgspec.Struct, gc=False):
    conditions: list[_Condition] | None = None
    admission: _Admission | None = None


class WorkloadWire(msgspec.Struct, gc=False):
    metadata: _Meta = msgspec.field(default_factory=_Meta)
    spec: _Spec | None = None
    status: _Status | None = None


def workload_state(conds: dict[str, _Condition]) -> tuple[str, str | None, str | None]:
    """What says most about why it waits or runs: a finish; an eviction (or preemption) not
    yet followed by a new admission; a refused reservation (Pending, Inadmissible...) with
    the flavor assigner's message; admitted; quota reserved (admission checks pending)."""

    def true(t: str) -> _Condition | None:
        c = conds.get(t)
        return c if c is not None and c.status == "True" else None

    if (c := true("Finished")) is not None:
        return "Finished", c.reason or None, c.message or None
    admitted = true("Admitted")
    if admitted is None:
        evicted, preempted = true("Evicted"), true("Preempted")
        if evicted is not None or preempted is not None:
            # Evicted says why in words a person reads ("Preempted to accommodate a higher
            # priority Workload"); Preempted only where (InClusterQueue).
            c = evicted or preempted
            assert c is not None
            return ("Preempted" if preempted is not None else "Evicted"), c.reason or None, \
                c.message or None
        quota = conds.get("QuotaReserved")
        if quota is not None and quota.status == "False":
            return "Pending", quota.reason or None, quota.message or None
        if quota is not None and quota.status == "True":
            return "QuotaReserved", quota.reason or None, quota.message or None
        return "Pending", None, None
    return "Admitted", admitted.reason or None, admitted.message or None


def workload_record(w: WorkloadWire) -> WorkloadRec | None:
    meta = w.metadata
    if not meta.name:
        return None
    owner = next((o for o in meta.ownerReferences or () if o.controller), None) or next(
        iter(meta.ownerReferences or ()), None)
    st = w.status or _Status()
    conds = {c.type: c for c in st.conditions or () if c.type in CONDITIONS}
    state, reason, message = workload_state(conds)
    spec = w.spec or _Spec()
    return WorkloadRec(
        namespace=meta.namespace,
        name=meta.name,
        rv=meta.resourceVersion,
        owner_kind=owner.kind if owner else None,
        owner_name=owner.name if owner else None,
        owner_uid=owner.uid if owner else None,
        queue=spec.queueName,
        cluster_queue=st.admission.clusterQueue if st.admission else None,
        priority=spec.priority or 0,
        created=meta.creationTimestamp.timestamp() if meta.creationTimestamp else None,
        state=state,
        reason=reason,
        message=message,
        conditions=tuple((t, conds[t].status, conds[t].reason, conds[t].message)
                         for t in CONDITIONS if t in conds),
    )


WORKLOAD_CODEC: Codec[WorkloadWire, WorkloadRec] = Codec("workloads", WorkloadWire,
                                                         workload_record)


def workload_resource(group_version: str) -> Resource:
    """The Workloads of ``group_version`` ("kueue.x-k8s.io/v1beta2"), as discovery found it."""
    return Resource("workloads", WORKLOAD_CODEC, f"/apis/{group_version}")


class QueueWatch:
    """What the cluster's Kueue lets ktui read, started once the server answers: discovery
    (one look), then a reflector over Workloads in the version served and, where the
    visibility API is served, the poller of places in line. A cluster without Kueue gets
    nothing and says nothing (the store's "workloads" are synced, empty)."""

    def __init__(self, transport: Transport, store: Store,
                 reflector: Callable[[Resource], Reflector], *,
                 visibility_interval: float = 3.0,
                 served: Callable[[], Served] | None = None) -> None:
        """``served``: the backend's discovery, shared with the training kinds' (one look
        at the cluster's API groups for both)."""
        self.transport = transport
        self._discover = served or (lambda: discover(transport))
        self.store = store
        self._make_reflector = reflector
        self.visibility_interval = visibility_interval
        self.served: Served | None = None
        self.reflector: Reflector | None = None
        self.visibility: VisibilityPoller | None = None
        self._focus: Collection[ObjKey] | None = None
        self._lock = threading.Lock()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="ktui-kueue", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        served = self._discover()
        with self._lock:
            if self._stopped:
                return
            self.served = served
            version = served.kinds.get("Workload")
            if version is None:
                self.store.mark_synced("workloads")
                return
            self.reflector = self._make_reflector(workload_resource(version))
            self.reflector.start()
            if served.visibility is not None:
                self.visibility = VisibilityPoller(self.transport, self.store, served.visibility,
                                                   interval=self.visibility_interval)
                self.visibility.set_focus(self._focus)
                self.visibility.start()

    def set_focus(self, queues: Collection[ObjKey] | None) -> None:
        with self._lock:
            self._focus = queues
            if self.visibility is not None:
                self.visibility.set_focus(queues)

    def refresh(self) -> None:
        """Read the places in line now (a command that prints them once)."""
        with self._lock:
            poller = self.visibility
        if poller is not None:
            poller.poll_once()

    def wake(self) -> None:
        if self.reflector is not None:
            self.reflector.wake()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
        for part in (self.reflector, self.visibility):
            if part is not None:
                part.stop()

    def join(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout if timeout is not None else 1e9)
        if self._thread.is_alive():
            self._thread.join(max(0.0, deadline - time.monotonic()))
        for part in (self.reflector, self.visibility):
            if part is not None:
                part.join(max(0.0, deadline - time.monotonic()))
