"""From per-GPU readings to what the job table and the node pane show: each pod's use of
the GPUs it holds, whether it has sat idle on them, and a node's allocated/busy/idle counts.

Shared by both backends (a cluster's readings come from dcgm-exporter or Prometheus, this
machine's from NVML), so the UI never branches on where a number came from. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ktui.cluster.dcgm import GpuReading
from ktui.cluster.model import GpuDevice
from ktui.cluster.records import ObjKey, PodGpu


@dataclass(frozen=True)
class GpuIdleRule:
    """A trial holding GPUs whose mean use stays under ``util`` percent for ``after``
    seconds is idle: GPUs someone else is waiting for. (Data loading stalls a few seconds;
    five minutes under 5 % is a trial that forgot its GPU or waits on something else.)"""

    util: float = 5.0
    after: float = 300.0


def device_of(r: GpuReading, trial_of: Mapping[ObjKey, str] | None = None) -> GpuDevice:
    """An exporter's reading as the node pane's device; the holder named by its trial
    (the pod's Job) when ``trial_of`` knows it, else by the pod's name."""
    holder = None
    names: tuple[str, ...] = ()
    if r.pod is not None:
        holder = f"{r.pod[0]}/{r.pod[1]}"
        names = ((trial_of or {}).get(r.pod) or r.pod[1],)
    return GpuDevice(
        index=r.index, name=r.model, uuid=r.uuid, mig=r.mig,
        util=round(r.util) if r.util is not None else None,
        mem_used=r.mem_used, mem_total=r.mem_total,
        temperature=round(r.temp) if r.temp is not None else None,
        power=r.power, processes=names, pod=holder,
    )


def pod_use(
    held: Iterable[tuple[ObjKey, str, GpuDevice]],
    previous: Mapping[ObjKey, PodGpu],
    rule: GpuIdleRule,
    now: float,
) -> dict[ObjKey, PodGpu]:
    """Each pod's use of what it holds. ``held``: (pod key, node, device) per device a pod
    holds; ``previous``: the last result, whose idle clocks carry on while the pod stays
    under the threshold."""
    acc: dict[ObjKey, tuple[str, list[GpuDevice]]] = {}
    for key, node, dev in held:
        acc.setdefault(key, (node, []))[1].append(dev)
    out: dict[ObjKey, PodGpu] = {}
    for key, (node, devs) in acc.items():
        utils = [d.util for d in devs if d.util is not None]
        mems = [d.mem_used for d in devs if d.mem_used is not None]
        util = sum(utils) / len(utils) if utils else None
        since: float | None = None
        if util is not None and util < rule.util:
            prev = previous.get(key)
            since = prev.idle_since if prev is not None and prev.idle_since is not None else now
        out[key] = PodGpu(key[0], key[1], node, len(devs), util, sum(mems) if mems else None,
                          since, since is not None and now - since >= rule.after)
    return out


def held_devices(node: str, devices: Iterable[GpuDevice]) -> list[tuple[ObjKey, str, GpuDevice]]:
    """The devices of ``node`` that a pod holds, as pod_use takes them."""
    out = []
    for d in devices:
        if d.pod:
            ns, _, name = d.pod.partition("/")
            out.append(((ns, name), node, d))
    return out


@dataclass(frozen=True)
class GpuCounts:
    """A node's (or the cluster's) GPUs as the summary line counts them."""

    allocated: int = 0  # held by pods (from requests: known without readings)
    read: int = 0  # devices with readings
    busy: int = 0  # held and at or over the idle threshold
    idle: int = 0  # held and under it: allocated but idle

    def __add__(self, other: GpuCounts) -> GpuCounts:
        return GpuCounts(self.allocated + other.allocated, self.read + other.read,
                         self.busy + other.busy, self.idle + other.idle)


def count(allocated: int, devices: Iterable[GpuDevice], rule: GpuIdleRule) -> GpuCounts:
    read = busy = idle = 0
    for d in devices:
        read += 1
        if not (d.pod or d.processes) or d.util is None:
            continue
        if d.util < rule.util:
            idle += 1
        else:
            busy += 1
    return GpuCounts(allocated, read, busy, idle)
