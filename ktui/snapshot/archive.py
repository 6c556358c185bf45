"""A deterministic tar.gz: the same files give the same bytes on any machine and any day.

Entries sorted by path; mtime 0, uid/gid 0, no user or group names; modes 0644, or 0755 for
a file anyone may execute; gzip header without a name and with mtime 0. Symlinks inside the
tree are kept as relative links."""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass

MAX_MEMBER_READ = 64 * 1024 * 1024  # read_archive's cap per file: a diff needs no more


@dataclass(frozen=True)
class Entry:
    path: str  # posix, relative to the snapshot's root
    size: int
    mode: int
    data: bytes = b""
    link: str | None = None  # a symlink's (relative) target


def _info(e: Entry) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(e.path)
    ti.mtime = 0
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    ti.mode = e.mode
    if e.link is not None:
        ti.type = tarfile.SYMTYPE
        ti.linkname = e.link
        ti.size = 0
    else:
        ti.size = len(e.data)
    return ti


def build_tar(entries: Iterable[Entry]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in sorted(entries, key=lambda x: x.path):
            tar.addfile(_info(e), io.BytesIO(e.data) if e.link is None else None)
    return buf.getvalue()


def gzip_bytes(raw: bytes) -> bytes:
    buf = io.BytesIO()
    # filename="" and mtime=0: nothing of this machine or this moment in the header.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(raw)
    return buf.getvalue()


def read_archive(data: bytes) -> dict[str, bytes]:
    """path -> content of each regular file of a snapshot's tar.gz (symlinks as "-> target")."""
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for ti in tar:
            if ti.issym():
                out[ti.name] = f"-> {ti.linkname}".encode()
            elif ti.isfile():
                f = tar.extractfile(ti)
                out[ti.name] = f.read(MAX_MEMBER_READ) if f is not None else b""
    return out
