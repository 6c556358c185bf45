"""`ktui gc`: delete the code snapshots (ktui-code-* ConfigMaps) no Job uses any more.

The rule: a snapshot is garbage when no Job in its namespace mounts it (a finished Job still
counts, until its TTL or someone deletes it: its trial can be rerun and diffed) and it is older
than --min-age (a launch creates the ConfigMap a moment before its Jobs). Prints what it would
delete; deletes only with --yes."""

from __future__ import annotations

import argparse
import sys

from ktui.cli.clusterargs import add_cluster_args, duration
from ktui.cli.submit import _connect
from ktui.cluster.kube import codemap
from ktui.cluster.kube.actions import Actions, explain
from ktui.cluster.kube.transport import ApiError, Unreachable
from ktui.snapshot import human_bytes

DEFAULT_MIN_AGE = 600.0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("gc", help="delete code snapshots (ktui-code-* ConfigMaps) that no Job uses",
                       description=__doc__)
    p.add_argument("--yes", action="store_true", help="delete them (without it, only list them)")
    p.add_argument("--min-age", type=duration, default=DEFAULT_MIN_AGE, metavar="D",
                   help="keep snapshots younger than this (default 10m: a launch may be creating their Jobs)")
    add_cluster_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    conn = _connect(args)
    if isinstance(conn, str):
        print(f"ktui: {conn}", file=sys.stderr)
        return 1
    transport, namespace = conn
    actions = Actions(transport, namespace)
    ns = None if args.all_namespaces else (args.namespace or namespace)
    try:
        found = codemap.garbage(actions, ns, args.min_age)
        if not found:
            print("no unused code snapshots")
            return 0
        verb = "deleted" if args.yes else "would delete"
        for g in found:
            if args.yes:
                codemap.delete(actions, g)
            print(f"{verb} configmap {g.namespace}/{g.name} ({human_bytes(g.bytes)}, "
                  f"unused, {int(g.age_seconds // 60)}m old)")
        if not args.yes:
            print(f"{len(found)} unused; run again with --yes to delete them", file=sys.stderr)
    except (ApiError, Unreachable) as exc:
        print(f"ktui: gc: {explain(exc)}", file=sys.stderr)
        return 1
    finally:
        transport.close()
    return 0
