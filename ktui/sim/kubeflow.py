"""A Kubeflow training-operator (v1.9, release-1.9 branch) for kubeflow.org/v1 PyTorchJobs.

Per replica (Master, Worker) it creates a pod `<job>-<type>-<i>` and a headless Service of the
same name, with the operator's labels and env (ecosystem-facts.md 4a); it writes
status.conditions (Created, Running, Restarting, Succeeded, Failed; reason
`PyTorchJob<Reason>`, messages as pkg/util/status.go words them) and replicaStatuses. Failure
rules: restartPolicy Never/ExitCode (non-retryable code) - a failed replica fails the job;
ExitCode with a retryable code (>= 128) - the pod is deleted and recreated (Restarting);
OnFailure/Always - the kubelet restarts in place and the job fails once the restarts reach
runPolicy.backoffLimit. cleanPodPolicy All/Running deletes pods when the job finishes; None
(PyTorch's default) keeps them. Deleting the PyTorchJob removes its pods and Services (the
garbage collector's part for these owners).
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any

from ktui.sim import clock, errors
from ktui.sim.cluster import Cluster
from ktui.sim.controllers.keyqueue import KeyQueue
from ktui.sim.events import EventRecorder
from ktui.sim.resources import PODS, PYTORCHJOBS, SERVICES, ResourceInfo
from ktui.sim.store import WatchEvent

OPERATOR = "pytorchjob-controller"
KIND = "PyTorchJob"
API_VERSION = "kubeflow.org/v1"
PORT_NAME = "pytorchjob-port"
PORT = 23456
L_JOB = "training.kubeflow.org/job-name"
L_OPERATOR = "training.kubeflow.org/operator-name"
L_TYPE = "training.kubeflow.org/replica-type"
L_INDEX = "training.kubeflow.org/replica-index"
L_ROLE = "training.kubeflow.org/job-role"
REPLICA_ORDER = ("Master", "Worker")


def deep_sorted(value: Any) -> Any:
    """Custom resources come back from the API server with their keys sorted (unstructured)."""
    if isinstance(value, dict):
        return {k: deep_sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [deep_sorted(v) for v in value]
    return value


def _true(conds: list[dict[str, Any]], ctype: str) -> bool:
    return any(c.get("type") == ctype and c.get("status") == "True" for c in conds)


def set_condition(conds: list[dict[str, Any]], ctype: str, reason: str, message: str,
                  now: str) -> list[dict[str, Any]]:
    """commonutil.UpdateJobConditions: same type/status/reason is a no-op; Running and
    Restarting replace each other; Succeeded/Failed turn Running to False."""
    for c in conds:
        if c.get("type") == ctype and c.get("status") == "True" and c.get("reason") == reason:
            return conds
    out = []
    for c in conds:
        if c.get("type") == ctype or {ctype, c.get("type")} == {"Running", "Restarting"}:
            continue
        if ctype in ("Succeeded", "Failed") and c.get("type") == "Running" and \
                c.get("status") == "True":
            c = {**c, "status": "False", "lastUpdateTime": now, "lastTransitionTime": now}
        out.append(c)
    out.append({"lastTransitionTime": now, "lastUpdateTime": now, "message": message,
                "reason": reason, "status": "True", "type": ctype})
    return out


def _nproc(spec: dict[str, Any]) -> tuple[str, int]:
    raw = spec.get("nprocPerNode")
    if raw is None:
        raw = (spec.get("elasticPolicy") or {}).get("nProcPerNode")
    text = "auto" if raw is None else str(raw)
    try:
        return text, int(text)
    except ValueError:
        return text, 1  # "auto", "cpu", "gpu" count as one process per node


def pod_env(name: str, spec: dict[str, Any], rtype: str, index: int) -> list[dict[str, Any]]:
    """The env pkg/controller.v1/pytorch/envvar.go appends to every container."""
    replicas = spec.get("pytorchReplicaSpecs") or {}
    total = sum(int((r or {}).get("replicas", 1)) for r in replicas.values())
    env = [{"name": "PYTHONUNBUFFERED", "value": "1"}]
    if "Master" in replicas:
        nproc_text, nproc = _nproc(spec)
        rank = index + 1 if rtype == "Worker" else index
        master = f"{name}-master-0"
        env += [{"name": "MASTER_PORT", "value": str(PORT)},
                {"name": "PET_MASTER_PORT", "value": str(PORT)},
                {"name": "MASTER_ADDR", "value": master},
                {"name": "PET_MASTER_ADDR", "value": master},
                {"name": "WORLD_SIZE", "value": str(total * nproc)},
                {"name": "RANK", "value": str(rank)},
                {"name": "PET_NPROC_PER_NODE", "value": nproc_text},
                {"name": "PET_NODE_RANK", "value": str(rank)}]
    elastic = spec.get("elasticPolicy")
    if elastic:
        lo = elastic.get("minReplicas", total)
        hi = elastic.get("maxReplicas", total)
        env.append({"name": "PET_NNODES", "value": f"{lo}:{hi}"})
    else:
        env.append({"name": "PET_NNODES", "value": str(total)})
    return env


def selector(name: str, rtype: str) -> str:
    return f"{L_JOB}={name},{L_OPERATOR}={OPERATOR},{L_TYPE}={rtype.lower()}"


class TrainingOperator:
    def __init__(self, cluster: Cluster, events: EventRecorder) -> None:
        self.cluster = cluster
        self.events = events
        self._queue = KeyQueue(lambda: self.cluster.loop, self.reconcile)
        self._keys: dict[str, str] = {}  # PyTorchJob uid -> key
        cluster.store.listeners.append(self._on_event)

    def _on_event(self, info: ResourceInfo, ev: WatchEvent) -> None:
        if info.plural == PYTORCHJOBS.plural:
            if ev.type == "DELETED":
                self._keys.pop(ev.obj.uid, None)
                self.cluster.loop.call_soon(self._delete_dependents, ev.obj.uid,
                                            ev.obj.namespace or "")
                return
            self._keys[ev.obj.uid] = ev.obj.key
            self._mark(ev.obj.key)
        elif info is PODS and ev.obj.owner in self._keys:
            self._mark(self._keys[ev.obj.owner])

    def _mark(self, key: str) -> None:
        self._queue.mark(key)

    def _delete_dependents(self, uid: str, namespace: str) -> None:
        for v in self.cluster.pods_of(uid):
            with contextlib.suppress(errors.ApiError):
                self.cluster.delete(PODS, v.namespace, v.name, {"propagationPolicy": "Background"})
        rs = self.cluster.store["services"]
        lo, hi = rs.range_bounds(namespace)
        for v in list(rs.iter_range(lo, hi, None)):
            if v.owner == uid:
                with contextlib.suppress(errors.ApiError):
                    self.cluster.delete(SERVICES, v.namespace, v.name)

    # ------------------------------------------------------------------ reconcile

    def reconcile(self, key: str) -> None:
        cur = self.cluster.store["pytorchjobs"].objects.get(key)
        if cur is None:
            return
        job = cur.obj()
        meta, spec = job["metadata"], job.get("spec") or {}
        if meta.get("deletionTimestamp"):
            return
        status = copy.deepcopy(job.get("status") or {})
        conds: list[dict[str, Any]] = list(status.get("conditions") or [])
        now = clock.rfc3339(clock.now())
        name = meta["name"]
        if not conds:
            conds = set_condition(conds, "Created", f"{KIND}Created",
                                  f"{KIND} {name} is created.", now)
            self.events.controller(OPERATOR, KIND, API_VERSION, meta, "Normal",
                                   f"{KIND}Created", f"{KIND} {name} is created.")
        finished = _true(conds, "Succeeded") or _true(conds, "Failed")
        run_policy = spec.get("runPolicy") or {}
        suspended = bool(run_policy.get("suspend"))
        pods = {v.name: (v, v.obj()) for v in self.cluster.pods_of(cur.uid)}
        replicas = spec.get("pytorchReplicaSpecs") or {}
        if not finished and not suspended:
            status.setdefault("startTime", now)
            for rtype in self._ensure_replicas(job, cur.uid, replicas, pods):
                msg = f"{KIND} {name} is restarting because 1 {rtype} replica(s) failed."
                conds = set_condition(conds, "Restarting", f"{KIND}Restarting", msg, now)
                self.events.controller(OPERATOR, KIND, API_VERSION, meta, "Warning",
                                       f"{KIND}Restarting", msg)
        elif suspended and not finished:
            for v, _ in pods.values():
                with contextlib.suppress(errors.ApiError):
                    self.cluster.delete(PODS, v.namespace, v.name)
            conds = set_condition(conds, "Suspended", f"{KIND}Suspended",
                                  f"{KIND} {name} is suspended.", now)
            status.pop("startTime", None)
        statuses: dict[str, dict[str, Any]] = {}
        restarts = 0
        for rtype in sorted(replicas, key=lambda r: REPLICA_ORDER.index(r)
                            if r in REPLICA_ORDER else 9):
            counts = {"active": 0, "succeeded": 0, "failed": 0}
            for v, p in pods.values():
                if p["metadata"].get("labels", {}).get(L_TYPE) != rtype.lower() or v.deleting:
                    continue
                phase = (p.get("status") or {}).get("phase")
                if phase == "Running":
                    counts["active"] += 1
                elif phase == "Succeeded":
                    counts["succeeded"] += 1
                elif phase == "Failed":
                    counts["failed"] += 1
                restarts += sum(cs.get("restartCount", 0)
                                for cs in (p.get("status") or {}).get("containerStatuses") or ())
            entry: dict[str, Any] = {k: v for k, v in counts.items() if v}
            entry["selector"] = selector(name, rtype)
            statuses[rtype] = entry
        if not finished:
            conds = self._conditions(job, conds, statuses, replicas, restarts, now, status)
        status["conditions"] = conds
        status["replicaStatuses"] = statuses
        if _true(conds, "Succeeded") or _true(conds, "Failed"):
            status.setdefault("completionTime", now)
            if not finished:
                self._clean(run_policy, pods)
        status = deep_sorted(status)
        if status != (job.get("status") or {}):
            job["status"] = status
            self.cluster.write(PYTORCHJOBS, job)

    def _conditions(self, job: dict[str, Any], conds: list[dict[str, Any]],
                    statuses: dict[str, dict[str, Any]], replicas: dict[str, Any],
                    restarts: int, now: str, status: dict[str, Any]) -> list[dict[str, Any]]:
        meta = job["metadata"]
        name = meta["name"]
        limit = ((job.get("spec") or {}).get("runPolicy") or {}).get("backoffLimit")
        if limit is not None and restarts >= limit and any(
                (r or {}).get("restartPolicy", "OnFailure") in ("OnFailure", "Always")
                for r in replicas.values()) and restarts > 0:
            msg = f"Job {name} has failed because it has reached the specified backoff limit"
            self.events.controller(OPERATOR, KIND, API_VERSION, meta, "Normal",
                                   f"{KIND}Failed", msg)
            return set_condition(conds, "Failed", f"{KIND}Failed", msg, now)
        for rtype, st in statuses.items():
            want = int((replicas.get(rtype) or {}).get("replicas", 1))
            if rtype == "Master":
                if st.get("active", 0) > 0:
                    conds = set_condition(conds, "Running", f"{KIND}Running",
                                          f"{KIND} {name} is running.", now)
                if want - st.get("succeeded", 0) == 0:
                    msg = f"{KIND} {name} is successfully completed."
                    self.events.controller(OPERATOR, KIND, API_VERSION, meta, "Normal",
                                           f"{KIND}Succeeded", msg)
                    return set_condition(conds, "Succeeded", f"{KIND}Succeeded", msg, now)
            failed = st.get("failed", 0)
            if failed > 0:
                restarting = next((c for c in conds if c.get("type") == "Restarting"), None)
                if restarting is not None:
                    continue
                msg = f"{KIND} {name} is failed because {failed} {rtype} replica(s) failed."
                self.events.controller(OPERATOR, KIND, API_VERSION, meta, "Normal",
                                       f"{KIND}Failed", msg)
                return set_condition(conds, "Failed", f"{KIND}Failed", msg, now)
        if "Master" not in statuses and statuses and all(
                st.get("active", 0) > 0 for st in statuses.values()):
            conds = set_condition(conds, "Running", f"{KIND}Running",
                                  f"{KIND} {name} is running.", now)
        return conds

    def _clean(self, run_policy: dict[str, Any], pods: dict[str, Any]) -> None:
        policy = run_policy.get("cleanPodPolicy", "None")
        if policy == "None":
            return
        for v, p in pods.values():
            if policy == "Running" and (p.get("status") or {}).get("phase") not in (
                    "Running", "Pending"):
                continue
            with contextlib.suppress(errors.ApiError):
                self.cluster.delete(PODS, v.namespace, v.name)

    # ------------------------------------------------------------------ replicas

    def _ensure_replicas(self, job: dict[str, Any], uid: str, replicas: dict[str, Any],
                         pods: dict[str, Any]) -> list[str]:
        """Create missing replicas; returns the replica types restarted (ExitCode policy)."""
        meta = job["metadata"]
        restarted: list[str] = []
        for rtype, rspec in replicas.items():
            rspec = rspec or {}
            policy = rspec.get("restartPolicy", "OnFailure")
            for i in range(int(rspec.get("replicas", 1))):
                pod_name = f"{meta['name']}-{rtype.lower()}-{i}"
                have = pods.get(pod_name)
                if have is not None:
                    v, p = have
                    if policy == "ExitCode" and (p.get("status") or {}).get("phase") == \
                            "Failed" and self._retryable(p) and not v.deleting:
                        # The operator deletes the pod and makes it again (Restarting).
                        with contextlib.suppress(errors.ApiError):
                            self.cluster.delete(PODS, v.namespace, v.name)
                        restarted.append(rtype)
                    continue
                self._create(job, uid, rtype, i, rspec, policy)
        return restarted

    @staticmethod
    def _retryable(pod: dict[str, Any]) -> bool:
        for cs in (pod.get("status") or {}).get("containerStatuses") or ():
            term = (cs.get("state") or {}).get("terminated") or {}
            if int(term.get("exitCode") or 0) >= 128:
                return True
        return False

    def _labels(self, name: str, rtype: str, index: int) -> dict[str, str]:
        labels = {L_JOB: name, L_OPERATOR: OPERATOR, L_INDEX: str(index),
                  L_TYPE: rtype.lower()}
        if rtype == "Master":
            labels[L_ROLE] = "master"
        return labels

    def _create(self, job: dict[str, Any], uid: str, rtype: str, index: int,
                rspec: dict[str, Any], policy: str) -> None:
        meta = job["metadata"]
        name, ns = meta["name"], meta["namespace"]
        pod_name = f"{name}-{rtype.lower()}-{index}"
        template = copy.deepcopy(rspec.get("template") or {})
        tmeta = template.get("metadata") or {}
        owner = [{"apiVersion": API_VERSION, "kind": KIND, "name": name, "uid": uid,
                  "controller": True, "blockOwnerDeletion": True}]
        labels = {**(tmeta.get("labels") or {}), **self._labels(name, rtype, index)}
        pspec = template.get("spec") or {}
        pspec["restartPolicy"] = "Never" if policy == "ExitCode" else policy
        env = pod_env(name, job.get("spec") or {}, rtype, index)
        for c in pspec.get("containers") or ():
            c["env"] = list(c.get("env") or ()) + env
            if c.get("name") == "pytorch" and not any(
                    p.get("name") == PORT_NAME for p in c.get("ports") or ()):
                c["ports"] = list(c.get("ports") or ()) + [
                    {"name": PORT_NAME, "containerPort": PORT, "protocol": "TCP"}]
        pod_meta: dict[str, Any] = {"name": pod_name, "namespace": ns, "labels": labels,
                                    "ownerReferences": owner}
        if tmeta.get("annotations"):
            pod_meta["annotations"] = dict(tmeta["annotations"])
        try:
            self.cluster.create(PODS, {"metadata": pod_meta, "spec": pspec}, ns)
        except errors.ApiError:
            return
        self.events.controller(OPERATOR, KIND, API_VERSION, meta, "Normal", "SuccessfulCreatePod",
                               f"Created pod: {pod_name}")
        if self.cluster.store.get(SERVICES, ns, pod_name) is None:
            svc_labels = {k: v for k, v in labels.items() if k.startswith("training.kubeflow.org/")}
            svc = {"metadata": {"name": pod_name, "namespace": ns, "labels": svc_labels,
                                "ownerReferences": owner},
                   "spec": {"clusterIP": "None", "selector": svc_labels,
                            "ports": [{"name": PORT_NAME, "port": PORT,
                                       "targetPort": PORT}]}}
            with contextlib.suppress(errors.ApiError):
                self.cluster.create(SERVICES, svc, ns)
                self.events.controller(OPERATOR, KIND, API_VERSION, meta, "Normal",
                                       "SuccessfulCreateService", f"Created service: {pod_name}")
