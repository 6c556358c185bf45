"""Label and field selectors with kube-apiserver's grammar and matching rules."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ktui.sim.errors import ApiError, bad_request


@dataclass(frozen=True)
class LabelRequirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!", "gt", "lt"
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.op
        if op == "=":
            return labels.get(self.key) == self.values[0]
        if op == "!=":
            return labels.get(self.key) != self.values[0]
        if op == "in":
            return self.key in labels and labels[self.key] in self.values
        if op == "notin":
            return self.key not in labels or labels[self.key] not in self.values
        if op == "exists":
            return self.key in labels
        if op == "!":
            return self.key not in labels
        value = labels.get(self.key)
        if value is None:
            return False
        try:
            have, want = int(value), int(self.values[0])
        except ValueError:
            return False
        return have > want if op == "gt" else have < want


@dataclass(frozen=True)
class LabelSelector:
    requirements: tuple[LabelRequirement, ...] = ()

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        labels = labels or {}
        return all(r.matches(labels) for r in self.requirements)

    @property
    def empty(self) -> bool:
        return not self.requirements


_TOKEN_RE = re.compile(r"\s*(==|!=|=|!|\(|\)|,|>|<|[^\s=!(),<>]+)")
_KEY_RE = re.compile(r"^([a-z0-9A-Z]([a-z0-9A-Z._-]*[a-z0-9A-Z])?/)?[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$")  # noqa: E501


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m:
            raise bad_request(f"unable to parse requirement: unexpected character at {pos}")
        out.append(m.group(1))
        pos = m.end()
    return out


def parse_label_selector(text: str | None) -> LabelSelector:
    if not text or not text.strip():
        return LabelSelector()
    toks = _tokens(text)
    reqs: list[LabelRequirement] = []
    i = 0

    def fail(msg: str) -> ApiError:
        return bad_request(f"unable to parse requirement: {msg}")

    def key_at(j: int) -> str:
        if j >= len(toks) or not _KEY_RE.match(toks[j]):
            got = toks[j] if j < len(toks) else ""
            raise fail(f"found '{got}', expected: identifier")
        return toks[j]

    while i < len(toks):
        if toks[i] == "!":
            reqs.append(LabelRequirement(key_at(i + 1), "!"))
            i += 2
        else:
            key = key_at(i)
            i += 1
            if i >= len(toks) or toks[i] == ",":
                reqs.append(LabelRequirement(key, "exists"))
            else:
                op = toks[i]
                i += 1
                if op in ("=", "=="):
                    value = ""
                    if i < len(toks) and toks[i] != ",":
                        value = toks[i]
                        i += 1
                    reqs.append(LabelRequirement(key, "=", (value,)))
                elif op == "!=":
                    value = ""
                    if i < len(toks) and toks[i] != ",":
                        value = toks[i]
                        i += 1
                    reqs.append(LabelRequirement(key, "!=", (value,)))
                elif op in ("in", "notin"):
                    if i >= len(toks) or toks[i] != "(":
                        raise fail("found '', expected: '('")
                    i += 1
                    values: list[str] = []
                    while i < len(toks) and toks[i] != ")":
                        if toks[i] != ",":
                            values.append(toks[i])
                        i += 1
                    if i >= len(toks):
                        raise fail("found '', expected: ')'")
                    i += 1
                    reqs.append(LabelRequirement(key, op, tuple(values)))
                elif op in (">", "<"):
                    if i >= len(toks):
                        raise fail("found '', expected: value")
                    reqs.append(LabelRequirement(key, "gt" if op == ">" else "lt", (toks[i],)))
                    i += 1
                else:
                    raise fail(f"found '{op}', expected: in, notin, =, ==, !=, gt, lt")
        if i < len(toks):
            if toks[i] != ",":
                raise fail(f"found '{toks[i]}', expected: ',' or 'end of string'")
            i += 1
    return LabelSelector(tuple(reqs))


def selector_from_match_labels(match_labels: Mapping[str, str]) -> LabelSelector:
    return LabelSelector(tuple(LabelRequirement(k, "=", (v,)) for k, v in match_labels.items()))


@dataclass(frozen=True)
class FieldRequirement:
    field: str
    value: str
    negate: bool


@dataclass(frozen=True)
class FieldSelector:
    requirements: tuple[FieldRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, values: Mapping[str, str]) -> bool:
        for r in self.requirements:
            have = values.get(r.field, "")
            if (have == r.value) == r.negate:
                return False
        return True

    def exact(self, field: str) -> str | None:
        """The value of an `field=value` term, for index lookups (e.g. metadata.name)."""
        for r in self.requirements:
            if r.field == field and not r.negate:
                return r.value
        return None


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, cur, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur.append(text[i : i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def parse_field_selector(text: str | None, supported: tuple[str, ...]) -> FieldSelector:
    if not text or not text.strip():
        return FieldSelector()
    reqs: list[FieldRequirement] = []
    for term in _split_unescaped(text, ","):
        if not term:
            continue
        m = re.match(r"^(.*?)(!=|==|=)(.*)$", term)
        if not m:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        fld, op, value = m.group(1).strip(), m.group(2), _unescape(m.group(3))
        if fld not in ("metadata.name", "metadata.namespace") and fld not in supported:
            raise bad_request(f'field label not supported: {fld}')
        reqs.append(FieldRequirement(fld, value, op == "!="))
    return FieldSelector(tuple(reqs))
