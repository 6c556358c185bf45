"""Submitting rendered Job manifests for `ktui launch FILE` (without --dry-run)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ktui.cluster.kube import config as kconfig
from ktui.cluster.kube.actions import Actions
from ktui.cluster.kube.transport import ApiError, Transport, Unreachable
from ktui.cluster.model import SubmitProgress


def submit_manifests(args: argparse.Namespace, manifests: list[dict[str, Any]]) -> int:
    """Create the Jobs; those already there for the same sweep count as existing, so running
    the same launch again after an interruption creates exactly the missing ones."""
    err = Console(stderr=True)
    try:
        cluster = kconfig.load(getattr(args, "kubeconfig", None), getattr(args, "context", None))
    except kconfig.ConfigError as exc:
        print(f"ktui: {exc}", file=sys.stderr)
        return 1
    transport = Transport(cluster.api_client)
    try:
        transport.get("/version", timeout=(5.0, 15.0))
    except Unreachable as exc:
        print(f"ktui: {exc}", file=sys.stderr)
        transport.close()
        return 1
    except ApiError as exc:
        if exc.status == 401:
            print("ktui: the cluster rejected the credentials (401 Unauthorized)", file=sys.stderr)
            transport.close()
            return 1
    actions = Actions(transport, cluster.namespace)
    progress = Progress(
        TextColumn("submitting"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    task = progress.add_task("submit", total=len(manifests), detail="")

    def on_progress(p: SubmitProgress) -> None:
        detail = f"created {p.created}, existing {p.existing}, failed {p.failed}"
        progress.update(task, completed=p.done, detail=detail)

    try:
        with progress:
            result = actions.submit(manifests, on_progress)
    except KeyboardInterrupt:
        actions.stop.set()
        print("ktui: interrupted; run the same command again to create the missing jobs",
              file=sys.stderr)
        return 130
    finally:
        transport.close()
    print(f"created {len(result.created)}, existing {len(result.existing)}, failed {len(result.failed)}")
    for f in result.failed:
        print(f"ktui: failed {f.name}: {f.message}", file=sys.stderr)
    return 0 if result.ok else 1
