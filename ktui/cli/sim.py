"""`ktui sim`: run the Kubernetes API simulator in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from pathlib import Path

from ktui.cli.clusterargs import speed
from ktui.sim.config import SimConfig
from ktui.sim.telemetry import MODES


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "sim",
        help="run a simulated Kubernetes API server (jobs, pods, nodes, logs) on localhost",
        description=(
            "Serve a simulated Kubernetes API (core/v1, batch/v1 Jobs, metrics.k8s.io) on "
            "127.0.0.1 with a job controller, scheduler and kubelets, for kubectl, ktui and "
            "tests. Writes a kubeconfig and runs until Ctrl-C."
        ),
    )
    p.add_argument("--nodes", type=int, default=8, help="number of nodes (default 8)")
    p.add_argument("--gpus-per-node", type=int, default=8, help="nvidia.com/gpu per node")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: pick a free one)")
    p.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    p.add_argument("--speed", type=speed, default=1.0,
                   help="simulated seconds per wall second (workloads, controller delays)")
    p.add_argument("--pods", type=int, default=0,
                   help="pre-populate this many sweep trial pods (mostly finished) with Jobs")
    p.add_argument("--history", type=int, default=10_000,
                   help="watch events kept per resource before resuming gets 410 Gone")
    p.add_argument("--seed", type=int, default=1, help="seed of the pre-populated data")
    p.add_argument("--kubeconfig-out", type=Path, default=Path("ktui-sim.kubeconfig"),
                   help="where to write the kubeconfig (default ./ktui-sim.kubeconfig)")
    p.add_argument("--error-rate", type=float, default=0.0,
                   help="share of API requests answered with --error-status (fault injection)")
    p.add_argument("--error-status", type=int, default=429, help="status of injected errors")
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to each request")
    p.add_argument("--list-cost-us", type=float, default=0.0,
                   help="microseconds a list spends per object, like a real apiserver (~100)")
    p.add_argument("--bookmark-interval", type=float, default=60.0,
                   help="seconds between BOOKMARK events on watches that allow them")
    p.add_argument("--gpu-telemetry", choices=MODES, default="dcgm+prometheus",
                   help="GPU metrics: dcgm-exporter pods in gpu-operator and a Prometheus in "
                        "monitoring (default), only one of them, or none")
    p.add_argument("--mig-node", type=int, default=None, metavar="N",
                   help="partition the GPUs of node N (0-based) with MIG (mixed strategy)")
    p.add_argument("--dcgm-interval", type=float, default=30.0, metavar="SECONDS",
                   help="dcgm-exporter collection interval in wall seconds (default 30)")
    p.add_argument("--kubeflow", action="store_true",
                   help="serve kubeflow.org/v1 PyTorchJobs with a training-operator (off: the "
                        "group is absent, as on a cluster without the CRD)")
    p.add_argument("--kueue", action="store_true",
                   help="serve Kueue (kueue.x-k8s.io v1beta2+v1beta1, visibility API) and admit "
                        "Jobs labelled kueue.x-k8s.io/queue-name by ClusterQueue quota")
    p.add_argument("--kueue-quota", default="", metavar="RES=QTY,...",
                   help="quota of the ClusterQueue created at start (default "
                        "cpu=64,memory=256Gi,nvidia.com/gpu=<all GPUs>)")
    p.add_argument("--trainer", action="store_true",
                   help="serve Kubeflow Trainer v2 TrainJobs (trainer.kubeflow.org, runtime "
                        "torch-distributed) over JobSets (jobset.x-k8s.io) with their controllers")
    p.add_argument("-v", "--verbose", action="store_true", help="log server errors to stderr")
    p.set_defaults(func=run)


def _quota(text: str) -> dict[str, str] | None:
    if not text:
        return None
    out = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise SystemExit(f"ktui sim: --kueue-quota: {part!r} is not RESOURCE=QUANTITY")
        out[key.strip()] = value.strip()
    return out


async def _serve(args: argparse.Namespace) -> int:
    from ktui.sim.server import SimServer
    from ktui.sim.testing import kubeconfig_text

    config = SimConfig(nodes=args.nodes, gpus_per_node=args.gpus_per_node, speed=args.speed,
                       history=args.history, pods=args.pods, seed=args.seed, host=args.host,
                       port=args.port, bookmark_interval=args.bookmark_interval,
                       gpu_telemetry=args.gpu_telemetry, mig_node=args.mig_node,
                       dcgm_interval=args.dcgm_interval, kubeflow=args.kubeflow,
                       kueue=args.kueue, kueue_quota=_quota(args.kueue_quota),
                       trainer=args.trainer)
    server = SimServer(config)
    t0 = time.monotonic()
    try:
        await server.start()
    except ValueError as exc:
        print(f"ktui sim: {exc}", file=sys.stderr)
        return 2
    if args.error_rate:
        server.faults.set_error_rate(args.error_rate, args.error_status)
    if args.latency:
        server.faults.set_latency(args.latency)
    if args.list_cost_us:
        server.faults.set_list_cost(args.list_cost_us / 1e6)
    path: Path = args.kubeconfig_out
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(kubeconfig_text(server.url, "admin", server.admin_token))
    path.chmod(0o600)
    store = server.cluster.store
    print(f"ktui sim: serving {server.url} ({len(store['nodes'].objects)} nodes, "
          f"{len(store['pods'].objects)} pods, {len(store['jobs'].objects)} jobs; "
          f"started in {time.monotonic() - t0:.1f}s, speed x{config.speed:g})", flush=True)
    print(f"  export KUBECONFIG={path.resolve()}", flush=True)
    print("  kubectl get nodes; kubectl get jobs -A; ktui ...", flush=True)
    if server.telemetry.dcgm_on:
        exporters = [v.name for v in store["pods"].objects.values()
                     if v.namespace == "gpu-operator"]
        if exporters:
            print(f"  kubectl get --raw /api/v1/namespaces/gpu-operator/pods/{exporters[0]}"
                  ":9400/proxy/metrics", flush=True)
    if server.telemetry.prometheus_on:
        print("  kubectl get --raw '/api/v1/namespaces/monitoring/services/prometheus-operated:"
              "web/proxy/api/v1/query?query=DCGM_FI_DEV_GPU_UTIL'", flush=True)
    print("  Ctrl-C to stop.", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()
    return 0


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if not args.verbose:
        # Client disconnects mid-stream are routine for a watch server.
        logging.getLogger("aiohttp").setLevel(logging.CRITICAL)
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"ktui sim: {exc}", file=sys.stderr)
        return 1
