"""Reading a sweep file into a tree of positioned nodes.

JSON and YAML both go through YAML's event stream, read with libyaml when PyYAML has it:
events carry every value's line and column (Python's json module does not), so later
errors can point at the exact key or value. The tree is built from the events here rather
than by PyYAML's composer and constructor, whose per-value Python work made a 10,000-trial
file take seconds and hundreds of MB; a node keeps its position as one packed int.
Scalars are resolved with the YAML 1.2 core schema rather than PyYAML's YAML 1.1 one:
`1e-3` stays a number, `on`/`no` stay strings.

Problems that leave the tree usable (a duplicate key) are collected and returned with it,
so they are reported together with everything validation finds.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from ktui.sweep.errors import Pos, Problem, SweepError
from ktui.sweep.model import DEFAULT_MAX_TRIALS

Scalar = str | int | float | bool | None

# Alias expansion can make a tiny file huge ("billion laughs"); refuse long before that hurts.
# The bound grows with --max-trials, so a big sweep is a flag away, never a code change.
VALUES_PER_TRIAL = 64
VALUES_BASE = 4096
MIN_FILE_BYTES = 16 * 1024 * 1024
BYTES_PER_TRIAL = 2048

_SHIFT = 32  # a position packed as line << 32 | col


def values_limit(max_trials: int) -> int:
    """How many values (after aliases) a file may hold at this --max-trials."""
    return VALUES_BASE + VALUES_PER_TRIAL * max(max_trials, 0)


def bytes_limit(max_trials: int) -> int:
    return max(MIN_FILE_BYTES, BYTES_PER_TRIAL * max(max_trials, 0))


def _unpack(p: int) -> Pos:
    return Pos(p >> _SHIFT, p & ((1 << _SHIFT) - 1))


class KeyPos:
    """`node.key_pos[key]` -> Pos; positions stay packed ints until someone asks."""

    __slots__ = ("_packed",)

    def __init__(self, packed: dict[str, int]) -> None:
        self._packed = packed

    def __getitem__(self, key: str) -> Pos:
        return _unpack(self._packed[key])

    def __contains__(self, key: object) -> bool:
        return key in self._packed


_NO_KEYS = KeyPos({})


class Node:
    """A positioned value: scalar, list of Node, or dict of str -> Node (key positions kept)."""

    __slots__ = ("_keys", "_p", "value")

    def __init__(self, value: Scalar | list[Node] | dict[str, Node], packed: int,
                 keys: dict[str, int] | None = None) -> None:
        self.value = value
        self._p = packed
        self._keys = keys

    @property
    def pos(self) -> Pos:
        return _unpack(self._p)

    @property
    def key_pos(self) -> KeyPos:
        return KeyPos(self._keys) if self._keys is not None else _NO_KEYS

    @property
    def kind(self) -> str:
        v = self.value
        if isinstance(v, dict):
            return "mapping"
        if isinstance(v, list):
            return "list"
        return type_name(v)

    def __repr__(self) -> str:
        return f"Node({self.value!r}, {self.pos})"


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


# YAML 1.2 core schema, as regular expressions over a plain (unquoted) scalar.
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_NULL = frozenset(("", "~", "null", "Null", "NULL"))
_TAG = "tag:yaml.org,2002:"
_MERGE = object()  # a plain `<<` key
_NEED_KEY = object()


def _int(text: str) -> int:
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text)


def _float(text: str) -> float:
    low = text.lower()
    if low.endswith(".inf"):
        return float("-inf") if low.startswith("-") else float("inf")
    if low == ".nan":
        return float("nan")
    return float(text)


def _plain(text: str) -> Scalar:
    """An untagged plain scalar under the core schema."""
    if text in _NULL:
        return None
    c = text[0]
    if c in "tTfF" and _BOOL.match(text):
        return text[0] in "tT"
    if c in "-+0123456789" and _INT.match(text):
        return _int(text)
    if c in "-+.0123456789" and _FLOAT.match(text):
        return _float(text)
    return text


def _tagged(tag: str, text: str) -> Scalar:
    """An explicitly tagged scalar (`!!int "3"`); raises ValueError with the message."""
    name = tag.removeprefix(_TAG)
    try:
        if name == "str":
            return text
        if name == "null":
            return None
        if name == "bool":
            return text.lower() == "true"
        if name == "int":
            return _int(text.replace("_", ""))
        if name == "float":
            return _float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a valid {name}") from None
    raise ValueError(f"unsupported YAML tag {tag}")


_SURROGATE = re.compile("[\ud800-\udfff]")


def _join_surrogates(text: str) -> str:
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _key_text(v: Scalar) -> str:
    if isinstance(v, str):
        return v
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _yaml_problem(path: str, exc: yaml.YAMLError) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    ctx = getattr(exc, "context", None)
    msg = f"invalid YAML: {what}" + (f" ({ctx})" if ctx else "")
    pos = Pos(mark.line + 1, mark.column + 1) if mark is not None else Pos(1, 1)
    return Problem(path, pos, msg)


class _PyLoader(yaml.SafeLoader):
    """Only its parser is used: for messages (they name what was expected) and without libyaml."""


def _parser(text: str) -> yaml.SafeLoader | yaml.CSafeLoader:
    if getattr(yaml, "__with_libyaml__", False):
        return yaml.CSafeLoader(text)
    return _PyLoader(text)  # pragma: no cover - PyYAML built without libyaml


def _early_syntax_problem(text: str, path: str, exc: yaml.YAMLError) -> Problem | None:
    """The pure-Python parser's wording for a syntax error libyaml found, read from the text
    up to a little past the error (that parser is several times slower); None when it
    finds nothing there: it accepts a few things libyaml does not (JSON's surrogate-pair
    escapes), so the caller then parses the whole text with it."""
    mark = getattr(exc, "problem_mark", None)
    if mark is None:
        return None
    cut = 0
    for _ in range(mark.line + 3):
        nl = text.find("\n", cut)
        if nl < 0:
            return None  # the error is near the end: the whole text is read anyway
        cut = nl + 1
    try:
        for _ in yaml.parse(text[:cut], Loader=_PyLoader):
            pass
    except yaml.YAMLError as e:
        problem = _yaml_problem(path, e)
        if problem.pos.line <= mark.line + 1:  # not an artefact of the cut
            return problem
    return None


class _Builder:
    """Builds Nodes from events with a stack, counting values as aliases expand them."""

    def __init__(self, path: str, max_trials: int, pairs: bool = False) -> None:
        self.path = path
        # PyYAML's own parser leaves JSON's "\\ud83d\\ude00" as two surrogates: join them.
        self.pairs = pairs
        self.max_trials = max_trials
        self.limit = values_limit(max_trials)
        self.count = 0  # values (not keys), aliases expanded
        self.documents = 0
        self.root: Node | None = None
        self.fatal: list[Problem] = []  # the tree cannot be trusted
        self.soft: list[Problem] = []  # the tree is fine; validation goes on
        self.anchors: dict[str, tuple[Node, int]] = {}  # name -> (node, values it stands for)
        self.open_anchors: set[str] = set()

    def problem(self, packed: int, message: str) -> Problem:
        return Problem(self.path, _unpack(packed), message)

    def too_large(self, packed: int) -> SweepError:
        return SweepError([self.problem(packed, (
            f"document too large: more than {self.limit:,} values after aliases, the limit for "
            f"--max-trials {self.max_trials:,} (raise --max-trials to allow more)"))])

    def build(self, parser: yaml.SafeLoader | yaml.CSafeLoader) -> Node | None:
        # A frame: [node, container, anchor, count at start, key positions, pending key, key pos]
        # where pending key is _NEED_KEY while a mapping waits for its next key, None when the
        # key is to be dropped (a duplicate), else the key.
        stack: list[list[Any]] = []
        cache: dict[str, object] = {}  # Scalar, or _MERGE
        limit = self.limit
        get_event = parser.get_event
        while True:
            ev: Any = get_event()
            cls = type(ev)
            if cls is StreamEndEvent or ev is None:
                break
            m = ev.start_mark
            packed = (m.line + 1) << _SHIFT | (m.column + 1)
            if cls is ScalarEvent:
                tag = ev.tag
                text = ev.value
                if self.pairs and _SURROGATE.search(text):
                    text = _join_surrogates(text)
                if tag is None or tag == "!":
                    # PyYAML resolves a `!`-tagged scalar like a plain one; so do we.
                    if ev.implicit[0] or tag == "!":
                        try:
                            value: Any = cache[text]
                        except KeyError:
                            value = cache[text] = _plain(text) if text != "<<" else _MERGE
                    else:
                        value = text
                else:
                    try:
                        value = _tagged(tag, text)
                    except ValueError as e:
                        self.fatal.append(self.problem(packed, str(e)))
                        value = text
                if stack:
                    frame = stack[-1]
                    if frame[5] is _NEED_KEY:
                        self._key(frame, value, packed)
                        if ev.anchor is not None:
                            self._anchor(ev.anchor, Node(value, packed), 0, packed)
                        continue
                elif self.documents > 1:
                    raise SweepError([self.problem(packed, "expected one document, found several (---)")])
                node = Node(value, packed)
                self.count += 1
                if self.count > limit:
                    raise self.too_large(packed)
                if ev.anchor is not None:
                    self._anchor(ev.anchor, node, 1, packed)
                self._attach(stack, node)
            elif cls is MappingStartEvent or cls is SequenceStartEvent:
                if not stack and self.documents > 1:
                    raise SweepError([self.problem(packed, "expected one document, found several (---)")])
                is_map = cls is MappingStartEvent
                keys: dict[str, int] | None = {} if is_map else None
                node = Node({} if is_map else [], packed, keys)
                if stack and stack[-1][5] is _NEED_KEY:
                    self.fatal.append(self.problem(packed, "keys must be plain strings"))
                    stack[-1][5] = None
                    stack[-1][6] = packed
                if ev.anchor is not None:
                    if ev.anchor in self.anchors or ev.anchor in self.open_anchors:
                        self._anchor(ev.anchor, node, 0, packed)  # raises
                    self.open_anchors.add(ev.anchor)
                stack.append([node, node.value, ev.anchor, self.count, keys,
                              _NEED_KEY if is_map else None, 0])
                self.count += 1
                if self.count > limit:
                    raise self.too_large(packed)
            elif cls is MappingEndEvent or cls is SequenceEndEvent:
                frame = stack.pop()
                node = frame[0]
                if frame[2] is not None:
                    self.open_anchors.discard(frame[2])
                    self.anchors[frame[2]] = (node, self.count - frame[3])
                self._attach(stack, node)
            elif cls is AliasEvent:
                name = ev.anchor
                if not stack and self.documents > 1:
                    raise SweepError([self.problem(packed, "expected one document, found several (---)")])
                if name in self.open_anchors:
                    self.fatal.append(self.problem(packed, "recursive alias: a value contains itself"))
                    node = Node(None, packed)
                elif name not in self.anchors:
                    raise SweepError([self.problem(packed, f"invalid YAML: found undefined alias {name!r}")])
                else:
                    node, weight = self.anchors[name]
                    if stack and stack[-1][5] is _NEED_KEY:
                        if isinstance(node.value, (dict, list)):
                            self.fatal.append(self.problem(node._p, "keys must be plain strings"))
                            stack[-1][5], stack[-1][6] = None, packed
                        else:
                            self._key(stack[-1], node.value, packed)
                        continue
                    self.count += weight
                    if self.count > limit:
                        raise self.too_large(packed)
                self._attach(stack, node)
            elif cls is DocumentStartEvent:
                self.documents += 1
        return self.root

    def _anchor(self, name: str, node: Node, weight: int, packed: int) -> None:
        if name in self.anchors or name in self.open_anchors:
            first = self.anchors[name][0].pos.line if name in self.anchors else "?"
            raise SweepError([self.problem(packed, f"invalid YAML: anchor &{name} is defined twice (first at line {first})")])
        self.anchors[name] = (node, weight)

    def _key(self, frame: list[Any], value: object, packed: int) -> None:
        if value is _MERGE:
            self.fatal.append(self.problem(packed, "YAML merge keys (<<) are not supported; write the keys out"))
            frame[5] = None
        else:
            key = _key_text(value)  # type: ignore[arg-type]
            keys: dict[str, int] = frame[4]
            if key in keys:
                self.soft.append(self.problem(packed, f"duplicate key '{key}' (first at line {keys[key] >> _SHIFT})"))
                frame[5] = None
            else:
                frame[5] = key
        frame[6] = packed

    def _attach(self, stack: list[list[Any]], node: Node) -> None:
        if not stack:
            if self.documents == 1:
                self.root = node
            return
        frame = stack[-1]
        container = frame[1]
        if frame[4] is None:
            container.append(node)
            return
        key = frame[5]
        if key is not None:
            frame[4][key] = frame[6]
            container[key] = node
        frame[5] = _NEED_KEY


def _build(text: str, path: str, max_trials: int, slow: bool) -> _Builder:
    builder = _Builder(path, max_trials, pairs=slow)
    parser = _PyLoader(text) if slow else _parser(text)
    try:
        builder.build(parser)
    finally:
        parser.dispose()
    return builder


def _document_root(text: str, path: str, max_trials: int) -> tuple[Node | None, list[Problem]]:
    fast = getattr(yaml, "__with_libyaml__", False)
    try:
        builder = _build(text, path, max_trials, slow=not fast)
    except yaml.YAMLError as e:
        if not fast:  # pragma: no cover - PyYAML built without libyaml
            raise SweepError([_yaml_problem(path, e)]) from None
        early = _early_syntax_problem(text, path, e)
        if early is not None:
            raise SweepError([early]) from None
        try:
            builder = _build(text, path, max_trials, slow=True)
        except yaml.YAMLError as e2:
            raise SweepError([_yaml_problem(path, e2)]) from None
    if builder.fatal:
        raise SweepError(sorted(builder.fatal + builder.soft, key=Problem.order))
    return builder.root, builder.soft


def _decode(path: str, data: bytes, max_trials: int) -> str:
    if not data.strip():
        raise SweepError([Problem(path, Pos(), "empty file: expected a sweep spec or a params.json list")])
    limit = bytes_limit(max_trials)
    if len(data) > limit:
        raise SweepError([Problem(path, Pos(), (
            f"file too large: {len(data):,} bytes, more than the {limit:,} allowed at --max-trials "
            f"{max_trials:,} (raise --max-trials to allow more)"))])
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


def parse_text(text: str, path: str, max_trials: int | None = None) -> tuple[Node, str, list[Problem]]:
    """Parse YAML or JSON text into a Node tree.

    Returns (root, "json"|"yaml", problems that validation should report along with its own)."""
    trials = DEFAULT_MAX_TRIALS if max_trials is None else max_trials
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
        # Invalid JSON that is valid YAML (a flow mapping such as `{name: x}`) is fine,
        # unless the file says it is JSON.
        if json_problem is not None and path.endswith(".json"):
            raise SweepError([json_problem])
    try:
        root, problems = _document_root(text, path, trials)
    except SweepError as e:
        if json_problem is not None and e.first.message.startswith("invalid YAML"):
            raise SweepError([json_problem]) from None
        raise
    if root is None:
        raise SweepError([Problem(path, Pos(), "empty file: expected a sweep spec or a params.json list")])
    return root, "json" if json_problem is None and looks_json else "yaml", problems


def read_source(path: str | Path, max_trials: int | None = None) -> tuple[Node, str, list[Problem]]:
    """Read and parse a sweep file. The only I/O in ktui/sweep."""
    trials = DEFAULT_MAX_TRIALS if max_trials is None else max_trials
    p = str(path)
    try:
        data = Path(path).read_bytes()
    except IsADirectoryError:
        raise SweepError([Problem(p, Pos(), "is a directory, not a sweep file")]) from None
    except FileNotFoundError:
        raise SweepError([Problem(p, Pos(), "no such file")]) from None
    except OSError as e:
        raise SweepError([Problem(p, Pos(), f"cannot read: {e.strerror or e}")]) from None
    return parse_text(_decode(p, data, trials), p, trials)
