"""The Job controller: creates pods, tracks them with finalizers, and writes Job status.

Follows the upstream controller closely enough for clients to see the same objects:
pods named `<job>-<5 chars>` with the controller ownerReference, the job labels and the
`batch.kubernetes.io/job-tracking` finalizer (removed once the pod is counted), status
active/ready/succeeded/failed/terminating/startTime/completionTime, the conditions
SuccessCriteriaMet+Complete and FailureTarget+Failed, Suspended, and job-controller events.
Work is queued per Job and done once per loop iteration.
"""

from __future__ import annotations

import copy
from typing import Any

from ktui.sim import clock, defaults
from ktui.sim.cluster import JOB_TRACKING, Cluster
from ktui.sim.controllers import indexed
from ktui.sim.controllers.keyqueue import KeyQueue
from ktui.sim.events import EventRecorder
from ktui.sim.kubelet import Kubelet
from ktui.sim.resources import JOBS, PODS, ResourceInfo
from ktui.sim.store import ObjVersion, WatchEvent

BACKOFF_BASE = 10.0
BACKOFF_MAX = 360.0
BATCH_PERIOD = 1.0


def _cond(ctype: str, reason: str, message: str, now: str, status: str = "True") -> dict[str, Any]:
    return {"type": ctype, "status": status, "lastProbeTime": now, "lastTransitionTime": now,
            "reason": reason, "message": message}


def _has(conds: list[dict[str, Any]], ctype: str) -> bool:
    return any(c.get("type") == ctype and c.get("status") == "True" for c in conds)


def _pod_ready(pod: dict[str, Any]) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or ())


class JobController:
    def __init__(self, cluster: Cluster, events: EventRecorder, kubelet: Kubelet) -> None:
        self.cluster = cluster
        self.events = events
        self.kubelet = kubelet
        self._queue = KeyQueue(lambda: self.cluster.loop, self.sync)
        self._job_keys: dict[str, str] = {}  # job uid -> key
        # job uid -> wall time before which no replacement pod is created (failure back-off)
        self._not_before: dict[str, float] = {}
        self._timers: dict[str, Any] = {}
        # job uid -> index -> (failures, wall time before which its retry is not created)
        self._index_waits: dict[str, dict[int, tuple[int, float]]] = {}
        self._indexed: set[str] = set()  # uids of Indexed Jobs
        self._batched: set[str] = set()  # job keys with a batched sync pending
        cluster.store.listeners.append(self._on_event)

    def _on_event(self, info: ResourceInfo, ev: WatchEvent) -> None:
        if info is JOBS:
            if ev.type == "DELETED":
                self._job_keys.pop(ev.obj.uid, None)
                self._not_before.pop(ev.obj.uid, None)
                self._index_waits.pop(ev.obj.uid, None)
                self._indexed.discard(ev.obj.uid)
                # Pods of a deleted Job lose their tracking finalizer so they can go away.
                for pod in self.cluster.pods_of(ev.obj.uid):
                    self.cluster.loop.call_soon(self._drop_finalizer, pod.key)
                return
            self._job_keys[ev.obj.uid] = ev.obj.key
            if b'"completionMode":"Indexed"' in ev.obj.raw:
                self._indexed.add(ev.obj.uid)
            self._mark(ev.obj.key)
        elif info is PODS and ev.obj.owner:
            key = self._job_keys.get(ev.obj.owner)
            if key is None:
                return
            if ev.obj.owner in self._indexed:
                # Pod changes reach an Indexed Job's sync batched, one simulated second
                # later (the controller's syncJobBatchPeriod): pods of an index wave that
                # fail together are accounted together, as in the captures.
                if key not in self._batched:
                    self._batched.add(key)
                    self.cluster.after(BATCH_PERIOD, lambda: self._flush_batch(key))
                return
            self._mark(key)

    def _flush_batch(self, key: str) -> None:
        self._batched.discard(key)
        self._mark(key)

    def rebuild(self) -> None:
        """Index jobs after pre-population and queue the unfinished ones."""
        self._job_keys = {v.uid: v.key for v in self.cluster.store["jobs"].objects.values()}
        self._indexed = {v.uid for v in self.cluster.store["jobs"].objects.values()
                         if b'"completionMode":"Indexed"' in v.raw}

    def queue_all_active(self, keys: list[str]) -> None:
        for k in keys:
            self._mark(k)

    def _mark(self, key: str) -> None:
        self._queue.mark(key)

    def _drop_finalizer(self, pod_key: str) -> None:
        def drop(pod: dict[str, Any]) -> bool | None:
            fins = pod["metadata"].get("finalizers") or []
            if JOB_TRACKING not in fins:
                return False
            rest = [f for f in fins if f != JOB_TRACKING]
            if rest:
                pod["metadata"]["finalizers"] = rest
            else:
                pod["metadata"].pop("finalizers", None)
            return None

        self.cluster.mutate(PODS, pod_key, drop)

    def _later(self, key: str, sim_seconds: float) -> None:
        old = self._timers.pop(key, None)
        if old is not None:
            old.cancel()
        self._timers[key] = self.cluster.after(sim_seconds, lambda: self._mark(key))

    # ------------------------------------------------------------------ sync

    def sync(self, key: str) -> None:
        cur = self.cluster.store["jobs"].objects.get(key)
        if cur is None:
            return
        job = cur.obj()
        meta, spec = job["metadata"], job.get("spec") or {}
        status = copy.deepcopy(job.get("status") or {})
        conds: list[dict[str, Any]] = status.get("conditions") or []
        now_f = clock.now()
        now = clock.rfc3339(now_f)
        pods = [(v, v.obj()) for v in self.cluster.pods_of(cur.uid)]
        finished = _has(conds, "Complete") or _has(conds, "Failed")

        acc: indexed.Accounting | None = None
        if spec.get("completionMode") == "Indexed":
            acc = indexed.account(spec, status, pods, bool(spec.get("suspend")))
            newly_failed = acc.newly_failed if spec.get("backoffLimitPerIndex") is None else 0
        else:
            newly_failed = self._count(status, pods, bool(spec.get("suspend")))
        if newly_failed:
            n = status.get("failed", 0) + len(acc.uncounted if acc else ())
            delay = min(BACKOFF_BASE * 2 ** (n - 1), BACKOFF_MAX)
            self._not_before[cur.uid] = now_f + delay / self.cluster.speed

        def terminal(v: ObjVersion, p: dict[str, Any]) -> bool:
            return ((p.get("status") or {}).get("phase") in ("Succeeded", "Failed")
                    or (v.deleting and not (p.get("spec") or {}).get("nodeName")))

        active = [(v, p) for v, p in pods if not terminal(v, p) and not v.deleting]
        terminating = [(v, p) for v, p in pods if not terminal(v, p) and v.deleting]

        if meta.get("deletionTimestamp"):
            finished = True
            if acc is not None:
                # A Job being deleted retries nothing: the failed pods it held for their
                # replacements let go (upstream canRemoveFinalizer), else a foreground
                # deletion waits on them forever.
                acc.give_up_retries()

        if not finished:
            suspended = bool(spec.get("suspend"))
            target = next((c for c in conds if c.get("type") in ("FailureTarget",
                                                                   "SuccessCriteriaMet")
                           and c.get("status") == "True"), None)
            if target is None and not suspended:
                if _has(conds, "Suspended"):
                    conds = [c for c in conds if c.get("type") != "Suspended"]
                    conds.append(_cond("Suspended", "JobResumed", "Job resumed", now, "False"))
                    status["startTime"] = now
                    self.events.job(meta, "Normal", "Resumed", "Job resumed")
                status.setdefault("startTime", now)
                failure = self._failure(spec, status, active, now_f)
                if failure is None and acc is not None:
                    failure = indexed.failure(spec, acc)
                succeeded = status.get("succeeded", 0) if acc is None else len(acc.completed)
                completions = spec.get("completions")
                if failure is not None:
                    target = _cond("FailureTarget", failure[0], failure[1], now)
                    conds = conds + [target]
                elif (completions is not None and succeeded >= completions) or (
                        completions is None and succeeded > 0 and not active):
                    target = _cond("SuccessCriteriaMet", "CompletionsReached",
                                   "Reached expected number of succeeded pods", now)
                    conds = conds + [target]
                elif acc is not None:
                    active = self._scale_indexed(job, cur, status, acc, active, terminating,
                                                 now_f)
                else:
                    active = self._scale(job, cur, status, active, terminating, now_f)
            elif target is None:
                for v, _ in active:
                    self._delete_pod(job, v)
                terminating += active
                active = []
                if not _has(conds, "Suspended"):
                    conds = [c for c in conds if c.get("type") != "Suspended"]
                    conds.append(_cond("Suspended", "JobSuspended", "Job suspended", now))
                    status.pop("startTime", None)
                    self.events.job(meta, "Normal", "Suspended", "Job suspended")
            if target is not None and acc is not None:
                acc.give_up_retries()
            if target is not None:
                # A finishing Job stops its remaining pods; the terminal condition follows
                # once none is left running (like the upstream controller since 1.31).
                for v, _ in active:
                    self._delete_pod(job, v)
                terminating += active
                active = []
                if not terminating and not (acc and acc.uncounted):
                    if target["type"] == "FailureTarget":
                        conds = conds + [_cond("Failed", target["reason"], target["message"],
                                               now)]
                        self.events.job(meta, "Warning", target["reason"], target["message"])
                    else:
                        conds = conds + [_cond("Complete", "CompletionsReached",
                                               target["message"], now)]
                        status["completionTime"] = now
                        self.events.job(meta, "Normal", "Completed", "Job completed")
        if acc is not None:
            indexed.write_status(status, spec, acc)
        status["conditions"] = conds
        if not conds:
            status.pop("conditions")
        status["active"] = len(active)
        status["terminating"] = len(terminating)
        status.setdefault("uncountedTerminatedPods", {})
        status["ready"] = sum(1 for _, p in active if _pod_ready(p))
        if not status["active"]:
            status.pop("active")
        status = defaults.ordered(status, defaults.JOB_STATUS_ORDER)
        if status != (job.get("status") or {}):
            job["status"] = status
            self.cluster.write(JOBS, job)
        # Finalizers go only once the status that accounts for their pods is stored.
        for pod_key in acc.release if acc else ():
            self._drop_finalizer(pod_key)

    def _count(self, status: dict[str, Any], pods: list[tuple[ObjVersion, dict[str, Any]]],
               suspended: bool = False) -> int:
        """Count terminated pods exactly once, guarded by the tracking finalizer. A pod deleted
        before it was ever scheduled will never run: it counts as failed right away. A pod
        deleted because the Job was suspended (Kueue's preemption, an early stop) is not a
        failure: the upstream controller leaves `failed` alone then
        (more/job-kueue-style-resuspended-preempted.json)."""
        newly_failed = 0
        for v, pod in pods:
            phase = (pod.get("status") or {}).get("phase")
            unbound = v.deleting and not (pod.get("spec") or {}).get("nodeName")
            if (phase in ("Succeeded", "Failed") or unbound) and JOB_TRACKING in (
                    pod["metadata"].get("finalizers") or ()):
                if suspended and v.deleting and phase != "Succeeded":
                    pass
                elif phase == "Succeeded":
                    status["succeeded"] = status.get("succeeded", 0) + 1
                else:
                    status["failed"] = status.get("failed", 0) + 1
                    newly_failed += 1
                self._drop_finalizer(v.key)
        return newly_failed

    def _failure(self, spec: dict[str, Any], status: dict[str, Any],
                 active: list[tuple[ObjVersion, dict[str, Any]]],
                 now: float) -> tuple[str, str] | None:
        limit = spec.get("backoffLimit", 6)
        if status.get("failed", 0) > limit:
            return "BackoffLimitExceeded", "Job has reached the specified backoff limit"
        template = (spec.get("template") or {}).get("spec") or {}
        if template.get("restartPolicy") == "OnFailure":
            restarts = sum(cs.get("restartCount", 0) for _, p in active
                           for cs in (p.get("status") or {}).get("containerStatuses") or ())
            if (limit == 0 and restarts > 0) or (limit > 0 and restarts >= limit):
                return "BackoffLimitExceeded", "Job has reached the specified backoff limit"
        ads = spec.get("activeDeadlineSeconds")
        start = status.get("startTime")
        if ads and start:
            # Deadlines are simulated seconds, like every duration in the simulator.
            elapsed = (now - clock.parse_rfc3339(start)) * self.cluster.speed
            if elapsed >= ads:
                return "DeadlineExceeded", "Job was active longer than specified deadline"
        return None

    def _scale(self, job: dict[str, Any], cur: ObjVersion, status: dict[str, Any],
               active: list[tuple[ObjVersion, dict[str, Any]]],
               terminating: list[tuple[ObjVersion, dict[str, Any]]],
               now: float) -> list[tuple[ObjVersion, dict[str, Any]]]:
        spec = job["spec"]
        parallelism = spec.get("parallelism", 1)
        completions = spec.get("completions")
        succeeded = status.get("succeeded", 0)
        want = parallelism if completions is None else min(parallelism, completions - succeeded)
        want = max(0, want)
        ads = spec.get("activeDeadlineSeconds")
        if ads and status.get("startTime"):
            started = clock.parse_rfc3339(status["startTime"])
            remaining = ads - (now - started) * self.cluster.speed
            self._later(cur.key, max(0.0, remaining) + 0.01)
        busy = len(active)
        if spec.get("podReplacementPolicy") == "Failed":
            busy += len(terminating)
        if busy < want:
            not_before = self._not_before.get(cur.uid, 0.0)
            if now < not_before:
                self._later(cur.key, (not_before - now) * self.cluster.speed + 0.001)
                return active
            for _ in range(want - busy):
                v = self._create_pod(job, cur, status)
                if v is not None:
                    active.append((v, v.obj()))
        elif len(active) > want:
            extra = sorted(active, key=lambda vp: vp[0].rv, reverse=True)[: len(active) - want]
            for v, _ in extra:
                self._delete_pod(job, v)
            keep = {v.key for v, _ in extra}
            active = [(v, p) for v, p in active if v.key not in keep]
        return active

    def _scale_indexed(self, job: dict[str, Any], cur: ObjVersion, status: dict[str, Any],
                       acc: indexed.Accounting,
                       active: list[tuple[ObjVersion, dict[str, Any]]],
                       terminating: list[tuple[ObjVersion, dict[str, Any]]],
                       now: float) -> list[tuple[ObjVersion, dict[str, Any]]]:
        spec = job["spec"]
        busy = len(active)
        if spec.get("podReplacementPolicy") == "Failed":
            busy += len(terminating)
        room = spec.get("parallelism", 1) - busy
        if room <= 0:
            return active
        per_index = spec.get("backoffLimitPerIndex")
        if per_index is None and now < self._not_before.get(cur.uid, 0.0):
            self._later(cur.key, (self._not_before[cur.uid] - now) * self.cluster.speed + 0.001)
            return active
        # Like the controller: take the first `room` pending indexes; with per-index back-off
        # create those whose back-off is over, or wait for the nearest (later indexes do not
        # jump the queue).
        waits = self._index_waits.setdefault(cur.uid, {})
        ready: list[tuple[int, int]] = []
        wake = None
        for idx in indexed.pending(spec, acc, active)[:room]:
            failures = acc.retry.get(idx, 0)
            if failures:
                seen = waits.get(idx)
                if seen is None or seen[0] != failures:
                    seen = (failures, now + indexed.backoff(failures) / self.cluster.speed)
                    waits[idx] = seen
                if now < seen[1]:
                    wake = seen[1] if wake is None else min(wake, seen[1])
                    continue
            ready.append((idx, failures))
        if not ready:
            if wake is not None:
                self._later(cur.key, (wake - now) * self.cluster.speed + 0.001)
            return active
        for idx, failures in ready:
            v = self._create_pod(job, cur, status, idx,
                                 failures if per_index is not None else None)
            if v is not None:
                active.append((v, v.obj()))
        return active

    def _create_pod(self, job: dict[str, Any], cur: ObjVersion, status: dict[str, Any],
                    index: int | None = None, failures: int | None = None,
                    ) -> ObjVersion | None:
        meta = job["metadata"]
        template = job["spec"].get("template") or {}
        tmeta = template.get("metadata") or {}
        pod_meta: dict[str, Any] = {
            "name": f"{meta['name']}-{defaults.random_suffix(5)}",
            "generateName": f"{meta['name']}-",
            "namespace": meta["namespace"],
            "uid": defaults.new_uid(),
            "creationTimestamp": clock.rfc3339(clock.now()),
            "labels": dict(tmeta.get("labels") or {}),
        }
        if tmeta.get("annotations"):
            pod_meta["annotations"] = dict(tmeta["annotations"])
        pod_meta["ownerReferences"] = [{
            "apiVersion": "batch/v1", "kind": "Job", "name": meta["name"], "uid": meta["uid"],
            "controller": True, "blockOwnerDeletion": True}]
        pod_meta["finalizers"] = [JOB_TRACKING]
        spec = defaults.admit_pod_spec(copy.deepcopy(template.get("spec") or {}))
        pod = {"metadata": pod_meta, "spec": spec,
               "status": {"phase": "Pending", "qosClass": defaults.qos_class(spec)}}
        attempt = status.get("failed", 0)
        if index is not None:
            indexed.decorate_pod(meta["name"], index, failures, pod)
            attempt = failures or 0
        if (job["spec"].get("template") or {}).get("spec", {}).get("restartPolicy") == "Never":
            self.kubelet.attempts[pod_meta["uid"]] = attempt
        try:
            v = self.cluster.store.add(PODS, pod)
        except KeyError:
            return None
        self.events.job(meta, "Normal", "SuccessfulCreate", f"Created pod: {pod_meta['name']}")
        return v

    def _delete_pod(self, job: dict[str, Any], v: ObjVersion) -> None:
        try:
            self.cluster.delete(PODS, v.namespace, v.name, {"propagationPolicy": "Background"})
        except Exception:  # noqa: BLE001 - already gone is fine
            return
        self.events.job(job["metadata"], "Normal", "SuccessfulDelete", f"Deleted pod: {v.name}")
