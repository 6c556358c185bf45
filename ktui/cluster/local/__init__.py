"""The local backend: this machine as one node, trials as local processes.

  backend.py   LocalBackend (the Backend protocol): queue, admission, store feeding, actions
  state.py     the SQLite state shared by every ktui process on this machine
  wrapper.py   the detached process each trial attempt runs under (records its exit code)
  spec.py      a Job manifest read as a local trial (command, env, requests, limits, retries)
  machine.py   cpus, memory, per-core and per-process-tree use (psutil); process identity
  gpu.py       NVIDIA GPUs through NVML: inventory and readings, absent without a driver
  logs.py      a trial's log file, followed

Importing this package is cheap (the wrapper runs as ``python -m ktui.cluster.local.wrapper``);
LocalBackend is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ktui.cluster.local.backend import LocalBackend

__all__ = ["LocalBackend"]


def __getattr__(name: str) -> Any:
    if name == "LocalBackend":
        from ktui.cluster.local.backend import LocalBackend

        return LocalBackend
    raise AttributeError(name)
