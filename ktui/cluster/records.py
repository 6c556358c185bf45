"""Slim per-object records that a backend feeds into the store.

These are the *inputs* of the join (one per pod, job, node, event), not what the UI reads
(that is model.py). They hold only what ktui shows or needs for the join, flattened, with
times as epoch seconds (a float is half the size of a datetime) and quantities as integers.
At 150,000 pods this is the bulk of ktui's memory, so every field has to earn its place.

``gc=False``: the records hold only strings, numbers and tuples of those, so they can never
be part of a reference cycle; skipping GC tracking saves memory per record (16 bytes) and
keeps them from slowing every collection.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ktui.cluster.model import GpuDevice, NodeCondition, Taint

# A namespaced object's identity.
ObjKey = tuple[str, str]

# Suffix of a pod's reason when its container failed and was restarted in place
# (restartPolicy OnFailure): "OOMKilled, restarted".
RESTARTED = ", restarted"


def failure_words(exit_code: int | None, *, oom: bool = False, reason: str | None = None) -> str | None:
    """How a trial's container ended, in the words both backends use: "OOMKilled", "exit
    code 2", else the runtime's own reason ("Error", "ContainerCannotRun"); None for a
    clean exit."""
    if oom:
        return "OOMKilled"
    if exit_code:
        return f"exit code {exit_code}"
    if reason not in (None, "", "Completed"):
        return reason
    return None


class PodRec(msgspec.Struct, frozen=True, gc=False):
    namespace: str
    name: str
    rv: str
    job: str | None  # name of the owning Job (controller ownerReference or job-name label)
    job_uid: str | None  # the owning Job's uid: a recreated Job of the same name is another Job
    node: str | None
    phase: str  # Pending / Running / Succeeded / Failed / Unknown
    created: float | None
    started: float | None
    finished: float | None  # latest container finishedAt, once terminated
    deleting: bool
    cpu_m: int  # effective requests, as the scheduler counts them
    memory: int
    gpu: int
    restarts: int
    # Why the pod is not (yet) happy, in words: "OOMKilled", "exit code 2", "ImagePullBackOff",
    # "Unschedulable: 0/3 nodes are available: ..."; None when nothing is wrong.
    reason: str | None = None
    message: str | None = None
    # The trial container's imageID (the digest the kubelet resolved the image to), once it ran.
    image_id: str | None = None

    @property
    def key(self) -> ObjKey:
        return (self.namespace, self.name)

    @property
    def terminated(self) -> bool:
        return self.phase in ("Succeeded", "Failed")


class JobRec(msgspec.Struct, frozen=True, gc=False):
    namespace: str
    name: str
    uid: str
    rv: str
    created: float | None
    started: float | None
    completed: float | None  # completionTime, or the Failed condition's transition time
    sweep: str | None
    trial: int | None
    # ktui.dev/params: the JSON text as sent (what the Kubernetes decoder keeps: a parsed dict
    # costs several times the memory: NOTES.md M18), or a dict (a backend that has one). Trial.params
    # parses on access.
    params: str | dict[str, Any] | None
    suspended: bool
    active: int
    ready: int
    succeeded: int
    failed: int
    # From status.conditions: "Complete", "Failed" (FailureTarget counts as Failed) or None.
    outcome: str | None
    reason: str | None  # condition reason, e.g. "BackoffLimitExceeded", "DeadlineExceeded"
    message: str | None
    gpu: int = 0  # GPUs each pod of the job requests
    # ktui.dev/metric: the sweep's objective, e.g. {"name": "val_loss", "goal": "minimize"}.
    metric: dict[str, str] | None = None
    # ktui.dev/early-stopping: the sweep's rule; ktui.dev/early-stopped: the figures that
    # stopped this trial (JSON text, read when shown), set by whoever enforced the rule.
    early_stopping: dict[str, Any] | None = None
    stopped: str | None = None
    # What the trial was launched with (ktui.wire.provenance): code snapshot, git state, image
    # as submitted, ktui's version, who launched it; one shared dict per launch. None: not ktui's.
    provenance: dict[str, Any] | None = None
    # What kind of object runs the trial: "Job" (one pod at a time), "PyTorchJob" or
    # "TrainJob" (a distributed trial: ``replicas`` pods at once, ``ready`` of them ready).
    kind: str = "Job"
    replicas: int = 0
    # A trial of an indexed sweep: the batch/v1 Job that runs it (``name`` is the trial's)
    # and its completion index there; None for a trial that is its own object.
    source: str | None = None
    completion_index: int | None = None

    @property
    def key(self) -> ObjKey:
        return (self.namespace, self.name)


class NodeRec(msgspec.Struct, frozen=True, gc=False):
    name: str
    rv: str
    created: float | None
    cpu_m: int  # allocatable
    memory: int
    gpu: int
    max_pods: int
    unschedulable: bool
    taints: tuple[Taint, ...]
    conditions: tuple[NodeCondition, ...]
    # GPU feature discovery's labels (nvidia.com/gpu.product, nvidia.com/gpu.memory): what
    # the node's GPUs are, known without an exporter.
    gpu_product: str = ""
    gpu_memory: int = 0  # bytes per GPU

    @property
    def key(self) -> str:
        return self.name


class EventRec(msgspec.Struct, frozen=True, gc=False):
    namespace: str
    name: str
    rv: str
    kind: str  # involvedObject.kind
    obj: str  # involvedObject.name
    type: str  # Normal / Warning
    reason: str
    message: str
    count: int
    last: float | None  # lastTimestamp, else eventTime, else creationTimestamp

    @property
    def key(self) -> ObjKey:
        return (self.namespace, self.name)


class NodeUsage(msgspec.Struct, frozen=True, gc=False):
    """A node's measured use, from metrics.k8s.io (cpu, memory) or, for this machine, from
    psutil and NVML (all of it)."""

    name: str
    cpu_m: int
    memory: int
    cores: tuple[int, ...] = ()  # per-core busy percent, where known
    load: float | None = None  # 1-minute load average, where known
    devices: tuple[GpuDevice, ...] = ()  # per-GPU readings, where known (NVML)


class PodUsage(msgspec.Struct, frozen=True, gc=False):
    """A pod's measured use: metrics.k8s.io PodMetrics summed over containers, or a local
    trial's process tree."""

    namespace: str
    name: str
    cpu_m: int
    memory: int

    @property
    def key(self) -> ObjKey:
        return (self.namespace, self.name)


class PodGpu(msgspec.Struct, frozen=True, gc=False):
    """The GPUs a running pod holds, as last read (see ktui.cluster.gpuuse)."""

    namespace: str
    name: str
    node: str
    gpus: int  # devices (or MIG instances) read as held by it
    util: float | None  # mean busy percent over them
    mem: int | None  # bytes used, summed
    idle_since: float | None  # epoch seconds: since when util has stayed under the idle threshold
    idle: bool  # ... for at least the rule's duration

    @property
    def key(self) -> ObjKey:
        return (self.namespace, self.name)
