"""Kubeflow's training objects -> the store's JobRec: one record per distributed trial, its
phase from the object's conditions, ``replicas`` = the pods it runs at once.

A PyTorchJob (kubeflow.org/v1, training operator v1.9; ecosystem-facts 4a): conditions
Created / Running / Restarting / Succeeded / Failed (Succeeded and Failed are final),
``replicaStatuses{Master|Worker: {active, succeeded, failed}}`` (``active``: running pods),
``runPolicy.suspend``; the trial's pod template is the Master's.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from ktui.cluster.kube import wire as api
from ktui.cluster.kube.decode import (
    Codec,
    _intern,
    _ktui_annotations,
    _requests,
    _short_intern,
    _trial_image,
    _ts,
)
from ktui.cluster.records import JobRec
from ktui.wire.names import (
    EARLY_STOPPED_ANNOTATION,
    EARLY_STOPPING_ANNOTATION,
    METRIC_ANNOTATION,
    PARAMS_ANNOTATION,
    SWEEP_LABEL,
    TRIAL_LABEL,
    parse_metric,
    parse_object,
    provenance_of,
)
from ktui.wire.training import PYTORCHJOB, TRAINJOB


class ReplicaSpec(msgspec.Struct, gc=False):
    replicas: int = 1
    template: api.Template | None = None


class RunPolicy(msgspec.Struct, gc=False):
    suspend: bool | None = None


class PyTorchJobSpec(msgspec.Struct, gc=False):
    pytorchReplicaSpecs: dict[str, ReplicaSpec] | None = None
    runPolicy: RunPolicy | None = None


class ReplicaStatus(msgspec.Struct, gc=False):
    active: int = 0
    succeeded: int = 0
    failed: int = 0


class PyTorchJobStatus(msgspec.Struct, gc=False):
    conditions: list[api.Condition] | None = None
    replicaStatuses: dict[str, ReplicaStatus] | None = None
    startTime: datetime | None = None
    completionTime: datetime | None = None


class PyTorchJobWire(msgspec.Struct, gc=False):
    metadata: api.JobMeta = msgspec.field(default_factory=api.JobMeta)
    spec: PyTorchJobSpec | None = None
    status: PyTorchJobStatus | None = None


def _trial_index(labels: dict[str, str]) -> int | None:
    raw = labels.get(TRIAL_LABEL)
    return int(raw) if raw is not None and raw.isdigit() else None


def _outcome(conditions: list[api.Condition] | None, done: str, completion: datetime | None
             ) -> tuple[str | None, str | None, str | None, datetime | None]:
    """(outcome, reason, message, finished at) from a training object's conditions: "Failed"
    wins over ``done`` (PyTorchJob's Succeeded, TrainJob's Complete), which is "Complete";
    finished at is ``completion`` (the object's completionTime, where it keeps one) or the
    condition's transition; all None while it has not finished."""
    outcome = reason = message = None
    completed = completion
    for cond in conditions or ():
        if cond.status != "True":
            continue
        if cond.type == "Failed":
            outcome, reason, message = "Failed", cond.reason, cond.message
            completed = completed or cond.lastTransitionTime
        elif cond.type == done and outcome is None:
            outcome = "Complete"
            completed = completed or cond.lastTransitionTime
    return outcome, reason, message, completed if outcome is not None else None


def pytorchjob_record(w: PyTorchJobWire) -> JobRec | None:
    meta = w.metadata
    if not meta.name:
        return None
    labels = meta.labels or {}
    spec = w.spec or PyTorchJobSpec()
    replicas = spec.pytorchReplicaSpecs or {}
    master = replicas.get("Master") or next(iter(replicas.values()), None)
    template = master.template if master is not None else None
    annotations = _ktui_annotations(meta.annotations)
    raw_params = annotations.get(PARAMS_ANNOTATION)
    if raw_params is None and template is not None and template.metadata is not None:
        raw_params = _ktui_annotations(template.metadata.annotations).get(PARAMS_ANNOTATION)
    st = w.status or PyTorchJobStatus()
    outcome, reason, message, completed = _outcome(st.conditions, "Succeeded", st.completionTime)
    counts = (st.replicaStatuses or {}).values()
    active = sum(r.active for r in counts)
    tspec = template.spec if template is not None else None
    sweep = labels.get(SWEEP_LABEL)
    run = spec.runPolicy or RunPolicy()
    return JobRec(
        namespace=_intern(meta.namespace),
        name=_intern(meta.name),
        uid=_intern(meta.uid),
        rv=meta.resourceVersion,
        created=_ts(meta.creationTimestamp),
        started=_ts(st.startTime),
        completed=_ts(completed),
        sweep=_intern(sweep) if sweep else None,
        trial=_trial_index(labels),
        params=raw_params,
        metric=parse_metric(annotations.get(METRIC_ANNOTATION)),
        suspended=bool(run.suspend),
        active=active,
        # The operator counts running pods as active; it keeps no readiness.
        ready=active,
        succeeded=sum(r.succeeded for r in counts),
        failed=sum(r.failed for r in counts),
        outcome=outcome,
        reason=_short_intern(reason),
        message=_short_intern(message),
        gpu=_requests(tspec.containers, tspec.initContainers)[2] if tspec is not None else 0,
        early_stopping=parse_object(annotations.get(EARLY_STOPPING_ANNOTATION)),
        stopped=annotations.get(EARLY_STOPPED_ANNOTATION),
        provenance=provenance_of(annotations, _trial_image(tspec)) if annotations else None,
        kind=PYTORCHJOB,
        replicas=sum(max(r.replicas, 0) for r in replicas.values()),
    )


PYTORCHJOB_CODEC: Codec[PyTorchJobWire, JobRec] = Codec("pytorchjobs", PyTorchJobWire, pytorchjob_record)


# ---------------------------------------------------------------------------------------------
# TrainJob (trainer.kubeflow.org/v1alpha1, Trainer v2.3; ecosystem-facts 4b): conditions
# Complete / Failed (copied from its JobSet) and Suspended, but no Running condition: it runs
# while its jobsStatus has active Jobs (counts of Jobs, not pods). Its pods are its JobSet's
# child Jobs' (see decode._owner_job); the trial's container is its `trainer`.


class Trainer(msgspec.Struct, gc=False):
    image: str | None = None
    numNodes: int | None = None
    resourcesPerNode: api.Resources | None = None


class TrainJobSpec(msgspec.Struct, gc=False):
    trainer: Trainer | None = None
    suspend: bool | None = None


class JobsStatus(msgspec.Struct, gc=False):
    name: str = ""
    ready: int = 0
    succeeded: int = 0
    failed: int = 0
    active: int = 0


class TrainJobStatus(msgspec.Struct, gc=False):
    conditions: list[api.Condition] | None = None
    jobsStatus: list[JobsStatus] | None = None


class TrainJobWire(msgspec.Struct, gc=False):
    metadata: api.JobMeta = msgspec.field(default_factory=api.JobMeta)
    spec: TrainJobSpec | None = None
    status: TrainJobStatus | None = None


def trainjob_record(w: TrainJobWire) -> JobRec | None:
    meta = w.metadata
    if not meta.name:
        return None
    labels = meta.labels or {}
    spec = w.spec or TrainJobSpec()
    trainer = spec.trainer or Trainer()
    annotations = _ktui_annotations(meta.annotations)
    st = w.status or TrainJobStatus()
    outcome, reason, message, completed = _outcome(st.conditions, "Complete", None)
    jobs = st.jobsStatus or ()
    res = trainer.resourcesPerNode
    node = [api.Container(name="node", image=trainer.image, resources=res)]
    sweep = labels.get(SWEEP_LABEL)
    return JobRec(
        namespace=_intern(meta.namespace),
        name=_intern(meta.name),
        uid=_intern(meta.uid),
        rv=meta.resourceVersion,
        created=_ts(meta.creationTimestamp),
        started=None,  # (it keeps no startTime: its first node's pod's start stands in)
        completed=_ts(completed),
        sweep=_intern(sweep) if sweep else None,
        trial=_trial_index(labels),
        params=annotations.get(PARAMS_ANNOTATION),
        metric=parse_metric(annotations.get(METRIC_ANNOTATION)),
        suspended=bool(spec.suspend),
        # Jobs, not pods (jobsStatus counts its JobSet's Jobs): enough to tell it runs.
        active=sum(j.active for j in jobs),
        ready=sum(j.ready for j in jobs),
        succeeded=sum(j.succeeded for j in jobs),
        failed=sum(j.failed for j in jobs),
        outcome=outcome,
        reason=_short_intern(reason),
        message=_short_intern(message),
        gpu=_requests(node, None)[2],
        early_stopping=parse_object(annotations.get(EARLY_STOPPING_ANNOTATION)),
        stopped=annotations.get(EARLY_STOPPED_ANNOTATION),
        provenance=provenance_of(annotations, trainer.image) if annotations else None,
        kind=TRAINJOB,
        replicas=max(trainer.numNodes or 1, 1),
    )


TRAINJOB_CODEC: Codec[TrainJobWire, JobRec] = Codec("trainjobs", TrainJobWire, trainjob_record)
