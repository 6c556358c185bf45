"""ktui's data layer: everything the UI shows comes from here.

Layout:
  model.py     typed, immutable records the UI consumes (Trial, NodeView, Changes, ...)
  records.py   slim per-object records a backend feeds into the store (PodRec, JobRec, ...)
  join.py      the rules that turn a Job and its pods into a Trial (phase, failure reason)
  store.py     thread-safe join of those records into trials, nodes and sweeps, with a change feed
  backend.py   the Backend protocol the Kubernetes and the local backends implement
  format.py    table cells (durations, params, node ratios) shared by the CLI and the UI
  quantity.py  Kubernetes resource quantities ("500m", "8Gi") as integers
  logmetrics.py  metrics read from the logs of the trials on screen
  kube/        the Kubernetes backend (config, connection, transport, decode, reflector,
               metrics, logs, actions, backend)
  local/       the local backend: this machine as one node, trials as processes (queue in
               SQLite, a detached queue runner, NVML for GPUs)

Nothing here imports Textual: the CLI and tests use it without a terminal UI.
"""

from ktui.cluster.backend import Backend
from ktui.cluster.model import (
    Capabilities,
    Capability,
    Changes,
    LogLine,
    NodeView,
    Problem,
    Resources,
    SubmitResult,
    SweepSummary,
    Trial,
    TrialKey,
)
from ktui.cluster.store import Store

__all__ = [
    "Backend",
    "Capabilities",
    "Capability",
    "Changes",
    "LogLine",
    "NodeView",
    "Problem",
    "Resources",
    "Store",
    "SubmitResult",
    "SweepSummary",
    "Trial",
    "TrialKey",
]
