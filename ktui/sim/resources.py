"""The resource types the simulator stores, with the naming kube-apiserver uses in messages."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ResourceInfo:
    plural: str
    kind: str
    group: str
    version: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    # Field selector labels kube-apiserver accepts for this resource, besides
    # metadata.name and metadata.namespace (which every resource supports).
    field_labels: tuple[str, ...] = field(default=())

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def qualified(self) -> str:
        """`jobs.batch` / `pods`: how NotFound and AlreadyExists messages name the resource."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def kind_prefix(self) -> bytes:
        """Bytes that turn a stored item (no kind/apiVersion) into a full object."""
        return f'{{"kind":"{self.kind}","apiVersion":"{self.api_version}",'.encode()


POD_FIELDS = (
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)
EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)

PODS = ResourceInfo("pods", "Pod", "", "v1", True, ("po",), POD_FIELDS)
JOBS = ResourceInfo("jobs", "Job", "batch", "v1", True, (), ("status.successful",))
NODES = ResourceInfo("nodes", "Node", "", "v1", False, ("no",), ("spec.unschedulable",))
NAMESPACES = ResourceInfo("namespaces", "Namespace", "", "v1", False, ("ns",), ("status.phase",))
EVENTS = ResourceInfo("events", "Event", "", "v1", True, ("ev",), EVENT_FIELDS)

# Served so the service proxy has what kube-apiserver reads (a Service, its Endpoints).
SERVICES = ResourceInfo("services", "Service", "", "v1", True, ("svc",))
ENDPOINTS = ResourceInfo("endpoints", "Endpoints", "", "v1", True, ("ep",))

# Code snapshots travel in ConfigMaps (immutable, binaryData); the kubelet mounts them.
CONFIGMAPS = ResourceInfo("configmaps", "ConfigMap", "", "v1", True, ("cm",))

ALL = (PODS, JOBS, NODES, NAMESPACES, EVENTS, SERVICES, ENDPOINTS, CONFIGMAPS)

# Custom resources (ktui/sim/crds.py): always stored, served only when their feature is on.
PYTORCHJOBS = ResourceInfo("pytorchjobs", "PyTorchJob", "kubeflow.org", "v1", True)
KUEUE = "kueue.x-k8s.io"
WORKLOADS = ResourceInfo("workloads", "Workload", KUEUE, "v1beta2", True, ("kwl",))
CLUSTERQUEUES = ResourceInfo("clusterqueues", "ClusterQueue", KUEUE, "v1beta2", False, ("cq",))
LOCALQUEUES = ResourceInfo("localqueues", "LocalQueue", KUEUE, "v1beta2", True,
                           ("queue", "queues", "lq"))
RESOURCEFLAVORS = ResourceInfo("resourceflavors", "ResourceFlavor", KUEUE, "v1beta2", False,
                               ("flavor", "flavors", "rf"))
TRAINER = "trainer.kubeflow.org"
TRAINJOBS = ResourceInfo("trainjobs", "TrainJob", TRAINER, "v1alpha1", True)
TRAININGRUNTIMES = ResourceInfo("trainingruntimes", "TrainingRuntime", TRAINER, "v1alpha1", True)
CLUSTERTRAININGRUNTIMES = ResourceInfo("clustertrainingruntimes", "ClusterTrainingRuntime",
                                       TRAINER, "v1alpha1", False)
JOBSET = "jobset.x-k8s.io"
JOBSETS = ResourceInfo("jobsets", "JobSet", JOBSET, "v1alpha2", True)
CUSTOM = (PYTORCHJOBS, WORKLOADS, CLUSTERQUEUES, LOCALQUEUES, RESOURCEFLAVORS, TRAINJOBS,
          TRAININGRUNTIMES, CLUSTERTRAININGRUNTIMES, JOBSETS)
STORED = ALL + CUSTOM

BY_PLURAL = {r.plural: r for r in STORED}
# (group, version, plural) -> info, for routing.
BY_GVR = {(r.group, r.version, r.plural): r for r in ALL}
