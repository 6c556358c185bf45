"""Code snapshots on this machine: the archive kept under the state directory at launch (so
edits made after it change nothing queued), unpacked into each trial's own directory when it
starts, and removed with the last trial that uses it."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

WORKSPACE = "workspace"


def archive_path(code_dir: Path, sha256: str) -> Path:
    return code_dir / f"{sha256}.tar.gz"


def keep(code_dir: Path, sha256: str, data: bytes) -> Path:
    """Store the archive once (atomically: a reader never sees half of it)."""
    path = archive_path(code_dir, sha256)
    if path.exists():
        return path
    code_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def unpack(archive: Path, dest: Path) -> None:
    """Unpack into ``dest`` (created; left as is when already unpacked: a retry of the trial
    runs in the same copy, as a restarted container keeps its pod's emptyDir). Members that
    would land outside ``dest`` are refused (the archive is ours, but a state directory is
    only as trusted as its disk)."""
    if dest.exists():
        return
    tmp = dest.with_name(dest.name + ".unpacking")
    tmp.mkdir(parents=True, exist_ok=True)
    root = tmp.resolve()
    with tarfile.open(fileobj=io.BytesIO(archive.read_bytes()), mode="r:gz") as tar:
        for ti in tar:
            target = (root / ti.name).resolve()
            if root not in target.parents and target != root:
                raise ValueError(f"{archive}: member {ti.name!r} leads out of the directory")
            if ti.issym():
                link = (target.parent / ti.linkname).resolve()
                if root not in link.parents and link != root:
                    raise ValueError(f"{archive}: symlink {ti.name!r} leads out of the directory")
        if hasattr(tarfile, "data_filter"):  # 3.12+ (and patched 3.10/3.11): the safe filter
            tar.extractall(tmp, filter="data")
        else:
            tar.extractall(tmp)
    os.replace(tmp, dest)
