"""This machine's NVIDIA GPUs, through NVML (the nvidia-ml-py package, imported as pynvml).

No driver, no library, or no package: ``GpuProbe.open()`` returns None and the GPUs are
simply not shown, never an error. A reading one device does not support (power on some
boards, utilisation under MIG) is None for that reading only.

CUDA numbers devices fastest-first unless told otherwise while NVML numbers them by PCI bus
id; trials get ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` with NVML's indices, so both agree.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable
from typing import Any

from ktui.cluster.model import GpuDevice

log = logging.getLogger(__name__)


class GpuProbe:
    def __init__(self, nvml: Any) -> None:
        """``nvml``: the pynvml module, initialised (or a stand-in with the same functions)."""
        self._nvml = nvml
        self._handles: list[tuple[int, Any, str]] = []
        for i in range(nvml.nvmlDeviceGetCount()):
            h = nvml.nvmlDeviceGetHandleByIndex(i)
            name = nvml.nvmlDeviceGetName(h)
            self._handles.append((i, h, name.decode() if isinstance(name, bytes) else str(name)))

    @classmethod
    def open(cls, nvml: Any = None) -> GpuProbe | None:
        try:
            if nvml is None:
                import pynvml

                nvml = pynvml
            nvml.nvmlInit()
            return cls(nvml)
        except Exception as exc:  # ImportError, NVMLError_LibraryNotFound, DriverNotLoaded, ...
            log.info("no NVIDIA GPUs: %s", exc)
            return None

    @property
    def indices(self) -> list[int]:
        return [i for i, _, _ in self._handles]

    def read(self, owner: Callable[[int], str | None] = lambda pid: None) -> tuple[GpuDevice, ...]:
        """Every device's readings; ``owner(pid)`` names the trial a GPU process belongs to."""
        nv = self._nvml
        out = []
        for i, h, name in self._handles:
            util = self._try(nv.nvmlDeviceGetUtilizationRates, h)
            mem = self._try(nv.nvmlDeviceGetMemoryInfo, h)
            temp = self._try(nv.nvmlDeviceGetTemperature, h, nv.NVML_TEMPERATURE_GPU)
            power = self._try(nv.nvmlDeviceGetPowerUsage, h)  # milliwatts
            limit = self._try(nv.nvmlDeviceGetEnforcedPowerLimit, h)
            procs = self._try(nv.nvmlDeviceGetComputeRunningProcesses, h) or []
            out.append(GpuDevice(
                index=i, name=name,
                util=int(util.gpu) if util is not None else None,
                mem_used=int(mem.used) if mem is not None else None,
                mem_total=int(mem.total) if mem is not None else None,
                temperature=int(temp) if temp is not None else None,
                power=power / 1000.0 if power is not None else None,
                power_limit=limit / 1000.0 if limit is not None else None,
                processes=_owners((int(p.pid) for p in procs), owner),
            ))
        return tuple(out)

    @staticmethod
    def _try(read: Callable[..., Any], *args: Any) -> Any:
        try:
            return read(*args)
        except Exception:  # NVMLError_NotSupported and friends: that reading is unknown
            return None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._nvml.nvmlShutdown()


def _owners(pids: Iterable[int], owner: Callable[[int], str | None]) -> tuple[str, ...]:
    names: list[str] = []
    for pid in pids:
        name = owner(pid) or f"pid {pid}"
        if name not in names:
            names.append(name)
    return tuple(names)


def visible_indices(detected: Iterable[int], env: str | None = None) -> list[str]:
    """The devices ktui may hand out: all detected, or those CUDA_VISIBLE_DEVICES (ktui's
    own environment) names by index; a list of UUIDs or MIG ids is not narrowed."""
    found = [str(i) for i in detected]
    spec = os.environ.get("CUDA_VISIBLE_DEVICES") if env is None else env
    if spec is None:
        return found
    wanted = [x.strip() for x in spec.split(",") if x.strip()]
    if not all(w.isdigit() for w in wanted):
        return found
    # CUDA stops at the first invalid id; so do we.
    out = []
    for w in wanted:
        if w not in found:
            break
        out.append(w)
    return out
