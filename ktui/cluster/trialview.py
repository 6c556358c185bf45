"""What one trial of an indexed sweep runs, as a Job of its own would say it.

Its Job runs every trial of the sweep from one template: the trial's command line, environment
and parameters are in the Job's ConfigMaps (`<k>.sh`, `params-<c>.json`, ktui.sweep.indexed).
``indexed_view`` puts them back into a copy of the Job (the trial's argv as its command, its
environment, its parameters as the params annotation), so what is compared of any two trials,
whatever runs them, is read the same way (ktui.cluster.fingerprint.trial_fields).
"""

from __future__ import annotations

import copy
import json
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from ktui.cluster.indexfeed import trial_indexes
from ktui.sweep.indexed import PARAMS_OF_LABEL, chunk_params
from ktui.wire.names import CONTAINER, INDEXED_MODE, INDEXES_ANNOTATION, MODE_LABEL, PARAMS_ANNOTATION


@dataclass(frozen=True)
class View:
    manifest: dict[str, Any]
    note: str | None = None  # what could not be read, said in the comparison


def is_indexed(manifest: Mapping[str, Any] | None) -> bool:
    labels = ((manifest or {}).get("metadata") or {}).get("labels") or {}
    return (manifest or {}).get("kind", "Job") == "Job" and labels.get(MODE_LABEL) == INDEXED_MODE


def completion_index(job: Mapping[str, Any], trial: int | None) -> int | None:
    """The completion index that runs trial number ``trial`` in ``job``."""
    if trial is None:
        return None
    ann = (job.get("metadata") or {}).get("annotations") or {}
    order = trial_indexes(ann.get(INDEXES_ANNOTATION), int((job.get("spec") or {}).get("completions") or 0))
    try:
        return order.index(trial)
    except ValueError:
        return None


def parse_fragment(text: str) -> tuple[list[str], list[tuple[str, str]]]:
    """A trial's shell fragment (ktui.sweep.indexed.trial_script) -> (argv, env)."""
    argv: list[str] = []
    env: list[tuple[str, str]] = []
    for line in text.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, _, value = words[1].partition("=")
            env.append((name, value))
        elif words[:2] == ["set", "--"]:
            argv = words[2:]
    return argv, env


def _own_maps(items: Iterable[Mapping[str, Any]], uid: str | None) -> list[Mapping[str, Any]]:
    """The ConfigMaps of this incarnation of the Job (a replaced Job's may linger a moment)."""
    out = []
    for cm in items:
        refs = (cm.get("metadata") or {}).get("ownerReferences") or ()
        if not refs or any(r.get("uid") == uid for r in refs):
            out.append(cm)
    return out


def read_maps(backend: Any, job: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    meta = job.get("metadata") or {}
    data = backend.transport.get(f"/api/v1/namespaces/{meta.get('namespace')}/configmaps",
                                 [("labelSelector", f"{PARAMS_OF_LABEL}={meta.get('name')}")])
    return _own_maps(msgspec.json.decode(data).get("items") or [], meta.get("uid"))


def indexed_view(job: Mapping[str, Any], trial: int | None, name: str,
                 maps: Iterable[Mapping[str, Any]]) -> View:
    """Trial number ``trial`` (named ``name``) of the indexed Job ``job``, from its ConfigMaps."""
    view = copy.deepcopy(dict(job))
    k = completion_index(job, trial)
    maps = list(maps)
    fragment = next((str((cm.get("data") or {})[f"{k}.sh"]) for cm in maps if f"{k}.sh" in (cm.get("data") or {})), None)
    params = next((p[k] for p in (chunk_params(cm) for cm in maps) if k in p), None) if k is not None else None
    if fragment is None or params is None:
        return View(view, f"  ({name}: its parameters cannot be read: the ConfigMaps of its Job "
                          f"{(job.get('metadata') or {}).get('name')} do not hold index {k})")
    argv, env = parse_fragment(fragment)
    pod = ((view.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = pod.get("containers") or [{}]
    c = next((x for x in containers if x.get("name") == CONTAINER), containers[0])
    c["command"] = argv
    c.pop("args", None)
    c["env"] = [{"name": n, "value": v} for n, v in env]
    view.setdefault("metadata", {}).setdefault("annotations", {})[PARAMS_ANNOTATION] = json.dumps(params)
    return View(view)


def trial_view(backend: Any, manifest: Mapping[str, Any] | None, trial: int | None, name: str) -> View:
    """What the trial runs: its manifest, or for an indexed sweep's trial its own view of the Job."""
    if not manifest or not is_indexed(manifest):
        return View(dict(manifest or {}))
    if getattr(backend, "transport", None) is None:
        return View(dict(manifest))
    from ktui.cluster.kube.transport import ApiError, Unreachable

    try:
        maps = read_maps(backend, manifest)
    except (ApiError, Unreachable) as exc:
        return View(dict(manifest), f"  ({name}: its parameters cannot be read: {exc})")
    return indexed_view(manifest, trial, name, maps)
