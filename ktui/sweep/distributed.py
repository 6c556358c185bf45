"""Distributed trials: `kind: PyTorchJob` (Kubeflow training operator v1) or `kind: TrainJob`
(Kubeflow Trainer v2), with `workers: N`, in a sweep spec.

Each trial becomes one such object instead of a batch/v1 Job, running exactly what the Job
would (render_job's container: command, args, env with KTUI_*, resources, the code snapshot),
on every node: a PyTorchJob has a Master (1) and N Workers, its container named `pytorch`
as the operator needs for MASTER_PORT; a TrainJob has N + 1 nodes (node 0 is rank 0, as
the master is), so the same spec gives the same number of pods in either kind.
"""

from __future__ import annotations

import copy
from typing import Any

from ktui.sweep.check import Checker
from ktui.sweep.draft import Draft
from ktui.sweep.errors import did_you_mean
from ktui.sweep.manifest import CONTAINER, Manifest, render_job
from ktui.sweep.model import CodeRef, Sweep, Trial
from ktui.sweep.source import Node
from ktui.wire.training import (
    DEFAULT_RUNTIME,
    DISTRIBUTED_KINDS,
    JOB,
    PYTORCH_CONTAINER,
    PYTORCHJOB,
    PYTORCHJOB_API,
    TRAINJOB,
    TRAINJOB_API,
)

KINDS = (JOB, *DISTRIBUTED_KINDS)
KEYS = ("kind", "workers", "nprocPerNode", "runtime")
NPROC_WORDS = ("auto", "cpu", "gpu")
MAX_INT32 = 2**31 - 1
# A PyTorchJob's replicas get a headless Service each, named as the pod
# (<trial>-worker-<i>): a DNS-1035 label, at most 63 characters, starting with a letter.
MAX_SERVICE_NAME = 63


def read_distributed(c: Checker, top: dict[str, Node], d: Draft) -> None:
    """`kind`, `workers`, `nprocPerNode` and `runtime` of a sweep spec, into the draft."""
    kind_ok = True
    if "kind" in top:
        k = c.string(top["kind"], "kind")
        kind_ok = k in KINDS
        if k is not None and not kind_ok:
            same = [x for x in KINDS if x.lower() == k.lower()]
            hint = f" (did you mean '{same[0]}'?)" if same else did_you_mean(k, KINDS)
            c.add(top["kind"].pos, f"kind must be Job, PyTorchJob or TrainJob, not '{k}'{hint}")
        elif k is not None:
            d.kind = k
            d.kind_pos = top["kind"].pos
    if "workers" in top:
        d.workers = c.integer(top["workers"], "workers", minimum=1, maximum=MAX_INT32,
                              why=" (replicas are an int32)")
    if "nprocPerNode" in top:
        node = top["nprocPerNode"]
        v = node.value
        if isinstance(v, int) and not isinstance(v, bool) and v >= 1:
            d.nproc_per_node = str(v)
        elif isinstance(v, str) and v in NPROC_WORDS:
            d.nproc_per_node = v
        else:
            c.add(node.pos, f"nprocPerNode must be a whole number of processes (at least 1) or one of "
                            f"{', '.join(NPROC_WORDS)}, not {node.kind}" + (f" {v!r}" if isinstance(v, (str, int)) else ""))
    if "runtime" in top:
        r = c.string(top["runtime"], "runtime")
        if r is not None:
            d.runtime = r
    if not kind_ok:
        return  # what goes with the kind cannot be judged against a misspelt one
    if d.kind in DISTRIBUTED_KINDS and "workers" not in top:
        c.add(top["kind"].pos, f"kind: {d.kind} needs 'workers' (how many worker nodes beside the first)")
    for key in ("workers", "nprocPerNode"):
        if key in top and d.kind not in DISTRIBUTED_KINDS:
            c.add(top[key].pos, f"{key} needs kind: PyTorchJob or TrainJob (a Job runs one pod per trial)")
    if "runtime" in top and d.kind != TRAINJOB:
        c.add(top["runtime"].pos, "runtime is a TrainJob's (kind: TrainJob): a training runtime's name")
    if d.kind == TRAINJOB:
        for key, why in TRAINJOB_LACKS.items():
            if key in top:
                c.add(top[key].pos, f"{key} is not carried by a TrainJob: {why}")


# What a TrainJob has no field for (its training runtime decides), and what to do instead.
TRAINJOB_LACKS = {
    "retries": "its runtime's JobSet decides how often a node is retried (remove it, or use kind: PyTorchJob)",
    "restartPolicy": "its runtime's pods restart OnFailure (remove it, or use kind: PyTorchJob)",
    "ttlSecondsAfterFinished": "remove it, or use kind: PyTorchJob",
    "code": "its trainer has no step to unpack a snapshot: bake the code into the image, or use kind: PyTorchJob",
}


def code_flag_problem(d: Draft) -> str | None:
    if d.kind == TRAINJOB:
        return f"--code: {TRAINJOB_LACKS['code'].replace('its trainer', 'a TrainJob')}"
    return None


def name_problem(d: Draft, name: str, width: int) -> str | None:
    """Why the sweep's name cannot name this kind's pods, Services and hostnames, if it cannot:
    a PyTorchJob's replicas get a Service each named as the pod (<trial>-worker-<i>), a
    TrainJob's nodes the hostname <trial>-node-0-<i>; both DNS-1035 labels."""
    if d.kind not in DISTRIBUTED_KINDS or d.workers is None:
        return None
    trial = f"{name}-{'0' * width}"
    first, longest = ((f"{trial}-master-0", f"{trial}-worker-{d.workers - 1}") if d.kind == PYTORCHJOB
                      else (f"{trial}-node-0-0", f"{trial}-node-0-{d.workers}"))
    if not name[:1].isalpha():
        return (f"name '{name}' must start with a letter for kind: {d.kind} (its replicas are named "
                f"{first}..., DNS-1035 labels)")
    if len(longest) > MAX_SERVICE_NAME:
        room = MAX_SERVICE_NAME - (len(longest) - len(name))
        return (f"name '{name}' is too long for kind: {d.kind}: its replicas' names ({longest}) "
                f"must fit in {MAX_SERVICE_NAME} characters; use at most {room}")
    return None


def local_note(sweep: Sweep) -> str | None:
    """What this machine makes of a distributed sweep (None for Jobs): one process per trial."""
    if sweep.kind not in DISTRIBUTED_KINDS:
        return None
    return (f"on this machine each {sweep.kind} trial runs as one process, its master (rank 0 of one node: "
            f"MASTER_ADDR=127.0.0.1, MASTER_PORT a free port); its {sweep.workers} workers are not started")


# ---------------------------------------------------------------------------------------------
# Rendering


def render_pytorchjob(sweep: Sweep, trial: Trial, namespace: str | None = None,
                      code: CodeRef | None = None) -> Manifest:
    """One kubeflow.org/v1 PyTorchJob: Master 1 + Worker `workers`, each replica's pod the
    Job's pod (render_job), its container named `pytorch`."""
    job = render_job(sweep, trial, namespace, code)
    template = job["spec"]["template"]
    pod = template["spec"]
    restart = pod.pop("restartPolicy")
    for c in pod["containers"]:
        if c["name"] == CONTAINER:
            c["name"] = PYTORCH_CONTAINER

    def replica(n: int) -> dict[str, Any]:
        return {"replicas": n, "restartPolicy": restart, "template": copy.deepcopy(template)}

    run: dict[str, Any] = {}
    if "backoffLimit" in job["spec"]:
        run["backoffLimit"] = job["spec"]["backoffLimit"]
    if "ttlSecondsAfterFinished" in job["spec"]:
        run["ttlSecondsAfterFinished"] = job["spec"]["ttlSecondsAfterFinished"]
    spec: dict[str, Any] = {"pytorchReplicaSpecs": {"Master": replica(1), "Worker": replica(sweep.workers or 1)}}
    if run:
        spec["runPolicy"] = run
    if sweep.nproc_per_node is not None:
        spec["nprocPerNode"] = sweep.nproc_per_node
    return {"apiVersion": PYTORCHJOB_API, "kind": PYTORCHJOB, "metadata": job["metadata"], "spec": spec}


def render_trainjob(sweep: Sweep, trial: Trial, namespace: str | None = None,
                    code: CodeRef | None = None) -> Manifest:
    """One trainer.kubeflow.org/v1alpha1 TrainJob on the runtime `runtime` (default
    torch-distributed), numNodes = workers + 1, the Job's container as its trainer."""
    job = render_job(sweep, trial, namespace, code)
    c = job["spec"]["template"]["spec"]["containers"][0]
    trainer: dict[str, Any] = {"numNodes": (sweep.workers or 1) + 1}
    for key in ("image", "command", "args", "env"):
        if key in c:
            trainer[key] = c[key]
    if "resources" in c:
        trainer["resourcesPerNode"] = c["resources"]
    if sweep.nproc_per_node is not None:
        n = sweep.nproc_per_node
        trainer["numProcPerNode"] = int(n) if n.isdigit() else n
    spec: dict[str, Any] = {"runtimeRef": {"name": sweep.runtime or DEFAULT_RUNTIME}, "trainer": trainer}
    return {"apiVersion": TRAINJOB_API, "kind": TRAINJOB, "metadata": job["metadata"], "spec": spec}
