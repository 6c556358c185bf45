"""Find and load cluster credentials with the official client, kubectl's way.

Order: --kubeconfig, then $KUBECONFIG (a path list), then ~/.kube/config, then the in-cluster
service account. --context picks a context; the namespace is --namespace, else the
context's, else "default" (in a pod: the service account's). Credentials stay inside the
client's Configuration; nothing here prints or logs them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import urllib3
from kubernetes import config as kconfig
from kubernetes.client import ApiClient, Configuration

_SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class ConfigError(Exception):
    """A configuration problem, worded for the user (one line, no credentials)."""


@dataclass(frozen=True)
class ClusterConfig:
    api_client: ApiClient
    server: str
    namespace: str  # the default namespace for namespaced commands
    context: str | None  # None in-cluster
    user: str | None  # the kubeconfig user's *name*, for messages
    source: str  # the kubeconfig path(s), or "in-cluster"

    def describe(self) -> str:
        where = f"context {self.context}" if self.context else self.source
        return f"{self.server} ({where}, namespace {self.namespace})"


def _configuration(pool_size: int) -> Configuration:
    cfg = Configuration()
    # One connection per reflector watch plus the submit workers: the default (5 x CPUs)
    # would make submit threads queue for a connection on small machines.
    cfg.connection_pool_maxsize = pool_size
    # ktui retries (with backoff, Retry-After and a stop flag) itself. Let urllib3 only
    # retry a refused/reset connect once, never sleep or re-send on a status.
    cfg.retries = urllib3.Retry(
        total=1, connect=1, read=0, redirect=2, status=0, other=0, respect_retry_after_header=False
    )
    return cfg


def kubeconfig_candidates(explicit: str | None) -> list[str]:
    if explicit:
        return [explicit]
    env = os.environ.get("KUBECONFIG")
    if env:
        return [p for p in env.split(os.pathsep) if p]
    return [os.path.join("~", ".kube", "config")]


def load(
    kubeconfig: str | None = None,
    context: str | None = None,
    namespace: str | None = None,
    *,
    pool_size: int = 32,
) -> ClusterConfig:
    paths = kubeconfig_candidates(kubeconfig)
    existing = [p for p in paths if os.path.exists(os.path.expanduser(p))]
    if kubeconfig and not existing:
        raise ConfigError(f"kubeconfig {kubeconfig} not found")
    if not existing:
        if os.environ.get("KUBERNETES_SERVICE_HOST") and not kubeconfig:
            return _load_incluster(namespace, pool_size)
        looked = ", ".join(paths)
        raise ConfigError(
            f"no kubeconfig found (looked in {looked}); use --kubeconfig or run 'ktui sim'"
        )
    source = os.pathsep.join(existing)
    try:
        contexts, current = kconfig.list_kube_config_contexts(config_file=source)
    except kconfig.ConfigException as exc:
        raise ConfigError(f"invalid kubeconfig {source}: {_first_line(exc)}") from None
    except Exception as exc:  # YAML errors and the like
        raise ConfigError(f"cannot read kubeconfig {source}: {_first_line(exc)}") from None
    names = [c.get("name") for c in contexts or ()]
    if context is not None and context not in names:
        known = ", ".join(n for n in names if n) or "none"
        raise ConfigError(f"context {context!r} not found in {source} (known: {known})")
    chosen = next((c for c in contexts or () if c.get("name") == context), None) if context else current
    if not chosen:
        raise ConfigError(f"kubeconfig {source} has no current context; use --context")
    ctx = chosen.get("context") or {}
    cfg = _configuration(pool_size)
    try:
        api_client = kconfig.new_client_from_config(
            config_file=source,
            context=chosen.get("name"),
            # Never write back to the user's kubeconfig (token refresh would).
            persist_config=False,
            client_configuration=cfg,
        )
    except kconfig.ConfigException as exc:
        raise ConfigError(f"invalid kubeconfig {source}: {_first_line(exc)}") from None
    except Exception as exc:
        raise ConfigError(f"cannot load context {chosen.get('name')!r}: {_first_line(exc)}") from None
    api_client.user_agent = "ktui/0.1 (kubernetes-client python)"
    return ClusterConfig(
        api_client=api_client,
        server=cfg.host,
        namespace=namespace or ctx.get("namespace") or "default",
        context=chosen.get("name"),
        user=ctx.get("user"),
        source=source,
    )


def _load_incluster(namespace: str | None, pool_size: int) -> ClusterConfig:
    cfg = _configuration(pool_size)
    try:
        kconfig.load_incluster_config(client_configuration=cfg)
    except kconfig.ConfigException as exc:
        raise ConfigError(f"in-cluster configuration failed: {_first_line(exc)}") from None
    if namespace is None:
        try:
            namespace = _SA_NAMESPACE.read_text().strip() or None
        except OSError:
            namespace = None
    api_client = ApiClient(configuration=cfg)
    api_client.user_agent = "ktui/0.1 (kubernetes-client python)"
    return ClusterConfig(
        api_client=api_client,
        server=cfg.host,
        namespace=namespace or "default",
        context=None,
        user=None,
        source="in-cluster",
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else exc.__class__.__name__)[:300]
