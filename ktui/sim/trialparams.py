"""Where a simulated trial of an indexed sweep finds its parameters: where the real one does.

One Job runs every trial of an indexed sweep, so its pods share one template and carry no
`ktui.dev/params`. The trial's container runs ktui's wrapper, which sources
`/ktui/params/$JOB_COMPLETION_INDEX.sh` from the ConfigMaps mounted there (ktui.sweep.indexed);
beside those fragments the same ConfigMaps hold `params-<c>.json` ({completion index:
parameters}). The simulated trial reads its index's parameters from that mounted volume, so the
trials of an indexed sweep differ, and each trains exactly as the same trial does in the default
mode (the same parameters seed the same curve, duration and scripted behaviour). A fragment that
is not in the volume fails the container as sh would."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ktui.sim import volumes
from ktui.sim.workload import ANN_INDEX, Script
from ktui.sweep.indexed import PARAMS_MOUNT, WRAPPER, chunk_params

# dash, python images' /bin/sh, when `.` cannot open its file.
SOURCE_FAILED = 2


@dataclass(frozen=True)
class Found:
    params: dict[str, Any] | None = None
    failure: Script | None = None  # what the container does instead, when its fragment is missing


NOTHING = Found()


def runs_wrapper(container: dict[str, Any]) -> bool:
    argv = [*(container.get("command") or ()), *(container.get("args") or ())]
    return len(argv) >= 3 and argv[1] == "-c" and argv[2] == WRAPPER


def read(pod: dict[str, Any], container: dict[str, Any], vols: volumes.Volumes) -> Found:
    """The parameters of the trial this container runs, when it is an indexed sweep's."""
    if not runs_wrapper(container):
        return NOTHING
    meta = pod.get("metadata") or {}
    index = (meta.get("annotations") or {}).get(ANN_INDEX) or (meta.get("labels") or {}).get(ANN_INDEX)
    if index is None:
        return NOTHING  # JOB_COMPLETION_INDEX unset: the wrapper's path names no index
    fragment = f"{PARAMS_MOUNT}/{index}.sh"
    where = volumes.resolve(container, fragment)
    files = vols.files.get(where[0], {}) if where else {}
    if where is None or where[1] not in files:
        log = f"/bin/sh: 1: .: cannot open {fragment}: No such file\n".encode()
        return Found(failure=Script(0.5, SOURCE_FAILED, "Error", None, 0, 0.0, log, spread=False))
    data = {k: v.decode(errors="replace") for k, v in files.items() if k.startswith("params-")}
    params = chunk_params({"data": data}).get(int(index)) if index.isdigit() else None
    return Found(params=params if isinstance(params, dict) else None)
