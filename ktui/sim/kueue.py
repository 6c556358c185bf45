"""A Kueue (v0.19) emulation for batch/v1 Jobs: queueing by ClusterQueue quota.

At start: ResourceFlavor `default-flavor`, ClusterQueue `cluster-queue` (BestEffortFIFO, one
resource group with the quota of `SimConfig.kueue_quota`) and LocalQueue `user-queue` in
`default`. A Job labelled `kueue.x-k8s.io/queue-name` is made suspended at admission (Kueue's
webhook), gets a Workload `job-<name>-<hash5>` (ownerReference to the Job, label
`kueue.x-k8s.io/job-uid`, one PodSet `main`) and the Job event CreatedWorkload. Workloads are
admitted in queue order (priority, then creation) while the ClusterQueue's quota holds
(QuotaReserved + Admitted with Kueue's messages; the flavor's nodeLabels go into the Job's
nodeSelector and the Job is un-suspended); a waiting one carries QuotaReserved False `Pending`
with the flavor assigner's message. A finished Job finishes its Workload (Finished) and frees
the quota. The visibility API lists pending workloads with their 0-based positions.
"""

from __future__ import annotations

import hashlib
from typing import Any

from ktui.sim import clock, errors
from ktui.sim.cluster import Cluster
from ktui.sim.events import EventRecorder
from ktui.sim.resources import (
    CLUSTERQUEUES,
    JOBS,
    LOCALQUEUES,
    RESOURCEFLAVORS,
    WORKLOADS,
    ResourceInfo,
)
from ktui.sim.store import WatchEvent
from ktui.wire import quantity

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
JOB_UID_LABEL = "kueue.x-k8s.io/job-uid"
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
            "resourceGroups": [{"coveredResources": list(self.quota), "flavors": [{
                "name": FLAVOR, "resources": [{"name": k, "nominalQuota": v}
                                              for k, v in self.quota.items()]}]}]}}, None)
        c.create(LOCALQUEUES, {"metadata": {"name": LOCAL_QUEUE, "namespace": "default"},
                               "spec": {"clusterQueue": CLUSTER_QUEUE}}, "default")
        self._kick()

    # ------------------------------------------------------------------ reactions

    def _suspend_queued(self, info: ResourceInfo, obj: dict[str, Any]) -> None:
        """The webhook: a queued Job is created suspended ("you do not need to create the Job
        suspended")."""
        if info is JOBS and (obj["metadata"].get("labels") or {}).get(QUEUE_LABEL):
            obj.setdefault("spec", {})["suspend"] = True

    def _on_event(self, info: ResourceInfo, ev: WatchEvent) -> None:
        if info is JOBS and ev.obj.labels.get(QUEUE_LABEL) or info.plural == "workloads":
            self._kick()

    def _kick(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            self.cluster.loop.call_soon(self._reconcile)

    # ------------------------------------------------------------------ reconcile

    def _workloads(self) -> dict[str, dict[str, Any]]:
        return {v.key: v.obj() for v in self.cluster.store["workloads"].objects.values()}

    def _reconcile(self) -> None:
        self._scheduled = False
        now = clock.rfc3339(clock.now())
        workloads = self._workloads()
        by_owner = {w["metadata"].get("labels", {}).get(JOB_UID_LABEL): k
                    for k, w in workloads.items()}
        for v in list(self.cluster.store["jobs"].objects.values()):
            if not v.labels.get(QUEUE_LABEL) or v.uid in by_owner:
                continue
            self._create_workload(v.obj())
        workloads = self._workloads()
        jobs = {v.uid: v for v in self.cluster.store["jobs"].objects.values()}
        used: dict[str, float] = {}
        pending: list[tuple[str, dict[str, Any]]] = []
        for key, w in workloads.items():
            st = w.get("status") or {}
            conds = st.get("conditions") or []
            owner = w["metadata"].get("labels", {}).get(JOB_UID_LABEL)
            job_v = jobs.get(owner or "")
            if job_v is None or any(c["type"] == "Finished" for c in conds):
                continue
            job = job_v.obj()
            done = next((c for c in (job.get("status") or {}).get("conditions") or ()
                         if c.get("type") in ("Complete", "Failed") and c.get("status") == "True"),
                        None)
            if done is not None:
                ok = done["type"] == "Complete"
                conds = conds + [_cond("Finished", "True", "Succeeded" if ok else "Failed",
                                       "Job finished successfully" if ok else done.get(
                                           "message", ""), now)]
                self._write_status(key, {**st, "conditions": conds})
                continue
            if st.get("admission"):
                for k, val in self._usage(w).items():
                    used[k] = used.get(k, 0.0) + val
            else:
                pending.append((key, w))
        pending.sort(key=lambda kw: (-(kw[1]["spec"].get("priority") or 0),
                                     kw[1]["metadata"]["creationTimestamp"], kw[0]))
        blocked = False
        for key, w in pending:
            need = self._usage(w)
            short = next(((k, used.get(k, 0.0) + val - self._quota(k)) for k, val in need.items()
                          if used.get(k, 0.0) + val > self._quota(k)), None)
            st = dict(w.get("status") or {})
            if short is None and not blocked:
                for k, val in need.items():
                    used[k] = used.get(k, 0.0) + val
                self._admit(key, w, need, now)
                continue
            if short is not None:
                # BestEffortFIFO: a workload that does not fit lets later ones try.
                msg = (f"couldn't assign flavors to pod set main: insufficient unused quota for "
                       f"{short[0]} in flavor {FLAVOR}, {_fmt(short[1])} more needed")
                conds = [c for c in st.get("conditions") or () if c["type"] != "QuotaReserved"]
                old = next((c for c in st.get("conditions") or ()
                            if c["type"] == "QuotaReserved"), None)
                if old is None or old["message"] != msg:
                    conds.insert(0, _cond("QuotaReserved", "False", "Pending", msg, now))
                    self._write_status(key, {**st, "conditions": conds})
        self._queue_status(workloads)

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

    def _create_workload(self, job: dict[str, Any]) -> None:
        meta, spec = job["metadata"], job.get("spec") or {}
        name = workload_name("Job", "batch", meta["name"], meta["uid"])
        template = (spec.get("template") or {})
        body = {"metadata": {
            "name": name, "namespace": meta["namespace"],
            "labels": {JOB_UID_LABEL: meta["uid"]},
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"],
                                 "uid": meta["uid"], "controller": True,
                                 "blockOwnerDeletion": True}]},
            "spec": {"active": True, "podSets": [{
                "count": min(spec.get("parallelism", 1), spec.get("completions") or 10 ** 9),
                "name": "main", "template": {"metadata": template.get("metadata") or {},
                                             "spec": template.get("spec") or {}}}],
                "priority": 0, "priorityClassSource": "",
                "queueName": meta["labels"][QUEUE_LABEL]}}
        try:
            self.cluster.create(WORKLOADS, body, meta["namespace"])
        except errors.ApiError:
            return
        self.events.controller("kueue-admission", "Job", "batch/v1", meta, "Normal",
                               "CreatedWorkload",
                               f"Created Workload: {meta['namespace']}/{name}")

    def _admit(self, key: str, w: dict[str, Any], need: dict[str, float], now: str) -> None:
        st = dict(w.get("status") or {})
        conds = [c for c in st.get("conditions") or () if c["type"] not in (
            "QuotaReserved", "Admitted")]
        conds += [_cond("QuotaReserved", "True", "QuotaReserved",
                        f"Quota reserved in ClusterQueue {CLUSTER_QUEUE}", now),
                  _cond("Admitted", "True", "Admitted", "The workload is admitted", now)]
        count = w["spec"]["podSets"][0].get("count", 1)
        st["admission"] = {"clusterQueue": CLUSTER_QUEUE, "podSetAssignments": [{
            "count": count, "flavors": {k: FLAVOR for k in sorted(need)}, "name": "main",
            "resourceUsage": {k: _fmt(v) for k, v in sorted(need.items())}}]}
        st["conditions"] = conds
        self._write_status(key, st)
        owner = w["metadata"].get("labels", {}).get(JOB_UID_LABEL)
        for v in self.cluster.store["jobs"].objects.values():
            if v.uid == owner:
                self.cluster.mutate(JOBS, v.key, self._resume)
                job = v.obj()
                self.events.controller("kueue-admission", "Job", "batch/v1", job["metadata"],
                                       "Normal", "Started",
                                       f"Admitted by clusterQueue {CLUSTER_QUEUE}")
                break

    def _resume(self, job: dict[str, Any]) -> bool | None:
        spec = job["spec"]
        if not spec.get("suspend"):
            return False
        spec["suspend"] = False
        flavor = self.cluster.store.get(RESOURCEFLAVORS, None, FLAVOR)
        labels = ((flavor.obj().get("spec") or {}).get("nodeLabels") if flavor else None) or {}
        if labels:
            tspec = spec["template"].setdefault("spec", {})
            tspec["nodeSelector"] = {**(tspec.get("nodeSelector") or {}), **labels}
        job["metadata"]["generation"] = job["metadata"].get("generation", 1) + 1
        return None

    def _write_status(self, key: str, status: dict[str, Any]) -> None:
        def put(obj: dict[str, Any]) -> bool | None:
            if obj.get("status") == status:
                return False
            obj["status"] = status
            return None
        self.cluster.mutate(WORKLOADS, key, put)

    def _queue_status(self, before: dict[str, dict[str, Any]]) -> None:
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
        items.sort(key=lambda kw: (-(kw[1]["spec"].get("priority") or 0),
                                   kw[1]["metadata"]["creationTimestamp"], kw[0]))
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
