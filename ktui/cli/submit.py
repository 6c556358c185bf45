"""Submitting rendered Job manifests for `ktui launch FILE` (without --dry-run), and the
verdict a dry run shows: what a submit would create, keep, or refuse."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ktui.cluster.fingerprint import summarize
from ktui.cluster.kube import codemap
from ktui.cluster.kube import config as kconfig
from ktui.cluster.kube.actions import Actions, KindNotServed, explain
from ktui.cluster.kube.transport import ApiError, Transport, Unreachable
from ktui.cluster.model import SubmitProgress, SubmitResult
from ktui.sweep.manifest import SWEEP_LABEL

REFUSED = 2  # exit status of a refused launch, as for a bad sweep file
MAX_FAILURES_SHOWN = 20


class _NoConfig(str):
    pass


def _connect(args: argparse.Namespace) -> tuple[Transport, str] | str:
    """A transport to a server that answers, or why there is none."""
    try:
        cluster = kconfig.load(getattr(args, "kubeconfig", None), getattr(args, "context", None))
    except kconfig.ConfigError as exc:
        return _NoConfig(exc)
    transport = Transport(cluster.api_client)
    try:
        transport.get("/version", timeout=(5.0, 15.0))
    except Unreachable as exc:
        transport.close()
        return str(exc)
    except ApiError as exc:
        if exc.status == 401:
            transport.close()
            return "the cluster rejected the credentials (401 Unauthorized)"
    return transport, cluster.namespace


def submit_manifests(args: argparse.Namespace, manifests: list[dict[str, Any]],
                     code: dict[str, Any] | None = None) -> int:
    """Create the Jobs; those already there for the same trial count as existing, so running
    the same launch again after an interruption creates exactly the missing ones. Trials
    whose Job runs something else refuse the launch (exit 2) unless ``args.replace``.
    ``code``: the code snapshot's ConfigMap, created (or found) before the first Job."""
    err = Console(stderr=True)
    conn = _connect(args)
    if isinstance(conn, str):
        print(f"ktui: {conn}", file=sys.stderr)
        return 1
    transport, namespace = conn
    actions = Actions(transport, namespace)
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
    shipped: list[str] = []
    creating: list[bool] = []  # set while the ConfigMap is created: an error then is about it

    def ship_code() -> None:
        if code is not None:
            creating.append(True)
            shipped.append(codemap.ensure(actions, code))

    def on_progress(p: SubmitProgress) -> None:
        replaced = f", replaced {p.replaced}" if p.replaced else ""
        detail = f"created {p.created}{replaced}, existing {p.existing}, failed {p.failed}"
        progress.update(task, completed=p.done, detail=detail)

    try:
        with progress:
            result = actions.submit(manifests, on_progress, replace=bool(getattr(args, "replace", False)),
                                    before_create=ship_code)
    except KeyboardInterrupt:
        actions.stop.set()
        print("ktui: interrupted; run the same command again to create the missing jobs",
              file=sys.stderr)
        return 130
    except codemap.CodeMapConflict as exc:
        print(f"ktui: {exc}; nothing was submitted", file=sys.stderr)
        return 1
    except KindNotServed as exc:
        print(f"ktui: {exc}; nothing was submitted", file=sys.stderr)
        return REFUSED
    except (ApiError, Unreachable) as exc:
        what = "create the code's ConfigMap" if creating and not shipped else "read the sweep's existing jobs"
        print(f"ktui: cannot {what} ({explain(exc)}); nothing was submitted", file=sys.stderr)
        return 1
    finally:
        transport.close()
    if code is not None and shipped:
        meta = code["metadata"]
        verb = "created" if shipped[0] == "created" else "reused"
        print(f"ktui: code: {verb} configmap {meta['namespace']}/{meta['name']}", file=sys.stderr)
    return report(result, manifests)


def verdict(args: argparse.Namespace, manifests: list[dict[str, Any]]) -> int:
    """For --dry-run: what submitting would do, on stderr (stdout holds the manifests).
    Without a kubeconfig, nothing (a dry run needs no cluster); with an unreachable one, a
    note."""
    conn = _connect(args)
    if isinstance(conn, _NoConfig):
        return 0
    if isinstance(conn, str):
        print(f"ktui: note: not compared with the cluster's jobs: {conn}", file=sys.stderr)
        return 0
    transport, namespace = conn
    try:
        result = Actions(transport, namespace).submit(
            manifests, replace=bool(getattr(args, "replace", False)), dry_run=True)
    except (ApiError, Unreachable) as exc:
        print(f"ktui: note: not compared with the cluster's jobs: {explain(exc)}", file=sys.stderr)
        return 0
    except KindNotServed as exc:
        print(f"ktui: {exc}: launching would be refused", file=sys.stderr)
        return REFUSED
    finally:
        transport.close()
    return report(result, manifests, out=sys.stderr)


def report(result: SubmitResult, manifests: list[dict[str, Any]], out: Any = None) -> int:
    """Print a submit's result (the tally on stdout, problems on stderr); the exit status."""
    if result.refused:
        refusal(result, manifests)
        return REFUSED
    if out is sys.stderr:
        print(f"ktui: {result.summary()}", file=out)
    else:
        print(result.summary(), file=out)
    for f in result.failed[:MAX_FAILURES_SHOWN]:
        print(f"ktui: failed {f.name}: {f.message}", file=sys.stderr)
    if len(result.failed) > MAX_FAILURES_SHOWN:
        print(f"ktui: ... and {len(result.failed) - MAX_FAILURES_SHOWN} more failed", file=sys.stderr)
    return 0 if result.ok else 1


def refusal(result: SubmitResult, manifests: list[dict[str, Any]]) -> None:
    sweeps = sorted({str(((m.get("metadata") or {}).get("labels") or {}).get(SWEEP_LABEL)) for m in manifests})
    n = len(result.changed)
    print(f"ktui: {n} trial{'s' if n != 1 else ''} of sweep {', '.join(sweeps)} already "
          f"exist{'s' if n == 1 else ''} with different settings; nothing was submitted:", file=sys.stderr)
    for line in summarize(result.changed):
        print(line, file=sys.stderr)
    kept = f"; the {len(result.existing)} identical ones are kept" if result.existing else ""
    print("ktui: to run the new settings, launch under a new name (--name NEW), or replace those "
          f"trials (--replace deletes their Jobs and pods, then creates them anew{kept})", file=sys.stderr)
