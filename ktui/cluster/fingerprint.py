"""What "the same trial" means: one place, for every backend.

A relaunch maps each trial onto a Job of the same name. It may keep that Job only if the Job
runs exactly what the file now asks for; otherwise the new values would silently never
run. ``trial_fields`` reads everything a trial runs out of a Job (a manifest ktui rendered,
or the Job as the API server returns it, with its defaults and canonical quantities), as
one flat {field: value} map; ``differences`` compares two of them in words.

``fingerprint`` hashes those fields; submit records it on each Job as the
``ktui.dev/fingerprint`` annotation (with ``ktui.dev/launch``, the submission's id, see
``stamp``). To make something more part of "the same trial" (say, a code snapshot's hash),
add a reader to ``_READERS`` and bump ``VERSION``: Jobs stamped with another version are
compared field by field, as Jobs from before the annotation are.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from ktui.wire.names import (
    CODE_ANNOTATION,
    FINGERPRINT_ANNOTATION,
    LAUNCH_ANNOTATION,
    PARAMS_ANNOTATION,
    QUEUE_LABEL,
    parse_object,
)
from ktui.wire.quantity import parse_decimal
from ktui.wire.training import job_view, shape_of

# Not bumped for the code snapshot's field: a Job without one hashes as before, and no Job
# stamped v1 by an older ktui had one.
VERSION = "v1"
# Kubernetes' default for a Job without backoffLimit: the server fills it in.
DEFAULT_BACKOFF_LIMIT = 6
# Set by ktui from the trial's name and parameters: compared through those instead.
_DERIVED_ENV = "KTUI_"

Fields = dict[str, Any]


class Quantity:
    """A resource quantity: equal by value ("1024Mi" == "1Gi", "0.5" == "500m", as the API
    server may rewrite them), shown as written."""

    __slots__ = ("text", "value")

    def __init__(self, text: Any) -> None:
        self.text = str(text)
        try:
            self.value: Decimal | str = parse_decimal(self.text).normalize()
        except (InvalidOperation, ValueError):
            self.value = self.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Quantity) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)

    def __str__(self) -> str:
        return self.text

    def canonical(self) -> str:
        v = self.value
        return format(v, "f") if isinstance(v, Decimal) else v


def _container(job: Mapping[str, Any]) -> Mapping[str, Any]:
    pod = ((job.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = pod.get("containers") or [{}]
    return next((c for c in containers if c.get("name") == "trial"), containers[0])


def _params(job: Mapping[str, Any], out: Fields) -> None:
    meta = job.get("metadata") or {}
    raw = (meta.get("annotations") or {}).get(PARAMS_ANNOTATION)
    if raw is None:
        tmeta = ((job.get("spec") or {}).get("template") or {}).get("metadata") or {}
        raw = (tmeta.get("annotations") or {}).get(PARAMS_ANNOTATION)
    if raw is None:
        return
    try:
        params = json.loads(raw)
    except ValueError:
        params = None
    if not isinstance(params, dict):
        out["params"] = raw
        return
    for k, v in params.items():
        out[f"params.{k}"] = v


def _program(job: Mapping[str, Any], out: Fields) -> None:
    c = _container(job)
    out["image"] = c.get("image")
    out["command"] = tuple(c.get("command") or ())
    out["args"] = tuple(c.get("args") or ())
    for e in c.get("env") or ():
        name = str(e.get("name"))
        if not name.startswith(_DERIVED_ENV):
            out[f"env.{name}"] = e["value"] if "value" in e else json.dumps(e.get("valueFrom"), sort_keys=True)


def _resources(job: Mapping[str, Any], out: Fields) -> None:
    res = _container(job).get("resources") or {}
    limits = res.get("limits") or {}
    # A limit without a request is also the request (the API server fills it in).
    requests = {**limits, **(res.get("requests") or {})}
    for k, v in requests.items():
        out[f"resources.{k}"] = Quantity(v)
    for k, v in limits.items():
        out[f"limits.{k}"] = Quantity(v)


def _job(job: Mapping[str, Any], out: Fields) -> None:
    spec = job.get("spec") or {}
    pod = (spec.get("template") or {}).get("spec") or {}
    out["restartPolicy"] = pod.get("restartPolicy") or "Always"
    backoff = spec.get("backoffLimit")
    out["backoffLimit"] = DEFAULT_BACKOFF_LIMIT if backoff is None else backoff
    out["ttlSecondsAfterFinished"] = spec.get("ttlSecondsAfterFinished")
    out["queue"] = ((job.get("metadata") or {}).get("labels") or {}).get(QUEUE_LABEL)


def _code(job: Mapping[str, Any], out: Fields) -> None:
    """The code snapshot it runs (the first 16 hex of its sha256, as its ConfigMap is named);
    a Job without one runs what its image holds (no field)."""
    code = parse_object(_annotation(job, CODE_ANNOTATION))
    if code and isinstance(code.get("sha256"), str):
        out["code"] = code["sha256"][:16]


# Each reader adds its fields; together they are everything a trial runs.
_READERS: tuple[Callable[[Mapping[str, Any], Fields], None], ...] = (_params, _program, _resources, _job, _code)


def trial_fields(job: Mapping[str, Any]) -> Fields:
    """A PyTorchJob's (TrainJob's) trial is its master's pod template, as a Job's is its
    template; its kind and replicas add fields (none for a Job: its hash stays as it was)."""
    out: Fields = {}
    view = job_view(job)
    for read in _READERS:
        read(view, out)
    out.update(shape_of(job))
    return {k: v for k, v in out.items() if v is not None}


def _canonical(v: Any) -> Any:
    if isinstance(v, Quantity):
        return v.canonical()
    if isinstance(v, tuple):
        return list(v)
    return v


def fingerprint(job: Mapping[str, Any]) -> str:
    fields = {k: _canonical(v) for k, v in trial_fields(job).items()}
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return f"{VERSION}:{hashlib.sha256(text.encode()).hexdigest()[:32]}"


def show(v: Any) -> str:
    if v is None:
        return "(none)"
    if isinstance(v, tuple):
        return shlex.join(str(x) for x in v) if v else "(none)"
    if isinstance(v, str):
        return v if v else '""'
    if isinstance(v, Quantity):
        return str(v)
    return json.dumps(v, ensure_ascii=False)


def diff_fields(old: Fields, new: Fields) -> tuple[str, ...]:
    """``field: old -> new`` for each field that differs, in the new Job's field order."""
    keys = list(new) + [k for k in old if k not in new]
    def shown(k: str, v: Any) -> str:
        return "Job" if k == "kind" and v is None else show(v)  # (a Job has no kind field)

    return tuple(f"{k}: {shown(k, old.get(k))} -> {shown(k, new.get(k))}" for k in keys if old.get(k) != new.get(k))


def _annotation(job: Mapping[str, Any], key: str) -> str | None:
    return ((job.get("metadata") or {}).get("annotations") or {}).get(key)


def differences(have: Mapping[str, Any], want: Mapping[str, Any]) -> tuple[str, ...]:
    """How the Job ``have`` (as it exists) differs from the Job ``want`` (as it would be
    submitted); empty when it is the same trial."""
    old_fp = _annotation(have, FINGERPRINT_ANNOTATION)
    new_fp = _annotation(want, FINGERPRINT_ANNOTATION) or fingerprint(want)
    if old_fp is not None and old_fp == new_fp:
        return ()
    found = diff_fields(trial_fields(have), trial_fields(want))
    if not found and old_fp is not None and old_fp.split(":", 1)[0] == new_fp.split(":", 1)[0]:
        # Same recipe, another hash: something the fields cannot show differs. Say so
        # rather than keep a trial that may not be the one asked for.
        return (f"fingerprint: {old_fp} -> {new_fp}",)
    return found


def launch_of(job: Mapping[str, Any]) -> str | None:
    return _annotation(job, LAUNCH_ANNOTATION)


def stamp(manifest: Mapping[str, Any], launch: str) -> dict[str, Any]:
    """A copy of ``manifest`` carrying its fingerprint and the submission's id (the
    original is not changed; only the metadata is copied)."""
    meta = dict(manifest.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}),
                           FINGERPRINT_ANNOTATION: fingerprint(manifest), LAUNCH_ANNOTATION: launch}
    return {**manifest, "metadata": meta}


def summarize(changes: Sequence[Any], first: int = 5) -> list[str]:
    """The first few changed trials with what differs, then how many more."""
    lines = [f"  {c.name}: {', '.join(c.differences)}" for c in changes[:first]]
    if len(changes) > first:
        lines.append(f"  and {len(changes) - first} more")
    return lines
