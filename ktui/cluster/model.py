"""Typed, immutable records the UI and CLI consume, whatever the backend.

They are frozen msgspec Structs: cheap to build (the store rebuilds a trial whenever one of
its pods changes), cheap to hold (150k trials), safe to share between the store's writer
threads and the UI thread without copying, and ``msgspec.to_builtins`` turns them into JSON
for ``-o json``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import msgspec

_params_decoder = msgspec.json.Decoder()
NO_PARAMS: dict[str, Any] = {}  # returned for every trial without params: never mutate


def parse_params(raw: str | dict[str, Any] | None) -> dict[str, Any]:
    """The ktui.dev/params annotation as a dict; a non-object value is kept under ""."""
    if not raw:
        return NO_PARAMS
    if isinstance(raw, dict):
        return raw
    try:
        value = _params_decoder.decode(raw)
    except msgspec.DecodeError:
        return {"": raw}
    return value if isinstance(value, dict) else {"": raw}


# (namespace, job name). A plain tuple: the cheapest hashable key there is.
TrialKey = tuple[str, str]

JobPhase = Literal["Pending", "Running", "Succeeded", "Failed", "Suspended", "EarlyStopped"]
JOB_PHASES: tuple[JobPhase, ...] = ("Pending", "Running", "Succeeded", "Failed", "Suspended", "EarlyStopped")
# EarlyStopped: the sweep's early-stopping rule stopped it (ktui.cluster.earlystop); its
# pods are gone and it runs no more, but it did not fail.
TERMINAL_PHASES: frozenset[str] = frozenset(("Succeeded", "Failed", "EarlyStopped"))


class Resources(msgspec.Struct, frozen=True, gc=False):
    cpu_m: int = 0  # millicores
    memory: int = 0  # bytes
    gpu: int = 0  # nvidia.com/gpu devices


class NodeCondition(msgspec.Struct, frozen=True, gc=False):
    type: str
    status: str
    reason: str = ""
    message: str = ""


class Taint(msgspec.Struct, frozen=True, gc=False):
    key: str
    value: str
    effect: str


class GpuDevice(msgspec.Struct, frozen=True, gc=False):
    """One GPU (or MIG instance), as NVML reports it on this machine or dcgm-exporter on a
    cluster node. Readings a driver or exporter does not give are None."""

    index: int
    name: str
    util: int | None = None  # percent of time a kernel ran, over the driver's sample period
    mem_used: int | None = None  # bytes
    mem_total: int | None = None
    temperature: int | None = None  # degrees C
    power: float | None = None  # watts
    power_limit: float | None = None
    # Who uses it: trial names where the process (or pod) belongs to one, else "pid N" (this
    # machine) or the pod's name (a cluster).
    processes: tuple[str, ...] = ()
    uuid: str = ""
    mig: str | None = None  # "<profile>/<instance id>" for a MIG instance
    pod: str | None = None  # "namespace/name" of the pod holding it (a cluster)


class NodeView(msgspec.Struct, frozen=True, gc=False):
    name: str
    allocatable: Resources
    requested: Resources  # sum over the node's non-terminated pods
    used: Resources | None  # from metrics.k8s.io (gpu stays 0); None while unknown
    pods: int  # non-terminated pods bound to the node
    max_pods: int
    ready: bool | None  # None: the node reports no Ready condition
    pressures: tuple[str, ...]  # e.g. ("MemoryPressure",), only those that are True
    unschedulable: bool  # cordoned
    taints: tuple[Taint, ...]
    conditions: tuple[NodeCondition, ...]
    created: float | None
    cores: tuple[int, ...] = ()  # per-core busy percent, where the backend measures it
    load: float | None = None  # 1-minute load average, where known
    # Per-GPU readings: NVML on this machine, dcgm-exporter or Prometheus on a cluster (only
    # for the nodes on screen: they are read on demand).
    devices: tuple[GpuDevice, ...] = ()
    gpu_product: str = ""  # from GPU feature discovery's node labels, where it runs
    gpu_memory: int = 0  # bytes per GPU, likewise


class QueueInfo(msgspec.Struct, frozen=True, gc=False):
    """Why a trial waits in a queue (Kueue): its Workload's state and, where the visibility
    API is served, its place in line (0-based, as Kueue counts)."""

    workload: str
    local_queue: str | None = None
    cluster_queue: str | None = None
    # "Pending", "QuotaReserved", "Admitted", "Evicted", "Preempted" or "Finished": the
    # condition that says most about why it waits or runs.
    state: str = "Pending"
    reason: str | None = None
    message: str | None = None
    position_local: int | None = None
    position_cluster: int | None = None
    # (type, status, reason, message) of its Workload's conditions, for describe.
    conditions: tuple[tuple[str, str, str, str], ...] = ()


class Trial(msgspec.Struct, frozen=True, gc=False):
    """One Job (ktui's or not) joined with its pods."""

    namespace: str
    name: str
    uid: str
    sweep: str | None  # ktui.dev/sweep label
    index: int | None  # ktui.dev/trial label
    # ktui.dev/params as the backend has it (usually the JSON text); read ``params``. Text,
    # because a parsed dict per trial was the largest single item in the store (NOTES.md
    # M18).
    raw_params: str | dict[str, Any] | None
    phase: JobPhase
    pod: str | None  # newest pod of the job
    pod_phase: str | None  # that pod's phase
    node: str | None  # that pod's node
    created: float | None  # epoch seconds
    started: float | None
    finished: float | None
    retries: int  # container restarts + failed pods
    reason: str | None  # why it failed or is stuck, in words ("OOMKilled", "exit code 1", ...)
    message: str | None  # the longer story behind reason, when there is one
    gpu: int = 0  # GPUs each pod requests
    # The sweep's objective from ktui.dev/metric ({"name": ..., "goal": ...}), if any:
    # which log metric ranks the trials.
    metric: dict[str, str] | None = None
    # Measured use of the newest pod (metrics.k8s.io, or a local trial's process tree);
    # None while unknown or when it does not run.
    cpu_used: int | None = None  # millicores
    mem_used: int | None = None  # bytes
    # The sweep's early-stopping rule (ktui.dev/early-stopping), if it has one.
    early_stopping: dict[str, Any] | None = None
    # Measured use of the GPUs the newest pod holds (ktui.cluster.gpuuse): mean busy
    # percent and memory used over them; None while unknown or when it does not run.
    gpu_util: float | None = None
    gpu_mem: int | None = None
    # Since when (epoch seconds) its GPUs have been under the idle threshold, and whether
    # that has lasted long enough to call the trial idle (GpuIdleRule).
    gpu_idle_since: float | None = None
    gpu_idle: bool = False
    # What it was launched with (JobRec.provenance, shared per launch) and the image digest
    # its newest pod resolved (the pod's imageID), once it ran.
    provenance: dict[str, Any] | None = None
    image_id: str | None = None
    # "Job", "PyTorchJob" or "TrainJob" (a distributed trial: pods_total pods at once, of
    # which pods_ready are ready; node is its master's).
    kind: str = "Job"
    pods_ready: int = 0
    pods_total: int = 0
    # The object that runs it when it is not of the trial's name: an indexed sweep's Job.
    source: str | None = None
    queue: QueueInfo | None = None

    @property
    def key(self) -> TrialKey:
        return (self.namespace, self.name)

    @property
    def params(self) -> dict[str, Any]:
        """The parameters (parsed on each access, ~1 us: cache them if you sort by one);
        a value that is not a JSON object comes back as {"": text}."""
        return parse_params(self.raw_params)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output, params parsed."""
        d: dict[str, Any] = msgspec.to_builtins(self)
        d["params"] = self.params
        del d["raw_params"]
        d["provenance"] = self.provenance_dict()
        del d["image_id"]
        return d

    def provenance_dict(self) -> dict[str, Any] | None:
        """The provenance with the resolved image digest (``imageDigest``, null until it runs)."""
        if self.provenance is None and self.image_id is None:
            return None
        return {**(self.provenance or {}), "imageDigest": self.image_id}

    def duration(self, now: float) -> float | None:
        """Seconds it ran (finished) or has been running; None before it started."""
        start = self.started or self.created
        if start is None:
            return None
        return max(0.0, (self.finished or now) - start)


class SweepSummary(msgspec.Struct, frozen=True, gc=False):
    namespace: str
    name: str
    total: int
    pending: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    suspended: int = 0
    stopped: int = 0  # stopped early by the sweep's rule (not failures)

    @property
    def key(self) -> TrialKey:
        return (self.namespace, self.name)


class Problem(msgspec.Struct, frozen=True):
    """Something the user should know about the connection, reported once.

    code: "forbidden", "metrics-unavailable", "unreachable", "error".
    """

    code: str
    resource: str
    message: str


class Changes(msgspec.Struct, frozen=True):
    """What changed since a version the consumer saw (see Store.changes_since).

    ``reset``: the consumer is too far behind for an exact delta; it should re-read the
    snapshots (nodes/trials then hold every key, removed_* are empty).
    """

    version: int
    nodes: frozenset[str] = frozenset()
    trials: frozenset[TrialKey] = frozenset()
    removed_nodes: frozenset[str] = frozenset()
    removed_trials: frozenset[TrialKey] = frozenset()
    sweeps: bool = False
    problems: bool = False
    reset: bool = False

    def __bool__(self) -> bool:
        return bool(
            self.nodes
            or self.trials
            or self.removed_nodes
            or self.removed_trials
            or self.sweeps
            or self.problems
            or self.reset
        )


class Capability(msgspec.Struct, frozen=True):
    available: bool = True
    reason: str | None = None  # why not, e.g. "Forbidden: cannot create jobs in default"


class Capabilities(msgspec.Struct, frozen=True):
    # Whether a Job's container image is what runs (not on this machine: its command runs).
    images: Capability = Capability()
    submit: Capability = Capability()
    cancel: Capability = Capability()
    rerun: Capability = Capability()
    logs: Capability = Capability()
    describe: Capability = Capability()
    metrics: Capability = Capability()


class Failure(msgspec.Struct, frozen=True):
    name: str
    message: str


class SubmitProgress(msgspec.Struct, frozen=True):
    total: int
    done: int
    created: int
    existing: int
    failed: int
    replaced: int = 0


class TrialChange(msgspec.Struct, frozen=True):
    """A trial whose Job exists but runs something else than the submission asks for."""

    name: str  # "namespace/job"
    differences: tuple[str, ...]  # "params.depth: 2 -> 4", "image: a -> b", ...


class SubmitResult(msgspec.Struct, frozen=True):
    created: tuple[str, ...] = ()
    existing: tuple[str, ...] = ()  # the same trial already there: nothing to do
    failed: tuple[Failure, ...] = ()  # includes conflicts (same name, another sweep)
    # Trials whose Job exists with other settings. Without ``replace`` nothing at all is
    # submitted when there is one (the submission is refused); with it, they are replaced.
    changed: tuple[TrialChange, ...] = ()
    replaced: tuple[str, ...] = ()  # deleted (with their pods) and created anew
    dry_run: bool = False  # nothing was written: created/replaced say what would be

    @property
    def refused(self) -> bool:
        """Trials exist with other settings and were left alone: nothing was submitted."""
        return bool(self.changed) and not self.replaced

    @property
    def ok(self) -> bool:
        return not self.failed and not self.refused

    def summary(self) -> str:
        """"created 3, existing 2, failed 0" (with "replaced N" when any were)."""
        verb = ("would create", "replace") if self.dry_run else ("created", "replaced")
        parts = [f"{verb[0]} {len(self.created)}"]
        if self.replaced or (self.dry_run and self.changed):
            parts.append(f"{verb[1]} {len(self.replaced)}")
        parts += [f"existing {len(self.existing)}", f"failed {len(self.failed)}"]
        return ", ".join(parts)


class SubmitTally:
    """What a submit has done so far, told to its progress callback: the one place both
    backends count created / replaced / existing / failed Jobs."""

    def __init__(self, total: int, progress: Callable[[SubmitProgress], None] | None) -> None:
        self.total = total
        self.progress = progress
        self.created: list[str] = []
        self.existing: list[str] = []
        self.failed: list[Failure] = []
        self.replaced: list[str] = []
        self.changed: list[TrialChange] = []

    def report(self) -> None:
        if self.progress is not None:
            c, e, f, r = len(self.created), len(self.existing), len(self.failed), len(self.replaced)
            self.progress(SubmitProgress(self.total, c + e + f + r, c, e, f, r))

    def result(self, *, dry_run: bool = False) -> SubmitResult:
        return SubmitResult(tuple(sorted(self.created)), tuple(sorted(self.existing)),
                            tuple(sorted(self.failed, key=lambda f: f.name)),
                            tuple(sorted(self.changed, key=lambda c: c.name)),
                            tuple(sorted(self.replaced)), dry_run)


class TrialState(msgspec.Struct, frozen=True):
    """A trial as its source of truth holds it now (the API server, the local queue): what
    the command line shows and confirms before it acts, not a store still being filled."""

    key: TrialKey
    outcome: str | None = None  # "Complete" or "Failed" once finished; None while it waits or runs

    @property
    def finished(self) -> bool:
        return self.outcome is not None


class ActionResult(msgspec.Struct, frozen=True):
    """Outcome of cancel/rerun: the jobs acted on, and those that could not be."""

    done: tuple[str, ...] = ()
    failed: tuple[Failure, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failed


class LogLine(msgspec.Struct, frozen=True, gc=False):
    # The runtime's RFC 3339 timestamp, when the backend has one; the UI may hide it.
    timestamp: str | None
    text: str  # decoded UTF-8 (errors replaced), newline stripped, otherwise untouched


class EventView(msgspec.Struct, frozen=True):
    type: str
    reason: str
    message: str
    count: int
    last: float | None
    object: str  # "Pod/name" or "Job/name"


class PodSummary(msgspec.Struct, frozen=True):
    name: str
    phase: str
    node: str | None
    created: float | None
    restarts: int
    reason: str | None


class TrialDescription(msgspec.Struct, frozen=True):
    trial: Trial
    pods: tuple[PodSummary, ...]
    events: tuple[EventView, ...]
    manifest: dict[str, Any] | None  # the Job as the server has it, when available
