"""GPU telemetry objects of a simulated cluster: the GPU Operator's dcgm-exporter and a
kube-prometheus-stack Prometheus, as pods, Services and Endpoints already running at start.

Modes (SimConfig.gpu_telemetry): "dcgm+prometheus" (default), "dcgm", "prometheus" (a
Prometheus answering from the exporters' data, but no exporter pods), "none". apps/v1 is not
served, so there is no DaemonSet or StatefulSet object: the pods carry their ownerReference
as the controllers would set it. Endpoints are written once at start (no endpoints
controller): a deleted exporter pod is not replaced and the service proxy skips it.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ktui.sim import clock
from ktui.sim.dcgm import DcgmExporter
from ktui.sim.gpus import GpuAllocator, make_mig_node
from ktui.sim.nodes import make_namespace, node_name
from ktui.sim.prometheus import Prometheus
from ktui.sim.resources import ENDPOINTS, NAMESPACES, PODS, SERVICES

if TYPE_CHECKING:
    from ktui.sim.server import SimServer

MODES = ("dcgm+prometheus", "dcgm", "prometheus", "none")
GPU_OPERATOR_NS = "gpu-operator"
MONITORING_NS = "monitoring"
EXPORTER = "nvidia-dcgm-exporter"
EXPORTER_IMAGE = "nvcr.io/nvidia/k8s/dcgm-exporter:4.5.3-4.8.2-ubuntu22.04"
EXPORTER_PORT = 9400
PROMETHEUS_POD = "prometheus-kube-prometheus-stack-prometheus-0"
PROMETHEUS_STS = "prometheus-kube-prometheus-stack-prometheus"
PROMETHEUS_IMAGE = "quay.io/prometheus/prometheus:v3.5.0"
PROMETHEUS_PORT = 9090
_ALNUM = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' generated-name alphabet


def _h(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _uid(text: str) -> str:
    return str(uuid.UUID(int=_h(text) << 64 | _h(text + "/2"), version=4))


def _suffix(text: str, n: int = 5) -> str:
    h = _h(text)
    out = []
    for _ in range(n):
        h, r = divmod(h, len(_ALNUM))
        out.append(_ALNUM[r])
    return "".join(out)


@dataclass
class Backend:
    """What listens on a pod IP and port: the simulated process behind the proxy."""

    kind: str  # "dcgm" | "prometheus"
    pod_key: str
    node: str = ""


class GpuTelemetry:
    def __init__(self, server: SimServer) -> None:
        cfg = server.config
        if cfg.gpu_telemetry not in MODES:
            raise ValueError(f"gpu_telemetry must be one of {', '.join(MODES)}, "
                             f"not {cfg.gpu_telemetry!r}")
        self.server = server
        self.mode = cfg.gpu_telemetry
        self.dcgm_on = self.mode in ("dcgm+prometheus", "dcgm")
        self.prometheus_on = self.mode in ("dcgm+prometheus", "prometheus")
        store = server.cluster.store
        mig = None
        if cfg.mig_node is not None:
            if not 0 <= cfg.mig_node < cfg.nodes or not cfg.gpus_per_node:
                raise ValueError(f"mig_node {cfg.mig_node} is not the index of a GPU node "
                                 f"(0-{cfg.nodes - 1}, with gpus_per_node > 0)")
            mig = node_name(cfg.mig_node, cfg.nodes)
        self.allocator = GpuAllocator(store, cfg.seed, mig)
        self.exporter = DcgmExporter(store, self.allocator, cfg.speed, cfg.seed,
                                     cfg.dcgm_interval)
        self.prometheus = Prometheus(self.exporter, self.target_of)
        # (pod IP, port) -> backend; the proxy checks the pod still exists with that IP.
        self.backends: dict[tuple[str, int], Backend] = {}
        self._targets: dict[str, tuple[str, str]] = {}

    # ------------------------------------------------------------------ nodes

    def decorate_node(self, index: int, node: dict[str, Any]) -> None:
        """GPU feature discovery's view of a node: MIG on the chosen one, operator labels."""
        labels = node["metadata"]["labels"]
        if "nvidia.com/gpu.count" not in labels:
            return
        if node["metadata"]["name"] == self.allocator.mig_node:
            make_mig_node(node, int(labels["nvidia.com/gpu.count"]))
        if self.dcgm_on:
            labels["nvidia.com/gpu.deploy.dcgm-exporter"] = "true"

    def target_of(self, node: str) -> tuple[str, str]:
        """The exporter pod of a node and its IP (named even when no pod is served)."""
        t = self._targets.get(node)
        if t is None:
            t = (f"{EXPORTER}-{_suffix(f'{self.server.config.seed}:{node}')}",
                 self.server.kubelet.reserve_pod_ip(node))
            self._targets[node] = t
        return t

    # ------------------------------------------------------------------ bootstrap

    def bootstrap(self) -> None:
        self.allocator.rebuild()
        if self.mode == "none":
            return
        store = self.server.cluster.store
        started = time.time() - 2 * 86400
        gpu_nodes = self.exporter.nodes()
        if self.dcgm_on:
            store.add(NAMESPACES, make_namespace(GPU_OPERATOR_NS, started))
            addresses = []
            for node in gpu_nodes:
                name, ip = self.target_of(node)
                pod = self._exporter_pod(name, node, ip, started)
                self._add_pod(pod)
                self.backends[(ip, EXPORTER_PORT)] = Backend("dcgm", f"{GPU_OPERATOR_NS}/{name}", node)
                addresses.append(_address(ip, node, GPU_OPERATOR_NS, name, pod))
            store.add(SERVICES, _service(EXPORTER, GPU_OPERATOR_NS, {"app": EXPORTER},
                                         {"app": EXPORTER}, [("gpu-metrics", EXPORTER_PORT,
                                                              EXPORTER_PORT)], started,
                                         annotations={"prometheus.io/scrape": "true"}))
            store.add(ENDPOINTS, _endpoints(EXPORTER, GPU_OPERATOR_NS, {"app": EXPORTER},
                                            addresses, [("gpu-metrics", EXPORTER_PORT)], started))
        else:
            for node in gpu_nodes:
                self.target_of(node)
        if self.prometheus_on:
            self._bootstrap_prometheus(gpu_nodes[0] if gpu_nodes else
                                       node_name(0, self.server.config.nodes), started)

    def _bootstrap_prometheus(self, node: str, started: float) -> None:
        store = self.server.cluster.store
        store.add(NAMESPACES, make_namespace(MONITORING_NS, started))
        ip = self.server.kubelet.reserve_pod_ip(node)
        labels = {"app.kubernetes.io/instance": "kube-prometheus-stack-prometheus",
                  "app.kubernetes.io/managed-by": "prometheus-operator",
                  "app.kubernetes.io/name": "prometheus",
                  "app.kubernetes.io/version": "3.5.0",
                  "apps.kubernetes.io/pod-index": "0",
                  "controller-revision-hash": f"{PROMETHEUS_STS}-{_suffix('rev', 10)}",
                  "operator.prometheus.io/name": "kube-prometheus-stack-prometheus",
                  "operator.prometheus.io/shard": "0",
                  "prometheus": "kube-prometheus-stack-prometheus",
                  "statefulset.kubernetes.io/pod-name": PROMETHEUS_POD}
        owner = {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": PROMETHEUS_STS,
                 "uid": _uid("sts:" + PROMETHEUS_STS), "controller": True,
                 "blockOwnerDeletion": True}
        containers = [
            {"name": "prometheus", "image": PROMETHEUS_IMAGE,
             "args": ["--web.console.templates=/etc/prometheus/consoles",
                      "--storage.tsdb.retention.time=10d", "--config.file=/etc/prometheus/"
                      "config_out/prometheus.env.yaml", "--web.enable-lifecycle",
                      "--web.route-prefix=/"],
             "ports": [{"name": "http-web", "containerPort": PROMETHEUS_PORT,
                        "protocol": "TCP"}]},
            {"name": "config-reloader",
             "image": "quay.io/prometheus-operator/prometheus-config-reloader:v0.85.0",
             "ports": [{"name": "reloader-web", "containerPort": 8080, "protocol": "TCP"}]},
        ]
        pod = _pod(PROMETHEUS_POD, MONITORING_NS, node, ip, labels, owner, containers, started,
                   hostname=PROMETHEUS_POD, subdomain="prometheus-operated")
        self._add_pod(pod)
        self.backends[(ip, PROMETHEUS_PORT)] = Backend("prometheus", f"{MONITORING_NS}/{PROMETHEUS_POD}")
        addr = [_address(ip, node, MONITORING_NS, PROMETHEUS_POD, pod)]
        selector = {"app.kubernetes.io/name": "prometheus",
                    "operator.prometheus.io/name": "kube-prometheus-stack-prometheus"}
        store.add(SERVICES, _service("prometheus-operated", MONITORING_NS,
                                     {"managed-by": "prometheus-operator",
                                      "operated-prometheus": "true"},
                                     {"app.kubernetes.io/name": "prometheus"},
                                     [("web", PROMETHEUS_PORT, "web")], started, headless=True))
        store.add(ENDPOINTS, _endpoints("prometheus-operated", MONITORING_NS,
                                        {"managed-by": "prometheus-operator",
                                         "operated-prometheus": "true"},
                                        addr, [("web", PROMETHEUS_PORT)], started))
        chart = {"app": "kube-prometheus-stack-prometheus",
                 "app.kubernetes.io/instance": "kube-prometheus-stack",
                 "app.kubernetes.io/managed-by": "Helm", "release": "kube-prometheus-stack",
                 "self-monitor": "true"}
        store.add(SERVICES, _service("kube-prometheus-stack-prometheus", MONITORING_NS, chart,
                                     selector, [("http-web", PROMETHEUS_PORT, PROMETHEUS_PORT),
                                                ("reloader-web", 8080, "reloader-web")],
                                     started))
        store.add(ENDPOINTS, _endpoints("kube-prometheus-stack-prometheus", MONITORING_NS, chart,
                                        addr, [("http-web", PROMETHEUS_PORT),
                                               ("reloader-web", 8080)], started))

    def _exporter_pod(self, name: str, node: str, ip: str, started: float) -> dict[str, Any]:
        labels = {"app": EXPORTER, "app.kubernetes.io/managed-by": "gpu-operator",
                  "controller-revision-hash": _suffix("dcgm-rev", 10),
                  "helm.sh/chart": "gpu-operator-v26.7.0",
                  "pod-template-generation": "1"}
        owner = {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": EXPORTER,
                 "uid": _uid("ds:" + EXPORTER), "controller": True, "blockOwnerDeletion": True}
        containers = [{
            "name": EXPORTER, "image": EXPORTER_IMAGE,
            "env": [{"name": "DCGM_EXPORTER_LISTEN", "value": f":{EXPORTER_PORT}"},
                    {"name": "DCGM_EXPORTER_KUBERNETES", "value": "true"},
                    {"name": "DCGM_EXPORTER_COLLECTORS",
                     "value": "/etc/dcgm-exporter/dcp-metrics-included.csv"},
                    {"name": "NODE_NAME", "valueFrom": {"fieldRef": {
                        "apiVersion": "v1", "fieldPath": "spec.nodeName"}}}],
            "ports": [{"name": "metrics", "containerPort": EXPORTER_PORT, "protocol": "TCP"}],
            "readinessProbe": {"httpGet": {"path": "/health", "port": EXPORTER_PORT,
                                           "scheme": "HTTP"}},
            "securityContext": {"privileged": True},
        }]
        return _pod(name, GPU_OPERATOR_NS, node, ip, labels, owner, containers, started,
                    node_selector={"nvidia.com/gpu.deploy.dcgm-exporter": "true"},
                    service_account="nvidia-dcgm-exporter", priority_class="system-node-critical")

    def _add_pod(self, pod: dict[str, Any]) -> None:
        host_ip = self.server.kubelet.node_ip(pod["spec"]["nodeName"])
        pod["status"]["hostIP"] = host_ip
        pod["status"]["hostIPs"] = [{"ip": host_ip}]
        # The kubelet must own it before the store announces it, or it would admit it anew.
        self.server.kubelet.adopt_running(pod)
        self.server.cluster.store.add(PODS, pod)

    def backend(self, ip: str, port: int) -> Backend | None:
        return self.backends.get((ip, port))


def _meta(name: str, namespace: str, labels: dict[str, str], started: float,
          **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "uid": _uid(f"{namespace}/{name}"),
            "creationTimestamp": clock.rfc3339(started), "labels": labels, **extra}


def _pod(name: str, namespace: str, node: str, ip: str, labels: dict[str, str],
         owner: dict[str, Any], containers: list[dict[str, Any]], started: float,
         node_selector: dict[str, str] | None = None, service_account: str = "default",
         priority_class: str = "", hostname: str = "",
         subdomain: str = "") -> dict[str, Any]:
    ts = clock.rfc3339(started + 5)
    for c in containers:
        c.setdefault("resources", {})
        c.update({"terminationMessagePath": "/dev/termination-log",
                  "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent"})
    spec: dict[str, Any] = {"containers": containers, "restartPolicy": "Always",
                            "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                            "serviceAccountName": service_account,
                            "serviceAccount": service_account, "nodeName": node,
                            "securityContext": {}, "schedulerName": "default-scheduler"}
    if node_selector:
        spec["nodeSelector"] = node_selector
    if hostname:
        spec["hostname"], spec["subdomain"] = hostname, subdomain
    if priority_class:
        spec["priorityClassName"] = priority_class
    spec.update({"priority": 2000001000 if priority_class else 0, "enableServiceLinks": True,
                 "preemptionPolicy": "PreemptLowerPriority"})
    conds = [{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": ts}
             for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                       "PodScheduled")]
    host_ip = ""  # the node's address, filled in by GpuTelemetry._add_pod
    return {
        "metadata": _meta(name, namespace, labels, started, generateName=(
            name.rsplit("-", 1)[0] + "-"), ownerReferences=[owner]),
        "spec": spec,
        "status": {
            "phase": "Running", "conditions": conds, "hostIP": host_ip,
            "hostIPs": [{"ip": host_ip}], "podIP": ip, "podIPs": [{"ip": ip}],
            "startTime": ts,
            "containerStatuses": [{
                "name": c["name"], "state": {"running": {"startedAt": ts}}, "lastState": {},
                "ready": True, "restartCount": 0, "image": c["image"],
                "imageID": c["image"].rsplit(":", 1)[0] + "@sha256:"
                + hashlib.sha256(c["image"].encode()).hexdigest(),
                "containerID": "containerd://" + hashlib.sha256(
                    f"{namespace}/{name}/{c['name']}".encode()).hexdigest(),
                "started": True} for c in containers],
            "qosClass": "BestEffort",
        },
    }


def _address(ip: str, node: str, namespace: str, name: str, pod: dict[str, Any]) -> dict[str, Any]:
    return {"ip": ip, "nodeName": node,
            "targetRef": {"kind": "Pod", "namespace": namespace, "name": name,
                          "uid": pod["metadata"]["uid"]}}


def _service(name: str, namespace: str, labels: dict[str, str], selector: dict[str, str],
             ports: list[tuple[str, int, int | str]], started: float, headless: bool = False,
             annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta = _meta(name, namespace, labels, started)
    if annotations:
        meta["annotations"] = annotations
    cluster_ip = "None" if headless else (
        f"10.96.{_h('ip:' + name) % 256}.{_h('ip2:' + name) % 254 + 1}")
    return {
        "metadata": meta,
        "spec": {"ports": [{"name": n, "protocol": "TCP", "port": p, "targetPort": t}
                           for n, p, t in ports],
                 "selector": selector, "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                 "type": "ClusterIP", "sessionAffinity": "None", "ipFamilies": ["IPv4"],
                 "ipFamilyPolicy": "SingleStack", "internalTrafficPolicy": "Cluster"},
        "status": {"loadBalancer": {}},
    }


def _endpoints(name: str, namespace: str, labels: dict[str, str],
               addresses: list[dict[str, Any]], ports: list[tuple[str, int]],
               started: float) -> dict[str, Any]:
    subsets = [{"addresses": addresses,
                "ports": [{"name": n, "port": p, "protocol": "TCP"} for n, p in ports]}]
    return {"metadata": _meta(name, namespace, labels, started), "subsets": subsets if addresses
            else []}
