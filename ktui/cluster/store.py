"""The thread-safe store that joins raw records into trials, nodes and sweeps.

Writers (one reflector thread per resource) call ``apply``/``retain`` at any rate; each call
costs a few dict operations per record: the raw record is stored, the node's requested sums
are adjusted incrementally, and the affected trial/node keys are marked dirty and stamped
with the new version. Nothing is joined on the write path.

Readers (the UI on a tick, the CLI) call ``changes_since(version)`` to learn which keys
changed, then ``get_trials``/``get_nodes`` for just those; the dirty keys are joined lazily
on that read. Records handed out are immutable and shared, so readers never need copies.
This is the k9s model: informers fill the cache at any rate, the screen reads it on a tick.

The change feed keeps, per key, the version of its last change in an insertion-ordered dict
(a changed key is moved to the end), so ``changes_since(v)`` walks only the keys changed
after ``v`` and repeated changes of one key coalesce. Keys of removed objects stay as
tombstones until they are pruned; a consumer older than the pruned horizon gets
``reset=True`` and re-reads the snapshots.

One object with one lock, written in five modules: this one (the write path and the
readers' entry points), trialjoin.py (the lazy joins, sweep counts, the feed's walk),
eventindex.py (warning events per object), gpufeed.py (GPU readings) and health.py
(connection, problems, list progress), its base classes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from ktui.cluster.eventindex import EventIndex
from ktui.cluster.gpufeed import GpuFeed
from ktui.cluster.health import Health
from ktui.cluster.indexfeed import IndexedJobRec, IndexFeed
from ktui.cluster.join import owned_pods
from ktui.cluster.model import (
    Changes,
    NodeView,
    SweepSummary,
    Trial,
    TrialKey,
)
from ktui.cluster.queuefeed import QueueFeed
from ktui.cluster.records import EventRec, JobRec, NodeRec, NodeUsage, ObjKey, PodRec, PodUsage
from ktui.cluster.trainingfeed import TRAINING_KINDS, TrainingFeed
from ktui.cluster.trialjoin import TrialJoin
from ktui.gcpause import gc_paused

KINDS = ("pods", "jobs", "nodes", "events")


def _same_but_rv(old: Any, new: Any) -> bool:
    """Whether two records of one object differ only in resourceVersion. Most watch events
    change what the slim records leave out (managedFields, probe times, annotations of
    other tools): the record is kept (its rv is current for the next relist), but no
    trial is marked, so nothing downstream joins, searches or repaints for it."""
    return msgspec.structs.replace(new, rv=old.rv) == old


class Store(Health, EventIndex, GpuFeed, QueueFeed, IndexFeed, TrialJoin, TrainingFeed):
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._version = 0

        # Raw inputs, as the backend reports them.
        self._pods: dict[ObjKey, PodRec] = {}
        self._jobs: dict[ObjKey, JobRec] = {}
        self._nodes: dict[str, NodeRec] = {}
        self._events: dict[ObjKey, EventRec] = {}
        self._usage: dict[str, NodeUsage] | None = None
        self._pod_usage: dict[ObjKey, PodUsage] = {}
        self._init_gpu()
        self._init_queues()
        self._init_training()

        # One tuple object per trial key, shared by every per-trial dict below (a fresh
        # (ns, name) tuple in each would cost memory per dict per trial: NOTES.md M22).
        self._tkeys: dict[TrialKey, TrialKey] = {}
        # An indexed sweep's Job -> the keys of the trials it runs (one per index).
        self._index_children: dict[ObjKey, tuple[TrialKey, ...]] = {}
        self._init_index()

        # Join indexes, maintained on write.
        self._job_pods: dict[TrialKey, tuple[str, ...]] = {}  # (ns, job) -> pod names
        # (ns, job) -> (job uid, (reason, message, node)) of the last pod that ran and went
        # wrong: the Job controller may delete that pod before the Job is marked Failed.
        self._last_failure: dict[TrialKey, tuple[str | None, tuple[str, str | None, str | None]]] = {}
        self._node_req: dict[str, list[int]] = {}  # node -> [cpu_m, memory, gpu, pods]
        self._obj_events: dict[tuple[str, str, str], tuple[str, ...]] = {}  # (ns, kind, name)

        # Joined views, rebuilt lazily from the dirty sets.
        self._trials: dict[TrialKey, Trial] = {}
        self._views: dict[str, NodeView] = {}
        self._sweep_counts: dict[TrialKey, list[int]] = {}
        # (ns, sweep) -> its trials' keys (a dict as an ordered set): the UI reads the
        # metrics of the sweeps it shows without a pass over every trial (NOTES.md M24).
        self._sweep_members: dict[TrialKey, dict[TrialKey, None]] = {}
        self._dirty_trials: set[TrialKey] = set()
        self._ready_seen = 0  # the version join_ready last looked from
        self._dirty_nodes: set[str] = set()

        # Change feed.
        self._trial_ver: dict[TrialKey, int] = {}
        self._node_ver: dict[str, int] = {}
        self._sweeps_ver = 0
        self._problems_ver = 0
        self._floor = 0

        self._synced: set[str] = set()
        self._resync: dict[str, set[Any]] = {}
        self._init_health()

    # ----------------------------------------------------------------------------------------
    # Writers

    def apply(
        self,
        kind: str,
        upserts: Iterable[Any] = (),
        deletes: Iterable[Any] = (),
    ) -> int:
        """Add/replace records of ``kind`` and delete keys; returns how many changed.

        A record whose resourceVersion equals the stored one is skipped, so a relist that
        re-delivers the same objects produces no changes.
        """
        put, drop = self._handlers(kind)
        with gc_paused(), self._lock:
            v = self._version + 1
            changed = 0
            stale = self._resync.get(kind)
            if stale:
                upserts = list(upserts)
                if kind == "nodes":
                    stale.difference_update(r.name for r in upserts)
                else:
                    stale.difference_update((r.namespace, r.name) for r in upserts)
            for rec in upserts:
                changed += put(rec, v)
            for key in deletes:
                changed += drop(key, v)
            if changed:
                self._version = v
                self._cond.notify_all()
            return changed

    def begin_resync(self, kind: str) -> None:
        """A full relist of ``kind`` starts: remember every key held, and forget each one
        that the list re-delivers (in ``apply``); ``end_resync`` deletes the rest."""
        with self._lock:
            self._resync[kind] = set(self._table(kind))

    def end_resync(self, kind: str, commit: bool = True) -> int:
        with self._lock:
            stale = self._resync.pop(kind, set())
        if not commit or not stale:
            return 0
        return self.apply(kind, deletes=stale)

    def retain(self, kind: str, keys: set[Any]) -> int:
        """Delete every record of ``kind`` whose key is not in ``keys`` (after a relist)."""
        with self._lock:
            table = self._table(kind)
            gone = [k for k in table if k not in keys]
        return self.apply(kind, deletes=gone) if gone else 0

    def clear(self, kind: str) -> int:
        with self._lock:
            keys = list(self._table(kind))
        return self.apply(kind, deletes=keys)

    def set_usage(self, usage: Mapping[str, NodeUsage] | None) -> None:
        """Node usage from metrics; None when it is unavailable (views then show requests)."""
        with self._lock:
            old = self._usage
            new = dict(usage) if usage is not None else None
            names = set(old or ()) | set(new or ())
            v = self._version + 1
            changed = False
            for name in names:
                if (old or {}).get(name) != (new or {}).get(name):
                    self._mark_node(name, v)
                    changed = True
            if (old is None) != (new is None):
                for name in self._nodes:
                    self._mark_node(name, v)
                changed = True
            self._usage = new
            if changed:
                self._version = v
                self._cond.notify_all()

    def set_pod_usage(self, usage: Mapping[ObjKey, PodUsage]) -> None:
        """Measured use of running pods (all of them: pods missing from ``usage`` have none);
        only trials whose pod's reading changed are marked."""
        with self._lock:
            old = self._pod_usage
            new = dict(usage)
            v = self._version + 1
            changed = False
            for key in old.keys() | new.keys():
                if old.get(key) != new.get(key):
                    pod = self._pods.get(key)
                    if pod is not None and pod.job:
                        self._mark_trial((pod.namespace, pod.job), v)
                        changed = True
            self._pod_usage = new
            if changed:
                self._version = v
                self._cond.notify_all()

    def mark_synced(self, kind: str, synced: bool = True) -> None:
        with self._lock:
            if (kind in self._synced) == synced:
                return
            if synced:
                self._synced.add(kind)
                self._progress.pop(kind, None)
            else:
                self._synced.discard(kind)
            if kind == "pods":
                # Trial phases depend on whether pods are visible at all: for a Job that
                # counts active pods (see job_phase). Marking every trial here joined all
                # 150,000 again at the end of a big first list.
                v = self._version + 1
                for key, job in self._jobs.items():
                    if job.active > 0:
                        self._mark_trial(key, v)
                self._version = v
            self._cond.notify_all()

    # ----------------------------------------------------------------------------------------
    # Readers

    @property
    def version(self) -> int:
        return self._version

    def changes_since(self, version: int) -> Changes:
        with self._lock:
            self._flush()
            now = self._version
            if version < self._floor:
                return Changes(version=now, sweeps=True, problems=True, reset=True)
            trials, removed_trials = self._walk(self._trial_ver, self._trials, version)
            nodes, removed_nodes = self._walk(self._node_ver, self._views, version)
            return Changes(
                version=now,
                nodes=nodes,
                trials=trials,
                removed_nodes=removed_nodes,
                removed_trials=removed_trials,
                sweeps=self._sweeps_ver > version,
                problems=self._problems_ver > version,
            )

    def node_changes_since(self, version: int) -> tuple[int, frozenset[str], frozenset[str]] | None:
        """(version, changed, removed) for the node views alone, None when ``version`` is
        too old to tell (take a snapshot). It joins no trial: while a big first list
        arrives the UI follows the nodes with this and leaves the trials to the list's end."""
        with self._lock:
            self._flush_nodes()
            if version < self._floor:
                return None
            nodes, removed = self._walk(self._node_ver, self._views, version)
            return self._version, nodes, removed

    def wait(self, version: int, timeout: float | None = None) -> int:
        """Block until the store is newer than ``version`` (or timeout); return the version."""
        with self._cond:
            self._cond.wait_for(lambda: self._version > version, timeout)
            return self._version

    def snapshot_trials(self) -> dict[TrialKey, Trial]:
        """Every trial (a shallow copy of the index; the records themselves are shared)."""
        with self._lock:
            self._flush()
            return dict(self._trials)

    def snapshot_nodes(self) -> dict[str, NodeView]:
        with self._lock:
            self._flush_nodes()
            return dict(self._views)

    def get_trial(self, key: TrialKey) -> Trial | None:
        with self._lock:
            self._flush()
            return self._trials.get(key)

    def get_trials(self, keys: Iterable[TrialKey]) -> dict[TrialKey, Trial]:
        with self._lock:
            self._flush()
            trials = self._trials
            return {k: trials[k] for k in keys if k in trials}

    def get_nodes(self, names: Iterable[str]) -> dict[str, NodeView]:
        with self._lock:
            self._flush_nodes()
            views = self._views
            return {n: views[n] for n in names if n in views}

    def sweep_members(self, sweeps: Iterable[tuple[str, str]]) -> list[TrialKey]:
        """The keys of the trials of these (namespace, sweep) pairs."""
        with self._lock:
            self._flush()
            out: list[TrialKey] = []
            for s in sweeps:
                out.extend(self._sweep_members.get(s, ()))
            return out

    def sweeps(self) -> list[SweepSummary]:
        with self._lock:
            self._flush()
            out = []
            for (ns, name), c in self._sweep_counts.items():
                out.append(SweepSummary(ns, name, sum(c), *c))
        out.sort(key=lambda s: (s.namespace, s.name))
        return out

    def trials_of_sweep(self, sweep: str, namespace: str | None = None) -> list[Trial]:
        with self._lock:
            self._flush()
            return [
                t
                for t in self._trials.values()
                if t.sweep == sweep and (namespace is None or t.namespace == namespace)
            ]

    def pods_of(self, key: TrialKey) -> list[PodRec]:
        """The pods of a job, newest first."""
        with self._lock:
            job = self._trial_job(key)
            pods = [self._pods[(key[0], n)] for n in self._job_pods.get(key, ())]
        if job is not None:
            pods = owned_pods(job, pods)
        pods.sort(key=lambda p: (p.created or 0.0, p.name), reverse=True)
        return pods

    def job(self, key: TrialKey) -> JobRec | None:
        with self._lock:
            return self._jobs.get(key)

    def events_of(self, namespace: str, kind: str, name: str) -> list[EventRec]:
        with self._lock:
            return self._events_of(namespace, kind, name)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {
                "pods": len(self._pods),
                "jobs": len(self._jobs),
                "nodes": len(self._nodes),
                "events": len(self._events),
            }

    def keys(self, kind: str) -> set[Any]:
        """Keys of the raw records of ``kind`` (tests compare them with the server)."""
        with self._lock:
            return set(self._table(kind))

    def record(self, kind: str, key: Any) -> Any:
        with self._lock:
            return self._table(kind).get(key)

    # ----------------------------------------------------------------------------------------
    # Internals (lock held)

    def _table(self, kind: str) -> dict[Any, Any]:
        if kind in TRAINING_KINDS:
            return self._training[kind]
        tables: dict[str, dict[Any, Any]] = {
            "pods": self._pods,
            "jobs": self._batch_jobs(),
            "nodes": self._nodes,
            "events": self._events,
            "workloads": self._workloads,
        }
        try:
            return tables[kind]
        except KeyError:
            raise ValueError(f"unknown kind {kind!r}") from None

    def _handlers(self, kind: str):  # type: ignore[no-untyped-def]
        if kind == "pods":
            return self._put_pod, self._drop_pod
        if kind == "jobs":
            return self._put_job, self._drop_job
        if kind == "nodes":
            return self._put_node, self._drop_node
        if kind == "events":
            return self._put_event, self._drop_event
        if kind == "workloads":
            return self._put_workload, self._drop_workload
        if kind in TRAINING_KINDS:
            return self._training_handlers(kind)
        raise ValueError(f"unknown kind {kind!r}")

    def _tkey(self, key: TrialKey) -> TrialKey:
        return self._tkeys.setdefault(key, key)

    def _mark_trial(self, key: TrialKey, v: int) -> None:
        ver = self._trial_ver
        if ver.get(key) == v:
            return  # already marked in this apply (several pods of one job)
        key = self._tkey(key)
        self._dirty_trials.add(key)
        ver.pop(key, None)
        ver[key] = v

    def _mark_node(self, name: str, v: int) -> None:
        ver = self._node_ver
        if ver.get(name) == v:
            return  # a page of pods marks each node once, not once per pod
        self._dirty_nodes.add(name)
        ver.pop(name, None)
        ver[name] = v

    def _account(self, pod: PodRec, sign: int, v: int) -> None:
        node = pod.node
        if node is None or pod.terminated:
            return
        acc = self._node_req.get(node)
        if acc is None:
            acc = self._node_req[node] = [0, 0, 0, 0]
        acc[0] += sign * pod.cpu_m
        acc[1] += sign * pod.memory
        acc[2] += sign * pod.gpu
        acc[3] += sign
        if acc[3] == 0 and sign < 0:
            del self._node_req[node]
        self._mark_node(node, v)

    def _put_pod(self, rec: PodRec, v: int) -> int:
        key = (rec.namespace, rec.name)
        old = self._pods.get(key)
        if old is not None and rec.rv and old.rv == rec.rv:
            return 0
        self._pods[key] = rec
        if old is not None and _same_but_rv(old, rec):
            return 0  # what changed is nothing ktui keeps (see _same_but_rv)
        if old is not None:
            self._account(old, -1, v)
        self._account(rec, 1, v)
        if old is None or old.job != rec.job:
            if old is not None and old.job is not None:
                self._unindex_pod(old)
            if rec.job is not None:
                jkey = self._tkey((rec.namespace, rec.job))
                self._job_pods[jkey] = (*self._job_pods.get(jkey, ()), rec.name)
        if old is not None and old.job is not None and old.job != rec.job:
            self._mark_trial((old.namespace, old.job), v)
        if rec.job is not None:
            self._mark_trial((rec.namespace, rec.job), v)
            if rec.reason is not None and rec.node is not None:
                self._last_failure[self._tkey((rec.namespace, rec.job))] = (rec.job_uid, (rec.reason, rec.message, rec.node))
        return 1

    def _unindex_pod(self, pod: PodRec) -> None:
        jkey = (pod.namespace, pod.job)
        names = tuple(n for n in self._job_pods.get(jkey, ()) if n != pod.name)  # type: ignore[arg-type]
        if names:
            self._job_pods[jkey] = names  # type: ignore[index]
        else:
            self._job_pods.pop(jkey, None)  # type: ignore[arg-type]

    def _drop_pod(self, key: ObjKey, v: int) -> int:
        old = self._pods.pop(key, None)
        if old is None:
            return 0
        self._account(old, -1, v)
        if old.job is not None:
            self._unindex_pod(old)
            self._mark_trial((old.namespace, old.job), v)
        return 1

    def _put_job(self, rec: JobRec, v: int) -> int:
        key = self._tkey((rec.namespace, rec.name))
        old = self._jobs.get(key)
        if old is not None and rec.rv and old.rv == rec.rv:
            return 0
        self._jobs[key] = rec
        if old is not None and _same_but_rv(old, rec):
            return 0
        if isinstance(rec, IndexedJobRec) or isinstance(old, IndexedJobRec):
            return self._put_indexed(key, old, rec, v)  # (its trials, one per index)
        self._mark_trial(key, v)
        return 1

    def _drop_job(self, key: ObjKey, v: int) -> int:
        old = self._jobs.pop(key, None)
        if old is None:
            return 0
        if isinstance(old, IndexedJobRec):
            self._drop_indexed(key, v)
        self._last_failure.pop(key, None)
        self._mark_trial(key, v)
        return 1

    def _put_node(self, rec: NodeRec, v: int) -> int:
        old = self._nodes.get(rec.name)
        if old is not None and rec.rv and old.rv == rec.rv:
            return 0
        self._nodes[rec.name] = rec
        self._mark_node(rec.name, v)
        return 1

    def _drop_node(self, name: str, v: int) -> int:
        if self._nodes.pop(name, None) is None:
            return 0
        self._mark_node(name, v)
        return 1

