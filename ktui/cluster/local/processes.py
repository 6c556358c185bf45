"""The local backend's processes: each trial attempt runs under a detached wrapper that leads
its own process group; these read what the wrapper left (pid, exit.json), signal the group,
and reap the wrappers this process started."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ktui.cluster.local import machine

# Popen objects of wrappers this process started, kept for the life of the process so that
# dropping a backend neither warns ("subprocess is still running") nor leaves zombies: each
# backend's loop reaps them.
CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
CHILDREN_LOCK = threading.Lock()


def reap_children() -> None:
    with CHILDREN_LOCK:
        for pid, p in list(CHILDREN.items()):
            if p.poll() is not None:
                del CHILDREN[pid]


def resolve_argv(argv: list[str], env: Mapping[str, str], python: str) -> list[str]:
    """``python``/``python3`` that is not on PATH runs as this ktui's interpreter."""
    head = argv[0]
    if "/" not in head and head in ("python", "python3") and shutil.which(head, path=env.get("PATH")) is None:
        return [python, *argv[1:]]
    return list(argv)


def read_exit(d: Path) -> dict[str, Any] | None:
    try:
        return json.loads((d / "exit.json").read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def read_pid(d: Path) -> int | None:
    try:
        return int((d / "pid").read_text().strip())
    except (OSError, ValueError):
        return None


def signal_group(pid: int, start: str | None, sig: int) -> None:
    """Signal the wrapper's process group (the wrapper leads it: start_new_session)."""
    if start is not None and not machine.alive(pid, start):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def rmtree(d: Path) -> None:
    shutil.rmtree(d, ignore_errors=True)
