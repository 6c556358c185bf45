"""What a simulated pod's volumes hold, so the kubelet can mount and unpack as a real one would.

A configMap volume holds one file per key (binaryData decoded); a projected volume holds those of
each of its configMap sources together (how an indexed sweep's parameters reach its pods); an
emptyDir starts empty. An
init container whose command is `tar -xzf FILE -C DIR` (how ktui ships a code snapshot) really
reads FILE from the volume mounted there and fills the volume mounted at DIR with its members,
so a trial container whose workingDir is that volume sees those files: the simulated log's
first line lists them (`ktui-sim: /workspace: train.py (1234 B), ...`)."""

from __future__ import annotations

import base64
import binascii
import io
import posixpath
import tarfile
import zlib
from dataclasses import dataclass, field
from typing import Any

MAX_LISTED = 50  # files named in the log line; the rest counted


@dataclass
class Volumes:
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)  # volume -> path -> content


def _config_map_refs(volume: dict[str, Any]) -> list[dict[str, Any]]:
    """The configMap references of a volume: its own, or its projected sources'."""
    if volume.get("configMap") is not None:
        return [volume["configMap"]]
    sources = (volume.get("projected") or {}).get("sources") or ()
    return [src["configMap"] for src in sources if src.get("configMap") is not None]


# Published in every namespace of a real cluster (the root-ca-cert-publisher); the simulator
# does not store it, but every pod's service-account volume names it.
ROOT_CA = "kube-root-ca.crt"


def missing_config_maps(pod: dict[str, Any], exists: Any) -> list[tuple[str, str]]:
    """(volume, ConfigMap name) of each non-optional ConfigMap a volume needs that is gone."""
    out = []
    ns = (pod.get("metadata") or {}).get("namespace")
    for v in (pod.get("spec") or {}).get("volumes") or ():
        for cm in _config_map_refs(v):
            name = cm.get("name", "")
            if not cm.get("optional") and name != ROOT_CA and not exists(ns, name):
                out.append((v.get("name", ""), name))
    return out


def _files(cm: dict[str, Any]) -> dict[str, bytes]:
    files = {k: str(val).encode() for k, val in (cm.get("data") or {}).items()}
    for k, val in (cm.get("binaryData") or {}).items():
        try:
            files[k] = base64.b64decode(str(val))
        except (binascii.Error, ValueError):
            files[k] = b""
    return files


def mount(pod: dict[str, Any], config_map: Any) -> Volumes:
    vols = Volumes()
    ns = (pod.get("metadata") or {}).get("namespace")
    for v in (pod.get("spec") or {}).get("volumes") or ():
        name = v.get("name", "")
        refs = _config_map_refs(v)
        if refs:
            files: dict[str, bytes] = {}
            for ref in refs:
                files.update(_files(config_map(ns, ref.get("name", "")) or {}))
            vols.files[name] = files
        elif "emptyDir" in v:
            vols.files[name] = {}
    return vols


def mounted_files(vols: Volumes, container: dict[str, Any]) -> list[tuple[str, dict[str, bytes]]]:
    """(mount path, files) of each volume mounted in the container."""
    return [(str(m.get("mountPath", "")), vols.files[m.get("name", "")])
            for m in container.get("volumeMounts") or () if m.get("name", "") in vols.files]


def resolve(container: dict[str, Any], path: str) -> tuple[str, str] | None:
    """(volume, path inside it) of an absolute path in the container, by its longest mount."""
    best: tuple[str, str] | None = None
    best_len = -1
    for m in container.get("volumeMounts") or ():
        mp = str(m.get("mountPath", "")).rstrip("/") or "/"
        if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) > best_len:
            best_len = len(mp)
            best = (m.get("name", ""), path[len(mp):].lstrip("/"))
    return best


def run_unpack(vols: Volumes, container: dict[str, Any]) -> tuple[int, bytes]:
    """Run an init container's `tar -xzf FILE -C DIR`: (exit code, its log). Any other
    command succeeds and changes nothing."""
    argv = list(container.get("command") or ()) + list(container.get("args") or ())
    if not argv or posixpath.basename(argv[0]) != "tar" or "-C" not in argv:
        return 0, b""
    archive = target = None
    for i, a in enumerate(argv[1:-1], start=1):
        if a == "-C":
            target = argv[i + 1]
        elif a.startswith("-") and not a.startswith("--") and "f" in a:
            archive = argv[i + 1]
    if archive is None or target is None:
        return 2, b"tar: no archive or directory given\n"
    src = resolve(container, archive)
    dst = resolve(container, target)
    data = vols.files.get(src[0], {}).get(src[1]) if src else None
    if data is None:
        return 2, f"tar: {archive}: Cannot open: No such file or directory\ntar: Error is not recoverable: exiting now\n".encode()
    if dst is None:
        return 2, f"tar: {target}: Cannot open: Read-only file system\n".encode()
    out = vols.files.setdefault(dst[0], {})
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for ti in tar:
                if ti.isfile():
                    f = tar.extractfile(ti)
                    out[posixpath.join(dst[1], ti.name) if dst[1] else ti.name] = f.read() if f else b""
    except (tarfile.TarError, OSError, EOFError, zlib.error):
        return 2, b"gzip: stdin: not in gzip format\ntar: Child returned status 1\ntar: Error is not recoverable: exiting now\n"
    return 0, b""


def listing(vols: Volumes, container: dict[str, Any]) -> bytes | None:
    """The log line naming the files in the container's working directory, when that is a
    volume (None otherwise: the image's own files are not simulated)."""
    wd = container.get("workingDir")
    if not wd:
        return None
    where = resolve(container, wd)
    if where is None:
        return None
    prefix = where[1].rstrip("/") + "/" if where[1] else ""
    files = sorted((p[len(prefix):], len(b)) for p, b in vols.files.get(where[0], {}).items() if p.startswith(prefix))
    shown = ", ".join(f"{p} ({n} B)" for p, n in files[:MAX_LISTED])
    more = f", and {len(files) - MAX_LISTED} more" if len(files) > MAX_LISTED else ""
    return f"ktui-sim: {wd}: {shown or '(empty)'}{more}\n".encode()
