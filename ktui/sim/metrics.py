"""metrics.k8s.io/v1beta1 NodeMetrics and PodMetrics, computed when asked.

A running container uses 40-95% of its cpu request (a slow wave with noise, different per
container) and memory that climbs from ~30% towards ~90% of its request over a few
simulated minutes; node usage is the sum of its pods plus system overhead.

At 150,000 pods a list covers ~7,500 running ones. The answers are built in steps that let
the event loop serve other requests between them: a kube-apiserver serves requests
concurrently and metrics-server is a process of its own, so a log request must not wait
a second behind a metrics list here either.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ktui.sim import clock, errors
from ktui.sim.kubelet import Kubelet
from ktui.sim.resources import PODS, ResourceInfo
from ktui.sim.store import ObjVersion, Store
from ktui.wire import quantity

NODE_METRICS = ResourceInfo("nodes", "NodeMetrics", "metrics.k8s.io", "v1beta1", False)
POD_METRICS = ResourceInfo("pods", "PodMetrics", "metrics.k8s.io", "v1beta1", True)
WINDOW = "10.102s"
# Longest stretch of work between two yields to the event loop.
STEP_S = 0.002


def _phase(text: str) -> float:
    return (int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") % 10_000) / 10_000


@dataclass(frozen=True, slots=True)
class _Container:
    name: str
    cpu_m: int
    mem: int
    started_ns: int
    phase: float


@dataclass(frozen=True, slots=True)
class _RunningPod:
    """What one version of a running pod says that usage depends on, read once per version:
    decoding the pod's JSON on every metrics list was most of its cost."""

    rv: int
    name: str
    namespace: str
    node: str | None
    labels: dict[str, str]
    containers: tuple[_Container, ...]


def _read_pod(v: ObjVersion) -> _RunningPod:
    pod = v.obj()
    status = pod.get("status") or {}
    started: dict[str, int] = {}
    for cs in status.get("containerStatuses") or ():
        running = (cs.get("state") or {}).get("running")
        if running:
            started[cs["name"]] = clock.parse_rfc3339_ns(running["startedAt"])
    containers = []
    for c in (pod.get("spec") or {}).get("containers") or ():
        if c["name"] not in started:
            continue
        req = (c.get("resources") or {}).get("requests") or {}
        containers.append(_Container(
            c["name"],
            quantity.milli(req["cpu"]) if "cpu" in req else 100,
            quantity.whole(req["memory"]) if "memory" in req else 256 * 2**20,
            started[c["name"]], _phase(v.uid + c["name"])))
    meta = pod["metadata"]
    return _RunningPod(v.rv, meta["name"], meta["namespace"],
                       (pod.get("spec") or {}).get("nodeName"), meta.get("labels") or {},
                       tuple(containers))


class Metrics:
    def __init__(self, store: Store, kubelet: Kubelet, speed: float) -> None:
        self.store = store
        self.kubelet = kubelet
        self.speed = speed
        self._pods: dict[str, _RunningPod] = {}

    def _usage(self, c: _Container, now_ns: int) -> tuple[int, int]:
        elapsed = max(0.0, (now_ns - c.started_ns) / 1e9 * self.speed)
        wave = 0.5 + 0.5 * math.sin(elapsed / 17.0 + c.phase * 6.283)
        jitter = math.sin(elapsed * 1.7 + c.phase * 40) * 0.04
        cpu_share = min(0.95, max(0.40, 0.45 + 0.45 * wave + jitter))
        mem_share = 0.30 + 0.60 * (1 - math.exp(-elapsed / (120.0 + 120 * c.phase)))
        return int(c.cpu_m * 1_000_000 * cpu_share), int(c.mem * mem_share)

    def _running(self, v: ObjVersion) -> _RunningPod:
        known = self._pods.get(v.key)
        if known is None or known.rv != v.rv:
            known = self._pods[v.key] = _read_pod(v)
        return known

    def _running_pods(self, namespace: str | None = None) -> Iterator[_RunningPod]:
        objects = self.store["pods"].objects
        seen = set()
        for v in list(objects.values()):
            if v.fields.get("status.phase") != "Running":
                continue
            if namespace is not None and v.namespace != namespace:
                continue
            seen.add(v.key)
            yield self._running(v)
        if len(self._pods) > len(seen):
            # Let go of pods that stopped running or went away.
            for key in self._pods.keys() - seen:
                gone = objects.get(key)
                if gone is None or gone.fields.get("status.phase") != "Running":
                    del self._pods[key]

    def _pod_item(self, pod: _RunningPod, now_ns: int, created: str,
                  stamp: str) -> dict[str, Any]:
        containers = []
        for c in pod.containers:
            cpu, mem = self._usage(c, now_ns)
            containers.append({"name": c.name, "usage": {"cpu": quantity.format_cpu_nano(cpu),
                                                         "memory": quantity.format_mem_ki(mem)}})
        return {
            "metadata": {"name": pod.name, "namespace": pod.namespace,
                         "creationTimestamp": created, "labels": pod.labels},
            "timestamp": stamp,
            "window": WINDOW,
            "containers": containers,
        }

    async def pod_list(self, namespace: str | None, name: str | None = None) -> Any:
        now_ns = clock.now_ns()
        created, stamp = clock.rfc3339(now_ns / 1e9), clock.rfc3339(now_ns / 1e9 - 5)
        if name is not None:
            v = self.store.get(PODS, namespace, name)
            if v is None or v.fields.get("status.phase") != "Running":
                raise errors.ApiError(404, "NotFound", f'podmetrics.metrics.k8s.io "{namespace}/'
                                      f'{name}" not found', {"name": name,
                                                             "group": "metrics.k8s.io",
                                                             "kind": "pods"})
            return {"kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
                    **self._pod_item(self._running(v), now_ns, created, stamp)}
        items = []
        deadline = time.perf_counter() + STEP_S
        for i, pod in enumerate(self._running_pods(namespace)):
            items.append(self._pod_item(pod, now_ns, created, stamp))
            if i % 64 == 63 and time.perf_counter() > deadline:
                await asyncio.sleep(0)
                deadline = time.perf_counter() + STEP_S
        return {"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": {}, "items": items}

    async def node_list(self, name: str | None = None) -> Any:
        now_ns = clock.now_ns()
        created, stamp = clock.rfc3339(now_ns / 1e9), clock.rfc3339(now_ns / 1e9 - 5)
        cpu: dict[str, int] = {}
        mem: dict[str, int] = {}
        deadline = time.perf_counter() + STEP_S
        for i, pod in enumerate(self._running_pods()):
            node = pod.node
            if node and (name is None or node == name):
                for c in pod.containers:
                    c_cpu, c_mem = self._usage(c, now_ns)
                    # Summed as the list reports them: nanocores, and memory in whole KiB.
                    cpu[node] = cpu.get(node, 0) + max(0, c_cpu)
                    mem[node] = mem.get(node, 0) + max(0, c_mem) // 1024 * 1024
            if i % 64 == 63 and time.perf_counter() > deadline:
                await asyncio.sleep(0)
                deadline = time.perf_counter() + STEP_S
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
                "metadata": {"name": v.name, "creationTimestamp": created, "labels": v.labels},
                "timestamp": stamp,
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
