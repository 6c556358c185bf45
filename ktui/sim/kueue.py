"""A Kueue (v0.19) emulation for batch/v1 Jobs, PyTorchJobs and TrainJobs: queueing by
ClusterQueue quota, priorities and preemption.

At start: ResourceFlavor `default-flavor`, ClusterQueue `cluster-queue` (BestEffortFIFO, one
resource group with the quota of `SimConfig.kueue_quota`, preemption withinClusterQueue
LowerPriority) and LocalQueue `user-queue` in `default`. An object labelled
`kueue.x-k8s.io/queue-name` (kueueowners.py: a Job, a PyTorchJob, a TrainJob) is made suspended at
admission (Kueue's webhook), gets a Workload `<kind>-<name>-<hash5>` (ownerReference, label
`kueue.x-k8s.io/job-uid`, its PodSets; priority from the WorkloadPriorityClass its label
`kueue.x-k8s.io/priority-class` names) and the event CreatedWorkload. Workloads are admitted
in queue order (priority, then creation) while the ClusterQueue's quota holds (QuotaReserved +
Admitted with Kueue's messages; the flavor's nodeLabels go into the pod templates'
nodeSelector and the owner is un-suspended); a waiting one carries QuotaReserved False
`Pending` with the flavor assigner's message. One that does not fit preempts admitted
Workloads of lower priority when evicting them makes room (lowest priority, then the most
recently admitted, first): each victim gets Evicted (Preempted) and Preempted (InClusterQueue),
loses its quota (QuotaReserved False, Admitted False), its owner is suspended again, and it
waits in the queue; re-admitted, Evicted and Preempted turn False ("Previously: ...").
A finished owner finishes its Workload (Finished) and frees the quota; a deleted one takes
its Workload along. The visibility API lists pending workloads with their 0-based positions.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ktui.sim import clock, errors
from ktui.sim.cluster import Cluster
from ktui.sim.events import EventRecorder
from ktui.sim.kueueowners import OWNERS, Owner
from ktui.sim.resources import (
    CLUSTERQUEUES,
    LOCALQUEUES,
    RESOURCEFLAVORS,
    WORKLOADPRIORITYCLASSES,
    WORKLOADS,
    ResourceInfo,
)
from ktui.sim.store import ObjVersion, WatchEvent
from ktui.wire import quantity

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
JOB_UID_LABEL = "kueue.x-k8s.io/job-uid"
PRIORITY_CLASS_LABEL = "kueue.x-k8s.io/priority-class"
EVICTED_MESSAGE = "Preempted to accommodate a higher priority Workload"
FLAVOR = "default-flavor"
CLUSTER_QUEUE = "cluster-queue"
LOCAL_QUEUE = "user-queue"
VISIBILITY = "visibility.kueue.x-k8s.io"


def workload_name(kind: str, group: str, name: str, uid: str) -> str:
    digest = hashlib.sha1(f"{kind}\n{group}\n{name}\n{uid}".encode()).hexdigest()[:5]
    prefix = f"{kind.lower()}-{name}"[: 253 - 6]
    return f"{prefix}-{digest}"


def _cond(ctype: str, status: str, reason: str, message: str, now: str) -> dict[str, Any]:
    return {"lastTransitionTime": now, "message": message, "reason": reason, "status": status,
            "type": ctype}


def _requests(template: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for c in (template.get("spec") or {}).get("containers") or ():
        res = c.get("resources") or {}
        for k, v in {**(res.get("limits") or {}), **(res.get("requests") or {})}.items():
            out[k] = out.get(k, 0.0) + float(quantity.parse(v))
    return out


def _fmt(value: float) -> str:
    """Canonical quantity text: whole numbers in the largest exact binary unit ("1Gi") when
    they are multiples of 1024 (as Quantity prints byte amounts), else plain or milli."""
    if value != int(value):
        return f"{round(value * 1000)}m"
    n = int(value)
    for unit, size in (("Ti", 2**40), ("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


class Kueue:
    def __init__(self, cluster: Cluster, events: EventRecorder, quota: dict[str, str]) -> None:
        self.cluster = cluster
        self.events = events
        self.quota = quota
        self._scheduled = False
        cluster.mutators.append(self._suspend_queued)
        cluster.store.listeners.append(self._on_event)

    def bootstrap(self) -> None:
        c = self.cluster
        c.create(RESOURCEFLAVORS, {"metadata": {"name": FLAVOR}, "spec": {}}, None)
        c.create(CLUSTERQUEUES, {"metadata": {"name": CLUSTER_QUEUE}, "spec": {
            "namespaceSelector": {}, "queueingStrategy": "BestEffortFIFO",
            "preemption": {"reclaimWithinCohort": "Never", "withinClusterQueue": "LowerPriority"},
            "resourceGroups": [{"coveredResources": list(self.quota), "flavors": [{
                "name": FLAVOR, "resources": [{"name": k, "nominalQuota": v}
                                              for k, v in self.quota.items()]}]}]}}, None)
        c.create(LOCALQUEUES, {"metadata": {"name": LOCAL_QUEUE, "namespace": "default"},
                               "spec": {"clusterQueue": CLUSTER_QUEUE}}, "default")
        self._kick()

    # ------------------------------------------------------------------ reactions

    def _suspend_queued(self, info: ResourceInfo, obj: dict[str, Any]) -> None:
        """The webhook: a queued object is created suspended ("you do not need to create the
        Job suspended")."""
        owner = OWNERS.get(info.plural)
        if owner is not None and (obj["metadata"].get("labels") or {}).get(QUEUE_LABEL):
            owner.suspend_holder(obj)["suspend"] = True

    def _on_event(self, info: ResourceInfo, ev: WatchEvent) -> None:
        if info.plural in OWNERS and ev.obj.labels.get(QUEUE_LABEL) or info.plural == "workloads":
            self._kick()

    def _kick(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            self.cluster.loop.call_soon(self._reconcile)

    # ------------------------------------------------------------------ reconcile

    def _workloads(self) -> dict[str, dict[str, Any]]:
        return {v.key: v.obj() for v in self.cluster.store["workloads"].objects.values()}

    def _owners(self) -> dict[str, tuple[Owner, ObjVersion]]:
        """uid -> (its kind, its current version) of every queued object."""
        out = {}
        for plural, owner in OWNERS.items():
            for v in self.cluster.store[plural].objects.values():
                if v.labels.get(QUEUE_LABEL):
                    out[v.uid] = (owner, v)
        return out

    def _reconcile(self) -> None:
        self._scheduled = False
        now = clock.rfc3339(clock.now())
        owners = self._owners()
        have = {w["metadata"].get("labels", {}).get(JOB_UID_LABEL)
                for w in self._workloads().values()}
        for uid, (owner, v) in owners.items():
            if uid not in have:
                self._create_workload(owner, v.obj())
        workloads = self._workloads()
        used: dict[str, float] = {}
        pending: list[tuple[str, dict[str, Any]]] = []
        admitted: list[tuple[str, dict[str, Any]]] = []
        for key, w in workloads.items():
            st = w.get("status") or {}
            conds = st.get("conditions") or []
            found = owners.get(w["metadata"].get("labels", {}).get(JOB_UID_LABEL) or "")
            if found is None and w["metadata"].get("ownerReferences"):
                # Its owner is gone: the garbage collector follows the ownerReference.
                self.cluster.store.remove(WORKLOADS, key)
                continue
            if any(c["type"] == "Finished" for c in conds):
                continue
            # (A Workload of no owner, made by hand, is admitted for nothing to run.)
            done = found[0].finished(found[1].obj()) if found is not None else None
            if done is not None:
                ok, message = done
                conds = conds + [_cond("Finished", "True", "Succeeded" if ok else "Failed",
                                       message, now)]
                self._write_status(key, {**st, "conditions": conds})
                continue
            if st.get("admission"):
                for k, val in self._usage(w).items():
                    used[k] = used.get(k, 0.0) + val
                admitted.append((key, w))
            else:
                pending.append((key, w))
        pending.sort(key=_queue_order)
        for key, w in pending:
            need = self._usage(w)
            short = self._short(used, need)
            if short is not None:
                victims = self._victims(w, need, used, admitted)
                if victims:
                    for vkey, victim in victims:
                        for k, val in self._usage(victim).items():
                            used[k] = used.get(k, 0.0) - val
                        admitted.remove((vkey, victim))
                        self._evict(vkey, victim, w, owners, now)
                    short = None
            st = dict(w.get("status") or {})
            if short is None:
                for k, val in need.items():
                    used[k] = used.get(k, 0.0) + val
                admitted.append((key, w))
                self._admit(key, w, owners, now)
                continue
            # BestEffortFIFO: a workload that does not fit lets later ones try.
            msg = (f"couldn't assign flavors to pod set {w['spec']['podSets'][0]['name']}: "
                   f"insufficient unused quota for {short[0]} in flavor {FLAVOR}, "
                   f"{_fmt(short[1])} more needed")
            conds = [c for c in st.get("conditions") or () if c["type"] != "QuotaReserved"]
            old = next((c for c in st.get("conditions") or ()
                        if c["type"] == "QuotaReserved"), None)
            if old is None or old["message"] != msg:
                conds.insert(0, _cond("QuotaReserved", "False", "Pending", msg, now))
                self._write_status(key, {**st, "conditions": conds})
        self._queue_status()

    def _short(self, used: dict[str, float], need: dict[str, float]) -> tuple[str, float] | None:
        """The first resource the quota lacks for ``need``, and by how much."""
        return next(((k, used.get(k, 0.0) + val - self._quota(k)) for k, val in need.items()
                     if used.get(k, 0.0) + val > self._quota(k) + 1e-9), None)

    def _victims(self, w: dict[str, Any], need: dict[str, float], used: dict[str, float],
                 admitted: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
        """Admitted workloads of lower priority whose eviction makes room for ``w`` (fewest
        needed: the lowest priority, then the most recently admitted, go first); [] if
        evicting all of them would not."""
        prio = _priority(w)
        candidates = sorted((kw for kw in admitted if _priority(kw[1]) < prio),
                            key=lambda kw: (_priority(kw[1]), _newest_first(_admitted_at(kw[1])),
                                            _newest_first(kw[1]["metadata"]["creationTimestamp"]),
                                            _newest_first(kw[0])))
        free = dict(used)
        chosen = []
        for kw in candidates:
            if self._short(free, need) is None:
                break
            chosen.append(kw)
            for k, val in self._usage(kw[1]).items():
                free[k] = free.get(k, 0.0) - val
        if not chosen or self._short(free, need) is not None:
            return []
        for kw in reversed(chosen[:-1]):  # those not needed after all stay
            back = dict(free)
            for k, val in self._usage(kw[1]).items():
                back[k] = back.get(k, 0.0) + val
            if self._short(back, need) is None:
                chosen.remove(kw)
                free = back
        return chosen

    def _quota(self, resource: str) -> float:
        raw = self.quota.get(resource)
        return float(quantity.parse(raw)) if raw is not None else 0.0

    @staticmethod
    def _usage(w: dict[str, Any]) -> dict[str, float]:
        out: dict[str, float] = {}
        for ps in w["spec"].get("podSets") or ():
            for k, v in _requests(ps.get("template") or {}).items():
                out[k] = out.get(k, 0.0) + v * int(ps.get("count", 1))
        return out

    def _create_workload(self, owner: Owner, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        name = workload_name(owner.kind, owner.group, meta["name"], meta["uid"])
        spec: dict[str, Any] = {"active": True, "podSets": owner.podsets(obj, self.cluster), "priority": 0,
                                "queueName": meta["labels"][QUEUE_LABEL]}
        pclass = meta["labels"].get(PRIORITY_CLASS_LABEL)
        wpc = self.cluster.store.get(WORKLOADPRIORITYCLASSES, None, pclass) if pclass else None
        if wpc is not None:
            spec["priority"] = int(wpc.obj().get("value") or 0)
            spec["priorityClassRef"] = {"group": "kueue.x-k8s.io",
                                        "kind": "WorkloadPriorityClass", "name": pclass}
        body = {"metadata": {
            "name": name, "namespace": meta["namespace"],
            "labels": {JOB_UID_LABEL: meta["uid"]},
            "ownerReferences": [{"apiVersion": owner.info.api_version, "kind": owner.kind,
                                 "name": meta["name"], "uid": meta["uid"], "controller": True,
                                 "blockOwnerDeletion": True}]},
            "spec": dict(sorted(spec.items()))}
        try:
            self.cluster.create(WORKLOADS, body, meta["namespace"])
        except errors.ApiError:
            return
        self.events.controller("kueue-admission", owner.kind, owner.info.api_version, meta,
                               "Normal", "CreatedWorkload",
                               f"Created Workload: {meta['namespace']}/{name}")

    def _admit(self, key: str, w: dict[str, Any], owners: dict[str, tuple[Owner, ObjVersion]],
               now: str) -> None:
        st = dict(w.get("status") or {})
        conds = []
        for c in st.get("conditions") or ():
            if c["type"] in ("QuotaReserved", "Admitted"):
                continue
            if c["type"] in ("Evicted", "Preempted") and c["status"] == "True":
                # Kueue's SetQuotaReservation: the eviction is history now.
                c = _cond(c["type"], "False", "QuotaReserved", f"Previously: {c['message']}", now)
            conds.append(c)
        conds += [_cond("QuotaReserved", "True", "QuotaReserved",
                        f"Quota reserved in ClusterQueue {CLUSTER_QUEUE}", now),
                  _cond("Admitted", "True", "Admitted", "The workload is admitted", now)]
        assignments = []
        for ps in w["spec"]["podSets"]:
            use = {k: v * int(ps.get("count", 1))
                   for k, v in _requests(ps.get("template") or {}).items()}
            assignments.append({"count": ps.get("count", 1),
                                "flavors": {k: FLAVOR for k in sorted(use)}, "name": ps["name"],
                                "resourceUsage": {k: _fmt(v) for k, v in sorted(use.items())}})
        st["admission"] = {"clusterQueue": CLUSTER_QUEUE, "podSetAssignments": assignments}
        st["conditions"] = conds
        self._write_status(key, st)
        found = owners.get(w["metadata"].get("labels", {}).get(JOB_UID_LABEL) or "")
        if found is not None:
            owner, v = found
            self.cluster.mutate(owner.info, v.key, lambda obj: self._resume(owner, obj))
            self.events.controller("kueue-admission", owner.kind, owner.info.api_version,
                                   v.obj()["metadata"], "Normal", "Started",
                                   f"Admitted by clusterQueue {CLUSTER_QUEUE}")

    def _evict(self, key: str, w: dict[str, Any], by: dict[str, Any],
               owners: dict[str, tuple[Owner, ObjVersion]], now: str) -> None:
        """Preemption: ``w`` gives its quota to ``by`` and waits again."""
        by_meta = by["metadata"]
        why = (f"Preempted to accommodate a workload (UID: {by_meta.get('uid', '')}, JobUID: "
               f"{by_meta.get('labels', {}).get(JOB_UID_LABEL, '')}) due to prioritization in "
               f"the ClusterQueue")
        st = {k: v for k, v in (w.get("status") or {}).items() if k != "admission"}
        conds = [c for c in st.get("conditions") or () if c["type"] not in (
            "QuotaReserved", "Admitted", "Evicted", "Preempted")]
        conds += [_cond("QuotaReserved", "False", "Pending", EVICTED_MESSAGE, now),
                  _cond("Admitted", "False", "NoReservation", "The workload has no reservation",
                        now),
                  _cond("Evicted", "True", "Preempted", EVICTED_MESSAGE, now),
                  _cond("Preempted", "True", "InClusterQueue", why, now)]
        st["conditions"] = conds
        self._write_status(key, st)
        self.events.controller("kueue-admission", "Workload", WORKLOADS.api_version,
                               w["metadata"], "Normal", "Preempted", why)
        found = owners.get(w["metadata"].get("labels", {}).get(JOB_UID_LABEL) or "")
        if found is not None:
            owner, v = found
            self.cluster.mutate(owner.info, v.key, lambda obj: self._stop(owner, obj))
            self.events.controller("kueue-admission", owner.kind, owner.info.api_version,
                                   v.obj()["metadata"], "Normal", "Stopped", EVICTED_MESSAGE)

    def _flavor_labels(self) -> dict[str, str]:
        flavor = self.cluster.store.get(RESOURCEFLAVORS, None, FLAVOR)
        return ((flavor.obj().get("spec") or {}).get("nodeLabels") if flavor else None) or {}

    def _resume(self, owner: Owner, obj: dict[str, Any]) -> bool | None:
        holder = owner.suspend_holder(obj)
        if not holder.get("suspend"):
            return False
        holder["suspend"] = False
        labels = self._flavor_labels()
        if labels:
            for tspec in owner.templates(obj):
                tspec["nodeSelector"] = {**(tspec.get("nodeSelector") or {}), **labels}
        obj["metadata"]["generation"] = obj["metadata"].get("generation", 1) + 1
        return None

    def _stop(self, owner: Owner, obj: dict[str, Any]) -> bool | None:
        """Suspend it again and take back the flavor's nodeSelector (Kueue restores the pod
        templates it changed; the Job controller then clears startTime)."""
        holder = owner.suspend_holder(obj)
        if holder.get("suspend"):
            return False
        holder["suspend"] = True
        for tspec in owner.templates(obj):
            sel = {k: v for k, v in (tspec.get("nodeSelector") or {}).items()
                   if k not in self._flavor_labels()}
            if sel:
                tspec["nodeSelector"] = sel
            else:
                tspec.pop("nodeSelector", None)
        obj["metadata"]["generation"] = obj["metadata"].get("generation", 1) + 1
        return None

    def _write_status(self, key: str, status: dict[str, Any]) -> None:
        def put(obj: dict[str, Any]) -> bool | None:
            if obj.get("status") == status:
                return False
            obj["status"] = status
            return None
        self.cluster.mutate(WORKLOADS, key, put)

    def _queue_status(self) -> None:
        workloads = self._workloads()
        pend = adm = 0
        per_lq: dict[str, list[int]] = {}
        for w in workloads.values():
            conds = (w.get("status") or {}).get("conditions") or []
            if any(c["type"] == "Finished" for c in conds):
                continue
            lq = f"{w['metadata']['namespace']}/{w['spec'].get('queueName')}"
            slot = per_lq.setdefault(lq, [0, 0])
            if (w.get("status") or {}).get("admission"):
                adm += 1
                slot[1] += 1
            else:
                pend += 1
                slot[0] += 1
        cq = self.cluster.store.get(CLUSTERQUEUES, None, CLUSTER_QUEUE)
        if cq is not None:
            self.cluster.mutate(CLUSTERQUEUES, cq.key, _counts(pend, adm))
        for v in list(self.cluster.store["localqueues"].objects.values()):
            p, a = per_lq.get(v.key, [0, 0])
            self.cluster.mutate(LOCALQUEUES, v.key, _counts(p, a))

    # ------------------------------------------------------------------ visibility

    def pending(self, cluster_queue: str | None, namespace: str | None,
                local_queue: str | None) -> list[dict[str, Any]]:
        """PendingWorkloadsSummary items in admission order, positions 0-based."""
        items = []
        for key, w in self._workloads().items():
            st = w.get("status") or {}
            if st.get("admission") or any(c["type"] == "Finished"
                                          for c in st.get("conditions") or ()):
                continue
            items.append((key, w))
        items.sort(key=_queue_order)
        out = []
        per_lq: dict[str, int] = {}
        for pos, (_, w) in enumerate(items):
            meta = w["metadata"]
            lq = w["spec"].get("queueName", "")
            lq_key = f"{meta['namespace']}/{lq}"
            lq_pos = per_lq.get(lq_key, 0)
            per_lq[lq_key] = lq_pos + 1
            if local_queue is not None and (lq != local_queue or meta["namespace"] != namespace):
                continue
            out.append({"metadata": {"name": meta["name"], "namespace": meta["namespace"],
                                     "creationTimestamp": meta["creationTimestamp"],
                                     "ownerReferences": [
                                         {k: r[k] for k in ("apiVersion", "kind", "name", "uid")}
                                         for r in meta.get("ownerReferences") or ()]},
                        "priority": w["spec"].get("priority") or 0, "localQueueName": lq,
                        "positionInClusterQueue": pos, "positionInLocalQueue": lq_pos})
        return out


def _priority(w: dict[str, Any]) -> int:
    return int(w["spec"].get("priority") or 0)


def _queue_order(kw: tuple[str, dict[str, Any]]) -> tuple[int, str, str]:
    return (-_priority(kw[1]), kw[1]["metadata"]["creationTimestamp"], kw[0])


def _admitted_at(w: dict[str, Any]) -> str:
    return next((c.get("lastTransitionTime") or "" for c in (w.get("status") or {}).get(
        "conditions") or () if c["type"] == "QuotaReserved"), "")


def _newest_first(text: str) -> tuple[int, ...]:
    """Sorts RFC 3339 times (and names, for ties within a second) newest first."""
    return tuple(-ord(ch) for ch in text) + (1,)


def _counts(pending: int, admitted: int) -> Any:
    def put(obj: dict[str, Any]) -> bool | None:
        st = {**(obj.get("status") or {}), "admittedWorkloads": admitted,
              "pendingWorkloads": pending, "reservingWorkloads": admitted}
        if obj.get("status") == st:
            return False
        obj["status"] = dict(sorted(st.items()))
        return None
    return put


def default_quota(nodes: int, gpus_per_node: int) -> dict[str, str]:
    return {"cpu": "64", "memory": "256Gi", "nvidia.com/gpu": str(nodes * gpus_per_node)}
