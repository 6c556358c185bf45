"""Pure functions that join slim records into what the UI shows (a Trial, a NodeView).

Kept apart from the store so the rules (which phase, which failure reason) can be tested
with hand-made records and reused by any backend.
"""

from __future__ import annotations

from collections.abc import Sequence

from ktui.cluster.earlystop import describe
from ktui.cluster.model import GpuDevice, JobPhase, NodeView, QueueInfo, Resources, Trial
from ktui.cluster.queuewords import queue_reason, waiting
from ktui.cluster.records import RESTARTED, EventRec, JobRec, NodeRec, NodeUsage, PodGpu, PodRec, PodUsage
from ktui.cluster.replicas import first_failed, lead_pod, pods_ready, troubled, words
from ktui.wire.names import parse_object

_PRESSURES = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")
def root_cause(reason: str) -> str:
    """What made the container fail, without how the pod was coping with it:
    "OOMKilled, restarted" and "CrashLoopBackOff (OOMKilled)" are both "OOMKilled"."""
    reason = reason.removesuffix(RESTARTED)
    if reason.startswith("CrashLoopBackOff (") and reason.endswith(")"):
        return reason[len("CrashLoopBackOff (") : -1]
    return reason


def owned_pods(job: JobRec, pods: Sequence[PodRec]) -> list[PodRec]:
    """The pods that belong to *this* job (a deleted and recreated Job of the same name is
    another Job: its predecessor's pods may still be terminating)."""
    return [p for p in pods if p.job_uid is None or p.job_uid == job.uid]


def newest(pods: Sequence[PodRec]) -> PodRec | None:
    if not pods:
        return None
    if len(pods) == 1:
        return pods[0]
    return max(pods, key=lambda p: (p.created or 0.0, p.name))


def _latest_warning(events: Sequence[EventRec]) -> EventRec | None:
    warnings = [e for e in events if e.type == "Warning"]
    if not warnings:
        return None
    return max(warnings, key=lambda e: (e.last or 0.0, e.name))


def job_phase(job: JobRec, pods: Sequence[PodRec], pods_known: bool) -> JobPhase:
    if job.outcome == "Complete":
        return "Succeeded"
    if job.outcome == "Failed":
        return "Failed"
    if job.stopped is not None:
        return "EarlyStopped"  # (suspended by the enforcer: its pods are gone)
    if job.suspended:
        return "Suspended"
    if job.source is not None and any(p.phase == "Succeeded" for p in pods):
        # One index of an indexed sweep's Job: a pod that succeeded completes its index (it is
        # never run again); the Job's completedIndexes says so a moment later.
        return "Succeeded"
    if any(p.phase == "Running" and not p.deleting for p in pods) or job.ready > 0:
        return "Running"
    if not pods_known and job.active > 0:
        # Without pod visibility (not listed yet, or forbidden) trust the Job's count,
        # as kubectl does.
        return "Running"
    return "Pending"


def build_trial(
    job: JobRec,
    pods: Sequence[PodRec],
    job_events: Sequence[EventRec] = (),
    pod_events: Sequence[EventRec] = (),
    pods_known: bool = True,
    last_failure: tuple[str, str | None, str | None] | None = None,
    usage: PodUsage | None = None,
    gpu: PodGpu | None = None,
    queue: QueueInfo | None = None,
) -> Trial:
    """Join a Job with its pods (already filtered by owned_pods) and warning events.

    ``pod_events`` are the warnings of the newest pod.
    """
    phase = job_phase(job, pods, pods_known)
    # A distributed trial (job.replicas pods at once) is its master's: node, log, GPUs.
    pod = lead_pod(job, pods) if job.replicas else newest(pods)
    if len(pods) == 1:  # most trials: no generators (a watch storm joins ~20k a second)
        restarts, failed_pods = pods[0].restarts, 1 if pods[0].phase == "Failed" else 0
    else:
        restarts = sum(p.restarts for p in pods)
        failed_pods = sum(1 for p in pods if p.phase == "Failed")
    retries = restarts + max(job.failed, failed_pods)

    reason: str | None = None
    message: str | None = None
    if phase == "Failed":
        if job.reason == "DeadlineExceeded":
            # The pods were killed *because* of the deadline: their exit codes are noise.
            reason, message = job.reason, job.message
        else:
            failed = [p for p in pods if p.phase == "Failed" and p.reason]
            culprit = first_failed(job, pods) if job.replicas else newest(failed)
            if culprit is not None:
                reason = words(job, culprit) if job.replicas else culprit.reason
                message = f"{job.reason}: {job.message}" if job.reason else culprit.message
            elif last_failure is not None:
                # The failing pod is gone (OnFailure: the Job controller deletes it when the
                # backoff limit is reached), but the store saw why it failed.
                reason = root_cause(last_failure[0])
                message = f"{job.reason}: {job.message}" if job.reason else last_failure[1]
            else:
                reason, message = job.reason or "Failed", job.message
    elif phase == "EarlyStopped":
        reason, message = "EarlyStopped", describe(parse_object(job.stopped))
    elif phase in ("Pending", "Running"):
        sick = troubled(job, pods) if job.replicas else None
        if sick is not None:
            reason, message = words(job, sick), sick.message
        elif pod is not None and pod.reason and not pod.terminated:
            reason, message = pod.reason, pod.message
        elif phase == "Pending":
            warning = _latest_warning(pod_events if pod is not None else job_events)
            if warning is None and (pod is None or pod.terminated):
                # No pod, or only a finished one (a retry waits to be started): the Job's
                # own warnings say why.
                warning = _latest_warning(job_events)
            if warning is not None:
                reason, message = f"{warning.reason}: {warning.message}", warning.message

    if waiting(queue) and phase in ("Pending", "Suspended"):
        # Suspended by Kueue until admitted (again): it waits, and its queue says why.
        assert queue is not None
        phase = "Pending"
        reason, message = queue_reason(queue)
    elif queue is not None and phase == "Suspended" and queue.state != "Finished":
        # Kueue holds it, and its Workload's latest word has not come yet (admitted, the Job
        # not yet resumed; or evicted, the Workload not yet updated): it waits, not suspended.
        phase = "Pending"
        reason, message = f"held by Kueue in {queue.local_queue or 'its queue'}", queue.message
    if gpu is not None and phase != "Running":
        gpu = None  # (the last reading of a pod that has finished)
    started = job.started
    if started is None and pod is not None:
        started = pod.started
    if started is None and job.stopped is not None:
        started = _note_time(job, "started")  # (a suspended Job drops its startTime)
    return Trial(
        namespace=job.namespace,
        name=job.name,
        uid=job.uid,
        sweep=job.sweep,
        index=job.trial,
        raw_params=job.params,
        phase=phase,
        pod=pod.name if pod is not None else None,
        pod_phase=pod.phase if pod is not None else None,
        node=pod.node if pod is not None else (last_failure[2] if last_failure is not None else None),
        created=job.created,
        started=started,
        finished=job.completed if job.stopped is None else _note_time(job, "at") or job.completed,
        retries=retries,
        reason=reason,
        message=message,
        gpu=job.gpu,
        metric=job.metric,
        cpu_used=usage.cpu_m if usage is not None and phase == "Running" else None,
        mem_used=usage.memory if usage is not None and phase == "Running" else None,
        early_stopping=job.early_stopping,
        gpu_util=gpu.util if gpu is not None else None,
        gpu_mem=gpu.mem if gpu is not None else None,
        gpu_idle_since=gpu.idle_since if gpu is not None else None,
        gpu_idle=gpu.idle if gpu is not None else False,
        provenance=job.provenance,
        image_id=pod.image_id if pod is not None else None,
        kind=job.kind,
        pods_ready=pods_ready(job, pods, pods_known) if job.replicas else 0,
        pods_total=job.replicas,
        source=job.source,
        queue=queue,
    )


def _note_time(job: JobRec, field: str) -> float | None:
    """A time from the ktui.dev/early-stopped note (epoch seconds), if it holds one."""
    at = (parse_object(job.stopped) or {}).get(field)
    return float(at) if isinstance(at, (int, float)) else None


def build_node(node: NodeRec, requested: Sequence[int] | None, usage: NodeUsage | None,
               devices: tuple[GpuDevice, ...] | None = None) -> NodeView:
    """``requested``: [cpu_m, memory, gpu, pods] of the node's non-terminated pods;
    ``devices``: its GPUs' readings from a GPU source, else the usage's (NVML)."""
    cpu, mem, gpu, npods = requested if requested is not None else (0, 0, 0, 0)
    ready: bool | None = None
    pressures = []
    for c in node.conditions:
        if c.type == "Ready":
            ready = c.status == "True"
        elif c.type in _PRESSURES and c.status == "True":
            pressures.append(c.type)
    return NodeView(
        name=node.name,
        allocatable=Resources(node.cpu_m, node.memory, node.gpu),
        requested=Resources(cpu, mem, gpu),
        used=Resources(usage.cpu_m, usage.memory, 0) if usage is not None else None,
        pods=npods,
        max_pods=node.max_pods,
        ready=ready,
        pressures=tuple(pressures),
        unschedulable=node.unschedulable,
        taints=node.taints,
        conditions=node.conditions,
        created=node.created,
        cores=usage.cores if usage is not None else (),
        load=usage.load if usage is not None else None,
        devices=devices or (usage.devices if usage is not None else ()),
        gpu_product=node.gpu_product,
        gpu_memory=node.gpu_memory,
    )
