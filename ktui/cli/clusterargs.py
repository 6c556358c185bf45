"""Arguments shared by every subcommand that talks to a cluster."""

from __future__ import annotations

import argparse
import re
from typing import Any


def add_cluster_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("cluster")
    g.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
    g.add_argument("--context", metavar="NAME", help="kubeconfig context (default: the current context)")
    g.add_argument("-n", "--namespace", metavar="NS", help="namespace (default: the context's, or 'default')")
    g.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")


def speed(text: str) -> float:
    """`--speed` of a simulated cluster: simulated seconds per wall second, above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be above 0 (simulated seconds per second), not {text}")
    return value


_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?$")


def duration(text: str) -> float:
    """A duration as seconds: 300, 300s, 5m, 1h30m."""
    m = _DURATION.match(text.strip())
    if not text.strip() or m is None:
        raise argparse.ArgumentTypeError(f"not a duration (e.g. 90s, 5m, 1h): {text!r}")
    h, mi, s = (float(x) if x else 0.0 for x in m.groups())
    return h * 3600 + mi * 60 + s


def percent(text: str) -> float:
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a percentage: {text!r}") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be between 0 and 100, not {text}")
    return value


def add_gpu_args(parser: argparse.ArgumentParser, idle_for: str = "5m") -> None:
    g = parser.add_argument_group("GPU telemetry")
    g.add_argument("--gpu-interval", type=duration, default=15.0, metavar="SECONDS",
                   help="how often the GPUs on screen are read (default 15s; dcgm-exporter collects every 30s)")
    g.add_argument("--prometheus", metavar="URL|NS/SERVICE[:PORT]",
                   help="query this Prometheus for dcgm-exporter's series instead of finding one "
                        "(a URL, or a service reached through the API server's service proxy)")
    g.add_argument("--no-gpu-metrics", action="store_true", help="do not read GPU telemetry (allocation only)")
    g.add_argument("--gpu-idle", type=percent, default=5.0, metavar="PCT",
                   help="a trial whose GPUs are busy less than this is idle (default 5%%)")
    g.add_argument("--gpu-idle-for", type=duration, default=duration(idle_for), metavar="DURATION",
                   help=f"... for at least this long, then it is flagged GPU idle (default {idle_for})")


def gpu_options(args: argparse.Namespace) -> dict[str, Any]:
    """KubeBackend's keyword arguments for the GPU flags (a command without them reads no
    GPU telemetry)."""
    from ktui.cluster.gpuuse import GpuIdleRule

    return {
        "gpu": hasattr(args, "gpu_interval") and not args.no_gpu_metrics,
        "gpu_interval": getattr(args, "gpu_interval", 15.0),
        "prometheus": getattr(args, "prometheus", None),
        "gpu_idle": GpuIdleRule(getattr(args, "gpu_idle", 5.0), getattr(args, "gpu_idle_for", 300.0)),
    }
