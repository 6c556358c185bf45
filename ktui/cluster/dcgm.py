"""NVIDIA dcgm-exporter's /metrics, read into one reading per GPU (or MIG instance).

The text is parsed by Prometheus' own parser (prometheus_client). What each series means,
and how its labels are spelt across exporter versions (NVIDIA/dcgm-exporter, see
shared/k8s-reference/ecosystem-facts.md, section 1):
- `Hostname` (up to 4.5.x) or `hostname` (since): the node (its NODE_NAME, under the GPU
  Operator), else the exporter pod's name;
- a GPU held by a pod carries `namespace`/`pod`/`container`; a free one has none of them
  (older builds: empty strings);
- a MIG instance adds `GPU_I_PROFILE`/`GPU_I_ID`, and has no GPU_UTIL: its busy share is
  DCGM_FI_PROF_GR_ENGINE_ACTIVE (a 0-1 ratio), also the better measure where both exist;
- memory is in MiB (FB_USED + FB_FREE is the total), power in W, temperature in C.
Pure: text in, readings out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

MIB = 2**20
_FIELDS = {
    "DCGM_FI_DEV_GPU_UTIL": "util",
    "DCGM_FI_PROF_GR_ENGINE_ACTIVE": "engine",
    "DCGM_FI_DEV_FB_USED": "mem_used",
    "DCGM_FI_DEV_FB_FREE": "mem_free",
    "DCGM_FI_DEV_GPU_TEMP": "temp",
    "DCGM_FI_DEV_POWER_USAGE": "power",
}


@dataclass
class GpuReading:
    node: str | None
    index: int
    uuid: str
    model: str
    mig: str | None = None  # "<profile>/<instance id>" for a MIG instance
    util: float | None = None  # percent busy
    mem_used: int | None = None  # bytes
    mem_total: int | None = None  # bytes
    temp: float | None = None  # C
    power: float | None = None  # W
    pod: tuple[str, str] | None = None  # (namespace, pod) holding it
    _engine: float | None = field(default=None, repr=False)
    _free: int | None = field(default=None, repr=False)

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.uuid, self.mig)


class DcgmError(ValueError):
    """The text is not Prometheus exposition format."""


def parse_dcgm(text: str) -> list[GpuReading]:
    """One reading per GPU or MIG instance the exporter reports, in its order."""
    gpus: dict[tuple[str, str | None], GpuReading] = {}
    try:
        families = list(text_string_to_metric_families(text))
    except ValueError as exc:  # prometheus_client says what it could not read
        raise DcgmError(f"not Prometheus text: {exc}") from None
    for fam in families:
        for sample in fam.samples:
            what = _FIELDS.get(sample.name)
            if what is None or not math.isfinite(sample.value):
                continue
            labels = sample.labels
            uuid = labels.get("UUID") or labels.get("uuid")
            if not uuid:
                continue
            mig = None
            if labels.get("GPU_I_ID"):
                mig = f"{labels.get('GPU_I_PROFILE', '')}/{labels['GPU_I_ID']}"
            g = gpus.get((uuid, mig))
            if g is None:
                try:
                    index = int(labels.get("gpu", "0"))
                except ValueError:
                    index = 0
                g = gpus[(uuid, mig)] = GpuReading(
                    node=labels.get("hostname") or labels.get("Hostname") or None, index=index, uuid=uuid,
                    model=labels.get("modelName", ""), mig=mig)
            pod, ns = labels.get("pod") or labels.get("pod_name"), labels.get("namespace") or labels.get("pod_namespace")
            if pod and ns:
                g.pod = (ns, pod)
            _set(g, what, sample.value)
    return list(gpus.values())


def _set(g: GpuReading, what: str, v: float) -> None:
    if what == "util":
        if g._engine is None:
            g.util = v
    elif what == "engine":
        g._engine = v
        g.util = v * 100.0
    elif what == "mem_used":
        g.mem_used = int(v * MIB)
    elif what == "mem_free":
        g._free = int(v * MIB)
    elif what == "temp":
        g.temp = v
    elif what == "power":
        g.power = v
    if g.mem_used is not None and g._free is not None:
        g.mem_total = g.mem_used + g._free


def by_pod(readings: Iterable[GpuReading]) -> dict[tuple[str, str], list[GpuReading]]:
    """The GPUs each pod holds (a trial's GPUs, for its utilisation and memory)."""
    out: dict[tuple[str, str], list[GpuReading]] = {}
    for g in readings:
        if g.pod is not None:
            out.setdefault(g.pod, []).append(g)
    return out
