"""The ktui sweep spec (YAML or JSON mapping) -> Draft."""

from __future__ import annotations

import functools
import math
import shlex

from ktui.sweep.check import Checker
from ktui.sweep.distributed import KEYS as DISTRIBUTED_KEYS
from ktui.sweep.distributed import read_distributed
from ktui.sweep.draft import Draft, Located, Quantity
from ktui.sweep.errors import did_you_mean
from ktui.sweep.indexed import INDEXED_KEYS, read_indexed
from ktui.sweep.names import PARAM_NAME, dns1123_label_problem, env_name_problem, label_value_problem
from ktui.sweep.objective import early_stopping_of, metric_of
from ktui.sweep.params import (
    Choice,
    Distribution,
    GridSpace,
    ListSpace,
    LogUniform,
    ParameterSpace,
    RandInt,
    RandomSpace,
    Uniform,
    Value,
    ZipAxis,
)
from ktui.sweep.source import Node
from ktui.wire.quantity import QuantityError, format_quantity, parse_quantity, range_problem

TOP_KEYS = (
    "name", "namespace", "image", "command", "args", "env", "resources", "limits", "retries",
    "restartPolicy", "ttlSecondsAfterFinished", "queue", "metric", "earlyStopping", "code", "parameters",
    *DISTRIBUTED_KEYS,
    *INDEXED_KEYS,
)
CODE_KEYS = ("path", "exclude")
RESOURCE_KEYS = ("cpu", "memory", "gpu")
PARAM_KEYS = ("grid", "list", "random", "zip", "repeat")
DISTRIBUTIONS = ("choice", "uniform", "loguniform", "randint")
MAX_RANDOM_TRIALS = 10**12
MAX_INT32 = 2**31 - 1  # backoffLimit and ttlSecondsAfterFinished are int32 in batch/v1


def read_spec(root: Node, path: str) -> tuple[Draft, Checker]:
    c = Checker(path)
    d = Draft(path=path, format="spec")
    top = c.mapping(root, "a sweep spec")
    if top is None:
        return d, c
    c.known_keys(root, TOP_KEYS, "the sweep spec")

    if "name" in top:
        name = c.string(top["name"], "name")
        if name is not None:
            problem = dns1123_label_problem(name)
            if problem:
                c.add(top["name"].pos, f"name {problem}")
            d.name = Located(name, top["name"].pos)
    else:
        c.add_missing("missing 'name': every sweep needs a name (a DNS-1123 label)")

    if "namespace" in top:
        ns = c.string(top["namespace"], "namespace")
        if ns is not None:
            problem = dns1123_label_problem(ns)
            if problem:
                c.add(top["namespace"].pos, f"namespace {problem}")
            d.namespace = Located(ns, top["namespace"].pos)
    if "image" in top:
        d.image_given = True
        image = c.string(top["image"], "image")
        if image is not None:
            if any(ch.isspace() for ch in image):
                c.add(top["image"].pos, f"image '{image}' must not contain spaces")
            d.image = Located(image, top["image"].pos)
    if "command" in top:
        d.command = _string_list(c, top["command"], "command", split=True)
    if "args" in top:
        d.args = _string_list(c, top["args"], "args", split=False, allow_empty=True)
    if "env" in top:
        _read_env(c, top["env"], d)
    if "resources" in top:
        d.requests = _resources(c, top["resources"], "resources")
    if "limits" in top:
        d.limits = _resources(c, top["limits"], "limits")
    if "retries" in top:
        d.retries = c.integer(top["retries"], "retries", minimum=0, maximum=MAX_INT32,
                              why=" (backoffLimit is an int32 in a Job)")
    if "restartPolicy" in top:
        rp = c.string(top["restartPolicy"], "restartPolicy")
        if rp is not None:
            if rp in ("OnFailure", "Never"):
                d.restart_policy = rp  # type: ignore[assignment]
            else:
                hint = " (a Job's pods must not restart Always)" if rp == "Always" else ""
                c.add(top["restartPolicy"].pos, f"restartPolicy must be OnFailure or Never, not '{rp}'{hint}")
    if "ttlSecondsAfterFinished" in top:
        d.ttl = c.integer(top["ttlSecondsAfterFinished"], "ttlSecondsAfterFinished", minimum=0,
                          maximum=MAX_INT32, why=" (an int32 in a Job)")
    if "queue" in top:
        q = c.string(top["queue"], "queue")
        if q is not None:
            problem = label_value_problem(q)
            if problem:
                c.add(top["queue"].pos, f"queue {problem}")
            d.queue = q
    if "metric" in top:
        d.metric = metric_of(c, top["metric"])
    if "earlyStopping" in top:
        d.early_stopping = early_stopping_of(c, top["earlyStopping"])
        if "metric" not in top:
            c.add(top["earlyStopping"].pos, "earlyStopping needs the sweep's 'metric' (what it compares the trials by)")
    if "code" in top:
        _read_code(c, top["code"], d)
    read_distributed(c, top, d)
    read_indexed(c, top, d)
    if "parameters" in top:
        d.space_pos = root.key_pos["parameters"]
        _read_parameters(c, top["parameters"], d)
    else:
        c.add_missing("missing 'parameters': give one of grid, list or random")
    return d, c


def _read_code(c: Checker, node: Node, d: Draft) -> None:
    """`code: DIR` or `code: {path: DIR, exclude: [PATTERN, ...]}`."""
    if isinstance(node.value, dict):
        m = node.value
        c.known_keys(node, CODE_KEYS, "code")
        if "path" not in m:
            c.add(node.pos, "code needs 'path' (the directory to ship, relative to the sweep file)")
        else:
            path = c.string(m["path"], "code.path")
            if path is not None:
                d.code = Located(path, m["path"].pos, "code.path")
        if "exclude" in m:
            items = c.list_(m["exclude"], "code.exclude", non_empty=False)
            out: list[str] = []
            for i, item in enumerate(items or ()):
                s = c.string(item, f"code.exclude[{i}]")
                if s is not None:
                    out.append(s)
            d.code_exclude = tuple(out)
        return
    if node.value is None or isinstance(node.value, list):
        c.add(node.pos, f"code must be a directory (code: .) or a mapping (code: {{path: ., exclude: [...]}}), not {node.kind}")
        return
    path = c.string(node, "code")
    if path is not None:
        d.code = Located(path, node.pos, "code")


def _string_list(c: Checker, node: Node, what: str, split: bool, allow_empty: bool = False) -> list[Located] | None:
    if split and isinstance(node.value, str):
        # `command: python train.py` is what people type; split it like a shell would.
        try:
            parts = shlex.split(node.value)
        except ValueError as e:
            c.add(node.pos, f"{what}: cannot split '{node.value}': {e}")
            return None
        if not parts:
            c.add(node.pos, f"{what} must not be empty")
            return None
        return [Located(p, node.pos, what) for p in parts]
    items = c.list_(node, what, non_empty=not allow_empty)
    if items is None:
        return None
    out: list[Located] = []
    for i, item in enumerate(items):
        s = c.text(item, f"{what}[{i}]")
        if s is not None:
            out.append(Located(s, item.pos, f"{what}[{i}]"))
    return out


def _read_env(c: Checker, node: Node, d: Draft) -> None:
    env = c.mapping(node, "env")
    if env is None:
        return
    for key, vnode in env.items():
        kpos = node.key_pos[key]
        problem = env_name_problem(key)
        if problem:
            c.add(kpos, problem)
            continue
        if key.startswith("KTUI_"):
            c.add(kpos, f"env name '{key}' is reserved: ktui sets KTUI_* variables itself")
            continue
        value = c.text(vnode, f"env.{key}")
        if value is not None:
            d.env.append((key, Located(value, vnode.pos, f"env.{key}")))


def _resources(c: Checker, node: Node, what: str) -> dict[str, Quantity]:
    m = c.mapping(node, what)
    if m is None:
        return {}
    c.known_keys(node, RESOURCE_KEYS, what)
    out: dict[str, Quantity] = {}
    for key in RESOURCE_KEYS:
        if key not in m:
            continue
        vnode = m[key]
        v = vnode.value
        if key == "gpu":
            if isinstance(v, bool) or not isinstance(v, (int, float, str)):
                c.add(vnode.pos, f"{what}.gpu must be a whole number of GPUs, not {vnode.kind}")
                continue
            try:
                n = parse_quantity(str(v))
            except QuantityError:
                c.add(vnode.pos, f"{what}.gpu must be a whole number of GPUs, got '{v}'")
                continue
            if n != n.to_integral_value():
                c.add(vnode.pos, f"{what}.gpu must be a whole number of GPUs, got '{v}' (GPUs are not shared)")
                continue
            too_big = range_problem("gpu", n, str(v))
            if too_big:
                c.add(vnode.pos, f"{what}.gpu {too_big}")
                continue
            out[key] = Quantity(str(int(n)), n, vnode.pos)
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float, str)):
            c.add(vnode.pos, f"{what}.{key} must be a quantity such as {'2 or 500m' if key == 'cpu' else '8Gi'}, not {vnode.kind}")
            continue
        try:
            text = format_quantity(v)
            value = parse_quantity(text)
        except QuantityError as e:
            c.add(vnode.pos, f"{what}.{key}: {e}")
            continue
        if key == "memory" and isinstance(v, (int, float)) and 0 < value < 1024 * 1024:
            # `memory: 8` means 8 bytes to Kubernetes; nobody means that.
            c.add(vnode.pos, f"{what}.memory: {text} means {text} bytes; write a unit, e.g. {text}Gi")
            continue
        too_big = range_problem(key, value, str(v))
        if too_big:
            c.add(vnode.pos, f"{what}.{key} {too_big}")
            continue
        out[key] = Quantity(text, value, vnode.pos)
    return out


_PARAM_NAME_RULE = "must start with a letter or '_' and hold only letters, digits, '_', '.', '-'"


@functools.lru_cache(maxsize=4096)
def _valid_param_name(name: str) -> bool:
    return PARAM_NAME.match(name) is not None


def _param_name(c: Checker, name: str, where: Node, seen: dict[str, Node]) -> bool:
    """Checks a parameter name, a key of `where`; positions are looked up only for a problem."""
    if not _valid_param_name(name):
        c.add(where.key_pos[name], f"parameter name '{name}' {_PARAM_NAME_RULE}")
        return False
    if name in seen:
        c.add(where.key_pos[name], f"parameter '{name}' is defined twice (first at line {seen[name].key_pos[name].line})")
        return False
    seen[name] = where
    return True


def _values(c: Checker, node: Node, what: str) -> tuple[Value, ...] | None:
    items = c.list_(node, what)
    if items is None:
        return None
    out = [c.scalar_value(item, f"{what}[{i}]") for i, item in enumerate(items)]
    if any(v is None for v in out):
        return None
    return tuple(v for v in out if v is not None)


def _plain_value(v: object) -> bool:
    """A value that needs no checking: the common case, tested without building a message."""
    t = type(v)
    return t is str or t is int or t is bool or (t is float and math.isfinite(v))  # type: ignore[arg-type]


def _read_list(c: Checker, lnode: Node, d: Draft) -> ListSpace | None:
    items = c.list_(lnode, "parameters.list")
    if items is None:
        d.names_known = False
        return None
    ok = True
    entries: list[tuple[tuple[str, Value], ...]] = []
    same: dict[frozenset[str], frozenset[str]] = {}  # one set object per distinct key set
    for i, item in enumerate(items):
        m = item.value
        if not isinstance(m, dict):
            c.add(item.pos, f"list[{i}] must be a mapping, not {item.kind}")
            ok = False
            continue
        if not m:
            c.add(item.pos, f"list[{i}] must name at least one parameter")
            ok = False
            continue
        entry: list[tuple[str, Value]] = []
        names: list[str] = []
        for name, vnode in m.items():
            if not _valid_param_name(name):
                c.add(item.key_pos[name], f"parameter name '{name}' {_PARAM_NAME_RULE}")
                ok = False
                continue
            names.append(name)
            v = vnode.value
            if not _plain_value(v):
                v = c.scalar_value(vnode, f"list[{i}].{name}")
                if v is None:
                    ok = False
                    continue
            entry.append((name, v))  # type: ignore[arg-type]
        entries.append(tuple(entry))
        keys = frozenset(names)
        d.key_sets.append((same.setdefault(keys, keys), item.pos, f"list[{i}]"))
    if not d.key_sets:
        d.names_known = False
    return ListSpace(tuple(entries)) if ok else None


def _read_parameters(c: Checker, node: Node, d: Draft) -> None:
    p = c.mapping(node, "parameters")
    if p is None:
        d.names_known = False
        return
    c.known_keys(node, PARAM_KEYS, "parameters")
    modes = [k for k in ("grid", "list", "random") if k in p]
    if len(modes) > 1:
        c.add(node.key_pos[modes[1]], f"parameters: give one of grid, list or random, not both {modes[0]} and {modes[1]}")
        d.names_known = False
        return
    if not modes and "zip" not in p:
        # A misspelt mode (`gird`) already has its did-you-mean; this would say it again.
        if not any(did_you_mean(k, PARAM_KEYS) for k in p if k not in PARAM_KEYS):
            c.add(node.pos, "parameters: give one of grid, list or random (optionally with zip and repeat)")
        d.names_known = False
        return
    seen: dict[str, Node] = {}
    base: GridSpace | ListSpace | RandomSpace | None = None
    shared_keys: list[str] = []
    ok = True
    if "grid" in p:
        gnode = p["grid"]
        g = c.mapping(gnode, "parameters.grid")
        if g is None or not g:
            if g is not None:
                c.add(gnode.pos, "parameters.grid must not be empty")
            d.names_known = False
            ok = False
        else:
            axes: list[tuple[str, tuple[Value, ...]]] = []
            for name, vnode in g.items():
                if not _param_name(c, name, gnode, seen):
                    ok = False
                    continue
                shared_keys.append(name)
                vals = _values(c, vnode, f"grid.{name}")
                if vals is None:
                    ok = False
                    continue
                axes.append((name, vals))
            base = GridSpace(tuple(axes)) if ok else None
    elif "list" in p:
        base = _read_list(c, p["list"], d)
        ok = base is not None
    elif "random" in p:
        base = _random(c, p["random"], seen, shared_keys, d)
        ok = base is not None
    zip_axis = None
    if "zip" in p:
        zip_axis = _zip(c, p["zip"], seen, shared_keys, d)
        ok = ok and zip_axis is not None
    repeat = None
    if "repeat" in p:
        repeat = c.integer(p["repeat"], "parameters.repeat", minimum=1)
        if repeat is None:
            ok = False
        if "seed" in seen:
            c.add(seen["seed"].key_pos["seed"], "parameter 'seed' clashes with repeat, which adds seed=0..N-1 itself")
            ok = False
        else:
            shared_keys.append("seed")
    if d.key_sets:  # list entries: each also gets the zip keys and seed
        if shared_keys:
            extra = frozenset(shared_keys)
            d.key_sets = [(ks | extra, pos, label) for ks, pos, label in d.key_sets]
    else:
        d.key_sets = [(frozenset(shared_keys), node.pos, "parameters")]
    if ok:
        d.space = ParameterSpace(base, zip_axis, repeat)


def _zip(c: Checker, node: Node, seen: dict[str, Node], keys: list[str], d: Draft) -> ZipAxis | None:
    z = c.mapping(node, "parameters.zip")
    if z is None:
        d.names_known = False
        return None
    if not z:
        c.add(node.pos, "parameters.zip must not be empty")
        return None
    names: list[str] = []
    columns: list[tuple[Value, ...]] = []
    ok = True
    for name, vnode in z.items():
        if not _param_name(c, name, node, seen):
            ok = False
            continue
        keys.append(name)
        vals = _values(c, vnode, f"zip.{name}")
        if vals is None:
            ok = False
            continue
        if columns and len(vals) != len(columns[0]):
            c.add(vnode.pos, f"zip.{name} has {len(vals)} values but zip.{names[0]} has {len(columns[0])}; zipped lists pair up, so they must be the same length")
            ok = False
            continue
        names.append(name)
        columns.append(vals)
    if not ok:
        return None
    return ZipAxis(tuple(names), tuple(zip(*columns, strict=True)))


def _random(c: Checker, node: Node, seen: dict[str, Node], keys: list[str], d: Draft) -> RandomSpace | None:
    r = c.mapping(node, "parameters.random")
    if r is None:
        d.names_known = False
        return None
    c.known_keys(node, ("trials", "seed", "space"), "parameters.random")
    trials = None
    if "trials" not in r:
        c.add(node.pos, "parameters.random needs 'trials' (how many samples to draw)")
    else:
        trials = c.integer(r["trials"], "random.trials", minimum=1)
    if trials is not None and trials > MAX_RANDOM_TRIALS:
        c.add(r["trials"].pos, f"random.trials {trials:,} is beyond any sweep")
        trials = None
    seed = 0
    if "seed" in r:
        s = c.integer(r["seed"], "random.seed")
        seed = s if s is not None else 0
    if "space" not in r:
        c.add(node.pos, "parameters.random needs 'space' (a distribution per parameter)")
        d.names_known = False
        return None
    snode = r["space"]
    space = c.mapping(snode, "random.space")
    if space is None:
        d.names_known = False
        return None
    if not space:
        c.add(snode.pos, "random.space must not be empty")
        return None
    dims: list[tuple[str, Distribution]] = []
    ok = trials is not None
    for name, dnode in space.items():
        if not _param_name(c, name, snode, seen):
            ok = False
            continue
        keys.append(name)
        dist = _distribution(c, dnode, f"random.space.{name}")
        if dist is None:
            ok = False
            continue
        dims.append((name, dist))
    if not ok or trials is None:
        return None
    return RandomSpace(trials, seed, tuple(dims))


def _distribution(c: Checker, node: Node, what: str) -> Distribution | None:
    m = c.mapping(node, what)
    if m is None:
        return None
    if len(m) != 1:
        c.add(node.pos, f"{what} must have exactly one of {', '.join(DISTRIBUTIONS)}")
        return None
    kind, vnode = next(iter(m.items()))
    kpos = node.key_pos[kind]
    if kind not in DISTRIBUTIONS:
        c.add(kpos, f"unknown distribution '{kind}' in {what}{did_you_mean(kind, DISTRIBUTIONS)}")
        return None
    if kind == "choice":
        vals = _values(c, vnode, f"{what}.choice")
        return Choice(vals) if vals is not None else None
    items = c.list_(vnode, f"{what}.{kind}")
    if items is None:
        return None
    if len(items) != 2:
        c.add(vnode.pos, f"{what}.{kind} must be [low, high], got {len(items)} values")
        return None
    if kind == "randint":
        lo_i, hi_i = (c.integer(items[0], f"{what}.randint low"), c.integer(items[1], f"{what}.randint high"))
        if lo_i is None or hi_i is None:
            return None
        if lo_i > hi_i:
            c.add(vnode.pos, f"{what}.randint: low {lo_i} is above high {hi_i}")
            return None
        return RandInt(lo_i, hi_i)
    lo, hi = (c.number(items[0], f"{what}.{kind} low"), c.number(items[1], f"{what}.{kind} high"))
    if lo is None or hi is None:
        return None
    if lo >= hi:
        c.add(vnode.pos, f"{what}.{kind}: low {lo:g} must be below high {hi:g}")
        return None
    if kind == "loguniform":
        if lo <= 0:
            c.add(items[0].pos, f"{what}.loguniform: low must be above 0, got {lo:g}")
            return None
        return LogUniform(lo, hi)
    return Uniform(lo, hi)
