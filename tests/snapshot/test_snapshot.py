"""The code snapshot: which files, refusals naming the path, deterministic bytes, git fields."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import socket
import subprocess
import tarfile
from pathlib import Path

import pytest

from ktui.snapshot import SnapshotError, content_hash, read_archive, take


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def paths(root: Path, **kw) -> list[str]:
    return [f.path for f in take(root, **kw).files]


def test_gitignore_semantics_nested_negation_anchors_and_dirs(tmp_path):
    write(tmp_path, {
        ".gitignore": "*.log\n!keep.log\n/build\ndata/\n",
        "train.py": "print(1)\n", "run.log": "x", "keep.log": "k",
        "build/out.bin": "b", "sub/build/src.py": "s",  # /build is anchored at the root
        "data/big.csv": "1,2", "sub/data/x.csv": "3",  # data/ matches at any level
        "sub/.gitignore": "*.tmp\n!run.log\n", "sub/a.tmp": "t", "sub/run.log": "kept by the deeper file",
        "sub/deep/b.tmp": "t",
    }, )
    assert paths(tmp_path, with_git=False) == [
        ".gitignore", "keep.log", "sub/.gitignore", "sub/build/src.py", "sub/run.log", "train.py"]


def test_ktuiignore_and_exclude_patterns_and_dot_git_always_out(tmp_path):
    write(tmp_path, {".ktuiignore": "checkpoints/\n", "checkpoints/c.pt": "w", "train.py": "",
                     "notes/a.md": "", "notes/b.txt": "", ".git/config": "", "sub/.git": "gitdir: x"})
    assert paths(tmp_path, exclude=["*.md"], with_git=False) == [".ktuiignore", "notes/b.txt", "train.py"]
    # an exclude pattern wins over a negation in an ignore file
    write(tmp_path, {".gitignore": "!*.md\n"})
    assert "notes/a.md" not in paths(tmp_path, exclude=["notes/"], with_git=False)


def test_symlink_out_of_the_tree_is_refused_with_its_path(tmp_path):
    root = tmp_path / "code"
    write(root, {"train.py": ""})
    (tmp_path / "secret").write_text("s")
    (root / "link").symlink_to(tmp_path / "secret")
    with pytest.raises(SnapshotError) as e:
        take(root, with_git=False)
    assert e.value.path == str(root / "link")
    assert "symlink leading out of the tree" in str(e.value)
    # ignored, it is no problem
    (root / ".ktuiignore").write_text("link\n")
    assert paths(root, with_git=False) == [".ktuiignore", "train.py"]


def test_symlink_inside_the_tree_is_kept_as_a_relative_link(tmp_path):
    write(tmp_path, {"lib/util.py": "x = 1\n"})
    (tmp_path / "util.py").symlink_to(tmp_path / "lib" / "util.py")  # absolute target, inside
    (tmp_path / "libdir").symlink_to("lib")
    snap = take(tmp_path, with_git=False)
    with tarfile.open(fileobj=io.BytesIO(snap.data)) as tar:
        links = {t.name: t.linkname for t in tar if t.issym()}
    assert links == {"util.py": "lib/util.py", "libdir": "lib"}


def test_fifo_and_socket_are_refused_with_their_path(tmp_path):
    write(tmp_path, {"train.py": ""})
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(SnapshotError, match="a fifo") as e:
        take(tmp_path, with_git=False)
    assert e.value.path == str(tmp_path / "pipe")
    os.unlink(tmp_path / "pipe")
    short = Path(f"/tmp/ktui-snap-{os.getpid()}")  # AF_UNIX paths are short
    short.mkdir()
    try:
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(short / "sock"))
        with pytest.raises(SnapshotError, match="a socket"):
            take(short, with_git=False)
        s.close()
    finally:
        shutil.rmtree(short)


def test_archive_is_deterministic_whatever_times_owners_and_modes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        write(root, {"train.py": "print('hi')\n", "z/data.txt": "1\n", "run.sh": "#!/bin/sh\n"})
    os.chmod(a / "run.sh", 0o700)
    os.chmod(b / "run.sh", 0o755)
    os.chmod(b / "train.py", 0o600)
    os.utime(b / "train.py", (1, 1))
    sa, sb = take(a, with_git=False), take(b, with_git=False)
    assert sa.data == sb.data and sa.sha256 == sb.sha256
    assert sa.name == "ktui-code-" + sa.sha256[:16]
    assert content_hash(sa.data) == sa.sha256
    assert gzip.decompress(sa.data)  # a valid gzip
    assert sa.data[4:8] == b"\0\0\0\0"  # gzip mtime 0
    with tarfile.open(fileobj=io.BytesIO(sa.data)) as tar:
        infos = list(tar)
    assert [t.name for t in infos] == ["run.sh", "train.py", "z/data.txt"]
    assert {(t.mtime, t.uid, t.gid, t.uname, t.gname) for t in infos} == {(0, 0, 0, "", "")}
    assert {t.name: t.mode for t in infos} == {"run.sh": 0o755, "train.py": 0o644, "z/data.txt": 0o644}
    (b / "train.py").write_text("print('bye')\n")
    assert take(b, with_git=False).sha256 != sa.sha256


def test_manifest_counts_sizes_and_largest(tmp_path):
    write(tmp_path, {"a.bin": "x" * 500, "b.bin": "y" * 300, "c.txt": "z"})
    snap = take(tmp_path, with_git=False)
    assert snap.total_bytes == 801 and len(snap.files) == 3
    assert [f.path for f in snap.largest(2)] == ["a.bin", "b.bin"]
    assert read_archive(snap.data)["a.bin"] == b"x" * 500


def _git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@x", "GIT_CONFIG_GLOBAL": "/dev/null"}
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True, env=env).stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_provenance_commit_branch_dirty_and_diff_hash(tmp_path):
    write(tmp_path, {".gitignore": "*.pyc\n", "proj/train.py": "print(1)\n", "proj/x.pyc": "b"})
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "one")
    head = _git(tmp_path, "rev-parse", "HEAD").strip()
    snap = take(tmp_path / "proj")
    assert [f.path for f in snap.files] == ["train.py"]  # the parent's .gitignore applies
    assert snap.git is not None
    assert (snap.git.commit, snap.git.branch, snap.git.dirty, snap.git.diff_sha256) == (head, "main", False, None)
    (tmp_path / "proj" / "train.py").write_text("print(2)\n")
    dirty = take(tmp_path / "proj").git
    assert dirty is not None and dirty.dirty and dirty.diff_sha256 and len(dirty.diff_sha256) == 64
    (tmp_path / "proj" / "train.py").write_text("print(3)\n")
    other = take(tmp_path / "proj").git
    assert other is not None and other.diff_sha256 != dirty.diff_sha256


def test_no_git_work_tree_means_no_git_fields(tmp_path):
    write(tmp_path, {"train.py": ""})
    assert take(tmp_path).git is None


def test_not_a_directory(tmp_path):
    with pytest.raises(SnapshotError, match="not a directory"):
        take(tmp_path / "missing")
