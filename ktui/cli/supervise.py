"""`ktui supervise SWEEP`: enforce a sweep's early-stopping rule with no screen open, until
none of its trials is left to run; `--manifest` prints a Deployment that runs it in the
cluster itself (with the ServiceAccount and Role it needs: read Jobs, pods and logs, patch
Jobs). Any number of supervisors and open ktuis act at most once per trial."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import yaml

from ktui.cli.cluster import CliError, cli_command, connect_backend, scope_of, wait_listed
from ktui.cli.clusterargs import add_cluster_args
from ktui.cli.local import add_local_arg
from ktui.cluster.earlystop import SweepSupervisor, describe
from ktui.cluster.logmetrics import LogMetrics
from ktui.cluster.resultcache import ResultCache
from ktui.wire.names import parse_object


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("supervise", help="enforce a sweep's early-stopping rule until its trials are done")
    p.add_argument("sweep", metavar="SWEEP")
    p.add_argument("--interval", type=float, default=2.0, metavar="S", help="seconds between checks")
    p.add_argument("--manifest", action="store_true",
                   help="print a Deployment (with its ServiceAccount and Role) that runs this in the cluster")
    p.add_argument("--image", help="with --manifest: an image with ktui installed")
    p.add_argument("--keep-running", action="store_true",
                   help="do not exit when the sweep has nothing left to run (a Deployment's way)")
    add_cluster_args(p)
    add_local_arg(p)
    p.set_defaults(func=cli_command(cmd_supervise))


def cmd_supervise(args: argparse.Namespace) -> int:
    if args.manifest:
        if not args.image:
            raise CliError("--manifest needs --image: an image with ktui installed (for example one built "
                           "FROM python:3.11-slim with `pip install` of this repository)")
        sys.stdout.write(manifest(args.sweep, args.namespace or "default", args.image, args.interval))
        return 0
    kinds = ("jobs", "pods", "events")
    backend = connect_backend(args, kinds, metrics=False)
    supervisor: SweepSupervisor | None = None
    try:
        backend.start()
        wait_listed(backend, kinds, required=("jobs", "pods"))
        ns, where = scope_of(args, backend)
        supervisor = SweepSupervisor(backend, LogMetrics(backend, cache=ResultCache()), sweep=args.sweep,
                                     namespace=ns, interval=args.interval)
        supervisor.start()
        seen: set[Any] = set()
        print(f"supervising sweep {args.sweep} in {where}", file=sys.stderr, flush=True)
        store = backend.store
        while True:
            watched = supervisor.tick()
            # The sweep's trials from the store's index (not a copy of every trial each tick).
            pairs = [(s.namespace, s.name) for s in store.sweeps()
                     if s.name == args.sweep and (ns is None or s.namespace == ns)]
            for t in store.get_trials(store.sweep_members(pairs)).values():
                if t.phase == "EarlyStopped" and t.key not in seen:
                    seen.add(t.key)
                    job = store.job(t.key)
                    note = parse_object(job.stopped) if job is not None else None
                    print(f"{t.namespace}/{t.name} stopped early: {describe(note)}", flush=True)
            if not watched and not args.keep_running:
                if not pairs:
                    raise CliError(f"no sweep {args.sweep} in {where}")
                print(f"sweep {args.sweep}: nothing left to run (or no earlyStopping rule); done", file=sys.stderr)
                return 0
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 0
    finally:
        if supervisor is not None:
            supervisor.stop()
        backend.stop(timeout=2.0)


def manifest(sweep: str, namespace: str, image: str, interval: float) -> str:
    name = f"ktui-supervise-{sweep}"[:63].rstrip("-")
    labels = {"app.kubernetes.io/name": "ktui-supervise", "ktui.dev/sweep": sweep}
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": name, "namespace": namespace},
         "rules": [
             {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get", "list", "watch", "patch"]},
             {"apiGroups": [""], "resources": ["pods", "events"], "verbs": ["get", "list", "watch"]},
             {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
         ]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": name, "namespace": namespace},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": name, "namespace": namespace, "labels": labels},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": {
                      "serviceAccountName": name,
                      "containers": [{"name": "supervise", "image": image,
                                      "command": ["ktui", "supervise", sweep, "-n", namespace,
                                                  "--interval", f"{interval:g}", "--keep-running"],
                                      "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}}}]}}}},
    ]
    return yaml.safe_dump_all(docs, sort_keys=False)
