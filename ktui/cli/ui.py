"""`ktui` (the interactive UI on the current kubeconfig context) and `ktui demo`."""

from __future__ import annotations

import argparse
import sys

from ktui.cli.clusterargs import add_cluster_args, add_gpu_args, gpu_options, speed
from ktui.cli.local import add_local_arg


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("ui", help="the interactive UI (the default when no command is given)")
    add_cluster_args(p)
    add_local_arg(p)
    add_gpu_args(p)
    p.set_defaults(func=run_ui)
    p = sub.add_parser("demo", help="the UI on a simulated 8-node GPU cluster with example sweeps")
    p.add_argument("--nodes", type=int, default=8)
    p.add_argument("--gpus-per-node", type=int, default=8)
    p.add_argument("--speed", type=speed, default=4.0, help="simulated seconds per second (default 4)")
    # (A minute, not five: the demo's idle trial is flagged while you look.)
    add_gpu_args(p, idle_for="1m")
    p.set_defaults(func=run_demo)


def run_ui(args: argparse.Namespace) -> int:
    from ktui.cli.local import hand_off, make_local_backend, no_kubeconfig

    if args.local or no_kubeconfig(args.kubeconfig):
        local = make_local_backend()
        local.store.gpu_rule = gpu_options(args)["gpu_idle"]
        if not args.local:
            print("ktui: no kubeconfig found: running on this machine (trials are local processes); "
                  "`ktui demo` shows a simulated cluster", file=sys.stderr)
        try:
            return _run_app(local, "default")
        finally:
            hand_off(local)  # queued trials keep starting without ktui

    from ktui.cluster.kube.backend import KubeBackend
    from ktui.cluster.kube.config import ConfigError

    try:
        backend = KubeBackend.connect(args.kubeconfig, args.context, args.namespace,
                                      all_namespaces=args.all_namespaces, **gpu_options(args))
    except ConfigError as e:
        print(f"ktui: {e}\nktui: try `ktui demo` for a simulated cluster", file=sys.stderr)
        return 1
    # No request before the first frame: a server that accepts and never answers held a
    # blank terminal for 15 s. The screen says where it is connecting to, and keeps trying.

    def switch(context: str | None, namespace: str | None, all_namespaces: bool) -> KubeBackend:
        return KubeBackend.connect(args.kubeconfig, context or backend.cluster.context,
                                   namespace or (None if context else backend.cluster.namespace),
                                   all_namespaces=all_namespaces, **gpu_options(args))

    return _run_app(backend, backend.cluster.namespace, switch, _contexts(args.kubeconfig))


def run_demo(args: argparse.Namespace) -> int:
    from ktui.cluster.kube.backend import KubeBackend
    from ktui.demo import start_demo_cluster

    sim = start_demo_cluster(args.nodes, args.gpus_per_node, args.speed)
    try:
        backend = KubeBackend.connect(str(sim.kubeconfig), **gpu_options(args))

        def switch(context: str | None, namespace: str | None, all_namespaces: bool) -> KubeBackend:
            return KubeBackend.connect(str(sim.kubeconfig), context, namespace, all_namespaces=all_namespaces,
                                       **gpu_options(args))

        return _run_app(backend, "default", switch, _contexts(str(sim.kubeconfig)))
    finally:
        sim.close()


def _contexts(kubeconfig: str | None) -> list[str]:
    from kubernetes.config.kube_config import list_kube_config_contexts

    try:
        contexts, _ = list_kube_config_contexts(config_file=kubeconfig)
    except Exception:  # in-cluster, or an odd kubeconfig: no contexts to offer
        return []
    return [c["name"] for c in contexts or () if c.get("name")]


def _run_app(backend, namespace: str, switch=None, contexts=()) -> int:  # type: ignore[no-untyped-def]
    from ktui.ui.app import KtuiApp

    KtuiApp(backend, default_namespace=namespace, switch=switch, contexts=contexts).run()
    return 0
