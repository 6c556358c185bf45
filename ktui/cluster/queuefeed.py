"""The store's queue state (Kueue): each queued object's Workload, held by its owner, and the
Workloads' places in their queues, so a trial can say why it waits.

A Workload names its owner (the Job, the PyTorchJob) with its controller ownerReference; a
trial finds its own by (namespace, the object that runs it): its Job, or an indexed sweep's
Job for each of the trials it runs. Positions come apart from the Workloads (the visibility
API, read on demand); a Workload that stops waiting loses its place.

A part of Store (its base class); it shares the store's lock and version, so a change here
reaches readers through the same change feed, marking only the trials of the owner it changes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

import msgspec

from ktui.cluster.model import QueueInfo, TrialKey
from ktui.cluster.queuewords import WAITING
from ktui.cluster.records import JobRec, ObjKey

# A Workload's place in line: (in its LocalQueue, in its ClusterQueue), 0-based.
Position = tuple[int | None, int | None]


class WorkloadRec(msgspec.Struct, frozen=True, gc=False):
    """A Kueue Workload, as much as a trial shows (decoded by kube/workloads.py)."""

    namespace: str
    name: str
    rv: str
    owner_kind: str | None
    owner_name: str | None
    owner_uid: str | None
    queue: str | None  # the LocalQueue
    cluster_queue: str | None  # where its quota is reserved (admission.clusterQueue)
    priority: int
    created: float | None
    state: str  # QueueInfo.state
    reason: str | None
    message: str | None
    # (type, status, reason, message) of the conditions that matter, for describe.
    conditions: tuple[tuple[str, str, str, str], ...] = ()

    @property
    def key(self) -> ObjKey:
        return (self.namespace, self.name)

    @property
    def owner_key(self) -> ObjKey | None:
        return (self.namespace, self.owner_name) if self.owner_name else None

    @property
    def waiting(self) -> bool:
        return self.state in WAITING

    def info(self, position: Position = (None, None)) -> QueueInfo:
        return QueueInfo(self.name, self.queue, self.cluster_queue, self.state, self.reason,
                         self.message, position[0], position[1], self.conditions)


@dataclass(frozen=True)
class QueueLoad:
    """One LocalQueue's Workloads that are not finished: waiting, and admitted."""

    namespace: str
    name: str
    pending: int
    admitted: int


class QueueFeed:
    _lock: threading.RLock
    _cond: threading.Condition
    _version: int

    def _mark_trial(self, key: TrialKey, v: int) -> None: ...  # (Store's)
    # TrialJoin's (an annotation, not a stub: this class comes first in Store's bases).
    _trials_of_object: Callable[[ObjKey], tuple[TrialKey, ...]]

    def _init_queues(self) -> None:
        self._workloads: dict[ObjKey, WorkloadRec] = {}
        # (namespace, owner name) -> its Workloads' keys (a rerun's new Job may meet its
        # predecessor's Workload, not yet collected).
        self._wl_owner: dict[ObjKey, tuple[ObjKey, ...]] = {}
        self._positions: dict[ObjKey, Position] = {}
        # queue_loads' answer and the Workloads' version it was counted at (the UI asks
        # four times a second; Workloads change far less often).
        self._wl_version = 0
        self._loads: tuple[int, list[QueueLoad]] = (-1, [])

    # ------------------------------------------------------------------ writers

    def _put_workload(self, rec: WorkloadRec, v: int) -> int:
        key = rec.key
        old = self._workloads.get(key)
        if old is not None and rec.rv and old.rv == rec.rv:
            return 0
        self._workloads[key] = rec
        if old is not None and msgspec.structs.replace(rec, rv=old.rv) == old:
            return 0
        self._wl_version += 1
        if old is not None and old.owner_key != rec.owner_key:
            self._unindex(old, v)
        owner = rec.owner_key
        if owner is not None:
            keys = self._wl_owner.get(owner, ())
            if key not in keys:
                self._wl_owner[owner] = (*keys, key)
            self._mark_owner(owner, v)
        if not rec.waiting:
            self._positions.pop(key, None)
        return 1

    def _drop_workload(self, key: ObjKey, v: int) -> int:
        old = self._workloads.pop(key, None)
        if old is None:
            return 0
        self._positions.pop(key, None)
        self._unindex(old, v)
        self._wl_version += 1
        return 1

    def _unindex(self, rec: WorkloadRec, v: int) -> None:
        owner = rec.owner_key
        if owner is None:
            return
        keys = tuple(k for k in self._wl_owner.get(owner, ()) if k != rec.key)
        if keys:
            self._wl_owner[owner] = keys
        else:
            self._wl_owner.pop(owner, None)
        self._mark_owner(owner, v)

    def _mark_owner(self, owner: ObjKey, v: int) -> None:
        for key in self._trials_of_object(owner):
            self._mark_trial(key, v)

    def set_queue_positions(self, positions: Mapping[ObjKey, Position],
                            queues: Collection[ObjKey]) -> None:
        """What the visibility API says of ``queues`` ((namespace, LocalQueue) pairs read):
        the places of their waiting Workloads; one of theirs not in ``positions`` has none
        (it no longer waits, or lies past what was read)."""
        with self._lock:
            v = self._version + 1
            changed = False
            wanted = set(queues)
            for key, rec in self._workloads.items():
                if (rec.namespace, rec.queue or "") not in wanted:
                    continue
                new = positions.get(key)
                if new is not None and not rec.waiting:
                    new = None
                if self._positions.get(key) == new:
                    continue
                if new is None:
                    del self._positions[key]
                else:
                    self._positions[key] = new
                if rec.owner_key is not None:
                    self._mark_owner(rec.owner_key, v)
                    changed = True
            if changed:
                self._version = v
                self._cond.notify_all()

    # ------------------------------------------------------------------ readers

    def _queue_of(self, job: JobRec) -> QueueInfo | None:
        """The Workload of the object that runs the trial (its Job, or an indexed sweep's
        Job): the one of the same uid, else the newest."""
        keys = self._wl_owner.get((job.namespace, job.source or job.name))
        if not keys:
            return None
        recs = [self._workloads[k] for k in keys]
        rec = next((r for r in recs if job.source is None and r.owner_uid == job.uid), None)
        if rec is None:
            if job.source is None and all(r.owner_uid and r.owner_uid != job.uid for r in recs):
                return None  # a predecessor's (a Job of that name deleted and made again)
            rec = max(recs, key=lambda r: (r.created or 0.0, r.name))
        return rec.info(self._positions.get(rec.key, (None, None)))

    def waiting_queues(self) -> set[ObjKey]:
        """(namespace, LocalQueue) of every Workload that waits: where positions are read."""
        with self._lock:
            return {(r.namespace, r.queue) for r in self._workloads.values()
                    if r.waiting and r.queue}

    def queue_loads(self) -> list[QueueLoad]:
        """Per LocalQueue, its unfinished Workloads waiting and admitted; empty when nothing
        waits (the line above the job table shows only then)."""
        with self._lock:
            if self._loads[0] == self._wl_version:
                return self._loads[1]
            counts: dict[ObjKey, list[int]] = {}
            for r in self._workloads.values():
                if r.state == "Finished" or not r.queue:
                    continue
                slot = counts.setdefault((r.namespace, r.queue), [0, 0])
                slot[0 if r.waiting else 1] += 1
            loads = ([QueueLoad(ns, name, p, a) for (ns, name), (p, a) in sorted(counts.items())]
                     if any(p for p, _ in counts.values()) else [])
            self._loads = (self._wl_version, loads)
            return loads
