"""Kubeflow Trainer v2 (v2.3) TrainJobs over JobSet (v0.12), for `SimConfig.trainer`.

Two controllers, as on a cluster with both operators installed (ecosystem-facts.md 4b, 4c):

* the TrainJob controller turns a TrainJob into a JobSet of the same name (controller
  ownerReference) built from its runtime (`runtimeRef`, a ClusterTrainingRuntime by default;
  the stock `torch-distributed` exists from the start), with `trainer` (image, command, args,
  env, numNodes, resourcesPerNode, numProcPerNode) applied to container `node` of the
  replicated Job labelled `trainer.kubeflow.org/trainjob-ancestor-step: trainer`, the torch
  env (PET_NNODES, PET_NPROC_PER_NODE, PET_NODE_RANK, PET_MASTER_ADDR, PET_MASTER_PORT) and
  `runtimePatches` (labels/annotations of JobSet, Job and pod template; a few pod fields). Its
  status copies the JobSet's: jobsStatus from replicatedJobsStatus, Complete/Failed from
  Completed/Failed with the JobSet's reason and message; Suspended/Resumed when spec.suspend
  flips. No Created/Running condition exists, as upstream.
* the JobSet controller creates one Indexed Job `<jobset>-<replicatedJob>-<i>` per replica
  (JobSet labels and annotations on the Job and its pod template, subdomain = the JobSet's
  headless Service), mirrors suspend onto them, and writes replicatedJobsStatus, conditions
  Completed (AllJobsCompleted) / Failed (FailedJobs) / Suspended, terminalState. The Job
  controller and kubelets run the pods; a node pod exhausting its Job's backoffLimit fails the
  Job, hence the JobSet, hence the TrainJob. failurePolicy restarts are not simulated.

Deleting a TrainJob deletes its JobSet, which deletes its Jobs and Service (the garbage
collector's part for these owners); the Job GC then removes the pods.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import math
from typing import Any

from ktui.sim import clock, errors
from ktui.sim.cluster import Cluster
from ktui.sim.controllers.keyqueue import KeyQueue
from ktui.sim.events import EventRecorder
from ktui.sim.kubeflow import deep_sorted
from ktui.sim.patch import MERGE_PATCH
from ktui.sim.resources import (
    CLUSTERTRAININGRUNTIMES,
    JOBS,
    JOBSET,
    JOBSETS,
    SERVICES,
    TRAINER,
    TRAININGRUNTIMES,
    TRAINJOBS,
    ResourceInfo,
)
from ktui.sim.store import WatchEvent
from ktui.wire import quantity

TRAINJOB_API = f"{TRAINER}/v1alpha1"
JOBSET_API = f"{JOBSET}/v1alpha2"
TRAINJOB_CONTROLLER = "trainer.kubeflow.org/trainjob-controller"
JOBSET_CONTROLLER = "jobset"
STOCK_RUNTIME = "torch-distributed"
STOCK_IMAGE = "pytorch/pytorch:2.7.1-cuda12.6-cudnn9-runtime"
L_FRAMEWORK = "trainer.kubeflow.org/framework"
L_ANCESTOR = "trainer.kubeflow.org/trainjob-ancestor-step"
TRAINER_STEP = "trainer"
NODE_CONTAINER = "node"
MASTER_PORT = 29500
INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"

# JobSet's labels (api/jobset/v1alpha2/jobset_types.go), also set as annotations.
L_JOBSET_NAME = "jobset.sigs.k8s.io/jobset-name"
L_JOBSET_UID = "jobset.sigs.k8s.io/jobset-uid"
L_RJOB_NAME = "jobset.sigs.k8s.io/replicatedjob-name"
L_RJOB_REPLICAS = "jobset.sigs.k8s.io/replicatedjob-replicas"
L_GLOBAL_REPLICAS = "jobset.sigs.k8s.io/global-replicas"
L_JOB_INDEX = "jobset.sigs.k8s.io/job-index"
L_JOB_GLOBAL_INDEX = "jobset.sigs.k8s.io/job-global-index"
L_JOB_KEY = "jobset.sigs.k8s.io/job-key"
L_RESTARTS = "jobset.sigs.k8s.io/restart-attempt"

# Condition words (trainjob_types.go; jobset pkg/constants/constants.go).
SUSPENDED = ("Suspended", "TrainJob is suspended")
RESUMED = ("Resumed", "TrainJob is resumed")
JS_COMPLETED = ("AllJobsCompleted", "jobset completed successfully")
JS_FAILED = ("FailedJobs", "jobset failed due to one or more job failures")
JS_SUSPENDED = ("SuspendedJobs", "jobset is suspended")
JS_RESUMED = ("ResumeJobs", "jobset is resumed")
RUNTIME_MISSING = "specified clusterTrainingRuntime must be created before the TrainJob is created"

# Pod spec fields a runtimePatch may set (PodSpecPatch, v2.3), besides containers.
_POD_PATCH_FIELDS = ("serviceAccountName", "volumes", "imagePullSecrets", "securityContext",
                     "nodeSelector", "affinity", "tolerations", "schedulingGates")


def stock_runtime() -> dict[str, Any]:
    """manifests/base/runtimes/torch_distributed.yaml (v2.3), with its framework label."""
    return {
        "metadata": {"name": STOCK_RUNTIME, "labels": {L_FRAMEWORK: "torch"}},
        "spec": {
            "mlPolicy": {"numNodes": 1, "torch": {"numProcPerNode": "auto"}},
            "template": {"spec": {"replicatedJobs": [{
                "name": "node",
                "template": {
                    "metadata": {"labels": {L_ANCESTOR: TRAINER_STEP}},
                    "spec": {"template": {"spec": {"containers": [{
                        "name": NODE_CONTAINER,
                        "image": STOCK_IMAGE,
                        "command": ["/bin/bash", "-c",
                                    'echo "Torch Distributed Runtime"\n\necho '
                                    '"--------------------------------------"\necho "Torch '
                                    'Default Runtime Env"\nenv | grep PET_\n\npip list\n'],
                    }]}}},
                },
            }]}},
        },
    }


def _cond(ctype: str, status: str, reason: str, message: str, now: str) -> dict[str, Any]:
    return {"lastTransitionTime": now, "message": message, "reason": reason, "status": status,
            "type": ctype}


def set_condition(conds: list[dict[str, Any]], new: dict[str, Any]) -> list[dict[str, Any]]:
    """meta.SetStatusCondition: one condition per type; the transition time moves only when
    the status does."""
    out = []
    found = False
    for c in conds:
        if c.get("type") != new["type"]:
            out.append(c)
            continue
        found = True
        if c.get("status") == new["status"]:
            out.append({**new, "lastTransitionTime": c.get("lastTransitionTime",
                                                           new["lastTransitionTime"])})
        else:
            out.append(new)
    if not found:
        out.append(new)
    return out


def _true(conds: list[dict[str, Any]], ctype: str) -> dict[str, Any] | None:
    return next((c for c in conds if c.get("type") == ctype and c.get("status") == "True"),
                None)


def _upsert_env(env: list[dict[str, Any]], add: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """apply.UpsertEnvVars: a name already present is replaced in place."""
    out = list(env)
    for e in add:
        at = next((i for i, x in enumerate(out) if x.get("name") == e.get("name")), None)
        if at is None:
            out.append(e)
        else:
            out[at] = e
    return out


def _has_gpu(resources: dict[str, Any]) -> bool:
    return any(k.startswith("nvidia.com/") or k.endswith("/gpu")
               for part in ("limits", "requests") for k in (resources.get(part) or {}))


def nproc_per_node(trainer: dict[str, Any], ml_policy: dict[str, Any],
                   resources: dict[str, Any]) -> str:
    """plugins/torch: `auto` stays for GPU nodes; with no GPU requested (or `cpu`) it becomes
    the node's CPU count (limits, else requests; at least 1)."""
    raw = trainer.get("numProcPerNode")
    if raw is None:
        raw = ((ml_policy.get("torch") or {}).get("numProcPerNode"))
    text = "auto" if raw is None else str(raw)
    if text == "cpu" or (text == "auto" and not _has_gpu(resources)):
        cpu = (resources.get("limits") or {}).get("cpu") or (
            resources.get("requests") or {}).get("cpu")
        count = 1
        if cpu is not None:
            with contextlib.suppress(ValueError, TypeError):
                count = max(1, math.ceil(float(quantity.parse(cpu))))
        return str(count)
    return text


def torch_env(name: str, nnodes: int, nproc: str) -> list[dict[str, Any]]:
    return [
        {"name": "PET_NNODES", "value": str(nnodes)},
        {"name": "PET_NPROC_PER_NODE", "value": nproc},
        {"name": "PET_NODE_RANK", "valueFrom": {"fieldRef": {
            "apiVersion": "v1", "fieldPath": f"metadata.annotations['{INDEX_ANNOTATION}']"}}},
        {"name": "PET_MASTER_ADDR", "value": f"{name}-node-0-0.{name}"},
        {"name": "PET_MASTER_PORT", "value": str(MASTER_PORT)},
    ]


def _merge_meta(target: dict[str, Any], patch: dict[str, Any] | None) -> None:
    for part in ("labels", "annotations"):
        values = (patch or {}).get(part)
        if values:
            target[part] = {**(target.get(part) or {}), **values}


def _apply_pod_patch(pod: dict[str, Any], patch: dict[str, Any]) -> None:
    _merge_meta(pod.setdefault("metadata", {}), patch.get("metadata"))
    pspec = patch.get("spec") or {}
    spec = pod.setdefault("spec", {})
    for f in _POD_PATCH_FIELDS:
        if f not in pspec:
            continue
        if f == "nodeSelector":
            spec[f] = {**(spec.get(f) or {}), **pspec[f]}
        elif f in ("volumes", "imagePullSecrets", "schedulingGates"):
            have = {x.get("name"): x for x in spec.get(f) or ()}
            have.update({x.get("name"): x for x in pspec[f]})
            spec[f] = list(have.values())
        else:
            spec[f] = pspec[f]
    for kind in ("initContainers", "containers"):
        for cp in pspec.get(kind) or ():
            for c in spec.get(kind) or ():
                if c.get("name") != cp.get("name"):
                    continue
                if cp.get("env"):
                    c["env"] = _upsert_env(c.get("env") or [], cp["env"])
                if cp.get("volumeMounts"):
                    c["volumeMounts"] = list(c.get("volumeMounts") or ()) + cp["volumeMounts"]
                if cp.get("securityContext"):
                    c["securityContext"] = cp["securityContext"]


def build_jobset(trainjob: dict[str, Any], runtime: dict[str, Any]) -> dict[str, Any]:
    """The JobSet the TrainJob controller creates (runtime template + trainer + patches)."""
    meta, spec = trainjob["metadata"], trainjob.get("spec") or {}
    name = meta["name"]
    rspec = runtime.get("spec") or {}
    ml_policy = rspec.get("mlPolicy") or {}
    template = copy.deepcopy(rspec.get("template") or {})
    trainer = spec.get("trainer") or {}
    nnodes = int(trainer.get("numNodes") or ml_policy.get("numNodes") or 1)
    js_meta: dict[str, Any] = {"name": name, "namespace": meta["namespace"]}
    _merge_meta(js_meta, template.get("metadata"))
    js_spec = template.get("spec") or {}
    patches = [((p.get("trainingRuntimeSpec") or {}).get("template") or {})
               for p in spec.get("runtimePatches") or ()]
    for p in patches:
        _merge_meta(js_meta, p.get("metadata"))
    for rjob in js_spec.get("replicatedJobs") or ():
        jt = rjob.setdefault("template", {})
        jspec = jt.setdefault("spec", {})
        pod = jspec.setdefault("template", {})
        step = ((jt.get("metadata") or {}).get("labels") or {}).get(L_ANCESTOR)
        if step:
            # The step label reaches the pods too (ecosystem-facts 4b).
            pmeta = pod.setdefault("metadata", {})
            pmeta["labels"] = {**(pmeta.get("labels") or {}), L_ANCESTOR: step}
        if step == TRAINER_STEP:
            jspec["parallelism"] = nnodes
            jspec["completions"] = nnodes
            for c in (pod.get("spec") or {}).get("containers") or ():
                if c.get("name") != NODE_CONTAINER:
                    continue
                for key in ("image", "command", "args"):
                    if trainer.get(key) is not None:
                        c[key] = copy.deepcopy(trainer[key])
                if trainer.get("resourcesPerNode") is not None:
                    c["resources"] = copy.deepcopy(trainer["resourcesPerNode"])
                env = _upsert_env(c.get("env") or [], copy.deepcopy(trainer.get("env") or []))
                if "torch" in ml_policy:
                    nproc = nproc_per_node(trainer, ml_policy, c.get("resources") or {})
                    env = _upsert_env(env, torch_env(name, nnodes, nproc))
                    ports = list(c.get("ports") or ())
                    if not any(p.get("containerPort") == MASTER_PORT for p in ports):
                        c["ports"] = ports + [{"containerPort": MASTER_PORT,
                                               "protocol": "TCP"}]
                c["env"] = env
        for p in patches:
            for rp in (p.get("spec") or {}).get("replicatedJobs") or ():
                if rp.get("name") != rjob.get("name"):
                    continue
                rt = rp.get("template") or {}
                _merge_meta(jt.setdefault("metadata", {}), rt.get("metadata"))
                pod_patch = (rt.get("spec") or {}).get("template")
                if pod_patch:
                    _apply_pod_patch(pod, pod_patch)
    js_spec["suspend"] = bool(spec.get("suspend"))
    js_meta["ownerReferences"] = [{"apiVersion": TRAINJOB_API, "kind": "TrainJob", "name": name,
                                   "uid": meta["uid"], "controller": True,
                                   "blockOwnerDeletion": True}]
    return {"metadata": js_meta, "spec": default_jobset_spec(js_spec)}


def default_jobset_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """JobSet's defaulting webhook: Indexed Jobs, OnFailure pods, DNS hostnames."""
    spec = copy.deepcopy(spec)
    net = spec.setdefault("network", {})
    net.setdefault("enableDNSHostnames", True)
    net.setdefault("publishNotReadyAddresses", True)
    spec.setdefault("successPolicy", {"operator": "All"})
    spec.setdefault("startupPolicy", {"startupPolicyOrder": "AnyOrder"})
    for rjob in spec.get("replicatedJobs") or ():
        rjob.setdefault("replicas", 1)
        jspec = rjob.setdefault("template", {}).setdefault("spec", {})
        jspec.setdefault("completionMode", "Indexed")
        pspec = jspec.setdefault("template", {}).setdefault("spec", {})
        pspec.setdefault("restartPolicy", "OnFailure")
    return spec


def _job_key(namespace: str, job_name: str) -> str:
    return hashlib.sha1(f"{namespace}/{job_name}".encode()).hexdigest()


def _labels_for(js: dict[str, Any], rjob: dict[str, Any], index: int,
                global_index: int, global_replicas: int) -> dict[str, str]:
    meta = js["metadata"]
    job_name = f"{meta['name']}-{rjob['name']}-{index}"
    return {
        L_JOBSET_NAME: meta["name"],
        L_JOBSET_UID: meta["uid"],
        L_RJOB_NAME: rjob["name"],
        L_RESTARTS: str((js.get("status") or {}).get("restarts", 0)),
        L_RJOB_REPLICAS: str(rjob.get("replicas", 1)),
        L_GLOBAL_REPLICAS: str(global_replicas),
        L_JOB_INDEX: str(index),
        L_JOB_KEY: _job_key(meta["namespace"], job_name),
        L_JOB_GLOBAL_INDEX: str(global_index),
    }


def _finished(job: dict[str, Any]) -> str | None:
    for c in (job.get("status") or {}).get("conditions") or ():
        if c.get("type") in ("Complete", "Failed") and c.get("status") == "True":
            return str(c["type"])
    return None


class TrainerControllers:
    """The TrainJob controller and the JobSet controller, on the shared work queue."""

    def __init__(self, cluster: Cluster, events: EventRecorder) -> None:
        self.cluster = cluster
        self.events = events
        self._trainjobs = KeyQueue(lambda: self.cluster.loop, self.reconcile_trainjob)
        self._jobsets = KeyQueue(lambda: self.cluster.loop, self.reconcile_jobset)
        self._trainjob_keys: dict[str, str] = {}  # uid -> key
        self._jobset_keys: dict[str, str] = {}
        cluster.mutators.append(self._admit)
        cluster.store.listeners.append(self._on_event)

    def bootstrap(self) -> None:
        self.cluster.create(CLUSTERTRAININGRUNTIMES, stock_runtime(), None)

    # ------------------------------------------------------------------ admission

    def _admit(self, info: ResourceInfo, obj: dict[str, Any]) -> None:
        """The CRD's schema defaults and the TrainJob validating webhook's runtime check."""
        if info is TRAINJOBS:
            spec = obj.setdefault("spec", {})
            ref = spec.setdefault("runtimeRef", {})
            ref.setdefault("apiGroup", TRAINER)
            ref.setdefault("kind", CLUSTERTRAININGRUNTIMES.kind)
            spec.setdefault("suspend", False)
            spec.setdefault("managedBy", TRAINJOB_CONTROLLER)
            obj["spec"] = deep_sorted(spec)
            if self._runtime(obj) is None:
                name = obj["metadata"]["name"]
                raise errors.invalid(TRAINJOBS, name, [errors.Cause(
                    "FieldValueInvalid",
                    f'Invalid value: "{ref.get("name", "")}": {self._missing(obj)}: '
                    f"{RUNTIME_MISSING}", "spec.runtimeRef")])
        elif info is JOBSETS:
            obj["spec"] = deep_sorted(default_jobset_spec(obj.get("spec") or {}))

    def _runtime(self, trainjob: dict[str, Any]) -> dict[str, Any] | None:
        ref = (trainjob.get("spec") or {}).get("runtimeRef") or {}
        if ref.get("kind") == TRAININGRUNTIMES.kind:
            v = self.cluster.store.get(TRAININGRUNTIMES, trainjob["metadata"].get("namespace"),
                                       ref.get("name", ""))
        else:
            v = self.cluster.store.get(CLUSTERTRAININGRUNTIMES, None, ref.get("name", ""))
        return v.obj() if v is not None else None

    @staticmethod
    def _missing(trainjob: dict[str, Any]) -> str:
        ref = (trainjob.get("spec") or {}).get("runtimeRef") or {}
        info = TRAININGRUNTIMES if ref.get("kind") == TRAININGRUNTIMES.kind \
            else CLUSTERTRAININGRUNTIMES
        return f'{info.qualified} "{ref.get("name", "")}" not found'

    # ------------------------------------------------------------------ events

    def _on_event(self, info: ResourceInfo, ev: WatchEvent) -> None:
        if info is TRAINJOBS:
            if ev.type == "DELETED":
                self._trainjob_keys.pop(ev.obj.uid, None)
                self.cluster.loop.call_soon(self._delete_owned, JOBSETS, ev.obj.uid,
                                            ev.obj.namespace or "")
                return
            self._trainjob_keys[ev.obj.uid] = ev.obj.key
            if ev.obj.deleting:
                self.cluster.loop.call_soon(self._finalize, TRAINJOBS, ev.obj.key)
            self._trainjobs.mark(ev.obj.key)
        elif info is JOBSETS:
            if ev.type == "DELETED":
                self._jobset_keys.pop(ev.obj.uid, None)
                self.cluster.loop.call_soon(self._delete_owned, JOBS, ev.obj.uid,
                                            ev.obj.namespace or "")
                self.cluster.loop.call_soon(self._delete_owned, SERVICES, ev.obj.uid,
                                            ev.obj.namespace or "")
            else:
                self._jobset_keys[ev.obj.uid] = ev.obj.key
                if ev.obj.deleting:
                    self.cluster.loop.call_soon(self._finalize, JOBSETS, ev.obj.key)
                self._jobsets.mark(ev.obj.key)
            if ev.obj.owner in self._trainjob_keys:
                self._trainjobs.mark(self._trainjob_keys[ev.obj.owner])
        elif info is JOBS and ev.obj.owner in self._jobset_keys:
            self._jobsets.mark(self._jobset_keys[ev.obj.owner])

    def _delete_owned(self, info: ResourceInfo, owner_uid: str, namespace: str) -> None:
        rs = self.cluster.store[info.plural]
        lo, hi = rs.range_bounds(namespace)
        for v in list(rs.iter_range(lo, hi, None)):
            if v.owner == owner_uid and not v.deleting:
                with contextlib.suppress(errors.ApiError):
                    self.cluster.delete(info, v.namespace, v.name,
                                        {"propagationPolicy": "Background"})

    def _finalize(self, info: ResourceInfo, key: str) -> None:
        """Foreground deletion of a TrainJob or JobSet: the garbage collector's part (its
        dependents deleted) before the owner's finalizer goes."""
        cur = self.cluster.store[info.plural].objects.get(key)
        if cur is None:
            return
        if "foregroundDeletion" not in (cur.obj()["metadata"].get("finalizers") or []):
            return
        self._delete_owned(JOBSETS if info is TRAINJOBS else JOBS, cur.uid, cur.namespace or "")
        if info is JOBSETS:
            self._delete_owned(SERVICES, cur.uid, cur.namespace or "")

        def drop(obj: dict[str, Any]) -> bool | None:
            rest = [f for f in obj["metadata"].get("finalizers") or []
                    if f != "foregroundDeletion"]
            if rest:
                obj["metadata"]["finalizers"] = rest
            else:
                obj["metadata"].pop("finalizers", None)
            return None

        self.cluster.mutate(info, key, drop)

    # ------------------------------------------------------------------ TrainJob

    def reconcile_trainjob(self, key: str) -> None:
        cur = self.cluster.store["trainjobs"].objects.get(key)
        if cur is None:
            return
        tj = cur.obj()
        meta, spec = tj["metadata"], tj.get("spec") or {}
        if meta.get("deletionTimestamp"):
            return
        if spec.get("managedBy", TRAINJOB_CONTROLLER) != TRAINJOB_CONTROLLER:
            return  # MultiKueue's, not ours
        now = clock.rfc3339(clock.now())
        status = copy.deepcopy(tj.get("status") or {})
        conds: list[dict[str, Any]] = list(status.get("conditions") or [])
        finished = _true(conds, "Complete") or _true(conds, "Failed")
        jsv = self.cluster.store.get(JOBSETS, meta["namespace"], meta["name"])
        js = jsv.obj() if jsv is not None and jsv.owner == cur.uid else None
        if js is None and jsv is None and not finished:
            runtime = self._runtime(tj)
            if runtime is None:
                self.events.controller("trainjob-controller", "TrainJob", TRAINJOB_API, meta,
                                       "Warning", "TrainJobResourcesCreationFailed",
                                       f"TrainJob failed to create objects: {self._missing(tj)}")
                return
            with contextlib.suppress(errors.ApiError):
                self.cluster.create(JOBSETS, build_jobset(tj, runtime), meta["namespace"])
            return  # its ADDED event brings us back
        suspend = bool(spec.get("suspend"))
        if js is not None and not finished and bool((js.get("spec") or {}).get("suspend")) \
                != suspend:
            with contextlib.suppress(errors.ApiError):
                self.cluster.patch(JOBSETS, meta["namespace"], meta["name"], MERGE_PATCH,
                                   {"spec": {"suspend": suspend}})
        if suspend:
            conds = set_condition(conds, _cond("Suspended", "True", *SUSPENDED, now))
        elif any(c.get("type") == "Suspended" and c.get("status") == "True" for c in conds):
            conds = set_condition(conds, _cond("Suspended", "False", *RESUMED, now))
        if js is not None:
            jst = js.get("status") or {}
            status["jobsStatus"] = [
                {"name": r.get("name")} | {k: r.get(k, 0) for k in (
                    "ready", "succeeded", "failed", "active", "suspended")}
                for r in jst.get("replicatedJobsStatus") or ()]
            if not finished:
                for js_type, tj_type in (("Completed", "Complete"), ("Failed", "Failed")):
                    c = _true(jst.get("conditions") or [], js_type)
                    if c is not None:
                        conds = set_condition(conds, _cond(tj_type, "True", c.get("reason", ""),
                                                           c.get("message", ""), now))
                        break
        if conds:
            status["conditions"] = conds
        status = deep_sorted(status)
        if status != (tj.get("status") or {}):
            tj["status"] = status
            self.cluster.write(TRAINJOBS, tj)

    # ------------------------------------------------------------------ JobSet

    def reconcile_jobset(self, key: str) -> None:
        cur = self.cluster.store["jobsets"].objects.get(key)
        if cur is None:
            return
        js = cur.obj()
        meta, spec = js["metadata"], js.get("spec") or {}
        if meta.get("deletionTimestamp"):
            return
        ns, name = meta["namespace"], meta["name"]
        now = clock.rfc3339(clock.now())
        status = copy.deepcopy(js.get("status") or {})
        conds: list[dict[str, Any]] = list(status.get("conditions") or [])
        finished = bool(status.get("terminalState"))
        suspend = bool(spec.get("suspend"))
        rjobs = spec.get("replicatedJobs") or []
        global_replicas = sum(int(r.get("replicas", 1)) for r in rjobs)
        owned = {v.name: v for v in self._owned_jobs(cur.uid, ns)}
        if not finished and (spec.get("network") or {}).get("enableDNSHostnames"):
            self._ensure_service(js, cur.uid)
        counts: list[dict[str, Any]] = []
        any_failed = False
        all_done = bool(rjobs)
        global_index = 0
        for rjob in rjobs:
            c = {"name": rjob.get("name"), "ready": 0, "succeeded": 0, "failed": 0, "active": 0,
                 "suspended": 0}
            for i in range(int(rjob.get("replicas", 1))):
                job_name = f"{name}-{rjob.get('name')}-{i}"
                v = owned.get(job_name)
                if v is None:
                    all_done = False
                    if not finished:
                        self._create_job(js, rjob, i, global_index, global_replicas)
                    global_index += 1
                    continue
                global_index += 1
                job = v.obj()
                done = _finished(job)
                if done == "Complete":
                    c["succeeded"] += 1
                    continue
                all_done = False
                if done == "Failed":
                    c["failed"] += 1
                    any_failed = True
                    continue
                jspec, jst = job.get("spec") or {}, job.get("status") or {}
                want = min(int(jspec.get("parallelism", 1)),
                           int(jspec.get("completions") or jspec.get("parallelism", 1)))
                if jst.get("succeeded", 0) + jst.get("ready", 0) >= want:
                    c["ready"] += 1
                if jst.get("active", 0) > 0:
                    c["active"] += 1
                if jspec.get("suspend"):
                    c["suspended"] += 1
                if not finished and bool(jspec.get("suspend")) != suspend:
                    with contextlib.suppress(errors.ApiError):
                        self.cluster.patch(JOBS, ns, job_name, MERGE_PATCH,
                                           {"spec": {"suspend": suspend}})
            counts.append(c)
        status["replicatedJobsStatus"] = counts
        if not finished:
            if suspend:
                conds = self._js_condition(meta, conds, "Suspended", "True", JS_SUSPENDED, now)
            elif any(c.get("type") == "Suspended" and c.get("status") == "True" for c in conds):
                conds = self._js_condition(meta, conds, "Suspended", "False", JS_RESUMED, now)
            if any_failed:
                conds = self._js_condition(meta, conds, "Failed", "True", JS_FAILED, now,
                                           "Warning")
                status["terminalState"] = "Failed"
            elif all_done:
                conds = self._js_condition(meta, conds, "Completed", "True", JS_COMPLETED, now)
                status["terminalState"] = "Completed"
            if status.get("terminalState"):
                # A finished JobSet stops what still runs (jobset_controller: deleteJobs).
                for v in owned.values():
                    if _finished(v.obj()) is None and not v.deleting:
                        with contextlib.suppress(errors.ApiError):
                            self.cluster.delete(JOBS, ns, v.name,
                                                {"propagationPolicy": "Foreground"})
        if conds:
            status["conditions"] = conds
        status = deep_sorted(status)
        if status != (js.get("status") or {}):
            js["status"] = status
            self.cluster.write(JOBSETS, js)

    def _js_condition(self, meta: dict[str, Any], conds: list[dict[str, Any]], ctype: str,
                      status: str, words: tuple[str, str], now: str,
                      event_type: str = "Normal") -> list[dict[str, Any]]:
        if any(c.get("type") == ctype and c.get("status") == status for c in conds):
            return conds
        self.events.controller("jobset-controller", "JobSet", JOBSET_API, meta, event_type,
                               words[0], words[1])
        return set_condition(conds, _cond(ctype, status, words[0], words[1], now))

    def _owned_jobs(self, uid: str, namespace: str) -> list[Any]:
        rs = self.cluster.store["jobs"]
        lo, hi = rs.range_bounds(namespace)
        return [v for v in rs.iter_range(lo, hi, None) if v.owner == uid]

    def _create_job(self, js: dict[str, Any], rjob: dict[str, Any], index: int,
                    global_index: int, global_replicas: int) -> None:
        meta = js["metadata"]
        template = copy.deepcopy(rjob.get("template") or {})
        tmeta = template.get("metadata") or {}
        jspec = template.get("spec") or {}
        stamp = _labels_for(js, rjob, index, global_index, global_replicas)
        job_meta: dict[str, Any] = {
            "name": f"{meta['name']}-{rjob.get('name')}-{index}", "namespace": meta["namespace"],
            "labels": {**(tmeta.get("labels") or {}), **stamp},
            "annotations": {**(tmeta.get("annotations") or {}), **stamp},
            "ownerReferences": [{"apiVersion": JOBSET_API, "kind": "JobSet",
                                 "name": meta["name"], "uid": meta["uid"], "controller": True,
                                 "blockOwnerDeletion": True}]}
        pod = jspec.setdefault("template", {})
        pmeta = pod.setdefault("metadata", {})
        pmeta["labels"] = {**(pmeta.get("labels") or {}), **stamp}
        pmeta["annotations"] = {**(pmeta.get("annotations") or {}), **stamp}
        if ((js.get("spec") or {}).get("network") or {}).get("enableDNSHostnames"):
            pod.setdefault("spec", {})["subdomain"] = (
                (js["spec"].get("network") or {}).get("subdomain") or meta["name"])
        jspec["suspend"] = bool((js.get("spec") or {}).get("suspend"))
        try:
            self.cluster.create(JOBS, {"metadata": job_meta, "spec": jspec}, meta["namespace"])
        except errors.ApiError as exc:
            self.events.controller("jobset-controller", "JobSet", JOBSET_API, meta, "Warning",
                                   "JobCreationFailed", exc.message)

    def _ensure_service(self, js: dict[str, Any], uid: str) -> None:
        meta = js["metadata"]
        net = (js.get("spec") or {}).get("network") or {}
        name = net.get("subdomain") or meta["name"]
        if self.cluster.store.get(SERVICES, meta["namespace"], name) is not None:
            return
        svc = {"metadata": {"name": name, "namespace": meta["namespace"], "ownerReferences": [{
            "apiVersion": JOBSET_API, "kind": "JobSet", "name": meta["name"], "uid": uid,
            "controller": True, "blockOwnerDeletion": True}]},
            "spec": {"clusterIP": "None", "selector": {L_JOBSET_NAME: meta["name"]},
                     "publishNotReadyAddresses": bool(net.get("publishNotReadyAddresses",
                                                              True))}}
        with contextlib.suppress(errors.ApiError):
            self.cluster.create(SERVICES, svc, meta["namespace"])

