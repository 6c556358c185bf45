"""Git provenance of a snapshot's directory, through the `git` command: no git, or a directory
outside any work tree, means no git fields (never an error)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

GIT_TIMEOUT = 20.0


@dataclass(frozen=True)
class GitInfo:
    commit: str
    branch: str | None  # None: a detached HEAD
    dirty: bool  # uncommitted changes (or untracked, not ignored files) under the directory
    diff_sha256: str | None  # of `git diff HEAD --binary -- .`: which uncommitted state it was
    toplevel: Path


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes] | None:
    exe = shutil.which("git")
    if exe is None:
        return None
    try:
        return subprocess.run([exe, "-C", str(root), *args], capture_output=True, timeout=GIT_TIMEOUT,
                              check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None


def git_info(root: Path) -> GitInfo | None:
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None or top.returncode != 0:
        return None
    head = _git(root, "rev-parse", "--verify", "-q", "HEAD")
    if head is None or head.returncode != 0:
        return None  # a repository without a commit has no provenance to give
    branch = _git(root, "symbolic-ref", "--short", "-q", "HEAD")
    status = _git(root, "status", "--porcelain", "--", ".")
    diff = _git(root, "diff", "HEAD", "--binary", "--", ".")
    dirty = bool(status and status.returncode == 0 and status.stdout.strip())
    diff_sha = None
    if dirty and diff is not None and diff.returncode == 0:
        diff_sha = hashlib.sha256(diff.stdout).hexdigest()
    return GitInfo(
        commit=head.stdout.decode().strip(),
        branch=branch.stdout.decode().strip() or None if branch and branch.returncode == 0 else None,
        dirty=dirty,
        diff_sha256=diff_sha,
        toplevel=Path(top.stdout.decode().strip()),
    )
