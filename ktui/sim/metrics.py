"""metrics.k8s.io/v1beta1 NodeMetrics and PodMetrics, computed when asked.

A running container uses 40-95% of its cpu request (a slow wave with noise, different per
container) and memory that climbs from ~30% towards ~90% of its request over a few
simulated minutes; node usage is the sum of its pods plus system overhead.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from ktui.sim import clock, errors, quantity
from ktui.sim.kubelet import Kubelet
from ktui.sim.resources import ResourceInfo
from ktui.sim.store import Store

NODE_METRICS = ResourceInfo("nodes", "NodeMetrics", "metrics.k8s.io", "v1beta1", False)
POD_METRICS = ResourceInfo("pods", "PodMetrics", "metrics.k8s.io", "v1beta1", True)
WINDOW = "10.102s"


def _phase(text: str) -> float:
    return (int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") % 10_000) / 10_000


class Metrics:
    def __init__(self, store: Store, kubelet: Kubelet, speed: float) -> None:
        self.store = store
        self.kubelet = kubelet
        self.speed = speed

    def _container_usage(self, pod_uid: str, container: dict[str, Any], started_ns: int,
                         now_ns: int) -> tuple[int, int]:
        req = (container.get("resources") or {}).get("requests") or {}
        cpu_m = quantity.milli(req["cpu"]) if "cpu" in req else 100
        mem = quantity.whole(req["memory"]) if "memory" in req else 256 * 2**20
        elapsed = max(0.0, (now_ns - started_ns) / 1e9 * self.speed)
        phase = _phase(pod_uid + container["name"])
        wave = 0.5 + 0.5 * math.sin(elapsed / 17.0 + phase * 6.283)
        jitter = math.sin(elapsed * 1.7 + phase * 40) * 0.04
        cpu_share = min(0.95, max(0.40, 0.45 + 0.45 * wave + jitter))
        mem_share = 0.30 + 0.60 * (1 - math.exp(-elapsed / (120.0 + 120 * phase)))
        return int(cpu_m * 1_000_000 * cpu_share), int(mem * mem_share)

    def _pod_usage(self, pod: dict[str, Any], now_ns: int) -> list[dict[str, Any]] | None:
        status = pod.get("status") or {}
        if status.get("phase") != "Running":
            return None
        started: dict[str, int] = {}
        for cs in status.get("containerStatuses") or ():
            running = (cs.get("state") or {}).get("running")
            if running:
                started[cs["name"]] = clock.parse_rfc3339_ns(running["startedAt"])
        out = []
        for c in (pod.get("spec") or {}).get("containers") or ():
            if c["name"] not in started:
                continue
            cpu, mem = self._container_usage(pod["metadata"]["uid"], c, started[c["name"]],
                                             now_ns)
            out.append({"name": c["name"], "usage": {"cpu": quantity.format_cpu_nano(cpu),
                                                     "memory": quantity.format_mem_ki(mem)}})
        return out

    def pod_item(self, pod: dict[str, Any], now_ns: int) -> dict[str, Any] | None:
        containers = self._pod_usage(pod, now_ns)
        if containers is None:
            return None
        meta = pod["metadata"]
        return {
            "metadata": {"name": meta["name"], "namespace": meta["namespace"],
                         "creationTimestamp": clock.rfc3339(now_ns / 1e9),
                         "labels": meta.get("labels") or {}},
            "timestamp": clock.rfc3339(now_ns / 1e9 - 5),
            "window": WINDOW,
            "containers": containers,
        }

    def _running_pods(self) -> list[dict[str, Any]]:
        rs = self.store["pods"]
        return [v.obj() for v in rs.objects.values() if v.fields.get("status.phase") == "Running"]

    def pod_list(self, namespace: str | None, name: str | None = None) -> Any:
        now_ns = clock.now_ns()
        if name is not None:
            from ktui.sim.resources import PODS  # local: avoid a cycle at import time

            v = self.store.get(PODS, namespace, name)
            item = self.pod_item(v.obj(), now_ns) if v is not None else None
            if item is None:
                raise errors.ApiError(404, "NotFound", f'podmetrics.metrics.k8s.io "{namespace}/'
                                      f'{name}" not found', {"name": name,
                                                             "group": "metrics.k8s.io",
                                                             "kind": "pods"})
            return {"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1", **item}
        items = []
        for pod in self._running_pods():
            if namespace is not None and pod["metadata"]["namespace"] != namespace:
                continue
            item = self.pod_item(pod, now_ns)
            if item is not None:
                items.append(item)
        return {"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": {}, "items": items}

    def node_list(self, name: str | None = None) -> Any:
        now_ns = clock.now_ns()
        cpu: dict[str, int] = {}
        mem: dict[str, int] = {}
        for pod in self._running_pods():
            node = (pod.get("spec") or {}).get("nodeName")
            if not node or (name is not None and node != name):
                continue
            for c in self._pod_usage(pod, now_ns) or ():
                cpu[node] = cpu.get(node, 0) + int(c["usage"]["cpu"][:-1])
                mem[node] = mem.get(node, 0) + int(c["usage"]["memory"][:-2]) * 1024
        items = []
        nodes = self.store["nodes"].objects
        for key in sorted(nodes):
            if name is not None and key != name:
                continue
            v = nodes[key]
            phase = _phase(v.uid)
            # The node's own daemons: ~0.3 cores and ~2 GiB.
            base_cpu = int((250 + 100 * phase) * 1_000_000)
            base_mem = int((1.8 + 0.5 * phase) * 2**30)
            items.append({
                "metadata": {"name": v.name, "creationTimestamp": clock.rfc3339(now_ns / 1e9),
                             "labels": v.labels},
                "timestamp": clock.rfc3339(now_ns / 1e9 - 5),
                "window": "20.047s",
                "usage": {"cpu": quantity.format_cpu_nano(base_cpu + cpu.get(v.name, 0)),
                          "memory": quantity.format_mem_ki(base_mem + mem.get(v.name, 0))},
            })
        if name is not None:
            if not items:
                raise errors.ApiError(404, "NotFound",
                                      f'nodemetrics.metrics.k8s.io "{name}" not found',
                                      {"name": name, "group": "metrics.k8s.io", "kind": "nodes"})
            return {"kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1", **items[0]}
        return {"kind": "NodeMetricsList", "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": {}, "items": items}
