"""Raw Kubernetes JSON bytes -> slim records, with msgspec.

Why msgspec and not the official client's models: the client builds a full model object tree
per object (every field, validated, nested), ~30x the cost of msgspec per pod here
(benchmarks/bench_list_decode.py, "decode per pod"); kubespawner found 54% of its CPU there.
msgspec decodes the bytes in C straight into the ``Struct`` types of wire.py, which declare
only the fields ktui shows, and no intermediate dict is built. The ``*_record`` functions
below flatten them into the records of ktui.cluster.records; the codecs at the end are what
the reflector uses per resource.

Decoding never raises on a surprising *value* (a bad quantity counts as 0, an unparsable
trial label as None); it raises ``msgspec.DecodeError`` only on bytes that are not the
expected JSON shape, which the reflector treats like a broken stream.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import datetime
from typing import Generic, TypeVar

import msgspec

from ktui.cluster.indexfeed import indexed_job_record, pod_trial
from ktui.cluster.kube import wire as api
from ktui.cluster.model import NodeCondition, Taint
from ktui.cluster.records import RESTARTED, EventRec, JobRec, NodeRec, NodeUsage, PodRec, PodUsage, failure_words
from ktui.gcpause import gc_paused
from ktui.wire.names import (
    CONTAINER,
    EARLY_STOPPED_ANNOTATION,
    EARLY_STOPPING_ANNOTATION,
    GPU_RESOURCE,
    INDEXED_MODE,
    JOBSET_NAME_LABEL,
    METRIC_ANNOTATION,
    MODE_LABEL,
    PARAMS_ANNOTATION,
    PREFIX,
    SWEEP_LABEL,
    TRIAL_LABEL,
    parse_metric,
    parse_object,
    provenance_of,
)
from ktui.wire.quantity import cpu_millis, to_int
from ktui.wire.training import TRAINJOB_STEP_LABEL

GPU = GPU_RESOURCE
_KTUI_BYTES = PREFIX.encode()
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")

_intern = sys.intern
# Few distinct values, repeated on every object (namespaces, node names, phases): a plain
# dict shares them more cheaply than sys.intern.
_common: dict[str, str] = {}
_share = _common.setdefault
# Request sums repeat too (every trial of a sweep asks for the same): NOTES.md M22.
_ints: dict[int, int] = {}


def _share_int(n: int) -> int:
    hit = _ints.get(n)
    if hit is not None:
        return hit
    if len(_ints) > 65536:
        _ints.clear()
    _ints[n] = n
    return n

def _ts(t: datetime | None) -> float | None:
    return t.timestamp() if t is not None else None


# ---------------------------------------------------------------------------------------------
# Wire -> record


_NONE = api.Quantities()


def _requests(containers: list[api.Container] | None, inits: list[api.Container] | None) -> tuple[int, int, int]:
    """Effective (cpu_m, memory, gpu) requests, as the scheduler counts them.

    max(sum of app containers and sidecars, largest regular init container): init containers
    run one at a time before the app containers, so only the largest one matters. Unset
    requests default to limits (the API server does this for cpu/memory at creation; for
    extended resources like GPUs requests must equal limits).
    """
    cpu = mem = gpu = 0
    icpu = imem = igpu = 0
    for group, is_init in ((containers, False), (inits, True)):
        if not group:
            continue
        for c in group:
            res = c.resources
            if res is None:
                continue
            req = res.requests or _NONE
            lim = res.limits or _NONE
            c_cpu = cpu_millis(req.cpu if req.cpu is not None else lim.cpu)
            c_mem = to_int(req.memory if req.memory is not None else lim.memory)
            c_gpu = to_int(req.gpu if req.gpu is not None else lim.gpu)
            if is_init and c.restartPolicy != "Always":
                icpu, imem, igpu = max(icpu, c_cpu), max(imem, c_mem), max(igpu, c_gpu)
            else:
                cpu, mem, gpu = cpu + c_cpu, mem + c_mem, gpu + c_gpu
    return max(cpu, icpu), max(mem, imem), max(gpu, igpu)


_BAD_WAITING = frozenset(
    (
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
        "CrashLoopBackOff",
    )
)


def _termination_words(t: api.Terminated) -> str | None:
    return failure_words(t.exitCode, oom=t.reason == "OOMKilled", reason=t.reason)


def _pod_reason(st: api.PodStatus) -> tuple[str | None, str | None]:
    """The words for what went wrong with a pod, and the longer message, if anything did."""
    if st.reason:  # pod-level: Evicted, DeadlineExceeded, UnexpectedAdmissionError, ...
        return st.reason, st.message
    for statuses in (st.initContainerStatuses, st.containerStatuses):
        if not statuses:
            continue
        for cs in statuses:
            state = cs.state
            if state is None:
                continue
            if state.terminated is not None:
                words = _termination_words(state.terminated)
                if words is not None:
                    return words, state.terminated.message
            elif state.waiting is not None and state.waiting.reason in _BAD_WAITING:
                reason = state.waiting.reason
                last = cs.lastState.terminated if cs.lastState is not None else None
                if reason == "CrashLoopBackOff" and last is not None:
                    words = _termination_words(last)
                    if words is not None:
                        reason = f"CrashLoopBackOff ({words})"
                return reason, state.waiting.message
            elif cs.lastState is not None and cs.lastState.terminated is not None:
                # Running again after a failure (restartPolicy OnFailure): say what happened,
                # the pod may be deleted before it fails for good.
                words = _termination_words(cs.lastState.terminated)
                if words is not None:
                    return words + RESTARTED, cs.lastState.terminated.message
    if st.phase == "Pending" and st.conditions:
        for cond in st.conditions:
            if cond.type == "PodScheduled" and cond.status == "False" and cond.reason:
                msg = cond.message or ""
                # The preemption postscript only repeats that nothing could be evicted.
                short = msg.split(" preemption:", 1)[0].strip()
                return (f"{cond.reason}: {short}" if short else cond.reason), msg or None
    return None, None


_labels_decoder = msgspec.json.Decoder(dict[str, str] | None)
_MODE_BYTES = MODE_LABEL.encode()


def _indexed_owner(meta: api.PodMeta, job_uid: str | None) -> tuple[str, str | None] | None:
    """A pod of an indexed sweep's Job belongs to its trial (named by its completion index)."""
    if not meta.labels or _MODE_BYTES not in bytes(meta.labels):
        return None
    try:
        labels = _labels_decoder.decode(meta.labels) or {}
        annotations = _labels_decoder.decode(meta.annotations) if meta.annotations else None
    except msgspec.DecodeError:
        return None
    return pod_trial(labels, annotations or {}, job_uid)


# The controllers whose pods are a trial's: a Job's, a distributed trial's PyTorchJob's.
OWNER_KINDS = frozenset(("Job", "PyTorchJob"))


_TRAINJOB_BYTES = TRAINJOB_STEP_LABEL.encode()


def _owner_job(meta: api.PodMeta) -> tuple[str | None, str | None]:
    if meta.ownerReferences:
        for ref in meta.ownerReferences:
            if ref.controller and ref.kind in OWNER_KINDS:
                # A TrainJob's node: its JobSet's child Job's pod. The trial is the TrainJob
                # (its JobSet has its name), not the child Job. Such a Job is Indexed (its pods
                # are <job>-<index>-<random>): most pods are not, and skip the label search.
                if ref.kind == "Job" and meta.name.find("-", len(ref.name) + 1) > 0 \
                        and _TRAINJOB_BYTES in bytes(meta.labels):
                    name = (_labels_decoder.decode(meta.labels) or {}).get(JOBSET_NAME_LABEL)
                    if name:
                        return name, None
                return ref.name, ref.uid
    labels = _labels_decoder.decode(meta.labels) if meta.labels else None
    if labels:
        for key in JOB_NAME_LABELS:
            name = labels.get(key)
            if name:
                uid = labels.get("batch.kubernetes.io/controller-uid") or labels.get("controller-uid")
                return name, uid
    return None, None


def pod_record(w: api.PodWire) -> PodRec | None:
    meta = w.metadata
    if not meta.name:
        return None
    spec = w.spec or api.PodSpec()
    st = w.status or api.PodStatus()
    job, job_uid = _owner_job(meta)
    trial = _indexed_owner(meta, job_uid) if job is not None else None
    if trial is not None:
        job, job_uid = trial
    cpu, mem, gpu = _requests(spec.containers, spec.initContainers)
    if spec.overhead is not None:
        cpu += cpu_millis(spec.overhead.cpu)
        mem += to_int(spec.overhead.memory)
    restarts = 0
    finished: datetime | None = None
    image_id: str | None = None
    if st.containerStatuses:
        for cs in st.containerStatuses:
            restarts += cs.restartCount
            if cs.imageID and (image_id is None or cs.name == CONTAINER):
                image_id = cs.imageID
            term = cs.state.terminated if cs.state is not None else None
            if term is not None and term.finishedAt is not None and (
                finished is None or term.finishedAt > finished
            ):
                finished = term.finishedAt
    phase = st.phase or "Pending"
    phase = _share(phase, phase)
    if phase not in ("Succeeded", "Failed"):
        finished = None
    reason, message = (None, None) if phase == "Succeeded" else _pod_reason(st)
    # Positional: keyword construction of a 17-field record costs measurably more.
    created = meta.creationTimestamp
    started = st.startTime
    return PodRec(
        _share(meta.namespace, meta.namespace),
        meta.name,
        meta.resourceVersion,
        _intern(job) if job else None,
        # Interned: the same string object as the Job's uid, not another copy per pod (M22).
        _intern(job_uid) if job_uid else None,
        _share(spec.nodeName, spec.nodeName) if spec.nodeName else None,
        phase,
        created.timestamp() if created is not None else None,
        started.timestamp() if started is not None else None,
        finished.timestamp() if finished is not None else None,
        meta.deletionTimestamp is not None,
        _share_int(cpu),
        _share_int(mem),
        gpu,
        restarts,
        _short_intern(reason),
        _short_intern(message),
        _intern(image_id) if image_id else None,
    )


def _short_intern(text: str | None) -> str | None:
    """Failure words repeat across thousands of pods ("exit code 1", the same scheduler
    message): share one copy. Long free text is left alone."""
    if text is None or len(text) > 256:
        return text
    return _intern(text)


_annotations_decoder = msgspec.json.Decoder(dict[str, str])
_NO_ANNOTATIONS: dict[str, str] = {}


def _ktui_annotations(raw: msgspec.Raw) -> dict[str, str]:
    """The annotations, decoded only when a ktui key is in them (a byte search is far
    cheaper than building the dict, and most Jobs in a cluster are not ktui's)."""
    data = bytes(raw)
    if _KTUI_BYTES not in data:
        return _NO_ANNOTATIONS
    try:
        return _annotations_decoder.decode(data) or _NO_ANNOTATIONS
    except msgspec.DecodeError:
        return _NO_ANNOTATIONS


def job_record(w: api.JobWire) -> JobRec | None:
    meta = w.metadata
    if not meta.name:
        return None
    labels = meta.labels or {}
    if TRAINJOB_STEP_LABEL in labels:
        return None  # a TrainJob's JobSet's child Job: the TrainJob is the trial
    spec = w.spec or api.JobSpec()
    annotations = _ktui_annotations(meta.annotations)
    raw_params = annotations.get(PARAMS_ANNOTATION)
    if raw_params is None and spec.template is not None and spec.template.metadata:
        # Jobs made by other tools may carry the params on the pod template only.
        raw_params = _ktui_annotations(spec.template.metadata.annotations).get(PARAMS_ANNOTATION)
    metric = parse_metric(annotations.get(METRIC_ANNOTATION))
    trial: int | None = None
    trial_label = labels.get(TRIAL_LABEL)
    if trial_label is not None:
        try:
            trial = int(trial_label)
        except ValueError:
            trial = None
    st = w.status or api.JobStatus()
    outcome = reason = message = None
    completed = st.completionTime
    for cond in st.conditions or ():
        if cond.status != "True":
            continue
        if cond.type in ("Failed", "FailureTarget"):
            outcome, reason, message = "Failed", cond.reason, cond.message
            if completed is None or cond.type == "Failed":
                completed = cond.lastTransitionTime or completed
            if cond.type == "Failed":
                break
        elif cond.type in ("Complete", "SuccessCriteriaMet") and outcome is None:
            outcome = "Complete"
            completed = completed or cond.lastTransitionTime
    if outcome is None:
        completed = None
    gpu = 0
    tspec = spec.template.spec if spec.template is not None else None
    if tspec is not None:
        gpu = _requests(tspec.containers, tspec.initContainers)[2]
    sweep = labels.get(SWEEP_LABEL)
    rec = JobRec(
        namespace=_intern(meta.namespace),
        name=_intern(meta.name),
        uid=_intern(meta.uid),
        rv=meta.resourceVersion,
        created=_ts(meta.creationTimestamp),
        started=_ts(st.startTime),
        completed=_ts(completed),
        sweep=_intern(sweep) if sweep else None,
        trial=trial,
        params=raw_params,
        metric=metric,
        suspended=bool(spec.suspend),
        active=st.active,
        ready=st.ready or 0,
        succeeded=st.succeeded,
        failed=st.failed,
        outcome=outcome,
        reason=_short_intern(reason),
        message=_short_intern(message),
        gpu=gpu,
        early_stopping=parse_object(annotations.get(EARLY_STOPPING_ANNOTATION)),
        stopped=annotations.get(EARLY_STOPPED_ANNOTATION),
        provenance=provenance_of(annotations, _trial_image(tspec)) if annotations else None,
    )
    if labels.get(MODE_LABEL) == INDEXED_MODE:  # one trial per index (ktui.cluster.indexfeed)
        return indexed_job_record(rec, spec.completions, st.completedIndexes, st.failedIndexes, annotations)
    return rec


def _trial_image(tspec: api.TemplateSpec | None) -> str | None:
    containers = (tspec.containers if tspec is not None else None) or ()
    for c in containers:
        if c.name == CONTAINER:
            return c.image
    return containers[0].image if containers else None


def node_record(w: api.NodeWire) -> NodeRec | None:
    meta = w.metadata
    if not meta.name:
        return None
    spec = w.spec or api.NodeSpec()
    st = w.status or api.NodeStatus()
    alloc = st.allocatable or st.capacity or api.NodeQuantities()
    return NodeRec(
        name=_intern(meta.name),
        rv=meta.resourceVersion,
        created=_ts(meta.creationTimestamp),
        cpu_m=cpu_millis(alloc.cpu),
        memory=to_int(alloc.memory),
        gpu=to_int(alloc.gpu),
        max_pods=to_int(alloc.pods),
        unschedulable=bool(spec.unschedulable),
        taints=tuple(Taint(t.key, t.value or "", t.effect) for t in spec.taints or ()),
        conditions=tuple(
            NodeCondition(_intern(c.type), _intern(c.status), c.reason or "", c.message or "")
            for c in st.conditions or ()
        ),
        gpu_product=(meta.labels or {}).get(GFD_PRODUCT, ""),
        gpu_memory=_mib((meta.labels or {}).get(GFD_MEMORY)),
    )


# GPU feature discovery's node labels (NVIDIA/k8s-device-plugin): the model, with spaces as
# dashes, and each GPU's memory in MiB.
GFD_PRODUCT = "nvidia.com/gpu.product"
GFD_MEMORY = "nvidia.com/gpu.memory"


def _mib(text: str | None) -> int:
    return int(text) * 2**20 if text and text.isdigit() else 0


def event_record(w: api.EventWire) -> EventRec | None:
    meta = w.metadata
    if not meta.name or w.involvedObject is None:
        return None
    series = w.series
    count = (series.count if series is not None else None) or w.count or 1
    last = (
        (series.lastObservedTime if series is not None else None)
        or w.lastTimestamp
        or w.eventTime
        or meta.creationTimestamp
    )
    return EventRec(
        namespace=_intern(meta.namespace),
        name=meta.name,
        rv=meta.resourceVersion,
        kind=_intern(w.involvedObject.kind),
        obj=w.involvedObject.name,
        type=_intern(w.type or "Normal"),
        reason=_intern(w.reason or ""),
        message=w.message or "",
        count=count,
        last=_ts(last),
    )


def usage_record(w: api.NodeMetricsWire) -> NodeUsage | None:
    if not w.metadata.name or w.usage is None:
        return None
    return NodeUsage(w.metadata.name, cpu_millis(w.usage.cpu), to_int(w.usage.memory))


def pod_usage_record(w: api.PodMetricsWire) -> PodUsage | None:
    if not w.metadata.name:
        return None
    cpu = mem = 0
    for c in w.containers or ():
        if c.usage is not None:
            cpu += cpu_millis(c.usage.cpu)
            mem += to_int(c.usage.memory)
    return PodUsage(w.metadata.namespace, w.metadata.name, cpu, mem)


# ---------------------------------------------------------------------------------------------
# Codecs: one per resource, used by the reflector


W = TypeVar("W")
R = TypeVar("R")


class WatchEvent(msgspec.Struct, Generic[R], gc=False):
    type: str  # ADDED / MODIFIED / DELETED / BOOKMARK / ERROR
    record: R | None = None  # ADDED/MODIFIED/DELETED
    rv: str = ""  # the event's resourceVersion (object's, or the bookmark's)
    status: api.Status | None = None  # ERROR


_status_decoder = msgspec.json.Decoder(api.Status)
_raw_event_decoder = msgspec.json.Decoder(api.RawEvent)
_rv_only_decoder = msgspec.json.Decoder(api.RVOnly)


def decode_status(data: bytes) -> api.Status | None:
    """A Status body, or None if ``data`` is not one (an HTML error page from a proxy...)."""
    try:
        st = _status_decoder.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    return st if (st.code or st.reason or st.message) else None


class Codec(Generic[W, R]):
    """Decodes one resource's lists and watch events into records."""

    def __init__(self, resource: str, wire: type[W], convert: Callable[[W], R | None]) -> None:
        self.resource = resource
        self._convert = convert
        self._item = msgspec.json.Decoder(wire)
        self._list = msgspec.json.Decoder(api.ListWire[wire])  # type: ignore[valid-type]

    def decode_list(self, data: bytes) -> tuple[list[R], api.ListMeta]:
        with gc_paused():
            lst = self._list.decode(data)
            convert = self._convert
            out = []
            for item in lst.items or ():
                rec = convert(item)
                if rec is not None:
                    out.append(rec)
            return out, lst.metadata

    def decode_item(self, data: bytes) -> R | None:
        return self._convert(self._item.decode(data))

    def decode_event(self, line: bytes) -> WatchEvent[R]:
        ev = _raw_event_decoder.decode(line)
        obj = ev.object
        etype = ev.type
        if not obj:
            return WatchEvent(type=etype)
        if etype == "ERROR":
            return WatchEvent(type=etype, status=_status_decoder.decode(obj))
        if etype == "BOOKMARK":
            meta = _rv_only_decoder.decode(obj).metadata
            return WatchEvent(type=etype, rv=meta.resourceVersion if meta else "")
        wire = self._item.decode(obj)
        rec = self._convert(wire)
        return WatchEvent(type=etype, record=rec, rv=wire.metadata.resourceVersion)  # type: ignore[attr-defined]


POD_CODEC: Codec[api.PodWire, PodRec] = Codec("pods", api.PodWire, pod_record)
JOB_CODEC: Codec[api.JobWire, JobRec] = Codec("jobs", api.JobWire, job_record)
NODE_CODEC: Codec[api.NodeWire, NodeRec] = Codec("nodes", api.NodeWire, node_record)
EVENT_CODEC: Codec[api.EventWire, EventRec] = Codec("events", api.EventWire, event_record)
NODE_METRICS_CODEC: Codec[api.NodeMetricsWire, NodeUsage] = Codec(
    "nodes.metrics.k8s.io", api.NodeMetricsWire, usage_record
)
POD_METRICS_CODEC: Codec[api.PodMetricsWire, PodUsage] = Codec(
    "pods.metrics.k8s.io", api.PodMetricsWire, pod_usage_record
)
