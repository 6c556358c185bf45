"""Pre-populate a large cluster: many sweeps of trial Jobs, mostly finished, some running.

Built for `ktui sim --nodes 5000 --pods 150000`: objects are rendered from per-sweep JSON
templates by substituting placeholders in bytes (no per-object dict building or encoding),
and loaded into the store without watch events. Finished pods then cost only their bytes;
running ones are handed to the scheduler's accounting and to the kubelet, which finishes
them on schedule.
"""

from __future__ import annotations

import operator
import os
import random
import re
import time
from typing import TYPE_CHECKING, Any

import msgspec

from ktui.sim import clock, defaults
from ktui.sim.nodes import make_namespace
from ktui.sim.resources import JOBS, NAMESPACES, NODES, PODS
from ktui.sim.store import ObjVersion, key_of
from ktui.wire import quantity
from ktui.wire.names import PARAMS_ANNOTATION, SWEEP_LABEL, TRIAL_LABEL

if TYPE_CHECKING:
    from ktui.sim.server import SimServer

TEAM_NAMESPACES = ("ml-research", "ml-vision", "ml-nlp", "default")
MODELS = ("resnet50", "vit-b16", "bert-base", "gpt2-small", "llama-ft", "unet", "wav2vec",
          "t5-small", "yolo", "mae")
LRS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
BATCHES = (32, 64, 128, 256)
RUNNING_SHARE = 0.05
FAILED_SHARE = 0.08
_PH = re.compile(rb"@@(\w+)@@")
_SUFFIX = "bcdfghjklmnpqrstvwxz2456789"


def _uid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"


class Template:
    """Compact JSON with @@name@@ placeholders inside strings, rendered with bytes %."""

    def __init__(self, obj: dict[str, Any]) -> None:
        raw = msgspec.json.encode(obj)
        pieces = _PH.split(raw)
        self.fmt = b"%s".join(p.replace(b"%", b"%%") for p in pieces[0::2])
        names = [p.decode() for p in pieces[1::2]]
        self.pick = operator.itemgetter(*names) if len(names) > 1 else (
            lambda d, n=names[0]: (d[n],))

    def render(self, values: dict[str, bytes]) -> bytes:
        return self.fmt % self.pick(values)


def _esc(text: str) -> bytes:
    """`text` escaped for use inside a JSON string."""
    return msgspec.json.encode(text)[1:-1]


class _Capacity:
    """First-fit placement of the running pods, mirroring the scheduler's arithmetic."""

    def __init__(self, nodes: list[dict[str, Any]]) -> None:
        self.names = [n["metadata"]["name"] for n in nodes]
        self.free = []
        for n in nodes:
            a = n["status"]["allocatable"]
            self.free.append([quantity.milli(a["cpu"]), quantity.whole(a["memory"]),
                              quantity.whole(a.get("nvidia.com/gpu", 0)),
                              quantity.whole(a["pods"])])
        self.i = 0

    def place(self, cpu: int, mem: int, gpu: int) -> int | None:
        n = len(self.names)
        for step in range(n):
            j = (self.i + step) % n
            f = self.free[j]
            if f[0] >= cpu and f[1] >= mem and f[2] >= gpu and f[3] >= 1:
                f[0] -= cpu
                f[1] -= mem
                f[2] -= gpu
                f[3] -= 1
                self.i = j
                return j
        return None


def _pod_template(ns: str, sweep: str, image: str, resources: dict[str, Any], outcome: str,
                  vol: str) -> dict[str, Any]:
    running = outcome == "Running"
    meta: dict[str, Any] = {
        "name": "@@pod@@", "generateName": "@@job@@-", "namespace": ns, "uid": "@@poduid@@",
        "resourceVersion": "@@podrv@@", "creationTimestamp": "@@created@@",
        "labels": {"batch.kubernetes.io/controller-uid": "@@jobuid@@",
                   "batch.kubernetes.io/job-name": "@@job@@", "controller-uid": "@@jobuid@@",
                   "job-name": "@@job@@", SWEEP_LABEL: sweep, TRIAL_LABEL: "@@trial@@"},
        "annotations": {PARAMS_ANNOTATION: "@@params@@"},
        "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "@@job@@",
                             "uid": "@@jobuid@@", "controller": True,
                             "blockOwnerDeletion": True}],
    }
    if running:
        meta["annotations"]["sim.ktui.dev/duration"] = "@@duration@@"
        meta["finalizers"] = ["batch.kubernetes.io/job-tracking"]
    restart = "Never"
    container = defaults.default_container({
        "name": "trial", "image": image, "command": ["python", "train.py"],
        "args": ["--lr=@@lr@@", "--batch-size=@@batch@@", "--seed=@@trial@@"],
        "resources": resources})
    spec = defaults.default_pod_spec({"containers": [container], "restartPolicy": restart})
    spec = defaults.admit_pod_spec(spec)
    spec["volumes"][0]["name"] = vol
    spec["containers"][0]["volumeMounts"][0]["name"] = vol
    spec["nodeName"] = "@@node@@"
    spec = defaults.ordered(spec, defaults.POD_SPEC_ORDER)

    def cond(ctype: str, status: str, when: str, reason: str | None = None) -> dict[str, Any]:
        c: dict[str, Any] = {"type": ctype, "status": status, "lastProbeTime": None,
                             "lastTransitionTime": when}
        if reason:
            c["reason"] = reason
        return c

    cs: dict[str, Any] = {"name": "trial"}
    if running:
        phase = "Running"
        conditions = [cond("PodReadyToStartContainers", "True", "@@started@@"),
                      cond("Initialized", "True", "@@created@@"),
                      cond("Ready", "True", "@@started@@"),
                      cond("ContainersReady", "True", "@@started@@"),
                      cond("PodScheduled", "True", "@@created@@")]
        cs["state"] = {"running": {"startedAt": "@@started@@"}}
    else:
        ok = outcome == "Succeeded"
        phase = outcome
        why = "PodCompleted" if ok else "PodFailed"
        conditions = [cond("PodReadyToStartContainers", "False", "@@finished@@"),
                      cond("Initialized", "True", "@@created@@", "PodCompleted" if ok else None),
                      cond("Ready", "False", "@@finished@@", why),
                      cond("ContainersReady", "False", "@@finished@@", why),
                      cond("PodScheduled", "True", "@@created@@")]
        cs["state"] = {"terminated": {"exitCode": 0 if ok else 1,
                                      "reason": "Completed" if ok else "Error",
                                      "startedAt": "@@started@@", "finishedAt": "@@finished@@",
                                      "containerID": "containerd://@@cid@@"}}
    from ktui.sim.kubelet import image_id, normalize_image

    cs.update({"lastState": {}, "ready": running, "restartCount": 0,
               "image": normalize_image(image), "imageID": image_id(image),
               "containerID": "containerd://@@cid@@", "started": running})
    status = {"phase": phase, "conditions": conditions, "hostIP": "@@hostip@@",
              "hostIPs": [{"ip": "@@hostip@@"}], "podIP": "@@podip@@",
              "podIPs": [{"ip": "@@podip@@"}], "startTime": "@@created@@",
              "containerStatuses": [cs], "qosClass": defaults.qos_class(spec)}
    return {"metadata": meta, "spec": spec, "status": status}


def _job_template(ns: str, sweep: str, image: str, resources: dict[str, Any],
                  outcome: str) -> dict[str, Any]:
    running = outcome == "Running"
    job: dict[str, Any] = {
        "metadata": {"name": "@@job@@", "namespace": ns, "uid": "@@jobuid@@",
                     "resourceVersion": "@@jobrv@@", "generation": 1,
                     "creationTimestamp": "@@created@@",
                     "labels": {SWEEP_LABEL: sweep, TRIAL_LABEL: "@@trial@@"}},
        "spec": {
            "backoffLimit": 1,
            "template": {
                "metadata": {"labels": {SWEEP_LABEL: sweep, TRIAL_LABEL: "@@trial@@"},
                             "annotations": {PARAMS_ANNOTATION: "@@params@@"}},
                "spec": {"restartPolicy": "Never", "containers": [{
                    "name": "trial", "image": image, "command": ["python", "train.py"],
                    "args": ["--lr=@@lr@@", "--batch-size=@@batch@@", "--seed=@@trial@@"],
                    "resources": resources}]},
            },
        },
    }
    if running:
        job["spec"]["template"]["metadata"]["annotations"]["sim.ktui.dev/duration"] = "@@duration@@"  # noqa: E501
    job = defaults.default_job(job)
    # default_job put the placeholder uid into the selector and template labels already.
    if outcome == "Succeeded":
        msg = "Reached expected number of succeeded pods"
        status = {"conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "lastProbeTime": "@@finished@@",
             "lastTransitionTime": "@@finished@@", "reason": "CompletionsReached",
             "message": msg},
            {"type": "Complete", "status": "True", "lastProbeTime": "@@finished@@",
             "lastTransitionTime": "@@finished@@", "reason": "CompletionsReached",
             "message": msg}],
            "startTime": "@@created@@", "completionTime": "@@finished@@", "succeeded": 1,
            "terminating": 0, "uncountedTerminatedPods": {}, "ready": 0}
    elif outcome == "Failed":
        msg = "Job has reached the specified backoff limit"
        status = {"conditions": [
            {"type": "FailureTarget", "status": "True", "lastProbeTime": "@@finished@@",
             "lastTransitionTime": "@@finished@@", "reason": "BackoffLimitExceeded",
             "message": msg},
            {"type": "Failed", "status": "True", "lastProbeTime": "@@finished@@",
             "lastTransitionTime": "@@finished@@", "reason": "BackoffLimitExceeded",
             "message": msg}],
            "startTime": "@@created@@", "failed": 2, "terminating": 0,
            "uncountedTerminatedPods": {}, "ready": 0}
    else:
        status = {"startTime": "@@created@@", "active": 1, "terminating": 0,
                  "uncountedTerminatedPods": {}, "ready": 1}
    job["status"] = status
    return job


def populate(server: SimServer, total_pods: int) -> None:
    cfg = server.config
    rng = random.Random(cfg.seed)
    store = server.cluster.store
    now = time.time()
    speed = cfg.speed
    nodes = [v.obj() for v in (store["nodes"].objects[k] for k in store["nodes"].keys)]
    if not nodes:
        return
    node_ips = [n["status"]["addresses"][0]["address"] for n in nodes]
    node_names = [n["metadata"]["name"] for n in nodes]
    capacity = _Capacity(nodes)
    for ns in TEAM_NAMESPACES:
        if store.get(NAMESPACES, None, ns) is None:
            store.add(NAMESPACES, make_namespace(ns, now - 30 * 86400))

    gpus = cfg.gpus_per_node
    running_target = int(total_pods * RUNNING_SHARE)
    pods_v: list[ObjVersion] = []
    jobs_v: list[ObjVersion] = []
    running_pods: list[bytes] = []
    made = 0
    sweep_no = 0
    ts_cache: dict[int, bytes] = {}

    def ts(t: float) -> bytes:
        s = int(t)
        b = ts_cache.get(s)
        if b is None:
            b = clock.rfc3339(s).encode()
            if len(ts_cache) < 500_000:
                ts_cache[s] = b
        return b

    history_span = 7 * 86400.0
    while made < total_pods:
        sweep_no += 1
        model = MODELS[sweep_no % len(MODELS)]
        sweep = f"{model}-s{sweep_no:04d}"
        ns = TEAM_NAMESPACES[sweep_no % len(TEAM_NAMESPACES)]
        trials = min(total_pods - made, rng.randint(20, 300))
        is_active = made + trials > total_pods - running_target * 1.5 and running_target > 0
        gpu_req = 1 if gpus else 0
        resources: dict[str, Any] = {
            "limits": {"cpu": "8", "memory": "32Gi"},
            "requests": {"cpu": "4", "memory": "16Gi"},
        }
        if gpu_req:
            resources["limits"]["nvidia.com/gpu"] = "1"
            resources["requests"]["nvidia.com/gpu"] = "1"
        image = f"registry.example.com/ml/{model}:v{1 + sweep_no % 7}.{sweep_no % 10}"
        vol = f"kube-api-access-{defaults.random_suffix(5)}"
        pod_t = {o: Template(_pod_template(ns, sweep, image, resources, o, vol))
                 for o in ("Succeeded", "Failed", "Running")}
        job_t = {o: Template(_job_template(ns, sweep, image, resources, o))
                 for o in ("Succeeded", "Failed", "Running")}
        sweep_start = now - history_span * (1 - made / max(1, total_pods)) - 3600
        sweep_labels_base = {SWEEP_LABEL: sweep}
        for trial in range(trials):
            if made >= total_pods:
                break
            lr = LRS[(trial + sweep_no) % len(LRS)]
            batch = BATCHES[(trial // len(LRS)) % len(BATCHES)]
            params = msgspec.json.encode(
                {"lr": lr, "batch_size": batch, "model": model, "seed": trial}).decode()
            job_name = f"{sweep}-t{trial:03d}"
            job_uid = _uid(rng)
            created = sweep_start + trial * 2.0
            outcome = "Succeeded"
            node_i = rng.randrange(len(nodes))
            duration_ann = b""
            if is_active and len(running_pods) < running_target:
                place = capacity.place(4000, 16 * 2**30, gpu_req)
                if place is not None:
                    outcome = "Running"
                    node_i = place
                    created = now - rng.uniform(5, 1800)
                    duration_ann = str(rng.randint(1800, 7200)).encode()
            if outcome != "Running" and rng.random() < FAILED_SHARE and made + 2 <= total_pods:
                outcome = "Failed"
            n_pods = 2 if outcome == "Failed" else 1
            base = {
                b"job": job_name.encode(), b"jobuid": job_uid.encode(),
                b"trial": str(trial).encode(), b"params": _esc(params),
                b"lr": str(lr).encode(), b"batch": str(batch).encode(),
                b"duration": duration_ann,
            }
            values = {k.decode(): v for k, v in base.items()}
            t = created
            finished_at = created
            for _k in range(n_pods):
                pod_name = f"{job_name}-{''.join(rng.choices(_SUFFIX, k=5))}"
                pod_uid = _uid(rng)
                start = t + 1.0
                dur = (20 + rng.randint(0, 40)) / speed
                end = start + (dur * 0.3 if outcome == "Failed" else dur)
                store.rv += 1
                node = node_names[node_i]
                pod_ip = f"10.{64 + node_i // 256}.{node_i % 256}.{rng.randint(1, 254)}"
                values.update(pod=pod_name.encode(), poduid=pod_uid.encode(),
                              podrv=str(store.rv).encode(), created=ts(t), started=ts(start),
                              finished=ts(end), node=node.encode(), hostip=node_ips[node_i].encode(),
                              podip=pod_ip.encode(), cid=os.urandom(32).hex().encode())
                raw = pod_t[outcome].render(values)
                labels = {"batch.kubernetes.io/controller-uid": job_uid,
                          "batch.kubernetes.io/job-name": job_name, "controller-uid": job_uid,
                          "job-name": job_name, **sweep_labels_base,
                          TRIAL_LABEL: values["trial"].decode()}
                fields = {"spec.nodeName": node, "spec.restartPolicy": "Never",
                          "spec.schedulerName": "default-scheduler",
                          "spec.serviceAccountName": "default",
                          "status.phase": outcome if outcome != "Failed" else "Failed",
                          "status.podIP": pod_ip, "spec.hostNetwork": "false"}
                pods_v.append(ObjVersion(key_of(PODS, ns, pod_name), ns, pod_name, pod_uid,
                                         store.rv, raw, labels, fields, job_uid))
                if outcome == "Running":
                    running_pods.append(raw)
                made += 1
                finished_at = end
                t = end + 10.0 / speed
                node_i = rng.randrange(len(nodes)) if outcome != "Running" else node_i
            store.rv += 1
            values.update(jobrv=str(store.rv).encode(), created=ts(created),
                          finished=ts(finished_at + 0.5))
            raw = job_t[outcome].render(values)
            jobs_v.append(ObjVersion(key_of(JOBS, ns, job_name), ns, job_name, job_uid,
                                     store.rv, raw, {SWEEP_LABEL: sweep,
                                                     TRIAL_LABEL: values["trial"].decode()},
                                     {"status.successful": "1" if outcome == "Succeeded"
                                      else "0"}, None))
    store.bulk_load(PODS, pods_v)
    store.bulk_load(JOBS, jobs_v)
    store.set_floor_to_now()
    _adopt(server, running_pods)


def _adopt(server: SimServer, running_pods: list[bytes]) -> None:
    """Hand the loaded objects to the controllers' indexes."""
    server.cluster.rebuild_owner_index()
    server.scheduler.rebuild()
    server.jobs.rebuild()
    for raw in running_pods:
        server.kubelet.adopt_running(msgspec.json.decode(raw))
    _ = NODES
