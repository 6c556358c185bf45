"""Loading a sweep file: detect the format, validate, apply overrides, count trials."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from ktui.sweep.check import Checker
from ktui.sweep.distributed import code_flag_problem
from ktui.sweep.distributed import name_problem as kind_name_problem
from ktui.sweep.draft import Draft, Located, Quantity
from ktui.sweep.errors import Pos, Problem, SweepError, did_you_mean
from ktui.sweep.indexed import count_problems
from ktui.sweep.manifest import EARLY_STOPPING_ANNOTATION, METRIC_ANNOTATION, PARAMS_ANNOTATION
from ktui.sweep.model import (
    DEFAULT_COMMAND,
    DEFAULT_IMAGE,
    CodeSpec,
    Overrides,
    Resources,
    Sweep,
    placeholders,
    template_problems,
)
from ktui.sweep.names import MAX_JOB_NAME, dns1123_label_problem, env_suffix, sanitize_name
from ktui.sweep.origin import looks_like_an_entry, read_origin
from ktui.sweep.params import Choice, GridSpace, ListSpace, RandInt, RandomSpace, Value
from ktui.sweep.source import Node, parse_text, read_source
from ktui.sweep.spec import read_spec
from ktui.wire.quantity import QuantityError, parse_quantity, range_problem

# kube-apiserver's TotalAnnotationSizeLimitB: all of an object's annotations, keys and values.
MAX_ANNOTATIONS = 256 * 1024


def load_sweep(path: str | Path, overrides: Overrides | None = None) -> Sweep:
    """Read, validate and resolve a sweep file. Raises SweepError, nothing else."""
    ov = overrides or Overrides()
    root, _, problems = read_source(path, ov.max_trials)
    return build_sweep(root, str(path), ov, problems)


def loads_sweep(text: str, path: str = "<sweep>", overrides: Overrides | None = None) -> Sweep:
    """Like load_sweep, from text already in memory (the launch form's preview)."""
    ov = overrides or Overrides()
    root, _, problems = parse_text(text, path, ov.max_trials)
    return build_sweep(root, path, ov, problems)


def build_sweep(root: Node, path: str, ov: Overrides, problems: list[Problem] | None = None) -> Sweep:
    # Content decides the format: a list is the origin's params.json, a mapping a spec.
    if isinstance(root.value, list):
        draft, c = read_origin(root, path)
    elif isinstance(root.value, dict):
        if looks_like_an_entry(root):
            raise SweepError([Problem(path, root.pos, "a params.json file must be a JSON list of experiments, not one object: wrap it in [ ]")])
        draft, c = read_spec(root, path)
    else:
        raise SweepError([Problem(path, root.pos, f"expected a sweep spec (a mapping) or a params.json list, not {root.kind}")])
    c.problems[:0] = problems or []
    # Every reader problem is independent of what _finalize checks (it only looks at what
    # was read correctly), so all of them are reported in one run.
    return _finalize(draft, c, ov)


def _finalize(d: Draft, c: Checker, ov: Overrides) -> Sweep:
    flag = Pos()  # problems caused by a flag have no position in the file
    notes: list[str] = []
    if ov.name is not None:
        problem = dns1123_label_problem(ov.name)
        if problem:
            c.add(flag, f"--name {problem}")
        name = ov.name
        name_pos = flag
    elif d.name is not None:
        name, name_pos = d.name.text, d.name.pos
    else:
        name = sanitize_name(Path(d.path).stem)
        name_pos = flag
        notes.append(f"sweep name '{name}' taken from the file name (set it with --name)")
    namespace = d.namespace.text if d.namespace else None
    if ov.namespace is not None:
        problem = dns1123_label_problem(ov.namespace)
        if problem:
            c.add(flag, f"--namespace {problem}")
        namespace = ov.namespace
    if ov.image is not None:
        if not ov.image.strip() or any(ch.isspace() for ch in ov.image):
            c.add(flag, f"--image '{ov.image}' is not an image reference")
        image = ov.image
    elif d.image is not None:
        image = d.image.text
    elif d.format == "params.json":
        image = DEFAULT_IMAGE
        notes.append(f"params.json names no image; using {DEFAULT_IMAGE} (pass --image for one that holds your code)")
    else:
        if ov.image_required and not d.image_given:
            c.add_missing("no 'image': name the container image that holds your code, or pass --image")
        image = ""

    command_src: list[Located]
    args_src: list[Located] | None = d.args
    if ov.command:
        command_src = [Located(t, flag, "the command after --") for t in ov.command]
        if any(placeholders(t) for t in ov.command):
            args_src = []  # a command line with placeholders is the whole line
    elif d.command is not None:
        command_src = d.command
    else:
        command_src = [Located(t, flag) for t in DEFAULT_COMMAND]

    requests = dict(d.requests)
    for key, text in (("cpu", ov.cpu), ("memory", ov.memory), ("gpu", None if ov.gpu is None else str(ov.gpu))):
        if text is None:
            continue
        try:
            value = parse_quantity(text)
        except QuantityError as e:
            c.add(flag, f"--{key}: {e}")
            continue
        too_big = range_problem(key, value, text)
        if too_big:
            c.add(flag, f"--{key} {too_big}")
            continue
        requests[key] = Quantity(text, value, flag)
    _check_limits(c, requests, d.limits)
    if ov.code is not None and (problem := code_flag_problem(d)):
        c.add(flag, problem)

    _check_templates(c, d, command_src, args_src)
    if d.names_known:
        _check_placeholders(c, d, command_src, args_src)
    _check_env_names(c, d)
    if d.space is not None:
        # The trial count and the Job names it implies are known even when other things are
        # wrong, so their problems are reported with the rest.
        count = d.space.count()
        width = max(3, len(str(max(count - 1, 0))))
        if count > ov.max_trials:
            where = d.space_pos if d.format == "spec" else Pos(1, 1)
            c.add(where, f"sweep has {count:,} trials, more than the limit of {ov.max_trials:,} (raise it with --max-trials)")
        elif len(name) + 1 + width > MAX_JOB_NAME and dns1123_label_problem(name) is None:
            c.add(name_pos, f"name '{name}' is too long: its Job names ({name}-{'0' * width}) must fit in {MAX_JOB_NAME} characters; use at most {MAX_JOB_NAME - 1 - width}")
        elif dns1123_label_problem(name) is None and (problem := kind_name_problem(d, name, width)):
            c.add(name_pos, problem)
        elif not c.problems and d.mode != "indexed":  # (indexed: params go in ConfigMaps, not annotations)
            _check_annotations(c, d)
        count_problems(c, d, count)
    if d.mode == "indexed" and d.kind != "Job":
        c.add(d.kind_pos, f"kind: {d.kind} cannot run in mode: indexed (an Indexed Job runs one pod per trial; "
                          f"a {d.kind} trial is several): remove one of them")
    c.raise_if_any()
    if d.space is None:  # readers only leave it unset after recording a problem
        raise SweepError([Problem(d.path, d.space_pos, "no parameters")])

    def res(q: dict[str, Quantity]) -> Resources:
        gpu = q.get("gpu")
        return Resources(
            cpu=q["cpu"].text if "cpu" in q else None,
            memory=q["memory"].text if "memory" in q else None,
            gpu=int(gpu.value) if gpu is not None else None,
        )

    return Sweep(
        code=_code(d, ov),
        name=name,
        source=d.path,
        format=d.format,
        space=d.space,
        image=image,
        command=tuple(x.text for x in command_src),
        args=None if args_src is None else tuple(x.text for x in args_src),
        namespace=namespace,
        env=tuple((k, v.text) for k, v in d.env),
        requests=res(requests),
        limits=res(d.limits),
        retries=d.retries,
        restart_policy=d.restart_policy,
        ttl_seconds_after_finished=d.ttl,
        queue=d.queue,
        metric=d.metric,
        early_stopping=d.early_stopping,
        kind=d.kind,
        workers=d.workers,
        nproc_per_node=d.nproc_per_node,
        runtime=d.runtime,
        notes=tuple(notes),
        mode=d.mode,
        parallelism=d.parallelism,
        max_failed_indexes=d.max_failed_indexes,
    )


def _code(d: Draft, ov: Overrides) -> CodeSpec | None:
    """Where the code to ship is: --code relative to the shell's directory, `code:` relative
    to the sweep file (as the file's other relative paths are meant)."""
    if ov.code is not None:
        return CodeSpec(os.path.abspath(ov.code), d.code_exclude, "--code")
    if d.code is None:
        return None
    base = os.path.dirname(os.path.abspath(d.path))
    where = f"{d.path}:{d.code.pos.line}:{d.code.pos.col}"
    return CodeSpec(os.path.normpath(os.path.join(base, os.path.expanduser(d.code.text))), d.code_exclude, where)


def _check_limits(c: Checker, requests: dict[str, Quantity], limits: dict[str, Quantity]) -> None:
    for key, lim in limits.items():
        req = requests.get(key)
        if req is None:
            continue
        if key == "gpu" and req.value != lim.value:
            c.add(lim.pos, f"limits.gpu {lim.text} differs from resources.gpu {req.text}; GPU requests and limits must be equal")
        elif req.value > lim.value:
            src = "resources" if req.pos.line else "--" + key
            c.add(lim.pos, f"limits.{key} {lim.text} is below the request {src} {key} {req.text}; a limit must be at least the request")


def _check_templates(c: Checker, d: Draft, command: list[Located], args: list[Located] | None) -> None:
    # A lone brace would reach the container as text: `--lr={lr` runs with a literal "{lr".
    for t in [*command, *(args or []), *(v for _, v in d.env)]:
        for message in template_problems(t.text):
            c.add(t.pos, f"{t.label}: {message}" if t.label else message)


def _check_placeholders(c: Checker, d: Draft, command: list[Located], args: list[Located] | None) -> None:
    templates = list(command) + list(args or []) + [v for _, v in d.env]
    union: set[str] = set()
    for keys, _, _ in d.key_sets:
        union |= keys
    for t in templates:
        for _, name in placeholders(t.text):
            if name not in union:
                c.add(t.pos, f"placeholder {{{name}}} names no parameter{did_you_mean(name, sorted(union))}"
                      + ("" if t.pos.line else f" (in '{t.text}')"))
                continue
            for keys, pos, label in d.key_sets:
                if name not in keys:
                    c.add(pos, f"{label} has no parameter '{name}', which {{{name}}} needs")


def _check_env_names(c: Checker, d: Draft) -> None:
    # KTUI_PARAM_<NAME> must stay one variable per parameter: `lr` and `LR` would collide.
    # Thousands of list entries share a few key sets: each distinct set is checked once.
    checked: set[frozenset[str]] = set()
    for keys, pos, label in d.key_sets:
        if keys in checked:
            continue
        checked.add(keys)
        by_env: dict[str, str] = {}
        for k in sorted(keys):
            e = env_suffix(k)
            if e in by_env:
                c.add(pos, f"{label}: parameters '{by_env[e]}' and '{k}' would both be KTUI_PARAM_{e}")
            by_env[e] = k


def _check_annotations(c: Checker, d: Draft) -> None:
    """The ktui.dev/params annotation must fit the API server's 256 KiB for all annotations."""
    space = d.space
    assert space is not None
    budget = MAX_ANNOTATIONS - len(PARAMS_ANNOTATION)
    if d.metric is not None:
        budget -= len(METRIC_ANNOTATION) + _json_bytes({"name": d.metric.name, "goal": d.metric.goal})
    if d.early_stopping is not None:
        budget -= len(EARLY_STOPPING_ANNOTATION) + _json_bytes(d.early_stopping.to_json())
    extra: list[tuple[str, Value]] = []
    if space.zip is not None:
        extra += [(k, _longest([row[i] for row in space.zip.rows])) for i, k in enumerate(space.zip.keys)]
    if space.repeat is not None:
        extra.append(("seed", space.repeat - 1))
    base = space.base
    if isinstance(base, ListSpace):
        for i, entry in enumerate(base.entries):
            if _bound(entry) + _bound(extra) <= budget:
                continue
            size = _json_bytes(dict([*entry, *extra]))
            if size > budget:
                _, pos, label = d.key_sets[i]
                c.add(pos, f"{label}: the trial's parameters are {size:,} bytes as the {PARAMS_ANNOTATION} annotation; Kubernetes allows {MAX_ANNOTATIONS:,} bytes of annotations")
        return
    largest: list[tuple[str, Value]] = []
    if isinstance(base, GridSpace):
        largest = [(k, _longest(list(vals))) for k, vals in base.axes]
    elif isinstance(base, RandomSpace):
        # Uniform samples are rounded to six digits: none prints longer than -1.23456e-300.
        largest = [(k, _longest(list(dist.values)) if isinstance(dist, Choice)
                    else _longest([dist.low, dist.high]) if isinstance(dist, RandInt) else -1.23456e-300)
                   for k, dist in base.dims]
    trial = [*largest, *extra]
    if _bound(trial) > budget:
        size = _json_bytes(dict(trial))
        if size > budget:
            c.add(d.space_pos, f"parameters: the largest trial's parameters are {size:,} bytes as the {PARAMS_ANNOTATION} annotation; Kubernetes allows {MAX_ANNOTATIONS:,} bytes of annotations")


def _bound(pairs: Sequence[tuple[str, Value]]) -> int:
    """More than the JSON of these pairs can take in bytes, cheaply (6: a \\uXXXX escape)."""
    return 2 + sum(6 * (len(k) + len(str(v))) + 8 for k, v in pairs)


def _json_bytes(params: dict[str, Value]) -> int:
    return len(json.dumps(params, separators=(",", ":"), ensure_ascii=False).encode(errors="surrogatepass"))


def _longest(values: list[Value]) -> Value:
    return max(values, key=lambda v: len(json.dumps(v, ensure_ascii=False).encode(errors="surrogatepass")))
