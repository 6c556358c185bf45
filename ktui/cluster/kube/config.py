"""Find and load cluster credentials with the official client, kubectl's way.

Order: --kubeconfig, then $KUBECONFIG (a path list), then ~/.kube/config, then the in-cluster
service account. --context picks a context; the namespace is --namespace, else the
context's, else "default" (in a pod: the service account's). Credentials stay inside the
client's Configuration; nothing here prints or logs them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import urllib3
import yaml
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
        raise ConfigError(f"invalid kubeconfig {source}: {_safe_reason(exc, existing)}") from None
    except Exception as exc:  # YAML errors and the like
        raise ConfigError(_yaml_problem(existing) or
                          f"cannot read kubeconfig {source}: {_safe_reason(exc, existing)}") from None
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
        raise ConfigError(f"invalid kubeconfig {source}: {_safe_reason(exc, existing)}") from None
    except Exception as exc:  # e.g. credential data that is not base64
        raise ConfigError(f"cannot load context {chosen.get('name')!r} from {source}: "
                          f"{_safe_reason(exc, existing)}") from None
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
        raise ConfigError(f"in-cluster configuration failed: {_safe_reason(exc, [])}") from None
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


# A kubeconfig carries credentials in its values; an error must never echo one. PyYAML's
# messages quote the offending text (a value starting with "!" is read as a tag and shown,
# whole), and the client's may include decoded data. So a YAML problem is told by its file,
# line, column and key, and any other message has every value of the file taken out.
_KEY = re.compile(r"^\s*(?:-\s+)?([A-Za-z0-9_.-]+)\s*:")
_LONG_RUN = re.compile(r"[A-Za-z0-9+/=_.-]{24,}")  # base64, hex, JWTs: never worth showing


def _yaml_problem(paths: list[str]) -> str | None:
    for path in paths:
        full = os.path.expanduser(path)
        try:
            with open(full, encoding="utf-8", errors="replace") as f:
                yaml.safe_load(f)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
            if mark is None:
                return f"kubeconfig {path} is not valid YAML"
            lines = Path(full).read_text(encoding="utf-8", errors="replace").splitlines()
            key = _key_at(lines, mark.line)
            where = f"line {mark.line + 1}, column {mark.column + 1}"
            field = f"the value of '{key}'" if key else "the text"
            text = lines[mark.line] if mark.line < len(lines) else ""
            value = text.split(":", 1)[1].lstrip() if key and ":" in text else ""
            hint = " (a value starting with ! * & @ ` | > % must be quoted)" if value[:1] in set("!*&@`|>%") else ""
            return f"kubeconfig {path}: {field} at {where} is not valid YAML{hint}; the value is not shown"
        except OSError:
            continue
    return None


def _key_at(lines: list[str], line: int) -> str | None:
    """The key whose value is at ``line``: on that line, or the nearest one above it."""
    for i in range(min(line, len(lines) - 1), -1, -1):
        m = _KEY.match(lines[i])
        if m:
            return m.group(1)
    return None


def _values(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for v in node.values():
            yield from _values(v)
    elif isinstance(node, list):
        for v in node:
            yield from _values(v)
    elif node is not None and not isinstance(node, bool):
        yield str(node)


def _safe_reason(exc: BaseException, paths: list[str]) -> str:
    """The exception's first line with every value of the kubeconfig files (and any long
    base64-like run) replaced by "…"."""
    text = _first_line(exc)
    secrets: set[str] = set()
    for path in paths:
        try:
            with open(os.path.expanduser(path), encoding="utf-8", errors="replace") as f:
                doc = yaml.safe_load(f)
        except (OSError, yaml.YAMLError):
            continue
        for user in (doc or {}).get("users") or () if isinstance(doc, dict) else ():
            secrets.update(v for v in _values(user.get("user") if isinstance(user, dict) else None) if len(v) >= 3)
        for cluster in (doc or {}).get("clusters") or () if isinstance(doc, dict) else ():
            c = cluster.get("cluster") if isinstance(cluster, dict) else None
            if isinstance(c, dict):
                secrets.update(str(v) for k, v in c.items() if k.endswith("-data") and v)
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "…")
    return _LONG_RUN.sub("…", text)
