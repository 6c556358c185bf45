"""Job manifests: one batch/v1 Job per trial, shaped like the origin's Job.

Names and labels are deterministic, so relaunching the same sweep maps onto the same
Jobs; submit relies on that to create exactly the missing ones."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from ktui.sweep.model import CodeRef, Resources, Sweep, Trial, format_value, substitute
from ktui.sweep.names import env_suffix

# The names a manifest carries, re-exported for the sweep layer's users.
from ktui.wire.names import CODE_ARCHIVE_KEY
from ktui.wire.names import CONTAINER as CONTAINER
from ktui.wire.names import EARLY_STOPPING_ANNOTATION as EARLY_STOPPING_ANNOTATION
from ktui.wire.names import MANAGED_BY as MANAGED_BY
from ktui.wire.names import METRIC_ANNOTATION as METRIC_ANNOTATION
from ktui.wire.names import PARAMS_ANNOTATION as PARAMS_ANNOTATION
from ktui.wire.names import QUEUE_LABEL as QUEUE_LABEL
from ktui.wire.names import SWEEP_LABEL as SWEEP_LABEL
from ktui.wire.names import TRIAL_LABEL as TRIAL_LABEL

GPU_RESOURCE = "nvidia.com/gpu"
# A shipped code snapshot: the ConfigMap's volume, where the trial runs, and the init
# container that unpacks it there.
CODE_VOLUME = "code"
WORKSPACE_VOLUME = "workspace"
CODE_MOUNT = "/ktui/code"
WORKSPACE = "/workspace"
UNPACK_CONTAINER = "unpack-code"

Manifest = dict[str, Any]


def _resource_map(r: Resources) -> dict[str, str]:
    out: dict[str, str] = {}
    if r.cpu is not None:
        out["cpu"] = r.cpu
    if r.memory is not None:
        out["memory"] = r.memory
    if r.gpu is not None:
        out[GPU_RESOURCE] = str(r.gpu)
    return out


def _resources(sweep: Sweep) -> dict[str, dict[str, str]]:
    requests = _resource_map(sweep.requests)
    limits = _resource_map(sweep.limits)
    # The device plugin needs GPUs as a limit, equal to the request.
    if sweep.requests.gpu is not None:
        limits[GPU_RESOURCE] = str(sweep.requests.gpu)
    out: dict[str, dict[str, str]] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def params_json(trial: Trial) -> str:
    return json.dumps(trial.params, separators=(",", ":"), ensure_ascii=False)


def _ship_code(pod: dict[str, Any], container: dict[str, Any], image: str, code: CodeRef) -> None:
    """Mount the snapshot's ConfigMap and unpack it into an emptyDir the trial runs in.

    An init container with the trial's own image, rather than a wrapper around the command:
    the trial's command, args, exit code and signals stay exactly what the sweep says (a
    shell wrapper would sit between the kubelet and the trial as PID 1, and its quoting would
    reach every argument); the unpacking shows as its own step with its own status and log
    when it fails (the image lacks tar, the ConfigMap is gone); and the image is one the
    node pulls anyway. It needs `tar` (with gzip) in the image, as the python images have."""
    pod["volumes"] = [
        {"name": CODE_VOLUME, "configMap": {"name": code.config_map}},
        {"name": WORKSPACE_VOLUME, "emptyDir": {}},
    ]
    unpack: dict[str, Any] = {
        "name": UNPACK_CONTAINER,
        "command": ["tar", "-xzf", f"{CODE_MOUNT}/{CODE_ARCHIVE_KEY}", "-C", WORKSPACE, "--no-same-owner"],
        "volumeMounts": [
            {"name": CODE_VOLUME, "mountPath": CODE_MOUNT, "readOnly": True},
            {"name": WORKSPACE_VOLUME, "mountPath": WORKSPACE},
        ],
    }
    if image:
        unpack = {"name": UNPACK_CONTAINER, "image": image, **{k: v for k, v in unpack.items() if k != "name"}}
    pod["initContainers"] = [unpack]
    container["workingDir"] = WORKSPACE
    container["volumeMounts"] = [{"name": WORKSPACE_VOLUME, "mountPath": WORKSPACE}]


def render_job(sweep: Sweep, trial: Trial, namespace: str | None = None, code: CodeRef | None = None) -> Manifest:
    """The Job for one trial. `namespace` is the fallback when neither file nor flag set one;
    `code`: the sweep's shipped code snapshot (see _ship_code)."""
    ns = sweep.namespace or namespace or "default"
    labels = {SWEEP_LABEL: sweep.name, TRIAL_LABEL: str(trial.index)}
    job_labels = {**labels, MANAGED_BY: "ktui"}
    if sweep.queue:
        job_labels[QUEUE_LABEL] = sweep.queue
    annotations = {PARAMS_ANNOTATION: params_json(trial)}
    job_annotations = dict(annotations)
    if sweep.metric is not None:
        job_annotations[METRIC_ANNOTATION] = json.dumps(
            {"name": sweep.metric.name, "goal": sweep.metric.goal}, separators=(",", ":")
        )
    if sweep.early_stopping is not None:
        job_annotations[EARLY_STOPPING_ANNOTATION] = json.dumps(sweep.early_stopping.to_json(), separators=(",", ":"))
    command, args = sweep.command_line(trial.params)
    env = [{"name": k, "value": substitute(v, trial.params)} for k, v in sweep.env]
    env += [
        {"name": "KTUI_SWEEP", "value": sweep.name},
        {"name": "KTUI_TRIAL", "value": str(trial.index)},
    ]
    env += [{"name": f"KTUI_PARAM_{env_suffix(k)}", "value": format_value(v)} for k, v in trial.params.items()]
    container: dict[str, Any] = {"name": CONTAINER, "image": sweep.image, "command": command}
    if not sweep.image:  # only where the image plays no part (--local)
        del container["image"]
    if args:
        container["args"] = args
    container["env"] = env
    resources = _resources(sweep)
    if resources:
        container["resources"] = resources
    spec: dict[str, Any] = {}
    if sweep.retries is not None:
        spec["backoffLimit"] = sweep.retries
    if sweep.ttl_seconds_after_finished is not None:
        spec["ttlSecondsAfterFinished"] = sweep.ttl_seconds_after_finished
    pod: dict[str, Any] = {"restartPolicy": sweep.restart_policy}
    if code is not None:
        _ship_code(pod, container, sweep.image, code)
        job_annotations.update(code.annotations)
    pod["containers"] = [container]
    spec["template"] = {
        "metadata": {"labels": dict(labels), "annotations": dict(annotations)},
        "spec": pod,
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": trial.job_name, "namespace": ns, "labels": job_labels, "annotations": job_annotations},
        "spec": spec,
    }


def render_jobs(sweep: Sweep, namespace: str | None = None, code: CodeRef | None = None) -> Iterator[Manifest]:
    for trial in sweep.trials():
        yield render_job(sweep, trial, namespace, code)
