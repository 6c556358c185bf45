"""The store's read side: joining the raw records marked dirty into Trials and NodeViews
(lazily, when a reader asks), keeping each sweep's counts and members, and walking the
change feed (with its tombstones pruned past a horizon).

A half of Store (its base class), apart from the write path and the health state; it runs
under the store's lock, called by the readers in store.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from ktui.cluster.join import build_node, build_trial, owned_pods
from ktui.cluster.model import JOB_PHASES, GpuDevice, NodeView, QueueInfo, Trial, TrialKey
from ktui.cluster.records import EventRec, JobRec, NodeRec, NodeUsage, ObjKey, PodGpu, PodRec, PodUsage
from ktui.cluster.replicas import lead_pod

_PHASE_INDEX = {p: i for i, p in enumerate(JOB_PHASES)}
# Tombstones kept beyond the live keys before the oldest are pruned.
_TOMBSTONE_SLACK = 20_000


class TrialJoin:
    _lock: threading.RLock
    _version: int
    _floor: int
    _sweeps_ver: int
    _synced: set[str]
    _pods: dict[ObjKey, PodRec]
    _jobs: dict[ObjKey, JobRec]
    _nodes: dict[str, NodeRec]
    _usage: dict[str, NodeUsage] | None
    _pod_usage: dict[ObjKey, PodUsage]
    _gpu_devices: dict[str, tuple[GpuDevice, ...]]
    _pod_gpu: dict[ObjKey, PodGpu]
    _tkeys: dict[TrialKey, TrialKey]
    _index_children: dict[ObjKey, tuple[TrialKey, ...]]
    _job_pods: dict[TrialKey, tuple[str, ...]]
    _last_failure: dict[TrialKey, tuple[str | None, tuple[str, str | None, str | None]]]
    _node_req: dict[str, list[int]]
    _trials: dict[TrialKey, Trial]
    _views: dict[str, NodeView]
    _sweep_counts: dict[TrialKey, list[int]]
    _sweep_members: dict[TrialKey, dict[TrialKey, None]]
    _dirty_trials: set[TrialKey]
    _ready_seen: int
    _dirty_nodes: set[str]
    _trial_ver: dict[TrialKey, int]
    _node_ver: dict[str, int]

    _events_of: Callable[[str, str, str], list[EventRec]]  # EventIndex's

    def join_ready(self, chunk: int = 2000) -> dict[TrialKey, Trial]:
        """While first lists arrive: join the pending trials whose Job and pods are both
        in (or whose pods are all known), a chunk at a time under the lock, and return them.

        Joined by a reader at the list's end instead, each was built once on a thread
        that had waited for the whole list; this uses the moments the reflectors wait for
        the network. A trial whose pods have not come is left for later (joined now, it
        would be joined again when they come)."""
        with self._lock:
            pods_known = "pods" in self._synced
            jobs, job_pods, dirty = self._jobs, self._job_pods, self._dirty_trials
            # Only what was marked since the last call (the change feed is in marking
            # order): a trial passed over, its pods not in, is marked again when they come.
            # (A pass over every pending trial, 4 times a second, cost much of a big load: NOTES.md M19.)
            seen, self._ready_seen = self._ready_seen, self._version
            ready = []
            for key, v in reversed(self._trial_ver.items()):
                if v <= seen:
                    break
                if key in dirty and key in jobs and (pods_known or key in job_pods):
                    ready.append(key)
        out: dict[TrialKey, Trial] = {}
        for i in range(0, len(ready), chunk):
            with self._lock:
                pods_known = "pods" in self._synced
                dirty, trials = self._dirty_trials, self._trials
                for key in ready[i:i + chunk]:
                    if key in dirty:
                        dirty.discard(key)
                        self._rebuild_trial(key, pods_known)
                        t = trials.get(key)
                        if t is not None:
                            out[key] = t
                # (No tombstone pruning here: the trials not joined yet would look like
                # tombstones, and their place in the change feed would be lost.)
        return out

    def _queue_of(self, job: JobRec) -> QueueInfo | None:
        """The trial's place in a queue (the queue feed overrides this); None: not queued."""
        return None

    def _trials_of_object(self, key: ObjKey) -> tuple[TrialKey, ...]:
        """The trials an API object (a Job, a PyTorchJob...) runs: itself, or an indexed
        sweep's Job's one trial per index."""
        return self._index_children.get(key, (key,))

    def _trial_job(self, key: TrialKey) -> JobRec | None:
        """The JobRec a trial is joined from (the index feed overrides this)."""
        return self._jobs.get(key)

    def _flush(self) -> None:
        if self._dirty_trials:
            pods_known = "pods" in self._synced
            for key in self._dirty_trials:
                self._rebuild_trial(key, pods_known)
            self._dirty_trials.clear()
            self._prune(self._trial_ver, self._trials)
        self._flush_nodes()

    def _flush_nodes(self) -> None:
        if self._dirty_nodes:
            for name in self._dirty_nodes:
                node = self._nodes.get(name)
                if node is None:
                    self._views.pop(name, None)
                    continue
                usage = self._usage.get(name) if self._usage is not None else None
                self._views[name] = build_node(node, self._node_req.get(name), usage,
                                               self._gpu_devices.get(name))
            self._dirty_nodes.clear()
            self._prune(self._node_ver, self._views)

    def _rebuild_trial(self, key: TrialKey, pods_known: bool) -> None:
        old = self._trials.get(key)
        job = self._trial_job(key)
        new: Trial | None = None
        if job is not None:
            ns = key[0]
            pods = owned_pods(job, [self._pods[(ns, n)] for n in self._job_pods.get(key, ())])
            pod_events: list[EventRec] = []
            usage: PodUsage | None = None
            gpu: PodGpu | None = None
            if pods:
                top = lead_pod(job, pods)  # (the newest; a distributed trial's master)
                assert top is not None
                pod_events = self._events_of(ns, "Pod", top.name)
                usage = self._pod_usage.get((ns, top.name))
                gpu = self._pod_gpu.get((ns, top.name))
            memo = self._last_failure.get(key)
            last_failure = memo[1] if memo is not None and memo[0] in (None, job.uid) else None
            new = build_trial(job, pods, self._events_of(ns, job.kind, job.source or job.name), pod_events,
                              pods_known, last_failure, usage, gpu, self._queue_of(job))
            self._trials[key] = new
        else:
            if old is not None:
                del self._trials[key]
            if key not in self._job_pods:
                self._tkeys.pop(key, None)
        if (old is not None and new is not None and old.phase == new.phase and old.sweep == new.sweep
                and old.namespace == new.namespace):
            return  # the sweep's counts stand (most of a watch storm)
        was = (old.namespace, old.sweep) if old is not None and old.sweep else None
        now = (new.namespace, new.sweep) if new is not None and new.sweep else None
        if was != now:
            members = self._sweep_members.get(was) if was is not None else None
            if was is not None and members is not None:
                members.pop(key, None)
                if not members:
                    del self._sweep_members[was]
            if now is not None:
                self._sweep_members.setdefault(now, {})[key] = None
        if old is not None and old.sweep:
            self._count_sweep(old, -1)
        if new is not None and new.sweep:
            self._count_sweep(new, 1)

    def _count_sweep(self, trial: Trial, sign: int) -> None:
        # The summaries are these counts: they change here or not at all (at flush time,
        # which every reader runs before it looks at _sweeps_ver).
        self._sweeps_ver = self._version
        skey = (trial.namespace, trial.sweep or "")
        counts = self._sweep_counts.get(skey)
        if counts is None:
            counts = self._sweep_counts[skey] = [0] * len(JOB_PHASES)
        counts[_PHASE_INDEX[trial.phase]] += sign
        if not any(counts):
            del self._sweep_counts[skey]

    @staticmethod
    def _walk(
        ver: dict[Any, int], live: Mapping[Any, Any], since: int
    ) -> tuple[frozenset[Any], frozenset[Any]]:
        present: list[Any] = []
        gone: list[Any] = []
        for key, v in reversed(ver.items()):
            if v <= since:
                break
            (present if key in live else gone).append(key)
        return frozenset(present), frozenset(gone)

    def _prune(self, ver: dict[Any, int], live: Mapping[Any, Any]) -> None:
        excess = len(ver) - len(live) - _TOMBSTONE_SLACK
        if excess <= 0:
            return
        # Drop the oldest tombstones; whoever last looked before them must resync.
        # Only tombstones can go: live keys must stay to be reported.
        doomed = []
        for key, v in ver.items():
            if key not in live:
                doomed.append(key)
                self._floor = max(self._floor, v)
                if len(doomed) >= excess + _TOMBSTONE_SLACK // 2:
                    break
        for key in doomed:
            del ver[key]
