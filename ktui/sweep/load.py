"""Loading a sweep file: detect the format, validate, apply overrides, count trials."""

from __future__ import annotations

from pathlib import Path

from ktui.sweep.check import Checker
from ktui.sweep.draft import Draft, Located, Quantity
from ktui.sweep.errors import Pos, Problem, SweepError, did_you_mean
from ktui.sweep.model import (
    DEFAULT_COMMAND,
    DEFAULT_IMAGE,
    Overrides,
    Resources,
    Sweep,
    placeholders,
)
from ktui.sweep.names import MAX_JOB_NAME, dns1123_label_problem, env_suffix, sanitize_name
from ktui.sweep.origin import read_origin
from ktui.sweep.quantity import QuantityError, parse_quantity
from ktui.sweep.source import Node, parse_text, read_source
from ktui.sweep.spec import read_spec


def load_sweep(path: str | Path, overrides: Overrides | None = None) -> Sweep:
    """Read, validate and resolve a sweep file. Raises SweepError, nothing else."""
    root, _ = read_source(path)
    return build_sweep(root, str(path), overrides or Overrides())


def loads_sweep(text: str, path: str = "<sweep>", overrides: Overrides | None = None) -> Sweep:
    """Like load_sweep, from text already in memory (the launch form's preview)."""
    root, _ = parse_text(text, path)
    return build_sweep(root, path, overrides or Overrides())


def build_sweep(root: Node, path: str, ov: Overrides) -> Sweep:
    # Content decides the format: a list is the origin's params.json, a mapping a spec.
    if isinstance(root.value, list):
        draft, c = read_origin(root, path)
    elif isinstance(root.value, dict):
        draft, c = read_spec(root, path)
    else:
        raise SweepError([Problem(path, root.pos, f"expected a sweep spec (a mapping) or a params.json list, not {root.kind}")])
    c.raise_if_any()
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
        c.add(Pos(1, 1), "no 'image': name the container image that holds your code, or pass --image")
        image = ""

    command_src: list[Located]
    args_src: list[Located] | None = d.args
    if ov.command:
        command_src = [Located(t, flag) for t in ov.command]
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
            requests[key] = Quantity(text, parse_quantity(text), flag)
        except QuantityError as e:
            c.add(flag, f"--{key}: {e}")
    _check_limits(c, requests, d.limits)

    if d.space is None:  # readers only leave it unset after recording a problem
        c.raise_if_any()
        raise SweepError([Problem(d.path, d.space_pos, "no parameters")])
    _check_placeholders(c, d, command_src, args_src)
    _check_env_names(c, d)
    c.raise_if_any()

    count = d.space.count()
    if count > ov.max_trials:
        where = d.space_pos if d.format == "spec" else Pos(1, 1)
        raise SweepError([Problem(d.path, where, f"sweep has {count:,} trials, more than the limit of {ov.max_trials:,} (raise it with --max-trials)")])
    width = max(3, len(str(max(count - 1, 0))))
    longest = len(name) + 1 + width
    if longest > MAX_JOB_NAME:
        c.add(name_pos, f"name '{name}' is too long: its Job names ({name}-{'0' * width}) must fit in {MAX_JOB_NAME} characters; use at most {MAX_JOB_NAME - 1 - width}")
        c.raise_if_any()

    def res(q: dict[str, Quantity]) -> Resources:
        gpu = q.get("gpu")
        return Resources(
            cpu=q["cpu"].text if "cpu" in q else None,
            memory=q["memory"].text if "memory" in q else None,
            gpu=int(gpu.value) if gpu is not None else None,
        )

    return Sweep(
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
        notes=tuple(notes),
    )


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
    for keys, pos, label in d.key_sets:
        by_env: dict[str, str] = {}
        for k in sorted(keys):
            e = env_suffix(k)
            if e in by_env:
                c.add(pos, f"{label}: parameters '{by_env[e]}' and '{k}' would both be KTUI_PARAM_{e}")
            by_env[e] = k
