"""`--local`: the same commands on this machine (trials as local processes, no cluster).

Helpers for the other CLI modules (this module registers no subcommand of its own):

- ``add_local_arg(parser)``: the ``--local`` flag.
- ``make_local_backend(workdir)``: a LocalBackend on the default state directory
  ($XDG_STATE_HOME/ktui), not started.
- ``submit_local(manifests, workdir)``: `ktui launch FILE --local` without --dry-run.
- ``hand_off(backend)``: after the UI closes, leave the queue to the detached runner.
- ``no_kubeconfig()``: whether `ktui` alone should open the local UI.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ktui.cluster.local.backend import LocalBackend
from ktui.cluster.local.daemon import ensure_scheduler
from ktui.cluster.model import SubmitProgress


def add_local_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--local", action="store_true",
                        help="run on this machine: trials are local processes (no cluster)")


def make_local_backend(workdir: str | os.PathLike[str] | None = None, **kw: Any) -> LocalBackend:
    """``workdir``: where the trials run (the sweep file's directory); default: cwd.
    Whatever it queues is admitted by the detached runner too, should this process die."""
    kw.setdefault("keep_queue_running", True)
    return LocalBackend(workdir, **kw)


def hand_off(backend: LocalBackend) -> None:
    """Stop the backend (the UI may have stopped it already); if trials are still queued
    (a retry queued while the UI was open, say), make sure the detached runner starts them
    without ktui. Running ones need nothing: they outlive ktui."""
    backend.stop()
    if backend.queued_count():
        ensure_scheduler(backend.db_path.parent)


def submit_local(manifests: list[dict[str, Any]], workdir: str | os.PathLike[str], *, replace: bool = False,
                 code: Any = None) -> int:
    """``code``: the sweep's code snapshot (ktui.snapshot.Snapshot): kept in the state
    directory, each trial runs in its own unpacked copy of it."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    err = Console(stderr=True)
    backend = make_local_backend(workdir)
    progress = Progress(TextColumn("queueing"), BarColumn(), MofNCompleteColumn(), console=err,
                        transient=True, disable=not err.is_terminal)
    task = progress.add_task("submit", total=len(manifests))

    def on_progress(p: SubmitProgress) -> None:
        progress.update(task, completed=p.done)

    if code is not None:
        backend.keep_code(code.sha256, code.data)
    try:
        with progress:
            result = backend.submit(manifests, on_progress, replace=replace)
    finally:
        hand_off(backend)  # (anything queued has its runner: LocalBackend.submit saw to it)
    from ktui.cli.submit import report

    if result.refused:
        return report(result, manifests)
    rc = report(result, manifests)
    print(f"ktui: running on {backend.location}; watch with `ktui --local`", file=sys.stderr)
    return rc


def no_kubeconfig(kubeconfig: str | None = None) -> bool:
    """True when there is no kubeconfig to use (none given, no $KUBECONFIG file,
    no ~/.kube/config) and we are not in a pod."""
    if kubeconfig:
        return False
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return False
    paths = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    paths.append(str(Path("~/.kube/config").expanduser()))
    return not any(Path(p).is_file() for p in paths)
