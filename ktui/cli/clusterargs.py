"""Arguments shared by every subcommand that talks to a cluster."""

from __future__ import annotations

import argparse


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
