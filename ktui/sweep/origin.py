"""The origin format (params.json): `[{"model", "preproc", "params": ["k=v k=v", ...]}]`.

Each entry crossed with each of its parameter strings is one trial, whose parameters
are model, preproc, then the string's `key=value` tokens in order."""

from __future__ import annotations

import difflib
import json
import re

from ktui.sweep.check import Checker
from ktui.sweep.draft import Draft
from ktui.sweep.errors import Pos
from ktui.sweep.names import PARAM_NAME
from ktui.sweep.params import ListSpace, ParameterSpace, Value
from ktui.sweep.source import Node
from ktui.sweep.spec import TOP_KEYS

ENTRY_KEYS = ("model", "preproc", "params")
_TOKEN = re.compile(r"\S+")
_SPACED_EQUALS = re.compile(r"\S\s+=|=\s+\S|(?:^|\s)=(?:\s|$)")
_AROUND_EQUALS = re.compile(r"\s*=\s*")
_ENTRY_SHAPE = '{"model": ..., "preproc": ..., "params": [%s, ...]}'


def _misspelt(key: str) -> str | None:
    close = difflib.get_close_matches(key, ENTRY_KEYS, n=1, cutoff=0.6)
    return close[0] if close else None


def looks_like_an_entry(root: Node) -> bool:
    """A mapping shaped like one experiment of params.json (not a sweep spec)."""
    assert isinstance(root.value, dict)
    keys = list(root.value)
    if not keys or any(k in TOP_KEYS for k in keys):
        return False
    # A misspelling counts only when it is closer to an entry key than to a spec key
    # (`parms` is a params.json slip, `paramters` a spec's).
    def entry_like(k: str) -> bool:
        close = difflib.get_close_matches(k, (*ENTRY_KEYS, *TOP_KEYS), n=1, cutoff=0.6)
        return bool(close) and close[0] in ENTRY_KEYS

    return any(entry_like(k) for k in keys)


def _example_params(node: Node) -> str:
    """`"weight=0.5 depth=2"` from what the user wrote, for a message showing the fix."""
    v = node.value
    if isinstance(v, list) and v and all(isinstance(x.value, str) for x in v):
        return json.dumps(" ".join(str(x.value) for x in v))
    if isinstance(v, str) and v.strip():
        return json.dumps(v)
    return '"key=value key=value"'


def read_origin(root: Node, path: str) -> tuple[Draft, Checker]:
    c = Checker(path)
    d = Draft(path=path, format="params.json")
    items = c.list_(root, "a params.json file (a list of experiments)")
    if items is None:
        return d, c
    if all(isinstance(item.value, str) for item in items):
        # A list of parameter strings alone: the experiments around them are missing.
        c.add(items[0].pos, "a params.json list holds experiments, not strings: write ["
              + _ENTRY_SHAPE % _example_params(items[0]) + "]")
        return d, c
    trials: list[tuple[tuple[str, Value], ...]] = []
    for i, item in enumerate(items):
        if isinstance(item.value, list):
            c.add(item.pos, f"entry {i + 1} is a list; each experiment is a mapping: "
                  + _ENTRY_SHAPE % _example_params(item))
            continue
        m = c.mapping(item, f"entry {i + 1}")
        if m is None:
            continue
        c.known_keys(item, ENTRY_KEYS, f"entry {i + 1}")
        # A misspelt key already says "did you mean"; its missing twin is the same mistake.
        meant = {_misspelt(k) for k in m if k not in ENTRY_KEYS}
        fixed: list[tuple[str, Value]] = []
        for key in ("model", "preproc"):
            if key not in m:
                if key not in meant:
                    c.add(item.pos, f"entry {i + 1} has no '{key}'")
                continue
            v = c.text(m[key], f"entry {i + 1}: {key}")
            if v is not None:
                if not v.strip() or any(ch.isspace() for ch in v):
                    c.add(m[key].pos, f"entry {i + 1}: {key} must be one word, got {v!r}")
                    continue
                fixed.append((key, v))
        if "params" not in m:
            if "params" not in meant:
                c.add(item.pos, f"entry {i + 1} has no 'params' (a list of \"key=value key=value\" strings)")
            continue
        pnode = m["params"]
        if isinstance(pnode.value, str):
            c.add(pnode.pos, f"entry {i + 1}: params must be a list of strings, not one string: write [{_example_params(pnode)}]")
            continue
        strings = c.list_(pnode, f"entry {i + 1}: params")
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
    words = s.split()
    if _SPACED_EQUALS.search(s):
        c.add(pos, f"{what}: '{s}' has spaces around '=': write '{_AROUND_EQUALS.sub('=', s.strip())}'")
        return None
    if len(words) > 1 and not any("=" in w for w in words):
        fix = (" ".join(f"{k}={v}" for k, v in zip(words[::2], words[1::2], strict=True))
               if len(words) % 2 == 0 else "key=value key=value")
        c.add(pos, f"{what}: '{s}' has no key=value tokens: write \"{fix}\"")
        return None
    out: list[tuple[str, Value]] = []
    seen: set[str] = set()
    ok = True
    for m in _TOKEN.finditer(s):
        tok = m.group(0)
        # +1: the column of the opening quote; tokens start after it.
        tpos = Pos(pos.line, pos.col + 1 + m.start())
        key, eq, value = tok.partition("=")
        if not eq or not key:
            hint = ""
            if not eq and ":" in tok.strip(":"):
                hint = f": write '{tok.replace(':', '=', 1)}'"
            c.add(tpos, f"{what}: '{tok}' is not key=value{hint}")
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
