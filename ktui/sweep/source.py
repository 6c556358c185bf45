"""Reading a sweep file into a tree of positioned nodes.

JSON and YAML both go through PyYAML's composer, because it keeps every node's line
and column (Python's json module does not), so later errors can point at the exact
key or value. Scalars are resolved with the YAML 1.2 core schema rather than
PyYAML's YAML 1.1 one: `1e-3` stays a number, `on`/`no` stay strings.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ktui.sweep.errors import Pos, Problem, SweepError

Scalar = str | int | float | bool | None

# Alias expansion can make a tiny file huge ("billion laughs"); refuse long before that hurts.
MAX_NODES = 200_000
MAX_FILE_BYTES = 16 * 1024 * 1024


@dataclass
class Node:
    """A positioned value: scalar, list of Node, or dict of str -> Node (key positions kept)."""

    value: Scalar | list[Node] | dict[str, Node]
    pos: Pos
    key_pos: dict[str, Pos] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        v = self.value
        if isinstance(v, dict):
            return "mapping"
        if isinstance(v, list):
            return "list"
        return type_name(v)


def type_name(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "list"
    if isinstance(v, dict):
        return "mapping"
    return type(v).__name__


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema scalar resolution."""


_Loader.yaml_implicit_resolvers = {}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)
_Loader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^<<$"), ["<"])
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""]
)

_TAG = "tag:yaml.org,2002:"


def _pos(mark: yaml.Mark | None) -> Pos:
    return Pos(mark.line + 1, mark.column + 1) if mark is not None else Pos(1, 1)


def _scalar(node: yaml.ScalarNode, path: str) -> Scalar:
    tag: str = node.tag
    text: str = str(node.value)
    try:
        if tag == _TAG + "str":
            return str(text)
        if tag == _TAG + "null":
            return None
        if tag == _TAG + "bool":
            return bool(text.lower() == "true")
        if tag == _TAG + "int":
            t = text.replace("_", "")
            if t.startswith("0o"):
                return int(t[2:], 8)
            if t.startswith("0x"):
                return int(t[2:], 16)
            return int(t)
        if tag == _TAG + "float":
            return float(text)
    except ValueError:
        pass
    else:
        raise SweepError([Problem(path, _pos(node.start_mark), f"unsupported YAML tag {tag}")])
    raise SweepError(
        [Problem(path, _pos(node.start_mark), f"{text!r} is not a valid {tag.removeprefix(_TAG)}")]
    )


class _Builder:
    def __init__(self, path: str) -> None:
        self.path = path
        self.count = 0

    def fail(self, node: yaml.Node, message: str) -> SweepError:
        return SweepError([Problem(self.path, _pos(node.start_mark), message)])

    def build(self, node: yaml.Node, ancestors: tuple[int, ...] = ()) -> Node:
        self.count += 1
        if self.count > MAX_NODES:
            raise self.fail(node, f"document too large (more than {MAX_NODES:,} values after aliases)")
        if id(node) in ancestors:
            raise self.fail(node, "recursive alias: a value contains itself")
        if isinstance(node, yaml.ScalarNode):
            return Node(_scalar(node, self.path), _pos(node.start_mark))
        inner = (*ancestors, id(node))
        if isinstance(node, yaml.SequenceNode):
            return Node([self.build(item, inner) for item in node.value], _pos(node.start_mark))
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Node] = {}
            key_pos: dict[str, Pos] = {}
            for knode, vnode in node.value:
                if knode.tag == _TAG + "merge":
                    raise self.fail(knode, "YAML merge keys (<<) are not supported; write the keys out")
                if not isinstance(knode, yaml.ScalarNode):
                    raise self.fail(knode, "keys must be plain strings")
                key = _scalar(knode, self.path)
                if not isinstance(key, str):
                    key = "" if key is None else str(key).lower() if isinstance(key, bool) else str(key)
                if key in out:
                    first = key_pos[key]
                    raise self.fail(knode, f"duplicate key '{key}' (first at line {first.line})")
                key_pos[key] = _pos(knode.start_mark)
                out[key] = self.build(vnode, inner)
            return Node(out, _pos(node.start_mark), key_pos)
        raise self.fail(node, f"unexpected YAML node {type(node).__name__}")


def _yaml_problem(path: str, exc: yaml.YAMLError) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    ctx = getattr(exc, "context", None)
    msg = f"invalid YAML: {what}" + (f" ({ctx})" if ctx else "")
    return Problem(path, _pos(mark), msg)


def _decode(path: str, data: bytes) -> str:
    if not data.strip():
        raise SweepError([Problem(path, Pos(), "empty file: expected a sweep spec or a params.json list")])
    if len(data) > MAX_FILE_BYTES:
        raise SweepError([Problem(path, Pos(), f"file too large ({len(data):,} bytes) for a sweep file")])
    if b"\x00" in data[:8192]:
        raise SweepError([Problem(path, Pos(), "binary file: expected YAML or JSON text")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise SweepError(
            [Problem(path, Pos(line, col), "not UTF-8 text (binary file?): expected YAML or JSON")]
        ) from None
    return text


def parse_text(text: str, path: str) -> tuple[Node, str]:
    """Parse YAML or JSON text into a Node tree; returns (root, "json"|"yaml")."""
    stripped = text.lstrip()
    looks_json = path.endswith(".json") or stripped[:1] in ("[", "{")
    json_problem: Problem | None = None
    if looks_json:
        try:
            json.loads(text)
        except json.JSONDecodeError as e:
            json_problem = Problem(path, Pos(e.lineno, e.colno), f"invalid JSON: {e.msg}")
        except RecursionError:
            json_problem = Problem(path, Pos(1, 1), "invalid JSON: nested too deeply")
    try:
        docs = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.YAMLError as e:
        raise SweepError([json_problem or _yaml_problem(path, e)]) from None
    except RecursionError:
        raise SweepError([json_problem or Problem(path, Pos(1, 1), "nested too deeply")]) from None
    # Invalid JSON that is valid YAML (a flow mapping such as `{name: x}`) is fine, unless
    # the file says it is JSON.
    if json_problem is not None and path.endswith(".json"):
        raise SweepError([json_problem])
    docs = [d for d in docs if d is not None]
    if not docs:
        raise SweepError([Problem(path, Pos(), "empty file: expected a sweep spec or a params.json list")])
    if len(docs) > 1:
        raise SweepError([Problem(path, _pos(docs[1].start_mark), "expected one document, found several (---)")])
    try:
        root = _Builder(path).build(docs[0])
    except RecursionError:
        raise SweepError([Problem(path, Pos(1, 1), "nested too deeply")]) from None
    return root, "json" if json_problem is None and looks_json else "yaml"


def read_source(path: str | Path) -> tuple[Node, str]:
    """Read and parse a sweep file. The only I/O in ktui/sweep."""
    p = str(path)
    try:
        data = Path(path).read_bytes()
    except IsADirectoryError:
        raise SweepError([Problem(p, Pos(), "is a directory, not a sweep file")]) from None
    except FileNotFoundError:
        raise SweepError([Problem(p, Pos(), "no such file")]) from None
    except OSError as e:
        raise SweepError([Problem(p, Pos(), f"cannot read: {e.strerror or e}")]) from None
    return parse_text(_decode(p, data), p)
