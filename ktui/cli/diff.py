"""`ktui diff A B`: what differs between two trials: parameters, settings (image, command,
resources...), code (changed files, with a unified diff of text files read from the two
snapshots: their ConfigMaps on a cluster, the state directory here), the image digest their
pods resolved, and how they ended."""

from __future__ import annotations

import argparse
import sys

from ktui.cli.clusterargs import add_cluster_args
from ktui.cli.local import add_local_arg
from ktui.cluster.trialdiff import compare


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("diff", help="what differs between two trials: parameters, code, image digest, resources, exit")
    p.add_argument("a", metavar="A", help="a trial (Job) name")
    p.add_argument("b", metavar="B", help="another trial (Job) name")
    add_cluster_args(p)
    add_local_arg(p)
    from ktui.cli.cluster import cli_command

    p.set_defaults(func=cli_command(run))


def run(args: argparse.Namespace) -> int:
    from ktui.cli.cluster import CliError, connect_backend, wait_listed
    from ktui.cluster.kube.transport import ApiError

    backend = connect_backend(args, ("jobs", "pods"), metrics=False)
    try:
        if not getattr(args, "local", False):
            # The store names the Job that runs each trial (an indexed sweep's trial has none
            # of its own name) and the pods that ran it.
            backend.start()
            wait_listed(backend, ("jobs", "pods"), required=("jobs",))
        ns = args.namespace or backend.default_namespace
        descs = []
        for name in (args.a, args.b):
            try:
                descs.append(backend.describe((ns, name)))
            except LookupError:
                raise CliError(f"diff: no trial {name} in namespace {ns}") from None
            except ApiError as exc:
                if exc.status != 404:
                    raise
                raise CliError(f"diff: no trial {name} in namespace {ns}") from None
        lines = compare(backend, descs[0], descs[1])
    finally:
        backend.stop()
    print(f"{args.a} -> {args.b}")
    if not lines:
        print("nothing differs")
    for ln in lines:
        print(ln)
    sys.stdout.flush()
    return 0
