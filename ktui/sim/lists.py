"""LIST semantics: selectors, limit/continue tokens, resourceVersion/resourceVersionMatch.

Continue tokens are kube-apiserver's: base64url (no padding) of
{"v":"meta.k8s.io/v1","rv":N,"start":"<key after the last item>\\u0000"}. Later pages are
served as of the first page's resourceVersion, reconstructed from the watch history (the
same window watches use), so paging stays consistent while objects change; once that
history has moved past N the token expires with 410 like an etcd compaction.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from ktui.sim import errors
from ktui.sim.errors import Cause
from ktui.sim.resources import ResourceInfo
from ktui.sim.selectors import (
    FieldSelector,
    LabelSelector,
    parse_field_selector,
    parse_label_selector,
)
from ktui.sim.store import ObjVersion, ResourceStore, Store

_CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted between "
    "the time the first chunk was returned and now may show up in the list."
)


def encode_continue(rv: int, start: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def _illegal_byte(token: str) -> int:
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    for i, ch in enumerate(token):
        if ch not in alphabet:
            return i
    return max(0, len(token) - 1)


def decode_continue(token: str) -> tuple[int, str]:
    try:
        padded = token + "=" * (-len(token) % 4)
        if len(token) % 4 == 1 or any(c in token for c in "+/="):
            raise binascii.Error
        raw = base64.urlsafe_b64decode(padded.encode())
    except (binascii.Error, ValueError) as exc:
        raise errors.bad_request(
            "invalid continue token: continue key is not valid: illegal base64 data at input "
            f"byte {_illegal_byte(token)}") from exc
    try:
        data = json.loads(raw)
        if data.get("v") != "meta.k8s.io/v1":
            raise ValueError
        return int(data["rv"]), str(data["start"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise errors.bad_request(
            "invalid continue token: continue key is not valid: incorrect encoded start "
            "resourceVersion (version meta.k8s.io/v1)") from exc


@dataclass
class ListOptions:
    labels: LabelSelector = field(default_factory=LabelSelector)
    fields: FieldSelector = field(default_factory=FieldSelector)
    limit: int = 0
    continue_token: str | None = None
    resource_version: str = ""
    resource_version_match: str = ""


def _int_param(query: Mapping[str, str], name: str) -> int | None:
    value = query.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise errors.bad_request(f'invalid value for {name}: "{value}"') from exc


def parse_options(info: ResourceInfo, query: Mapping[str, str], watch: bool) -> ListOptions:
    opts = ListOptions(
        labels=parse_label_selector(query.get("labelSelector")),
        fields=parse_field_selector(query.get("fieldSelector"), info.field_labels),
        limit=max(0, _int_param(query, "limit") or 0),
        continue_token=query.get("continue") or None,
        resource_version=query.get("resourceVersion", ""),
        resource_version_match=query.get("resourceVersionMatch", ""),
    )
    causes: list[Cause] = []
    send_initial = query.get("sendInitialEvents")
    if opts.resource_version_match and opts.resource_version_match not in (
            "Exact", "NotOlderThan"):
        causes.append(Cause("FieldValueNotSupported",
                            f'Unsupported value: "{opts.resource_version_match}": supported '
                            'values: "Exact", "NotOlderThan", ""', "resourceVersionMatch"))
    if watch:
        if send_initial is not None and opts.resource_version_match != "NotOlderThan":
            causes.append(Cause("FieldValueForbidden",
                                "Forbidden: sendInitialEvents requires setting "
                                "resourceVersionMatch to NotOlderThan", "resourceVersionMatch"))
        elif opts.resource_version_match and send_initial is None:
            causes.append(Cause("FieldValueForbidden",
                                "Forbidden: resourceVersionMatch is forbidden for watch unless "
                                "sendInitialEvents is provided", "resourceVersionMatch"))
    else:
        if opts.resource_version_match and not opts.resource_version:
            causes.append(Cause("FieldValueForbidden",
                                "Forbidden: resourceVersionMatch is forbidden unless "
                                "resourceVersion is provided", "resourceVersionMatch"))
        if send_initial is not None:
            causes.append(Cause("FieldValueForbidden",
                                "Forbidden: sendInitialEvents is forbidden for list",
                                "sendInitialEvents"))
        if opts.continue_token and opts.resource_version not in ("", "0"):
            causes.append(Cause("FieldValueForbidden", "Forbidden: specifying resource version "
                                "is not allowed when using continue", "resourceVersion"))
    if causes:
        parts = [f"{c.field}: {c.message}" for c in causes]
        summary = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
        raise errors.ApiError(422, "Invalid", f'ListOptions.meta.k8s.io "" is invalid: {summary}',
                              {"group": "meta.k8s.io", "kind": "ListOptions",
                               "causes": [c.to_dict() for c in causes]})
    return opts


def matches(v: ObjVersion, labels: LabelSelector, fields: FieldSelector) -> bool:
    if not labels.empty and not labels.matches(v.labels):
        return False
    if not fields.empty:
        values = {"metadata.name": v.name, "metadata.namespace": v.namespace or "", **v.fields}
        if not fields.matches(values):
            return False
    return True


@dataclass
class ListResult:
    items: list[ObjVersion]
    resource_version: int
    continue_token: str | None = None
    remaining: int | None = None


def collect(store: Store, info: ResourceInfo, namespace: str | None,
            opts: ListOptions) -> ListResult:
    rs: ResourceStore = store[info.plural]
    lo, hi = rs.range_bounds(namespace)
    prefix = lo
    at_rv: int | None = None
    start = lo
    if opts.continue_token:
        token_rv, token_start = decode_continue(opts.continue_token)
        start = prefix + token_start
        if token_rv == -1:
            at_rv = None
        elif token_rv < rs.floor:
            raise errors.expired(_CONTINUE_EXPIRED,
                                 {"continue": encode_continue(-1, token_start)})
        elif token_rv < store.rv:
            at_rv = token_rv
    elif opts.resource_version_match == "Exact" and opts.resource_version not in ("", "0"):
        try:
            want = int(opts.resource_version)
        except ValueError as exc:
            raise errors.bad_request(
                f'invalid resource version "{opts.resource_version}"') from exc
        if want < rs.floor:
            raise errors.expired("The resourceVersion for the provided list is too old.")
        if want < store.rv:
            at_rv = want
    name = opts.fields.exact("metadata.name")
    if name is not None and (namespace is not None or not info.namespaced):
        # Single-object lists (kubectl wait/delete) skip the scan.
        exact = prefix + name
        if exact >= start:
            start = exact
            hi = exact + "\x00"
    result_rv = at_rv if at_rv is not None else store.rv
    changed = rs.changed_since(at_rv) if at_rv is not None else None
    items: list[ObjVersion] = []
    limit = opts.limit
    it = rs.iter_range(start, hi, at_rv, changed)
    last: ObjVersion | None = None
    more = False
    for v in it:
        if limit and len(items) >= limit:
            more = True
            break
        last = v
        if matches(v, opts.labels, opts.fields):
            items.append(v)
    result = ListResult(items, result_rv)
    if more and last is not None:
        result.continue_token = encode_continue(result_rv, last.key[len(prefix):] + "\x00")
        if opts.labels.empty and opts.fields.empty:
            result.remaining = rs.count_after(last.key, hi, changed)
    return result
