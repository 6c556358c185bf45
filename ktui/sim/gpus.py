"""The GPUs of the simulated nodes and which pod holds each one.

A node's devices (GPUs, or MIG instances on the MIG node) are derived from the node object
and the seed, so UUIDs and bus ids are stable across runs. `GpuAllocator` plays the device
plugin: a pod bound to a node that requests `nvidia.com/gpu` (or `nvidia.com/mig-*`) gets
the lowest free devices of that resource, keeps them while it is not terminated, and frees
them when it ends. The per-node index is what keeps one exporter scrape O(node's devices).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from ktui.sim.resources import NODES, PODS, ResourceInfo
from ktui.sim.store import Store, WatchEvent
from ktui.wire import quantity

GPU = "nvidia.com/gpu"
MIG_PREFIX = "nvidia.com/mig-"
DRIVER_VERSION = "550.144.03"

# Model label -> (modelName as NVML reports it, framebuffer MiB, idle W, max W, max SM MHz,
# memory MHz).
MODELS = {
    "NVIDIA-H100-80GB-HBM3": ("NVIDIA H100 80GB HBM3", 81559, 70.0, 700.0, 1980, 2619),
    "NVIDIA-A100-SXM4-80GB": ("NVIDIA A100-SXM4-80GB", 81920, 58.0, 400.0, 1410, 1593),
}
# PCI bus numbers of an 8-GPU HGX board (DGX H100 layout); more GPUs continue past it.
_BUSES = ("18", "2A", "3A", "5D", "9A", "AB", "BA", "DB")
# One valid 7-slice MIG layout per GPU (3g + 2g + 1g + 1g), with GPU instance ids as nvidia-smi
# numbers them for that placement. Same profile names on both 80 GB models.
MIG_LAYOUT = (("3g.40gb", 2, 40192), ("2g.20gb", 3, 19968), ("1g.10gb", 9, 9856),
              ("1g.10gb", 10, 9856))


def _h(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


@dataclass
class Device:
    """A GPU, or a MIG instance of one (profile set): what one exporter label set names."""

    index: int  # the physical GPU's index (label gpu)
    uuid: str
    pci_bus_id: str
    model: str
    resource: str  # nvidia.com/gpu or nvidia.com/mig-<profile>
    fb_total: int  # MiB
    profile: str = ""  # GPU_I_PROFILE
    instance: int = 0  # GPU_I_ID


@dataclass
class Holder:
    pod_key: str
    namespace: str
    name: str
    container: str


@dataclass
class NodeGpus:
    name: str
    product: str
    devices: list[Device]
    mig: bool
    holders: list[Holder | None] = field(default_factory=list)

    @property
    def model(self) -> tuple[str, int, float, float, int, int]:
        return MODELS.get(self.product, MODELS["NVIDIA-H100-80GB-HBM3"])


def gpu_uuid(seed: int, node: str, index: int) -> str:
    return "GPU-" + str(uuid.UUID(int=_h(f"gpu:{seed}:{node}:{index}") << 64
                                  | _h(f"gpu2:{node}:{index}"), version=4))


def devices_for(seed: int, node: str, product: str, gpus: int, mig: bool) -> list[Device]:
    name, fb_total = MODELS.get(product, MODELS["NVIDIA-H100-80GB-HBM3"])[:2]
    out = []
    for i in range(gpus):
        bus = _BUSES[i] if i < len(_BUSES) else f"{0xE0 + i - len(_BUSES):02X}"
        base = Device(i, gpu_uuid(seed, node, i), f"00000000:{bus}:00.0", name, GPU, fb_total)
        if not mig:
            out.append(base)
            continue
        for profile, gi, fb in MIG_LAYOUT:
            out.append(Device(i, base.uuid, base.pci_bus_id, name, MIG_PREFIX + profile, fb,
                              profile, gi))
    return out


def make_mig_node(node: dict[str, Any], gpus: int) -> None:
    """Turn a GPU node into one whose GPUs are all MIG-partitioned, as GPU feature discovery
    and the device plugin show it with the `mixed` strategy: MIG resources replace
    nvidia.com/gpu in capacity and allocatable, and per-profile count labels appear."""
    labels = node["metadata"]["labels"]
    status = node["status"]
    counts: dict[str, int] = {}
    for profile, _, _ in MIG_LAYOUT:
        counts[profile] = counts.get(profile, 0) + gpus
    labels["nvidia.com/mig.capable"] = "true"
    labels["nvidia.com/mig.strategy"] = "mixed"
    labels["nvidia.com/mig.config"] = "all-balanced"
    for profile, n in counts.items():
        labels[f"nvidia.com/mig-{profile}.count"] = str(n)
    for key in ("capacity", "allocatable"):
        res = status[key]
        res.pop(GPU, None)
        for profile, n in counts.items():
            res[MIG_PREFIX + profile] = str(n)
        # Keep "pods" last, like the other resources' order in the captures.
        res["pods"] = res.pop("pods")


def gpu_requests(pod: dict[str, Any]) -> tuple[str, int, str] | None:
    """(resource, count, container) of the first container requesting GPUs or MIG devices."""
    for c in (pod.get("spec") or {}).get("containers") or ():
        res = c.get("resources") or {}
        wanted = {**(res.get("limits") or {}), **(res.get("requests") or {})}
        for r, v in wanted.items():
            if r == GPU or r.startswith(MIG_PREFIX):
                n = quantity.whole(v)
                if n > 0:
                    return r, n, c.get("name", "")
    return None


class GpuAllocator:
    """Node -> devices and their holders; pod -> (node, device positions)."""

    def __init__(self, store: Store, seed: int, mig_node: str | None) -> None:
        self.store = store
        self.seed = seed
        self.mig_node = mig_node
        self.nodes: dict[str, NodeGpus] = {}
        self.by_pod: dict[str, tuple[str, list[int]]] = {}
        # Bound pods known to request no GPU: their many status updates cost nothing here.
        self._no_gpu: set[str] = set()
        store.listeners.append(self._on_event)

    def add_node(self, node: dict[str, Any]) -> None:
        labels = node["metadata"].get("labels") or {}
        count = int(labels.get("nvidia.com/gpu.count", "0") or 0)
        if not count:
            return
        name = node["metadata"]["name"]
        mig = name == self.mig_node
        product = labels.get("nvidia.com/gpu.product", "")
        devices = devices_for(self.seed, name, product, count, mig)
        self.nodes[name] = NodeGpus(name, product, devices, mig, [None] * len(devices))

    def rebuild(self) -> None:
        """Index every node and bound pod in the store (after pre-population)."""
        self.nodes.clear()
        self.by_pod.clear()
        self._no_gpu.clear()
        for v in self.store["nodes"].objects.values():
            self.add_node(v.obj())
        for v in self.store["pods"].objects.values():
            self._consider(v.key, v.fields)

    def holders_on(self, node: str) -> NodeGpus | None:
        return self.nodes.get(node)

    def _on_event(self, info: ResourceInfo, ev: WatchEvent) -> None:
        if info is NODES and ev.type == "ADDED":
            self.add_node(ev.obj.obj())
            return
        if info is not PODS:
            return
        key = ev.obj.key
        if ev.type == "DELETED":
            self._free(key)
            self._no_gpu.discard(key)
            return
        self._consider(key, ev.obj.fields)

    def _consider(self, key: str, fields: dict[str, str]) -> None:
        node = fields.get("spec.nodeName")
        if fields.get("status.phase") in ("Succeeded", "Failed"):
            self._free(key)
            return
        if not node or key in self.by_pod or key in self._no_gpu:
            return
        v = self.store["pods"].objects.get(key)
        if v is None:
            return
        pod = v.obj()
        want = gpu_requests(pod)
        gpus = self.nodes.get(node)
        if want is None or gpus is None:
            self._no_gpu.add(key)
            return
        resource, count, container = want
        free = [i for i, d in enumerate(gpus.devices)
                if gpus.holders[i] is None and d.resource == resource]
        # The scheduler admitted it, so there is room; if not (a pod bound by hand past
        # capacity), it gets what is left, as a kubelet would fail it with UnexpectedAdmission.
        taken = free[:count]
        meta = pod["metadata"]
        holder = Holder(key, meta.get("namespace", ""), meta["name"], container)
        for i in taken:
            gpus.holders[i] = holder
        self.by_pod[key] = (node, taken)

    def _free(self, key: str) -> None:
        entry = self.by_pod.pop(key, None)
        if entry is None:
            return
        gpus = self.nodes.get(entry[0])
        if gpus is None:
            return
        for i in entry[1]:
            gpus.holders[i] = None
