"""A code snapshot's ConfigMap on the cluster: created once, immutable, shared by every sweep
that ships the same code (AlreadyExists = reuse, once its content is verified to be the same),
and deleted by `ktui gc` when no Job mounts it any more.

The garbage rule: a ktui-code-* ConfigMap that no Job in its namespace mounts (finished Jobs
count until they are deleted, by their TTL or by hand) and that is older than ``min_age``
(a launch creates the ConfigMap a moment before its Jobs) is garbage."""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import msgspec

from ktui.cluster.kube.actions import Actions
from ktui.cluster.kube.transport import ApiError
from ktui.wire.names import CODE_ARCHIVE_KEY, CODE_CONFIGMAP_LABEL, CODE_CONFIGMAP_PREFIX, CODE_SHA_ANNOTATION
from ktui.wire.training import job_view

CONFIGMAPS = "/api/v1/namespaces/{ns}/configmaps"


class CodeMapConflict(Exception):
    """A ConfigMap of the snapshot's name holds other content."""


def _content_sha(cm: Mapping[str, Any]) -> str | None:
    raw = (cm.get("binaryData") or {}).get(CODE_ARCHIVE_KEY)
    if not isinstance(raw, str):
        return None
    try:
        return hashlib.sha256(gzip.decompress(base64.b64decode(raw))).hexdigest()
    except (binascii.Error, OSError, EOFError, zlib.error):
        return None


def ensure(actions: Actions, manifest: Mapping[str, Any]) -> str:
    """Create the snapshot's ConfigMap: "created", or "existing" when one of that name already
    holds the same code. Raises CodeMapConflict (same name, other content), ApiError, Unreachable."""
    meta = manifest["metadata"]
    ns, name = str(meta.get("namespace") or actions.default_namespace), str(meta["name"])
    want = (meta.get("annotations") or {}).get(CODE_SHA_ANNOTATION)
    path = CONFIGMAPS.format(ns=ns)
    if actions.create(path, manifest):
        return "created"
    have = msgspec.json.decode(actions.call("GET", f"{path}/{name}"))
    got = _content_sha(have)
    if got != want:
        raise CodeMapConflict(f"configmap {ns}/{name} already exists with other content "
                              f"(sha256 {got or 'unreadable'}, not {want}); delete it or ship the code under a new hash")
    return "existing"


@dataclass(frozen=True)
class Garbage:
    namespace: str
    name: str
    age_seconds: float
    bytes: int


def _age(meta: Mapping[str, Any], now: datetime) -> float:
    ts = meta.get("creationTimestamp")
    if not ts:
        return 0.0
    try:
        made = datetime.strptime(str(ts), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return 0.0
    return (now - made).total_seconds()


def _list(actions: Actions, path: str, selector: str | None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cont: str | None = None
    while True:
        query: list[tuple[str, str | int | bool]] = [("limit", 500)]
        if selector:
            query.append(("labelSelector", selector))
        if cont:
            query.append(("continue", cont))
        page = msgspec.json.decode(actions.call("GET", path, query))
        items.extend(page.get("items") or [])
        cont = (page.get("metadata") or {}).get("continue")
        if not cont:
            return items


def referenced(jobs: list[dict[str, Any]]) -> set[tuple[str, str]]:
    """(namespace, ConfigMap name) of every code snapshot a Job's pods mount."""
    out: set[tuple[str, str]] = set()
    for job in jobs:
        ns = str((job.get("metadata") or {}).get("namespace"))
        pod = ((job_view(job).get("spec") or {}).get("template") or {}).get("spec") or {}
        for v in pod.get("volumes") or ():
            name = (v.get("configMap") or {}).get("name")
            if isinstance(name, str) and name.startswith(CODE_CONFIGMAP_PREFIX):
                out.add((ns, name))
    return out


def garbage(actions: Actions, namespace: str | None, min_age: float, now: datetime | None = None) -> list[Garbage]:
    """The code snapshots no Job mounts, older than ``min_age`` seconds (all namespaces when None)."""
    now = now or datetime.now(timezone.utc)
    cm_path = CONFIGMAPS.format(ns=namespace) if namespace else "/api/v1/configmaps"
    job_path = f"/apis/batch/v1/namespaces/{namespace}/jobs" if namespace else "/apis/batch/v1/jobs"
    maps = _list(actions, cm_path, CODE_CONFIGMAP_LABEL)
    jobs = _list(actions, job_path, None)
    for kind in actions.kinds()[1:]:  # distributed trials' PyTorchJobs mount it too
        jobs += [{**o, "kind": kind.kind} for o in _list(actions, kind.collection(namespace), None)]
    used = referenced(jobs)
    out = []
    for cm in maps:
        meta = cm.get("metadata") or {}
        key = (str(meta.get("namespace")), str(meta.get("name")))
        age = _age(meta, now)
        if key in used or not key[1].startswith(CODE_CONFIGMAP_PREFIX) or age < min_age:
            continue
        size = len(base64.b64decode((cm.get("binaryData") or {}).get(CODE_ARCHIVE_KEY) or ""))
        out.append(Garbage(key[0], key[1], age, size))
    return sorted(out, key=lambda g: (g.namespace, g.name))


def delete(actions: Actions, g: Garbage) -> bool:
    try:
        actions.call("DELETE", f"{CONFIGMAPS.format(ns=g.namespace)}/{g.name}")
    except ApiError as exc:
        if exc.status == 404:
            return False
        raise
    return True
