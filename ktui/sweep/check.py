"""Typed accessors over positioned nodes that record problems instead of raising,
so one run reports every mistake in the file, each at its line and column."""

from __future__ import annotations

from collections.abc import Iterable

from ktui.sweep.errors import Pos, Problem, SweepError, did_you_mean
from ktui.sweep.params import Value
from ktui.sweep.source import Node, type_name


class Checker:
    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[Problem] = []

    def add(self, pos: Pos, message: str) -> None:
        self.problems.append(Problem(self.path, pos, message))

    def add_missing(self, message: str) -> None:
        """Something the file as a whole lacks; pointed at 1:1 for editors."""
        self.problems.append(Problem(self.path, Pos(1, 1), message, whole_file=True))

    def raise_if_any(self) -> None:
        """All problems, in the order of Problem.order."""
        if self.problems:
            raise SweepError(sorted(self.problems, key=Problem.order))

    def mapping(self, node: Node, what: str) -> dict[str, Node] | None:
        if isinstance(node.value, dict):
            return node.value
        self.add(node.pos, f"{what} must be a mapping, not {node.kind}")
        return None

    def known_keys(self, node: Node, allowed: Iterable[str], what: str) -> None:
        allowed = list(allowed)
        assert isinstance(node.value, dict)
        for key in node.value:
            if key not in allowed:
                self.add(node.key_pos[key], f"unknown key '{key}' in {what}{did_you_mean(key, allowed)}")

    def list_(self, node: Node, what: str, non_empty: bool = True) -> list[Node] | None:
        if not isinstance(node.value, list):
            self.add(node.pos, f"{what} must be a list, not {node.kind}")
            return None
        if non_empty and not node.value:
            self.add(node.pos, f"{what} must not be empty")
            return None
        return node.value

    def string(self, node: Node, what: str, non_empty: bool = True) -> str | None:
        v = node.value
        if isinstance(v, str):
            if non_empty and not v.strip():
                self.add(node.pos, f"{what} must not be empty")
                return None
            return v
        self.add(node.pos, f"{what} must be a string, not {node.kind}")
        return None

    def text(self, node: Node, what: str) -> str | None:
        """A string, or a number/boolean taken as its text (env values, model names)."""
        v = node.value
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (str, int, float)):
            return str(v)
        self.add(node.pos, f"{what} must be a string, not {node.kind}")
        return None

    def integer(self, node: Node, what: str, minimum: int | None = None, maximum: int | None = None,
                why: str = "") -> int | None:
        v = node.value
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if not isinstance(v, int) or isinstance(v, bool):
            self.add(node.pos, f"{what} must be a whole number, not {node.kind}{_show(v)}")
            return None
        if minimum is not None and v < minimum:
            self.add(node.pos, f"{what} must be at least {minimum}, got {v}")
            return None
        if maximum is not None and v > maximum:
            self.add(node.pos, f"{what} must be at most {maximum}{why}, got {v}")
            return None
        return v

    def number(self, node: Node, what: str) -> float | None:
        v = node.value
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if v != v or v in (float("inf"), float("-inf")):
                self.add(node.pos, f"{what} must be a finite number, got {v}")
                return None
            return float(v)
        self.add(node.pos, f"{what} must be a number, not {node.kind}{_show(v)}")
        return None

    def scalar_value(self, node: Node, what: str) -> Value | None:
        v = node.value
        if isinstance(v, (str, int, float, bool)):
            if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
                self.add(node.pos, f"{what} must be finite, got {v}")
                return None
            return v
        self.add(node.pos, f"{what} must be a single value (string, number or boolean), not {node.kind}")
        return None


def _show(v: object) -> str:
    if isinstance(v, (dict, list)):
        return ""
    if v is None:
        return ""
    text = repr(v) if isinstance(v, str) else str(v)
    return " " + (text if len(text) <= 40 else text[:37] + "...")


__all__ = ["Checker", "type_name"]
