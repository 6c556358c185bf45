"""What dcgm-exporter serves on :9400/metrics for one simulated node.

Shaped after NVIDIA/dcgm-exporter 4.5.3-4.8.2 in Kubernetes mode with the GPU Operator's
default counters: families ordered by DCGM field id, each with # HELP / # TYPE, one line
per GPU (or per MIG instance for the per-instance fields), labels in the exporter's
template order (`Hostname` capitalised, as that tag still prints it), and
`container`/`namespace`/`pod` only on devices a pod holds. Integers print as %d, doubles
as %f. Like the exporter, a node's numbers are collected once per interval (30 s of wall
time) and every scrape in between gets the same text.

Utilisation follows the holder: a Running pod warms up for its first simulated seconds,
then trains at 70-98 %; pod annotation `sim.ktui.dev/gpu-util` pins it (integer percent,
"0" for an idle trial); a held GPU whose pod is not running yet is idle; free GPUs are
idle with low power. Memory, power, temperature and clocks follow utilisation.
"""

from __future__ import annotations

import contextlib
import random
import time
from dataclasses import dataclass, field
from typing import Any

from ktui.sim import clock
from ktui.sim.gpus import DRIVER_VERSION, Device, GpuAllocator, Holder, NodeGpus
from ktui.sim.store import Store

ANN_GPU_UTIL = "sim.ktui.dev/gpu-util"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
WARMUP_SECONDS = 8.0  # simulated: data loading and compilation before full speed

# (metric, type, help, per MIG instance?) in DCGM field id order, as the exporter sorts.
COUNTERS = (
    ("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz).", False),
    ("DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz).", False),
    ("DCGM_FI_DEV_MEMORY_TEMP", "gauge", "Memory temperature (in C).", False),
    ("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C).", False),
    ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W).", False),
    ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter",
     "Total energy consumption since boot (in mJ).", False),
    ("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "counter", "Total number of PCIe retries.", False),
    ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %).", False),
    ("DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (in %).", False),
    ("DCGM_FI_DEV_ENC_UTIL", "gauge", "Encoder utilization (in %).", False),
    ("DCGM_FI_DEV_DEC_UTIL", "gauge", "Decoder utilization (in %).", False),
    ("DCGM_FI_DEV_XID_ERRORS", "gauge", "Value of the last XID error encountered.", False),
    ("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB).", True),
    ("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB).", True),
    ("DCGM_FI_DEV_FB_RESERVED", "gauge", "Framebuffer memory reserved (in MiB).", True),
    ("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "counter",
     "Number of remapped rows for uncorrectable errors", False),
    ("DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "counter",
     "Number of remapped rows for correctable errors", False),
    ("DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", "Whether remapping of rows has failed", False),
    ("DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL", "counter",
     "Total number of NVLink bandwidth counters for all lanes.", False),
    ("DCGM_FI_DEV_VGPU_LICENSE_STATUS", "gauge", "vGPU License status", False),
    ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "gauge", "Ratio of time the graphics engine is active.",
     True),
    ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "gauge",
     "Ratio of cycles the tensor (HMMA) pipe is active.", True),
    ("DCGM_FI_PROF_DRAM_ACTIVE", "gauge", "Ratio of cycles the device memory interface is "
     "active sending or receiving data.", True),
    ("DCGM_FI_PROF_PCIE_TX_BYTES", "gauge", "The rate of data transmitted over the PCIe bus - "
     "including both protocol headers and data payloads - in bytes per second.", False),
    ("DCGM_FI_PROF_PCIE_RX_BYTES", "gauge", "The rate of data received over the PCIe bus - "
     "including both protocol headers and data payloads - in bytes per second.", False),
)
NAMES = tuple(c[0] for c in COUNTERS)
# Not available per MIG instance (NVIDIA/DCGM#80): DCGM returns blank, the exporter skips it.
_NOT_ON_MIG = frozenset({"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_MEM_COPY_UTIL",
                         "DCGM_FI_DEV_ENC_UTIL", "DCGM_FI_DEV_DEC_UTIL"})


@dataclass
class Reading:
    """One label set of the exporter (a GPU, or a MIG instance) and its values."""

    labels: list[tuple[str, str]]  # template order, without the pod attributes
    pod: list[tuple[str, str]]  # container, namespace, pod (sorted keys) or empty
    values: dict[str, str]


@dataclass
class NodeSample:
    node: str
    epoch: int
    collected_at: float  # unix time of the collection
    readings: list[Reading]
    _text: bytes | None = None

    def text(self) -> bytes:
        if self._text is None:
            self._text = render(self.readings)
        return self._text


def _label_text(pairs: list[tuple[str, str]]) -> str:
    return ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(readings: list[Reading]) -> bytes:
    out: list[str] = []
    for name, mtype, help_text, _ in COUNTERS:
        lines = []
        for r in readings:
            value = r.values.get(name)
            if value is None:
                continue
            attrs = r.pod
            if name == "DCGM_FI_DEV_XID_ERRORS":
                attrs = sorted([*r.pod, ("err_code", "0"), ("err_msg", "No Error")])
            lines.append(f"{name}{{{_label_text(r.labels + attrs)}}} {value}")
        if lines:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {mtype}")
            out.extend(lines)
    return ("\n".join(out) + "\n").encode()


@dataclass
class _Accumulators:
    """Counters that must only grow: energy (mJ) and NVLink traffic, per physical GPU."""

    at: float
    energy: list[float] = field(default_factory=list)
    nvlink: list[float] = field(default_factory=list)


class DcgmExporter:
    """The exporters of every GPU node, answering from the allocator's per-node index."""

    def __init__(self, store: Store, allocator: GpuAllocator, speed: float, seed: int,
                 interval: float = 30.0) -> None:
        self.store = store
        self.allocator = allocator
        self.speed = speed
        self.seed = seed
        self.interval = interval
        self.started = time.time()
        self._samples: dict[str, NodeSample] = {}
        self._acc: dict[str, _Accumulators] = {}

    def nodes(self) -> list[str]:
        return sorted(self.allocator.nodes)

    def sample(self, node: str, now: float | None = None) -> NodeSample | None:
        gpus = self.allocator.holders_on(node)
        if gpus is None:
            return None
        now = time.time() if now is None else now
        epoch = int((now - self.started) // self.interval)
        cur = self._samples.get(node)
        if cur is not None and cur.epoch == epoch:
            return cur
        collected_at = self.started + epoch * self.interval
        cur = NodeSample(node, epoch, collected_at, self._collect(gpus, epoch, collected_at))
        self._samples[node] = cur
        return cur

    # ------------------------------------------------------------------ model

    def _holder_state(self, holder: Holder, at: float) -> tuple[float | None, float]:
        """(pinned util or None, simulated seconds the container has run; <0: not running)."""
        v = self.store["pods"].objects.get(holder.pod_key)
        if v is None:
            return None, -1.0
        pod = v.obj()
        pinned = None
        raw = ((pod["metadata"].get("annotations") or {}).get(ANN_GPU_UTIL))
        if raw is not None:
            with contextlib.suppress(ValueError):
                pinned = float(max(0, min(100, int(raw.strip()))))
        status = pod.get("status") or {}
        if status.get("phase") != "Running":
            return pinned, -1.0
        for cs in status.get("containerStatuses") or ():
            if cs.get("name") == holder.container:
                running = (cs.get("state") or {}).get("running")
                if running and running.get("startedAt"):
                    return pinned, (at - clock.parse_rfc3339(running["startedAt"])) * self.speed
        return pinned, -1.0

    def _util(self, holder: Holder | None, rng: random.Random, at: float,
              cache: dict[str, tuple[float | None, float]]) -> tuple[float, bool]:
        """(utilisation %, whether a process holds memory on the device)."""
        if holder is None:
            return 0.0, False
        if holder.pod_key not in cache:
            cache[holder.pod_key] = self._holder_state(holder, at)
        pinned, ran = cache[holder.pod_key]
        if ran < 0:
            return 0.0, False
        if pinned is not None:
            return pinned, True
        if ran < WARMUP_SECONDS:
            return rng.uniform(10.0, 45.0), True
        return rng.uniform(70.0, 98.0), True

    def _collect(self, gpus: NodeGpus, epoch: int, at: float) -> list[Reading]:
        model, _fb, idle_w, max_w, sm_max, mem_clock = gpus.model
        rng = random.Random(f"{self.seed}:{gpus.name}:{epoch}")
        acc = self._acc.get(gpus.name)
        n_physical = 1 + max((d.index for d in gpus.devices), default=-1)
        if acc is None:
            acc = _Accumulators(at, [idle_w * 3600 * 1000 * (1 + rng.random())
                                     for _ in range(n_physical)], [0.0] * n_physical)
            self._acc[gpus.name] = acc
        dt = max(0.0, at - acc.at)
        acc.at = at
        cache: dict[str, tuple[float | None, float]] = {}
        # Per device (GPU or MIG instance) utilisation; a physical GPU's is the instances' mean.
        device_util: list[tuple[float, bool]] = [self._util(gpus.holders[i], rng, at, cache)
                                                 for i in range(len(gpus.devices))]
        physical: dict[int, list[float]] = {}
        for d, (u, _) in zip(gpus.devices, device_util, strict=True):
            physical.setdefault(d.index, []).append(u)
        readings: list[Reading] = []
        seen: set[int] = set()
        for pos, d in enumerate(gpus.devices):
            util, busy = device_util[pos]
            holder = gpus.holders[pos]
            pod = ([("container", holder.container), ("namespace", holder.namespace),
                    ("pod", holder.name)] if holder is not None else [])
            if d.index not in seen:
                seen.add(d.index)
                gu = sum(physical[d.index]) / len(physical[d.index])
                power = idle_w + (max_w - idle_w) * gu / 100 * rng.uniform(0.85, 1.0)
                acc.energy[d.index] += power * dt * 1000
                acc.nvlink[d.index] += gu * 1.2e9 * dt / 100
                temp = int(31 + 42 * gu / 100 + rng.uniform(-1.5, 1.5))
                values = {
                    "DCGM_FI_DEV_SM_CLOCK": str(sm_max if gu > 0 else 345),
                    "DCGM_FI_DEV_MEM_CLOCK": str(mem_clock),
                    "DCGM_FI_DEV_MEMORY_TEMP": str(temp + 4),
                    "DCGM_FI_DEV_GPU_TEMP": str(temp),
                    "DCGM_FI_DEV_POWER_USAGE": f"{power:f}",
                    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": str(int(acc.energy[d.index])),
                    "DCGM_FI_DEV_PCIE_REPLAY_COUNTER": "0",
                    "DCGM_FI_DEV_XID_ERRORS": "0",
                    "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS": "0",
                    "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS": "0",
                    "DCGM_FI_DEV_ROW_REMAP_FAILURE": "0",
                    "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL": str(int(acc.nvlink[d.index])),
                    "DCGM_FI_DEV_VGPU_LICENSE_STATUS": "0",
                    "DCGM_FI_PROF_PCIE_TX_BYTES": str(int(gu * rng.uniform(2e7, 4e7))),
                    "DCGM_FI_PROF_PCIE_RX_BYTES": str(int(gu * rng.uniform(4e7, 8e7))),
                }
                if not gpus.mig:
                    values.update({
                        "DCGM_FI_DEV_GPU_UTIL": str(int(round(util))),
                        "DCGM_FI_DEV_MEM_COPY_UTIL": str(int(util * rng.uniform(0.3, 0.5))),
                        "DCGM_FI_DEV_ENC_UTIL": "0",
                        "DCGM_FI_DEV_DEC_UTIL": "0",
                    })
                    values.update(_instance_values(d, util, busy, rng))
                    readings.append(Reading(_labels(d, gpus.name), pod, values))
                    continue
                readings.append(Reading(_labels(d, gpus.name, physical_only=True), [],
                                        values))
            readings.append(Reading(_labels(d, gpus.name), pod,
                                    _instance_values(d, util, busy, rng)))
        return readings


def _instance_values(d: Device, util: float, busy: bool, rng: random.Random) -> dict[str, str]:
    reserved = 0 if d.profile else 512
    usable = d.fb_total - reserved
    if busy:
        used = int(usable * min(0.97, 0.08 + 0.85 * util / 100 * rng.uniform(0.9, 1.0)))
        used = max(used, 600)  # a CUDA context alone holds about this much
    else:
        used = 0
    return {
        "DCGM_FI_DEV_FB_FREE": str(usable - used),
        "DCGM_FI_DEV_FB_USED": str(used),
        "DCGM_FI_DEV_FB_RESERVED": str(reserved),
        "DCGM_FI_PROF_GR_ENGINE_ACTIVE": f"{util / 100:f}",
        "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": f"{util / 100 * rng.uniform(0.35, 0.55):f}",
        "DCGM_FI_PROF_DRAM_ACTIVE": f"{util / 100 * rng.uniform(0.4, 0.7):f}",
    }


def _labels(d: Device, hostname: str, physical_only: bool = False) -> list[tuple[str, str]]:
    out = [("gpu", str(d.index)), ("UUID", d.uuid), ("pci_bus_id", d.pci_bus_id),
           ("device", f"nvidia{d.index}"), ("modelName", d.model)]
    if d.profile and not physical_only:
        out += [("GPU_I_PROFILE", d.profile), ("GPU_I_ID", str(d.instance))]
    out += [("Hostname", hostname), ("DCGM_FI_DRIVER_VERSION", DRIVER_VERSION)]
    return out


def families(text: str) -> list[str]:
    """Metric names in a rendered text (for tests and diagnostics)."""
    return [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]


def node_values(sample: NodeSample) -> list[dict[str, Any]]:
    """Readings as dicts: labels (pod attributes included) and values."""
    return [{"labels": dict(r.labels + r.pod), "values": r.values} for r in sample.readings]
