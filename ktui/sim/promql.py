"""The small PromQL subset the simulated Prometheus answers (pure).

Supported: vector selectors `name`, `name{l="v", l!="v", l=~"re", l!~"re"}`,
`{__name__=~"A|B", ...}`, joined by `or` (any number). Regexes are fully anchored as in
Prometheus. `or` keeps every series of the left side and adds right-side series whose labels
other than `__name__` match none on the left, as Prometheus does, so `A or B` over series
that differ only in their name returns only A's: select several names with
`{__name__=~"A|B"}`. Anything else raises QueryError with Prometheus's message shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_OPS = ("=~", "!~", "!=", "=")


class QueryError(ValueError):
    """A query outside the subset, rendered like Prometheus's parse errors."""


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str
    value: str

    def __post_init__(self) -> None:
        if self.op in ("=~", "!~"):
            try:
                object.__setattr__(self, "_re", re.compile(f"^(?:{self.value})$", re.S))
            except re.error as exc:
                raise QueryError(f"error parsing regexp: {exc}") from exc

    def matches(self, value: str) -> bool:
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        hit = self._re.match(value) is not None  # type: ignore[attr-defined]
        return hit if self.op == "=~" else not hit

    def literals(self) -> list[str] | None:
        """The exact values this matcher accepts, when it is `=` or a plain alternation."""
        if self.op == "=":
            return [self.value]
        # Only unescaped letters, digits, _ and -, and escaped dots: an alternation of names.
        if self.op == "=~" and re.fullmatch(r"(?:[A-Za-z0-9_-]|\\\.)+(?:\|(?:[A-Za-z0-9_-]|\\\.)+)*",
                                            self.value):
            return self.value.replace("\\.", ".").split("|")
        return None


@dataclass(frozen=True)
class Selector:
    matchers: tuple[Matcher, ...]

    def matches(self, labels: dict[str, str]) -> bool:
        return all(m.matches(labels.get(m.label, "")) for m in self.matchers)

    def literals(self, label: str) -> list[str] | None:
        for m in self.matchers:
            if m.label == label:
                lit = m.literals()
                if lit is not None:
                    return lit
        return None


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, msg: str) -> QueryError:
        line = self.text.count("\n", 0, self.pos) + 1
        col = self.pos - (self.text.rfind("\n", 0, self.pos) + 1) + 1
        return QueryError(f"{line}:{col}: parse error: {msg}")

    def ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def peek(self, s: str) -> bool:
        return self.text.startswith(s, self.pos)

    def parse(self) -> list[Selector]:
        self.ws()
        if self.pos >= len(self.text):
            raise self.error("no expression found in input")
        out = [self.selector()]
        while True:
            self.ws()
            if self.pos >= len(self.text):
                return out
            m = _IDENT.match(self.text, self.pos)
            if m is None or m.group() != "or":
                raise self.unsupported()
            self.pos = m.end()
            self.ws()
            out.append(self.selector())

    def unsupported(self) -> QueryError:
        return self.error(f'unexpected "{self.text[self.pos:self.pos + 20]}": the simulated '
                          "Prometheus supports only vector selectors joined by \"or\"")

    def selector(self) -> Selector:
        matchers: list[Matcher] = []
        m = _IDENT.match(self.text, self.pos)
        if m is not None:
            if m.group() in ("sum", "avg", "max", "min", "count", "rate", "by", "without",
                             "on", "ignoring", "and", "unless", "or"):
                raise self.unsupported()
            matchers.append(Matcher("__name__", "=", m.group()))
            self.pos = m.end()
            self.ws()
            if self.peek("("):
                raise self.unsupported()
        if self.peek("{"):
            self.pos += 1
            matchers += self.matchers()
        elif not matchers:
            raise self.unsupported()
        self.ws()
        if self.peek("[") or self.peek("offset") or self.peek("@"):
            raise self.unsupported()
        if not any(not mm.matches("") for mm in matchers):
            raise self.error("vector selector must contain at least one non-empty matcher")
        return Selector(tuple(matchers))

    def matchers(self) -> list[Matcher]:
        out: list[Matcher] = []
        while True:
            self.ws()
            if self.peek("}"):
                self.pos += 1
                return out
            m = _LABEL.match(self.text, self.pos)
            if m is None:
                if self.pos >= len(self.text):
                    raise self.error("unexpected end of input inside braces")
                raise self.error(f'unexpected character inside braces: "{self.text[self.pos]}"')
            self.pos = m.end()
            self.ws()
            op = next((o for o in _OPS if self.peek(o)), None)
            if op is None:
                raise self.error("unexpected end of input inside braces"
                                 if self.pos >= len(self.text) else
                                 f'unexpected character inside braces: "{self.text[self.pos]}"')
            self.pos += len(op)
            self.ws()
            out.append(Matcher(m.group(), op, self.string()))
            self.ws()
            if self.peek(","):
                self.pos += 1
            elif not self.peek("}"):
                if self.pos >= len(self.text):
                    raise self.error("unexpected end of input inside braces")
                raise self.error(f'unexpected character inside braces: "{self.text[self.pos]}"')

    def string(self) -> str:
        if self.pos >= len(self.text) or self.text[self.pos] not in "\"'`":
            raise self.error("unexpected end of input inside braces"
                             if self.pos >= len(self.text) else
                             f'unexpected "{self.text[self.pos]}" in label matching, expected '
                             "string")
        quote = self.text[self.pos]
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == quote:
                self.pos += 1
                return "".join(out)
            if ch == "\\" and quote != "`" and self.pos + 1 < len(self.text):
                nxt = self.text[self.pos + 1]
                out.append({"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}.get(
                    nxt, "\\" + nxt))
                self.pos += 2
                continue
            out.append(ch)
            self.pos += 1
        raise self.error("unterminated quoted string")


def parse(query: str) -> list[Selector]:
    return _Parser(query).parse()


def union(results: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """`a or b or ...` over each side's vector items (`{"metric": labels, "value": ...}`)."""
    out: list[dict[str, Any]] = []
    seen: set[frozenset[tuple[str, str]]] = set()
    for series in results:
        sigs = []
        for s in series:
            sig = frozenset((k, v) for k, v in s["metric"].items() if k != "__name__")
            if sig in seen:
                continue
            out.append(s)
            sigs.append(sig)
        seen.update(sigs)
    return out
