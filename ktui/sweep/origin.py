"""The origin format (params.json): `[{"model", "preproc", "params": ["k=v k=v", ...]}]`.

Each entry crossed with each of its parameter strings is one trial, whose parameters
are model, preproc, then the string's `key=value` tokens in order."""

from __future__ import annotations

import re

from ktui.sweep.check import Checker
from ktui.sweep.draft import Draft
from ktui.sweep.errors import Pos
from ktui.sweep.names import PARAM_NAME
from ktui.sweep.params import ListSpace, ParameterSpace, Value
from ktui.sweep.source import Node

ENTRY_KEYS = ("model", "preproc", "params")
_TOKEN = re.compile(r"\S+")


def read_origin(root: Node, path: str) -> tuple[Draft, Checker]:
    c = Checker(path)
    d = Draft(path=path, format="params.json")
    items = c.list_(root, "a params.json file (a list of experiments)")
    if items is None:
        return d, c
    trials: list[tuple[tuple[str, Value], ...]] = []
    for i, item in enumerate(items):
        m = c.mapping(item, f"entry {i + 1}")
        if m is None:
            continue
        c.known_keys(item, ENTRY_KEYS, f"entry {i + 1}")
        fixed: list[tuple[str, Value]] = []
        for key in ("model", "preproc"):
            if key not in m:
                c.add(item.pos, f"entry {i + 1} has no '{key}'")
                continue
            v = c.text(m[key], f"entry {i + 1}: {key}")
            if v is not None:
                if not v.strip() or any(ch.isspace() for ch in v):
                    c.add(m[key].pos, f"entry {i + 1}: {key} must be one word, got {v!r}")
                    continue
                fixed.append((key, v))
        if "params" not in m:
            c.add(item.pos, f"entry {i + 1} has no 'params' (a list of \"key=value key=value\" strings)")
            continue
        strings = c.list_(m["params"], f"entry {i + 1}: params")
        if strings is None:
            continue
        for j, snode in enumerate(strings):
            s = c.string(snode, f"entry {i + 1}: params[{j}]", non_empty=False)
            if s is None:
                continue
            tokens = _tokens(c, s, snode.pos, f"entry {i + 1}: params[{j}]")
            if tokens is None:
                continue
            trial = fixed + tokens
            trials.append(tuple(trial))
            d.key_sets.append((frozenset(k for k, _ in trial), snode.pos, f"entry {i + 1}: params[{j}]"))
    if not c.problems:
        d.space = ParameterSpace(ListSpace(tuple(trials)))
    return d, c


def _tokens(c: Checker, s: str, pos: Pos, what: str) -> list[tuple[str, Value]] | None:
    out: list[tuple[str, Value]] = []
    seen: set[str] = set()
    ok = True
    for m in _TOKEN.finditer(s):
        tok = m.group(0)
        # +1: the column of the opening quote; tokens start after it.
        tpos = Pos(pos.line, pos.col + 1 + m.start())
        key, eq, value = tok.partition("=")
        if not eq or not key:
            c.add(tpos, f"{what}: '{tok}' is not key=value")
            ok = False
            continue
        if not PARAM_NAME.match(key):
            c.add(tpos, f"{what}: '{key}' is not a parameter name (letters, digits, '_', '.', '-')")
            ok = False
            continue
        if key in seen or key in ("model", "preproc"):
            c.add(tpos, f"{what}: '{key}' is given twice")
            ok = False
            continue
        seen.add(key)
        out.append((key, value))
    return out if ok else None
