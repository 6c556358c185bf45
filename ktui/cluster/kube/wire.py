"""The Kubernetes API's JSON shapes, as msgspec Structs declaring only the fields ktui reads.

They mirror the API's JSON (camelCase names, everything optional because watch BOOKMARKs
and odd servers send partial objects); unknown fields (managedFields, volumes, nodeInfo...)
are skipped by the decoder without building anything. ``gc=False``: these objects hold no
reference cycles, and at 150,000 pods the collector's walks over them were the stalls
(benchmarks/NOTES.md M2). decode.py turns them into the store's records.
"""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar

import msgspec

from ktui.wire.names import GPU_RESOURCE as GPU

Quantity = str | int | float
_NO_RAW = msgspec.Raw(b"")


class ListMeta(msgspec.Struct, gc=False):
    resourceVersion: str = ""
    continue_: str | None = msgspec.field(default=None, name="continue")
    remainingItemCount: int | None = None


class StatusCause(msgspec.Struct, gc=False):
    reason: str = ""
    message: str = ""
    field: str = ""


class StatusDetails(msgspec.Struct, gc=False):
    name: str = ""
    group: str = ""
    kind: str = ""
    retryAfterSeconds: int | None = None
    causes: list[StatusCause] | None = None


class Status(msgspec.Struct, gc=False):
    """metav1.Status: the body of API errors and of watch ERROR events."""

    status: str = ""
    message: str = ""
    reason: str = ""
    code: int = 0
    details: StatusDetails | None = None
    metadata: ListMeta | None = None


class OwnerRef(msgspec.Struct, gc=False):
    kind: str = ""
    name: str = ""
    uid: str = ""
    controller: bool | None = None


class PodMeta(msgspec.Struct, gc=False):
    name: str = ""
    namespace: str = ""
    resourceVersion: str = ""
    creationTimestamp: datetime | None = None
    # Only presence matters; a str skips the datetime parse (NOTES.md M21).
    deletionTimestamp: str | None = None
    # Raw: only needed when there is no controller ownerReference (rare), and building a
    # dict of every pod's labels was a large share of the decode (NOTES.md M21).
    labels: msgspec.Raw = _NO_RAW
    # Raw too: read only for the pods of an indexed sweep (their completion index).
    annotations: msgspec.Raw = _NO_RAW
    ownerReferences: list[OwnerRef] | None = None


class Quantities(msgspec.Struct, gc=False):
    """The resources ktui counts; a Struct, not a dict: no dict per container, and other
    resources (ephemeral-storage, hugepages...) are skipped by the decoder."""

    cpu: Quantity | None = None
    memory: Quantity | None = None
    gpu: Quantity | None = msgspec.field(default=None, name=GPU)


class NodeQuantities(Quantities, gc=False):
    pods: Quantity | None = None


class Resources(msgspec.Struct, gc=False):
    requests: Quantities | None = None
    limits: Quantities | None = None


class Container(msgspec.Struct, gc=False):
    name: str = ""
    image: str | None = None
    resources: Resources | None = None
    restartPolicy: str | None = None  # "Always" on an init container = a sidecar


class PodSpec(msgspec.Struct, gc=False):
    nodeName: str | None = None
    containers: list[Container] | None = None
    initContainers: list[Container] | None = None
    overhead: Quantities | None = None


class Condition(msgspec.Struct, gc=False):
    type: str = ""
    status: str = ""
    reason: str | None = None
    message: str | None = None
    lastTransitionTime: datetime | None = None


class Terminated(msgspec.Struct, gc=False):
    exitCode: int = 0
    signal: int | None = None
    reason: str | None = None
    message: str | None = None
    finishedAt: datetime | None = None


class Waiting(msgspec.Struct, gc=False):
    reason: str | None = None
    message: str | None = None


class State(msgspec.Struct, gc=False):
    waiting: Waiting | None = None
    terminated: Terminated | None = None


class PodCondition(msgspec.Struct, gc=False):
    # No timestamps: a pod has several conditions and parsing their times cost more than
    # the rest of the pod (NOTES.md M21).
    type: str = ""
    status: str = ""
    reason: str | None = None
    message: str | None = None


class ContainerStatus(msgspec.Struct, gc=False):
    name: str = ""
    state: State | None = None
    lastState: State | None = None
    restartCount: int = 0
    imageID: str = ""  # the resolved digest the kubelet ran, e.g. docker.io/library/python@sha256:...


class PodStatus(msgspec.Struct, gc=False):
    phase: str = "Pending"
    reason: str | None = None
    message: str | None = None
    startTime: datetime | None = None
    conditions: list[PodCondition] | None = None
    containerStatuses: list[ContainerStatus] | None = None
    initContainerStatuses: list[ContainerStatus] | None = None


class PodWire(msgspec.Struct, gc=False):
    metadata: PodMeta = msgspec.field(default_factory=PodMeta)
    spec: PodSpec | None = None
    status: PodStatus | None = None


class JobMeta(msgspec.Struct, gc=False):
    name: str = ""
    namespace: str = ""
    uid: str = ""
    resourceVersion: str = ""
    creationTimestamp: datetime | None = None
    labels: dict[str, str] | None = None
    # Kept raw: annotations can be huge (last-applied-configuration) and ktui wants one key.
    annotations: msgspec.Raw = _NO_RAW


class TemplateSpec(msgspec.Struct, gc=False):
    containers: list[Container] | None = None
    initContainers: list[Container] | None = None


class TemplateMeta(msgspec.Struct, gc=False):
    annotations: msgspec.Raw = _NO_RAW


class Template(msgspec.Struct, gc=False):
    metadata: TemplateMeta | None = None
    spec: TemplateSpec | None = None


class JobSpec(msgspec.Struct, gc=False):
    suspend: bool | None = None
    completions: int | None = None
    template: Template | None = None


class JobStatus(msgspec.Struct, gc=False):
    active: int = 0
    ready: int | None = None
    succeeded: int = 0
    failed: int = 0
    startTime: datetime | None = None
    completionTime: datetime | None = None
    conditions: list[Condition] | None = None
    completedIndexes: str | None = None
    failedIndexes: str | None = None


class JobWire(msgspec.Struct, gc=False):
    metadata: JobMeta = msgspec.field(default_factory=JobMeta)
    spec: JobSpec | None = None
    status: JobStatus | None = None


class NodeMeta(msgspec.Struct, gc=False):
    name: str = ""
    resourceVersion: str = ""
    creationTimestamp: datetime | None = None
    labels: dict[str, str] | None = None  # (thousands of nodes at most: a dict is fine)


class Taint(msgspec.Struct, gc=False):
    key: str = ""
    value: str | None = None
    effect: str = ""


class NodeSpec(msgspec.Struct, gc=False):
    unschedulable: bool | None = None
    taints: list[Taint] | None = None


class NodeStatus(msgspec.Struct, gc=False):
    allocatable: NodeQuantities | None = None
    capacity: NodeQuantities | None = None
    conditions: list[Condition] | None = None


class NodeWire(msgspec.Struct, gc=False):
    metadata: NodeMeta = msgspec.field(default_factory=NodeMeta)
    spec: NodeSpec | None = None
    status: NodeStatus | None = None


class EventMeta(msgspec.Struct, gc=False):
    name: str = ""
    namespace: str = ""
    resourceVersion: str = ""
    creationTimestamp: datetime | None = None


class InvolvedObject(msgspec.Struct, gc=False):
    kind: str = ""
    name: str = ""


class Series(msgspec.Struct, gc=False):
    count: int | None = None
    lastObservedTime: datetime | None = None


class EventWire(msgspec.Struct, gc=False):
    metadata: EventMeta = msgspec.field(default_factory=EventMeta)
    involvedObject: InvolvedObject | None = None
    reason: str | None = None
    message: str | None = None
    type: str | None = None
    count: int | None = None
    lastTimestamp: datetime | None = None
    eventTime: datetime | None = None
    series: Series | None = None


class Usage(msgspec.Struct, gc=False):
    cpu: Quantity | None = None
    memory: Quantity | None = None


class NodeMetricsWire(msgspec.Struct, gc=False):
    metadata: NodeMeta = msgspec.field(default_factory=NodeMeta)
    usage: Usage | None = None


class PodMetricsMeta(msgspec.Struct, gc=False):
    name: str = ""
    namespace: str = ""


class ContainerMetrics(msgspec.Struct, gc=False):
    usage: Usage | None = None


class PodMetricsWire(msgspec.Struct, gc=False):
    metadata: PodMetricsMeta = msgspec.field(default_factory=PodMetricsMeta)
    containers: list[ContainerMetrics] | None = None


W = TypeVar("W")


class ListWire(msgspec.Struct, Generic[W], gc=False):
    metadata: ListMeta = msgspec.field(default_factory=ListMeta)
    items: list[W] | None = None


class RawEvent(msgspec.Struct, gc=False):
    type: str = ""
    object: msgspec.Raw = _NO_RAW


class RVOnlyMeta(msgspec.Struct, gc=False):
    resourceVersion: str = ""


class RVOnly(msgspec.Struct, gc=False):
    metadata: RVOnlyMeta | None = None
