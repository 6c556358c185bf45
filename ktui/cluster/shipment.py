"""`code:` / --code at launch: take the snapshot, say what it holds, refuse what cannot be
shipped, and the provenance each Job records."""

from __future__ import annotations

import base64
import getpass
import json
import socket
from dataclasses import dataclass

from ktui import __version__
from ktui.snapshot import CONFIGMAP_LIMIT, Snapshot, SnapshotError, human_bytes, take
from ktui.sweep.model import CodeRef, Sweep
from ktui.wire.names import (
    CODE_ANNOTATION,
    CODE_ARCHIVE_KEY,
    CODE_CONFIGMAP_LABEL,
    CODE_SHA_ANNOTATION,
    GIT_ANNOTATION,
    LAUNCHED_BY_ANNOTATION,
    MANAGED_BY,
    VERSION_ANNOTATION,
)


class CodeProblem(Exception):
    """Why the sweep's code cannot be shipped; one or more lines for the user."""


@dataclass(frozen=True)
class Shipment:
    snapshot: Snapshot
    ref: CodeRef


def launched_by() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def provenance() -> dict[str, str]:
    """What every Job records whatever it runs: ktui's version and who launched it where."""
    return {VERSION_ANNOTATION: __version__, LAUNCHED_BY_ANNOTATION: launched_by()}


def code_annotations(snap: Snapshot) -> dict[str, str]:
    out = {CODE_ANNOTATION: json.dumps({"sha256": snap.sha256, "configMap": snap.name, "files": len(snap.files),
                                        "bytes": snap.total_bytes, "archiveBytes": len(snap.data)},
                                       separators=(",", ":"))}
    if snap.git is not None:
        g = snap.git
        out[GIT_ANNOTATION] = json.dumps({"commit": g.commit, "branch": g.branch, "dirty": g.dirty,
                                          "diffSha256": g.diff_sha256}, separators=(",", ":"))
    return out


def too_large(snap: Snapshot, limit: int = CONFIGMAP_LIMIT) -> str | None:
    """The refusal for a snapshot over a ConfigMap's 1 MiB, with its largest files and the ways out."""
    if len(snap.data) <= limit:
        return None
    lines = [f"the code in {snap.root} is {human_bytes(len(snap.data))} compressed ({len(snap.data):,} bytes; "
             f"{len(snap.files):,} files, {human_bytes(snap.total_bytes)}), over the {human_bytes(limit)} "
             "a ConfigMap holds; nothing was created. The largest files:"]
    lines += [f"  {human_bytes(f.size):>10}  {f.path}" for f in snap.largest(5)]
    lines.append("Leave them out (code: {path: ., exclude: [data/, '*.ckpt']}, or a .ktuiignore / .gitignore "
                 "line), or bake them into the image and read them from there.")
    return "\n".join(lines)


def prepare(sweep: Sweep, *, check_size: bool = True) -> Shipment | None:
    """The sweep's snapshot, or None when it ships no code. Raises CodeProblem."""
    if sweep.code is None:
        return None
    try:
        snap = take(sweep.code.path, sweep.code.exclude)
    except SnapshotError as e:
        raise CodeProblem(f"{sweep.code.where}: code: {e}") from None
    if check_size:
        big = too_large(snap)
        if big:
            raise CodeProblem(big)
    return Shipment(snap, CodeRef(snap.name, snap.sha256, tuple(code_annotations(snap).items())))


def config_map(snap: Snapshot, namespace: str) -> dict[str, object]:
    """The snapshot's ConfigMap: immutable (the kubelet stops watching it, and nobody can change
    what a trial ran), its archive as binaryData, labelled for `ktui gc`."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": snap.name,
            "namespace": namespace,
            "labels": {MANAGED_BY: "ktui", CODE_CONFIGMAP_LABEL: snap.sha256[:16]},
            "annotations": {CODE_SHA_ANNOTATION: snap.sha256, **code_annotations(snap)},
        },
        "immutable": True,
        "binaryData": {CODE_ARCHIVE_KEY: base64.b64encode(snap.data).decode()},
    }
