"""The local queue's admission policy, pure: whether a trial fits what is free, and whether
it can ever fit this machine. The backend decides when to ask (in one BEGIN IMMEDIATE)."""

from __future__ import annotations

from ktui.cluster.local.spec import TrialSpec
from ktui.wire.quantity import format_bytes, format_cpu


def lacking(spec: TrialSpec, free_cpu: int, free_mem: int, free_gpus: int) -> str | None:
    if spec.cpu_m > free_cpu:
        return f"cpu: needs {format_cpu(spec.cpu_m)}, {format_cpu(max(0, free_cpu))} free"
    if spec.memory > free_mem:
        return f"memory: needs {format_bytes(spec.memory)}, {format_bytes(max(0, free_mem))} free"
    if spec.gpu > free_gpus:
        return f"GPUs: needs {spec.gpu}, {free_gpus} free"
    return None


def never_fits(spec: TrialSpec, cpus: int, memory: int, gpus: int) -> str | None:
    """Why ``spec`` can never start on a machine this size (shown as Unschedulable), or None."""
    if spec.cpu_m > cpus * 1000:
        return f"needs {format_cpu(spec.cpu_m)} cpus, this machine has {cpus}"
    if spec.memory > memory:
        return f"needs {format_bytes(spec.memory)} of memory, this machine has {format_bytes(memory)}"
    if spec.gpu > gpus:
        return f"needs {spec.gpu} GPUs, this machine has {gpus}"
    return None
