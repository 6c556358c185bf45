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
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

MIB = 2**20
_PREFIXES = ("DCGM_FI_DEV_", "DCGM_FI_PROF_")
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
    """One reading per GPU or MIG instance the exporter reports, by node, index, instance."""
    kept = _only_read(text)
    try:
        if kept == "\n" and text.strip():  # nothing of ours: say why if it is not exposition text
            list(text_string_to_metric_families("\n".join(text.splitlines()[:50]) + "\n"))
        families = list(text_string_to_metric_families(kept))
    except ValueError as exc:  # prometheus_client says what it could not read
        raise DcgmError(f"not Prometheus text: {exc}") from None
    acc = Readings()
    for fam in families:
        for sample in fam.samples:
            acc.add(sample.name, sample.labels, sample.value)
    return acc.result()


def _only_read(text: str) -> str:
    """The lines of the families a reading is made of: 6 of the exporter's 25 by default,
    so the (pure Python) parser reads a quarter of the text (benchmarks/NOTES.md M26)."""
    keep = []
    for line in text.splitlines():
        name = line[7:] if line.startswith(("# HELP ", "# TYPE ")) else line
        if name.startswith(_PREFIXES) and name.partition("{")[0].partition(" ")[0] in _FIELDS:
            keep.append(line)
    return "\n".join(keep) + "\n"


# The exporter's own container: a series scraped by Prometheus with honor_labels on and no
# pod of its own carries the exporter's pod in `pod`, not a workload's.
EXPORTER_CONTAINERS = frozenset(("nvidia-dcgm-exporter", "dcgm-exporter", "exporter"))


def parse_prometheus_vector(data: Any) -> list[GpuReading]:
    """The readings in an instant query's answer (Prometheus' JSON envelope, decoded) over
    dcgm-exporter's series. Scraped through a ServiceMonitor (kube-prometheus-stack), the
    workload's labels are `exported_pod`/`exported_namespace` and `pod`/`namespace` name the
    exporter's own pod, which holds no GPU."""
    if not isinstance(data, dict) or data.get("status") != "success":
        what = data.get("error") if isinstance(data, dict) else None
        raise DcgmError(f"Prometheus query failed: {what or 'not a Prometheus answer'}")
    body = data.get("data") or {}
    if body.get("resultType") != "vector":
        raise DcgmError(f"Prometheus answered a {body.get('resultType')!r}, not a vector")
    acc = Readings()
    for item in body.get("result") or ():
        try:
            labels = dict(item["metric"])
            value = float(item["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            continue
        name = labels.pop("__name__", "")
        if "exported_pod" in labels:
            labels["pod"] = labels["exported_pod"]
            labels["namespace"] = labels.get("exported_namespace", "")
        elif labels.get("container") in EXPORTER_CONTAINERS or "endpoint" in labels:
            labels.pop("pod", None)  # the scrape target's: the exporter itself
        acc.add(name, labels, value)
    return acc.result()


class Readings:
    """Samples folded into one reading per GPU or MIG instance (by UUID and instance)."""

    def __init__(self) -> None:
        self._gpus: dict[tuple[str, str | None], GpuReading] = {}

    def add(self, name: str, labels: dict[str, str], value: float) -> None:
        what = _FIELDS.get(name)
        if what is None or not math.isfinite(value):
            return
        uuid = labels.get("UUID") or labels.get("uuid")
        if not uuid:
            return
        mig = None
        if labels.get("GPU_I_ID"):
            mig = f"{labels.get('GPU_I_PROFILE', '')}/{labels['GPU_I_ID']}"
        g = self._gpus.get((uuid, mig))
        if g is None:
            try:
                index = int(labels.get("gpu", "0"))
            except ValueError:
                index = 0
            g = self._gpus[(uuid, mig)] = GpuReading(
                node=labels.get("hostname") or labels.get("Hostname") or None, index=index, uuid=uuid,
                model=labels.get("modelName", ""), mig=mig)
        pod, ns = labels.get("pod") or labels.get("pod_name"), labels.get("namespace") or labels.get("pod_namespace")
        if pod and ns:
            g.pod = (ns, pod)
        _set(g, what, value)

    def result(self) -> list[GpuReading]:
        return sorted(self._gpus.values(), key=_order)


def _order(g: GpuReading) -> tuple[str, int, int, str]:
    """By node, GPU, then the whole GPU before its MIG instances, by instance id."""
    if g.mig is None:
        return (g.node or "", g.index, -1, "")
    profile, _, gi = g.mig.rpartition("/")
    return (g.node or "", g.index, int(gi) if gi.isdigit() else 0, profile)


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


# The series a reading is made of: what a Prometheus query asks for.
SERIES: tuple[str, ...] = tuple(_FIELDS)
