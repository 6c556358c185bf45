"""Label and annotation names on the Jobs ktui creates. Written by the sweep layer's manifests,
read by both backends and by the simulator: changing one here changes it everywhere at once
(a Job written by one ktui version must be read by the next)."""

from __future__ import annotations

import json
from typing import Any

SWEEP_LABEL = "ktui.dev/sweep"
TRIAL_LABEL = "ktui.dev/trial"
PARAMS_ANNOTATION = "ktui.dev/params"
# The sweep's metric travels with each Job, so any ktui can rank trials without the file.
METRIC_ANNOTATION = "ktui.dev/metric"
# What the trial runs, hashed (ktui.cluster.fingerprint): a relaunch keeps a Job only if
# it runs the same; and which submission created it, so a retried create is told apart.
FINGERPRINT_ANNOTATION = "ktui.dev/fingerprint"
# The sweep's early-stopping rule travels with each Job too, so any ktui watching the sweep
# can enforce it; and a stopped trial carries the figures that stopped it.
EARLY_STOPPING_ANNOTATION = "ktui.dev/early-stopping"
EARLY_STOPPED_ANNOTATION = "ktui.dev/early-stopped"
LAUNCH_ANNOTATION = "ktui.dev/launch"
PREFIX = "ktui.dev/"

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
MANAGED_BY = "app.kubernetes.io/managed-by"
CONTAINER = "trial"
GPU_RESOURCE = "nvidia.com/gpu"

_metric_cache: dict[str, dict[str, str] | None] = {}


def parse_metric(raw: str | None) -> dict[str, str] | None:
    """The ``ktui.dev/metric`` annotation (``{"name": "val_loss", "goal": "minimize"}``) as a
    dict of strings; None when absent or not a JSON object. One shared dict per distinct
    value: every trial of a sweep carries the same, and 150,000 trials must not hold 150,000."""
    if not raw:
        return None
    hit = _metric_cache.get(raw)
    if hit is not None or raw in _metric_cache:
        return hit
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    metric = {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else None
    if len(_metric_cache) > 1024:  # bounded: a hostile cluster cannot grow it
        _metric_cache.clear()
    _metric_cache[raw] = metric
    return metric


_object_cache: dict[str, dict[str, Any] | None] = {}


def parse_object(raw: str | None) -> dict[str, Any] | None:
    """A JSON-object annotation (``ktui.dev/early-stopping``...) as a dict; None when absent
    or not an object. Shared per distinct value, as parse_metric."""
    if not raw:
        return None
    if raw in _object_cache:
        return _object_cache[raw]
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    obj = value if isinstance(value, dict) else None
    if len(_object_cache) > 1024:
        _object_cache.clear()
    _object_cache[raw] = obj
    return obj
