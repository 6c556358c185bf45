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
# Provenance, recorded on each Job at submit: the shipped code snapshot ({"sha256", "configMap",
# "files", "bytes"}), the git state of its directory ({"commit", "branch", "dirty",
# "diffSha256"}), ktui's version, and user@host of who launched it.
CODE_ANNOTATION = "ktui.dev/code"
GIT_ANNOTATION = "ktui.dev/git"
VERSION_ANNOTATION = "ktui.dev/version"
LAUNCHED_BY_ANNOTATION = "ktui.dev/launched-by"
# A code snapshot's ConfigMap: named ktui-code-<first 16 hex of its sha256>, labelled so
# `ktui gc` finds them all, the full hash as an annotation so a reuse can be verified.
CODE_CONFIGMAP_PREFIX = "ktui-code-"
CODE_CONFIGMAP_LABEL = "ktui.dev/code-snapshot"
CODE_SHA_ANNOTATION = "ktui.dev/code-sha256"
CODE_ARCHIVE_KEY = "code.tar.gz"
PREFIX = "ktui.dev/"

QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
# Indexed sweeps (`mode: indexed`): one batch/v1 Job runs many trials, one per completion
# index. MODE_LABEL=indexed marks the Job and its pod template; INDEXES_ANNOTATION (on both)
# lists the trial index each completion index runs ("3,17,40-45"; absent: the identity, as
# for the sweep's first Job, while a rerun of failed trials runs only those);
# INDEX_WIDTH_ANNOTATION gives the zero-padding of trial names (<sweep>-<index, padded>), so
# a pod's trial is named without the sweep file.
MODE_LABEL = "ktui.dev/mode"
INDEXED_MODE = "indexed"
INDEXES_ANNOTATION = "ktui.dev/indexes"
INDEX_WIDTH_ANNOTATION = "ktui.dev/index-width"
# Written by the Job controller on each pod of an Indexed Job (and as JOB_COMPLETION_INDEX env).
COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
# Kubeflow training operator v1 (PyTorchJob) pods, and JobSet's (Trainer v2 TrainJob) pods.
KUBEFLOW_JOB_NAME_LABEL = "training.kubeflow.org/job-name"
KUBEFLOW_REPLICA_TYPE_LABEL = "training.kubeflow.org/replica-type"
KUBEFLOW_REPLICA_INDEX_LABEL = "training.kubeflow.org/replica-index"
JOBSET_NAME_LABEL = "jobset.sigs.k8s.io/jobset-name"
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


_provenance_cache: dict[tuple[str | None, ...], dict[str, Any] | None] = {}


def provenance_of(annotations: dict[str, str], image: str | None) -> dict[str, Any] | None:
    """What a Job records of its launch, as one dict: ``code`` ({sha256, configMap, files,
    bytes, archiveBytes}), ``git`` ({commit, branch, dirty, diffSha256}), ``image`` (as
    submitted), ``ktuiVersion``, ``launchedBy``; None for a Job with none of them (not
    launched by a ktui that records them). Shared per distinct value, as parse_metric: every
    Job of a launch carries the same."""
    key = (annotations.get(CODE_ANNOTATION), annotations.get(GIT_ANNOTATION),
           annotations.get(VERSION_ANNOTATION), annotations.get(LAUNCHED_BY_ANNOTATION), image)
    if key[:4] == (None, None, None, None):
        return None
    if key in _provenance_cache:
        return _provenance_cache[key]
    out: dict[str, Any] = {"code": parse_object(key[0]), "git": parse_object(key[1]), "image": image,
                           "ktuiVersion": key[2], "launchedBy": key[3]}
    if len(_provenance_cache) > 1024:
        _provenance_cache.clear()
    _provenance_cache[key] = out
    return out
