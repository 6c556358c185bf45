"""The store's GPU readings: per-GPU devices of the nodes read, and each pod's use of the
GPUs it holds, with which source they came from (for the node pane's header).

A cluster's readings cover only the nodes on screen (they are read on demand), so a write
replaces what it says about the nodes it names and leaves the others' last readings; this
machine's backend gives the whole picture each time (``replace``).

A part of Store (its base class); it shares the store's lock and version, so a change here
reaches readers through the same change feed, marking only the nodes and trials it changes.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping

from ktui.cluster.gpuuse import GpuIdleRule
from ktui.cluster.model import GpuDevice
from ktui.cluster.records import ObjKey, PodGpu, PodRec


class GpuFeed:
    _lock: threading.RLock
    _cond: threading.Condition
    _version: int
    _problems_ver: int
    _pods: dict[ObjKey, PodRec]

    def _mark_trial(self, key: ObjKey, v: int) -> None: ...
    def _mark_node(self, name: str, v: int) -> None: ...

    def _init_gpu(self) -> None:
        self._gpu_devices: dict[str, tuple[GpuDevice, ...]] = {}
        self._pod_gpu: dict[ObjKey, PodGpu] = {}
        self._gpu_source: str | None = None
        # What counts as idle, for every reader (set by the backend from its options).
        self.gpu_rule = GpuIdleRule()

    def set_gpu(self, nodes: Mapping[str, tuple[GpuDevice, ...]], pods: Mapping[ObjKey, PodGpu],
                *, replace: bool = False, census_but: Collection[str] | None = None,
                devices_only: bool = False) -> None:
        """The readings of ``nodes`` (an empty tuple: read, no GPUs, or forgotten) and of the
        pods on them; pods of those nodes missing from ``pods`` hold none any more.
        ``replace``: this is every node's and pod's reading. ``census_but``: ``pods`` is the
        use of every pod holding GPUs, except those on these nodes (read apart).
        ``devices_only``: the pods' use stands (a census keeps it current)."""
        with self._lock:
            v = self._version + 1
            changed = False
            names = set(self._gpu_devices) | set(nodes) if replace else set(nodes)
            for name in names:
                new = nodes.get(name, ())
                if self._gpu_devices.get(name, ()) != new:
                    changed = True
                    self._mark_node(name, v)
                if new:
                    self._gpu_devices[name] = new
                else:
                    self._gpu_devices.pop(name, None)
            old = self._pod_gpu
            stale = [] if devices_only else [k for k, p in old.items() if k not in pods and (
                replace or p.node in nodes or (census_but is not None and p.node not in census_but))]
            for key in stale:
                del old[key]
                changed |= self._mark_pod(key, v)
            for key, use in pods.items():
                if old.get(key) != use:
                    old[key] = use
                    changed |= self._mark_pod(key, v)
            if changed:
                self._version = v
                self._cond.notify_all()

    def _mark_pod(self, key: ObjKey, v: int) -> bool:
        pod = self._pods.get(key)
        if pod is None or not pod.job:
            return False
        self._mark_trial((pod.namespace, pod.job), v)
        return True

    @property
    def has_gpu_use(self) -> bool:
        """Whether any running pod's GPU use is known (a job table shows its GPU column)."""
        return bool(self._pod_gpu)

    @property
    def gpu_idle_pods(self) -> int:
        """Running pods flagged idle on their GPUs, wherever they were read (with a
        Prometheus, the census covers the whole cluster): the trials the gpu-idle filter
        finds. (A pod bound but not started holds its GPUs idle too; its trial's reason,
        ImagePullBackOff say, tells why.)"""
        with self._lock:
            pods = self._pods
            return sum(1 for k, p in self._pod_gpu.items()
                       if p.idle and (rec := pods.get(k)) is not None and rec.phase == "Running")

    def pod_gpu(self, key: ObjKey) -> PodGpu | None:
        return self._pod_gpu.get(key)

    @property
    def gpu_source(self) -> str | None:
        """Where GPU readings come from, in words ("dcgm-exporter through the pod proxy");
        None when nothing reads them."""
        return self._gpu_source

    def set_gpu_source(self, source: str | None) -> None:
        with self._lock:
            if source != self._gpu_source:
                self._gpu_source = source
                self._version += 1
                self._problems_ver = self._version
                self._cond.notify_all()
