"""Indexed sweeps (`mode: indexed`): one batch/v1 Job runs every trial, one per completion index.

The trial's command must get exactly what it gets in the default mode (one Job per trial,
manifest.render_job): the same argv and environment. A Job has one pod template for all its
indexes, so what differs per trial travels in ConfigMaps instead: `<k>.sh` per completion
index k, a shell fragment that exports the trial's environment and sets its argv (`set --`),
and the container runs `/bin/sh -c '. /ktui/params/$JOB_COMPLETION_INDEX.sh && exec "$@"'`.
`exec` leaves the trial as the container's main process, with its own exit code and signals,
as in the default mode. The values are what the default mode's container would receive: the
kubelet's `$(VAR)` expansion of command, args and env is applied here (the shell fragment is
read by sh, which expands nothing inside single quotes).

Each ConfigMap also holds `params-<c>.json` ({completion index: parameters}) so a monitor can
name every trial's parameters without parsing shell; all of them are mounted together as one
projected volume. The Job is rendered from the default mode's manifest of its first trial,
so labels, annotations, resources and the code snapshot's shipping stay the same.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import shlex
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ktui.sweep.check import Checker
from ktui.sweep.draft import Draft
from ktui.sweep.errors import Pos
from ktui.sweep.manifest import Manifest, params_json, render_job
from ktui.sweep.model import CodeRef, Sweep
from ktui.sweep.source import Node
from ktui.wire.names import (
    CONTAINER,
    INDEX_WIDTH_ANNOTATION,
    INDEXED_MODE,
    INDEXES_ANNOTATION,
    MANAGED_BY,
    MODE_LABEL,
    PARAMS_ANNOTATION,
    SWEEP_LABEL,
    TRIAL_LABEL,
)

INDEXED_KEYS = ("mode", "parallelism", "maxFailedIndexes")
MODES = ("jobs", INDEXED_MODE)
# The Job controller creates at most 500 pods per sync (MaxPodCreateDeletePerSync): more at
# once only adds pending pods for the scheduler to turn down. A cluster that runs more trials
# at once gets them with `parallelism:`.
DEFAULT_PARALLELISM = 500
# The API server's limits for an Indexed Job with backoffLimitPerIndex (completions, and
# maxFailedIndexes) and for parallelism of an Indexed Job.
MAX_INDEXED = 100_000
# A ConfigMap holds 1 MiB of values (kube-apiserver, data + binaryData summed); each is filled
# to half that, so a few trials more or less never reach the limit.
CONFIGMAP_LIMIT = 1024 * 1024
CHUNK_BYTES = CONFIGMAP_LIMIT // 2
# What a trial may not exceed alone, leaving room for the chunk's params JSON framing.
TRIAL_LIMIT = CONFIGMAP_LIMIT - 1024

PARAMS_VOLUME = "ktui-params"
PARAMS_MOUNT = "/ktui/params"
# The ConfigMaps of a Job: labelled with it, so a monitor lists them in one request.
PARAMS_OF_LABEL = "ktui.dev/params-of"
# sha256 of every ConfigMap's data, in order: what the trials run, beyond the pod template.
PARAMS_DIGEST_ANNOTATION = "ktui.dev/params-sha256"
# Set while a launch is between creating the Job (suspended) and its last ConfigMap: a
# relaunch that finds it finishes the job (see ktui.cluster.kube.indexed).
INCOMPLETE_ANNOTATION = "ktui.dev/launch-incomplete"
WRAPPER = f'. "{PARAMS_MOUNT}/$JOB_COMPLETION_INDEX.sh" && exec "$@"'
WRAPPER_ARGV0 = "ktui-trial"
# What sh can export: a trial's env names must be these in this mode.
_SHELL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class ParamsTooLarge(ValueError):
    """A trial's command line and parameters do not fit in one ConfigMap."""


# ---------------------------------------------------------------------------------------------
# The spec's keys


def read_indexed(c: Checker, top: dict[str, Node], d: Draft) -> None:
    """`mode`, `parallelism`, `maxFailedIndexes`, and what `mode: indexed` asks of the rest
    of the spec (read before this: restartPolicy, env, earlyStopping)."""
    if "mode" in top:
        mode = c.string(top["mode"], "mode")
        if mode is not None:
            if mode in MODES:
                d.mode = mode  # type: ignore[assignment]
            else:
                c.add(top["mode"].pos, f"mode must be jobs (one Job per trial, the default) or indexed "
                                       f"(one Indexed Job for the whole sweep), not '{mode}'")
    indexed = d.mode == INDEXED_MODE
    for key in ("parallelism", "maxFailedIndexes"):
        if key in top and not indexed:
            c.add(top[key].pos, f"{key} applies to mode: indexed only (one Job for the whole sweep); "
                                "add mode: indexed or remove it")
    if "parallelism" in top and indexed:
        d.parallelism = c.integer(top["parallelism"], "parallelism", minimum=1, maximum=MAX_INDEXED,
                                  why=" (an Indexed Job's limit)")
    if "maxFailedIndexes" in top and indexed:
        d.max_failed_indexes = c.integer(top["maxFailedIndexes"], "maxFailedIndexes", minimum=0,
                                         maximum=MAX_INDEXED, why=" (the API server's limit)")
        d.max_failed_pos = top["maxFailedIndexes"].pos
    if not indexed:
        return
    if "restartPolicy" in top:
        if d.restart_policy == "OnFailure":
            c.add(top["restartPolicy"].pos,
                  "restartPolicy: OnFailure does not work with mode: indexed: retries become the Job's "
                  "backoffLimitPerIndex, which Kubernetes allows only with restartPolicy Never "
                  "(remove restartPolicy, or set it to Never)")
    else:
        d.restart_policy = "Never"
    if "earlyStopping" in top:
        c.add(top["earlyStopping"].pos,
              "earlyStopping does not work with mode: indexed: Kubernetes cannot stop one index of an "
              "Indexed Job (use the default mode, one Job per trial, to stop trials early)")
    for name, value in d.env:
        if not _SHELL_NAME.match(name):
            c.add(value.pos, f"env.{name}: mode: indexed sets the trial's environment through /bin/sh, "
                             "which cannot set this name (use letters, digits and _)")


def count_problems(c: Checker, d: Draft, count: int) -> None:
    """What the trial count rules out in mode: indexed (checked once it is known)."""
    if d.mode != INDEXED_MODE:
        return
    if count > MAX_INDEXED:
        where = d.space_pos if d.format == "spec" else Pos(1, 1)
        c.add(where, f"mode: indexed runs at most {MAX_INDEXED:,} trials in one Job (Kubernetes' limit "
                     f"for backoffLimitPerIndex); this sweep has {count:,}")
    if d.max_failed_indexes is not None and d.max_failed_indexes > count:
        c.add(d.max_failed_pos, f"maxFailedIndexes {d.max_failed_indexes} is more than the sweep's "
                                f"{count} trials (Kubernetes requires at most completions)")


# ---------------------------------------------------------------------------------------------
# The kubelet's $(VAR) expansion, so the shell gets what the default mode's container gets


def kube_expand(text: str, env: Mapping[str, str]) -> str:
    """`$(NAME)` -> env[NAME] (left as written when NAME is not defined), `$$` -> `$`: the
    rules of k8s.io/kubernetes third_party/forked/golang/expansion."""
    if "$" not in text:
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "$" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            end = text.find(")", i + 2)
            if end < 0:
                out.append("$(")
                i += 2
            else:
                name = text[i + 2:end]
                out.append(env.get(name, f"$({name})"))
                i = end + 1
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out)


def container_view(container: Mapping[str, Any]) -> tuple[list[str], list[tuple[str, str]]]:
    """(argv, env) as a container of this manifest receives them: env values expanded in
    order, each against the ones before it; command and args against all of them."""
    env: dict[str, str] = {}
    pairs: list[tuple[str, str]] = []
    for e in container.get("env") or ():
        value = kube_expand(str(e.get("value", "")), env)
        env[str(e["name"])] = value
        pairs.append((str(e["name"]), value))
    argv = [kube_expand(str(a), env) for a in [*(container.get("command") or ()), *(container.get("args") or ())]]
    return argv, pairs


def trial_script(argv: Sequence[str], env: Sequence[tuple[str, str]]) -> str:
    """The shell fragment for one trial: export its environment, set its argv. Every value
    single-quoted (shlex.quote), so no character in it means anything to sh."""
    lines = [f"export {name}={shlex.quote(value)}" for name, value in env]
    lines.append("set -- " + " ".join(shlex.quote(a) for a in argv))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Rendering


@dataclass(frozen=True)
class IndexedManifests:
    job: Manifest
    config_maps: tuple[Manifest, ...]
    trials: tuple[int, ...]  # the trial index of each completion index

    def all(self) -> list[Manifest]:
        """ConfigMaps first: `kubectl apply -f -` creates them before the Job that mounts them."""
        return [*self.config_maps, self.job]


def format_indexes(indexes: Sequence[int]) -> str:
    """[0, 1, 2, 4] -> "0-2,4" (the Job controller's interval form, a run of two as "a,b")."""
    items = sorted(set(indexes))
    out: list[str] = []
    i = 0
    while i < len(items):
        j = i
        while j + 1 < len(items) and items[j + 1] == items[j] + 1:
            j += 1
        out.append(f"{items[i]}-{items[j]}" if j - i >= 2 else ",".join(str(x) for x in items[i:j + 1]))
        i = j + 1
    return ",".join(out)


def default_parallelism(sweep: Sweep, completions: int) -> int:
    return min(sweep.parallelism or min(completions, DEFAULT_PARALLELISM), max(completions, 1))


def _entries(sweep: Sweep, trials: Sequence[int], namespace: str | None,
             code: CodeRef | None) -> Iterator[tuple[int, str, str]]:
    """(completion index, `<k>.sh`, the trial's params JSON) per completion index."""
    for k, t in enumerate(trials):
        trial = sweep.trial(t)
        container = render_job(sweep, trial, namespace, code)["spec"]["template"]["spec"]["containers"][0]
        argv, env = container_view(container)
        script = trial_script(argv, env)
        params = params_json(trial)
        size = len(script.encode()) + len(params.encode()) + 16
        if size > TRIAL_LIMIT:
            raise ParamsTooLarge(
                f"trial {t} ({trial.job_name}): its command line, environment and parameters take "
                f"{size:,} bytes, over the {CONFIGMAP_LIMIT:,} bytes a ConfigMap holds (mode: indexed "
                "keeps them in ConfigMaps); nothing was created")
        yield k, script, params


def chunk_entries(entries: Iterable[tuple[int, str, str]]) -> Iterator[tuple[dict[str, str], dict[int, str]]]:
    """(completion index, script, params JSON) -> ({key: value}, {index: params}) per ConfigMap,
    each filled to CHUNK_BYTES at most (a lone bigger trial gets its own)."""
    data: dict[str, str] = {}
    params: dict[int, str] = {}
    size = 0
    for k, script, p in entries:
        cost = len(script.encode()) + len(p.encode()) + 16
        if data and size + cost > CHUNK_BYTES:
            yield data, params
            data, params, size = {}, {}, 0
        data[f"{k}.sh"] = script
        params[k] = p
        size += cost
    if data:
        yield data, params


def config_maps(job: str, namespace: str, sweep: str,
                entries: Iterable[tuple[int, str, str]]) -> tuple[list[Manifest], str]:
    """The ConfigMaps holding ``entries`` for the Job ``job``, and the sha256 of their data."""
    maps: list[Manifest] = []
    digest = hashlib.sha256()
    for c, (data, params) in enumerate(chunk_entries(entries)):
        data[f"params-{c}.json"] = "{" + ",".join(f'"{k}":{p}' for k, p in params.items()) + "}"
        for key in data:
            digest.update(key.encode() + b"\0" + data[key].encode() + b"\0")
        maps.append({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": config_map_name(job, c), "namespace": namespace,
                         "labels": {MANAGED_BY: "ktui", SWEEP_LABEL: sweep, PARAMS_OF_LABEL: job}},
            "immutable": True,
            "data": data,
        })
    return maps, digest.hexdigest()


def params_volume(maps: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {"name": PARAMS_VOLUME,
            "projected": {"sources": [{"configMap": {"name": m["metadata"]["name"]}} for m in maps]}}


def config_map_name(job: str, chunk: int) -> str:
    return f"{job}-params-{chunk}"


def render_indexed(sweep: Sweep, namespace: str | None = None, code: CodeRef | None = None, *,
                   trials: Sequence[int] | None = None, job_name: str | None = None) -> IndexedManifests:
    """The ConfigMaps and the Indexed Job that run ``trials`` (default: all, completion index
    k running trial k; otherwise k runs trials[k], as a rerun of some trials does, recorded
    in INDEXES_ANNOTATION). Raises ParamsTooLarge."""
    order = tuple(range(sweep.count())) if trials is None else tuple(sorted(set(trials)))
    name = job_name or sweep.name
    ns = sweep.namespace or namespace or "default"
    maps, digest = config_maps(name, ns, sweep.name, _entries(sweep, order, namespace, code))
    job = _job(sweep, ns, code, name, order, maps, digest)
    return IndexedManifests(job, tuple(maps), order)


def _job(sweep: Sweep, ns: str, code: CodeRef | None, name: str, order: tuple[int, ...],
         maps: list[Manifest], digest: str) -> Manifest:
    base = render_job(sweep, sweep.trial(order[0] if order else 0), ns, code)
    job = copy.deepcopy(base)
    meta = job["metadata"]
    meta["name"] = name
    template = job["spec"]["template"]
    marks = {INDEX_WIDTH_ANNOTATION: str(sweep.index_width)}
    if trials_differ(order):
        marks[INDEXES_ANNOTATION] = format_indexes(order)
    for holder in (meta, template["metadata"]):
        holder["labels"].pop(TRIAL_LABEL, None)
        holder["labels"][MODE_LABEL] = INDEXED_MODE
        holder["annotations"].pop(PARAMS_ANNOTATION, None)
        holder["annotations"].update(marks)
    meta["annotations"][PARAMS_DIGEST_ANNOTATION] = digest
    pod = template["spec"]
    container = next(c for c in pod["containers"] if c["name"] == CONTAINER)
    container["command"] = ["/bin/sh", "-c", WRAPPER, WRAPPER_ARGV0]
    container.pop("args", None)
    container.pop("env", None)
    container.setdefault("volumeMounts", []).append(
        {"name": PARAMS_VOLUME, "mountPath": PARAMS_MOUNT, "readOnly": True})
    pod.setdefault("volumes", []).append(params_volume(maps))
    spec = job["spec"]
    completions = len(order)
    indexed: dict[str, Any] = {
        "completionMode": "Indexed",
        "completions": completions,
        "parallelism": default_parallelism(sweep, completions),
        # Per trial, as `retries` is per Job in the default mode (Kubernetes' default there: 6).
        "backoffLimitPerIndex": 6 if sweep.retries is None else sweep.retries,
        # What the API server defaults it to with backoffLimitPerIndex: said here, so a Job
        # read back compares equal to this manifest.
        "backoffLimit": 2**31 - 1,
    }
    if sweep.max_failed_indexes is not None:
        indexed["maxFailedIndexes"] = sweep.max_failed_indexes
    spec.pop("backoffLimit", None)
    job["spec"] = {**indexed, **spec}
    return job


def trials_differ(order: Sequence[int]) -> bool:
    """Whether completion index k does not simply run trial k."""
    return any(k != t for k, t in enumerate(order))


def render(sweep: Sweep, namespace: str | None = None, code: CodeRef | None = None) -> list[Manifest]:
    """Every manifest of the sweep, whatever its mode: what `launch --dry-run` prints."""
    if sweep.mode == INDEXED_MODE:
        return render_indexed(sweep, namespace, code).all()
    from ktui.sweep.manifest import render_jobs

    return list(render_jobs(sweep, namespace, code))


def mode_note(sweep: Sweep, *, here: bool = False) -> str | None:
    """The line a launch says about the mode, if any."""
    if sweep.mode != INDEXED_MODE:
        return None
    if here:
        return "mode: indexed runs each trial as its own process on this machine, as mode: jobs does"
    n = sweep.count()
    return (f"mode: indexed: one Indexed Job {sweep.name} runs the {n:,} trials, "
            f"{default_parallelism(sweep, n):,} at a time")


def is_indexed(manifest: Mapping[str, Any]) -> bool:
    labels = (manifest.get("metadata") or {}).get("labels") or {}
    return manifest.get("kind", "Job") == "Job" and labels.get(MODE_LABEL) == INDEXED_MODE


def chunk_params(cm: Mapping[str, Any]) -> dict[int, Any]:
    """A ConfigMap's {completion index: parameters}, from its params-<c>.json key(s)."""
    out: dict[int, Any] = {}
    for key, value in (cm.get("data") or {}).items():
        if key.startswith("params-") and key.endswith(".json"):
            try:
                parsed = json.loads(value)
            except ValueError:
                continue
            if isinstance(parsed, dict):
                for k, p in parsed.items():
                    if str(k).isdigit():
                        out[int(k)] = p
    return out
