"""Code snapshots: a directory -> a deterministic tar.gz named by its hash, with a manifest.

No UI, no cluster client: it reads a directory and returns bytes. Used by launch (shipped in
a ConfigMap on a cluster, unpacked per trial on this machine) and by `ktui diff`."""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ktui.snapshot.archive import Entry, build_tar, gzip_bytes, read_archive
from ktui.snapshot.git import GitInfo, git_info
from ktui.snapshot.ignore import IGNORE_FILES, Ignorer

# A ConfigMap holds at most 1 MiB of data (kube-apiserver's MaxSecretSize, counted over the
# raw bytes of data and binaryData): the archive itself must fit.
CONFIGMAP_LIMIT = 1024 * 1024
NAME_PREFIX = "ktui-code-"
ARCHIVE_KEY = "code.tar.gz"


class SnapshotError(Exception):
    """The directory cannot be snapshotted; ``path`` is what is wrong."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}")


@dataclass(frozen=True)
class FileInfo:
    path: str
    size: int


@dataclass(frozen=True)
class Snapshot:
    root: Path
    data: bytes  # the tar.gz
    # sha256 of the uncompressed tar: what the files are, whatever zlib compressed them with
    # (another machine's zlib may compress the same tar to other bytes)
    sha256: str
    files: tuple[FileInfo, ...]  # sorted by path
    git: GitInfo | None = None

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def name(self) -> str:
        """The ConfigMap's name: ktui-code-<first 16 hex of the hash>."""
        return config_map_name(self.sha256)

    def largest(self, n: int = 5) -> list[FileInfo]:
        return sorted(self.files, key=lambda f: (-f.size, f.path))[:n]

    def summary(self) -> str:
        return f"{len(self.files):,} files, {human_bytes(self.total_bytes)} ({human_bytes(len(self.data))} compressed)"


def config_map_name(sha256: str) -> str:
    return NAME_PREFIX + sha256[:16]


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def content_hash(archive: bytes) -> str:
    """The hash a snapshot's tar.gz is named by (see Snapshot.sha256)."""
    return hashlib.sha256(gzip.decompress(archive)).hexdigest()


def _mode(st: os.stat_result) -> int:
    return 0o755 if st.st_mode & 0o111 else 0o644


def _special(st: os.stat_result) -> str | None:
    m = st.st_mode
    for test, what in ((stat.S_ISFIFO, "a fifo"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(m):
            return what
    return None


def _parents(root: Path, top: Path | None) -> list[Path]:
    """The directories from the work tree's top down to root's parent."""
    if top is None:
        return []
    try:
        rel = root.relative_to(top)
    except ValueError:
        return []
    out = [top]
    for part in rel.parts[:-1]:
        out.append(out[-1] / part)
    return out if rel.parts else []


def take(root: str | Path, exclude: Sequence[str] = (), *, with_git: bool = True) -> Snapshot:
    """Snapshot ``root``. Raises SnapshotError naming the path: a symlink that leads out of
    the tree, a special file (fifo, socket, device), an unreadable file, a root that is no
    directory."""
    base = Path(root).resolve()
    if not base.is_dir():
        raise SnapshotError(str(root), "not a directory")
    git = git_info(base) if with_git else None
    ign = Ignorer(base, exclude, _parents(base, git.toplevel if git else None))
    entries: list[Entry] = []
    for dirpath, dirnames, filenames in os.walk(base, onerror=_raise):
        d = Path(dirpath)
        ign.enter(d)
        keep_dirs = []
        for name in sorted(dirnames):
            p = d / name
            if p.is_symlink():
                filenames.append(name)  # a link to a directory is kept as a link, never followed
            elif not ign.ignored(p, is_dir=True):
                keep_dirs.append(name)
        dirnames[:] = keep_dirs
        for name in sorted(filenames):
            p = d / name
            if ign.ignored(p, is_dir=p.is_dir() and not p.is_symlink()):
                continue
            entries.append(_entry(base, p))
    tar = build_tar(entries)
    files = tuple(FileInfo(e.path, e.size) for e in sorted(entries, key=lambda e: e.path))
    return Snapshot(base, gzip_bytes(tar), hashlib.sha256(tar).hexdigest(), files, git)


def _raise(err: OSError) -> None:
    raise SnapshotError(str(err.filename), f"cannot read: {err.strerror}")


def _entry(base: Path, p: Path) -> Entry:
    rel = p.relative_to(base).as_posix()
    try:
        st = p.lstat()
    except OSError as e:
        raise SnapshotError(str(p), f"cannot read: {e.strerror}") from None
    if stat.S_ISLNK(st.st_mode):
        target = Path(os.path.normpath(p.parent / os.readlink(p)))
        try:
            inside = target.resolve().relative_to(base)
        except ValueError:
            raise SnapshotError(str(p), f"a symlink leading out of the tree (to {os.readlink(p)}): "
                                        "copy the file in, or exclude the link") from None
        link = os.path.relpath(base / inside, p.parent)
        return Entry(rel, 0, 0o777, link=Path(link).as_posix())
    special = _special(st)
    if special:
        raise SnapshotError(str(p), f"{special} cannot be part of a code snapshot: exclude it")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise SnapshotError(str(p), f"cannot read: {e.strerror}") from None
    return Entry(rel, len(data), _mode(st), data)


__all__ = [
    "ARCHIVE_KEY",
    "CONFIGMAP_LIMIT",
    "IGNORE_FILES",
    "NAME_PREFIX",
    "FileInfo",
    "GitInfo",
    "Snapshot",
    "SnapshotError",
    "config_map_name",
    "content_hash",
    "human_bytes",
    "read_archive",
    "take",
]
