"""ktui's data layer: everything the UI shows comes from here.

Layout:
  model.py     typed, immutable records the UI consumes (Trial, NodeView, Changes, ...)
  records.py   slim per-object records a backend feeds into the store (PodRec, JobRec, ...)
  join.py      the rules that turn a Job and its pods into a Trial (phase, failure reason)
  store.py     thread-safe join of those records into trials, nodes and sweeps, with a change
               feed; its halves in health.py, eventindex.py and trialjoin.py
  backend.py   the Backend protocol the Kubernetes and the local backends implement
  format.py    table cells (durations, params, metrics, node ratios) for the CLI and the UI
  fingerprint.py  what makes two submissions of a trial the same trial
  logmetrics.py  metrics read from the logs of the trials on screen, with their histories
  resultcache.py finished trials' results kept on disk by Job UID
  results.py   a sweep's results read in bulk, and its leaderboard
  earlystop.py the median stopping rule and those who enforce it
  kube/        the Kubernetes backend (config, connection, transport, wire, decode, resources,
               paging, reflector, backoff, metrics, logs, actions, backend)
  local/       the local backend: this machine as one node, trials as processes (queue in
               SQLite, supervisor, projection into the store, a detached queue runner, NVML)

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
