"""Run a simulated cluster in a background thread, for tests and benchmarks.

    from ktui.sim.testing import running_sim

    with running_sim(nodes=3, gpus_per_node=8, speed=50.0) as sim:
        api = kubernetes.config.new_client_from_config(str(sim.kubeconfig))
        ...

Every method is thread-safe: it runs on the simulator's own event loop and waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import shutil
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ktui.sim import errors
from ktui.sim.config import SimConfig
from ktui.sim.resources import BY_PLURAL, ResourceInfo
from ktui.sim.server import SimServer
from ktui.sim.store import key_of

T = TypeVar("T")

CONTEXT = "ktui-sim"


def kubeconfig_text(url: str, user: str, token: str, namespace: str = "default") -> str:
    return yaml.safe_dump({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {"server": url}}],
        "contexts": [{"name": CONTEXT,
                      "context": {"cluster": CONTEXT, "user": user, "namespace": namespace}}],
        "current-context": CONTEXT,
        "users": [{"name": user, "user": {"token": token}}],
        "preferences": {},
    }, sort_keys=False)


class FaultControl:
    """`sim.faults`: thread-safe front of ktui.sim.faults.Faults."""

    def __init__(self, sim: Sim) -> None:
        self._sim = sim

    def drop_watches(self) -> int:
        return self._sim.call(self._sim.server.drop_watches)

    def expire_next_watches(self, n: int = 1) -> None:
        self._sim.call(self._sim.server.faults.expire_next_watches, n)

    def set_error_rate(self, share: float, status: int = 500,
                       retry_after: int | None = None) -> None:
        self._sim.call(self._sim.server.faults.set_error_rate, share, status, retry_after)

    def set_latency(self, seconds: float) -> None:
        self._sim.call(self._sim.server.faults.set_latency, seconds)

    def set_list_cost(self, seconds_per_object: float) -> None:
        self._sim.call(self._sim.server.faults.set_list_cost, seconds_per_object)

    def clear(self) -> None:
        self._sim.call(self._sim.server.faults.clear)


class Sim:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.server = SimServer(config)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="ktui-sim", daemon=True)
        self._tmp = Path(tempfile.mkdtemp(prefix="ktui-sim-"))
        self.faults = FaultControl(self)
        self.kubeconfig: Path = self._tmp / "kubeconfig"

    # ------------------------------------------------------------------ lifecycle

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def start(self) -> None:
        self._thread.start()
        self.run(self.server.start, timeout=120)
        self.kubeconfig.write_text(kubeconfig_text(self.url, "admin", self.server.admin_token))

    def close(self) -> None:
        try:
            if self._thread.is_alive():
                with contextlib.suppress(Exception):
                    self.run(self.server.stop, timeout=10)
                self.loop.call_soon_threadsafe(self.loop.stop)
                self._thread.join(timeout=10)
        finally:
            if not self._thread.is_alive():
                self.loop.close()
            shutil.rmtree(self._tmp, ignore_errors=True)

    # ------------------------------------------------------------------ marshalling

    def run(self, coro_fn: Callable[[], Awaitable[T]], timeout: float | None = 30) -> T:
        """Run `await coro_fn()` on the simulator loop and return its result."""
        async def wrapper() -> T:
            return await coro_fn()
        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(timeout)

    def call(self, fn: Callable[..., T], *args: Any, timeout: float | None = 30) -> T:
        """Run `fn(*args)` on the simulator loop and return its result."""
        async def wrapper() -> T:
            return fn(*args)
        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(timeout)

    # ------------------------------------------------------------------ connection

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def token(self) -> str:
        return self.server.admin_token

    def token_for(self, user: str) -> str:
        return self.call(self.server.auth.token_for, user)

    def kubeconfig_for(self, user: str, namespace: str = "default") -> Path:
        path = self._tmp / f"kubeconfig-{user.replace(':', '_')}-{namespace}"
        path.write_text(kubeconfig_text(self.url, user, self.token_for(user), namespace))
        return path

    # ------------------------------------------------------------------ control

    def deny(self, user: str, verb: str, resource: str, namespace: str | None = None) -> None:
        self.call(self.server.auth.deny, user, verb, resource, namespace)

    def allow_all(self) -> None:
        self.call(self.server.auth.clear)

    def compact(self) -> None:
        self.call(self.server.cluster.store.compact)

    def restart(self) -> None:
        """Stop the HTTP server and start it again on the same port; state is kept."""
        self.run(self.server.restart_http)

    # ------------------------------------------------------------------ state

    @staticmethod
    def _info(kind_or_plural: str) -> ResourceInfo:
        low = kind_or_plural.lower()
        for info in BY_PLURAL.values():
            if low in (info.plural, info.kind.lower()):
                return info
        raise KeyError(kind_or_plural)

    def objects(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Stored objects of one kind, in one namespace or all (the GPU telemetry's pods in
        gpu-operator and monitoring included, as the API lists them)."""
        info = self._info(plural)

        def snapshot() -> list[dict[str, Any]]:
            rs = self.server.cluster.store[info.plural]
            lo, hi = rs.range_bounds(namespace)
            return [{"kind": info.kind, "apiVersion": info.api_version, **v.obj()}
                    for v in rs.iter_range(lo, hi, None)]
        return self.call(snapshot)

    def get(self, plural: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        info = self._info(plural)

        def one() -> dict[str, Any] | None:
            v = self.server.cluster.store.get(info, namespace, name)
            return None if v is None else {"kind": info.kind, "apiVersion": info.api_version,
                                           **v.obj()}
        return self.call(one)

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create through the API's admission (validation, defaulting), like a POST."""
        info = self._info(obj["kind"])
        ns = (obj.get("metadata") or {}).get("namespace") or ("default" if info.namespaced
                                                               else None)

        def create() -> dict[str, Any]:
            v = self.server.cluster.create(info, copy.deepcopy(obj), ns)
            return {"kind": info.kind, "apiVersion": info.api_version, **v.obj()}  # type: ignore[union-attr]  # noqa: E501
        return self.call(create)

    def update(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Replace an object's content directly (status included), bypassing admission."""
        info = self._info(obj["kind"])
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace") or ("default" if info.namespaced else None)

        def update() -> dict[str, Any]:
            cluster = self.server.cluster
            cur = cluster.store[info.plural].objects.get(key_of(info, ns, meta["name"]))
            if cur is None:
                raise errors.not_found(info, meta["name"])
            old = cur.obj()
            new = copy.deepcopy(obj)
            new.pop("kind", None)
            new.pop("apiVersion", None)
            new_meta = new.setdefault("metadata", {})
            for k in ("uid", "creationTimestamp", "namespace"):
                if k in old["metadata"]:
                    new_meta[k] = old["metadata"][k]
            v = cluster.write(info, new)
            return {"kind": info.kind, "apiVersion": info.api_version, **v.obj()}
        return self.call(update)

    def delete(self, plural: str, namespace: str | None, name: str, *,
               graceful: bool = False, propagation: str = "Background") -> None:
        """Delete an object. By default at once (finalizers and grace periods ignored);
        `graceful=True` goes through the API's deletion path instead."""
        info = self._info(plural)

        def delete() -> None:
            cluster = self.server.cluster
            if graceful:
                cluster.delete(info, namespace, name, {"propagationPolicy": propagation})
                return
            key = key_of(info, namespace, name)
            if key not in cluster.store[info.plural].objects:
                raise errors.not_found(info, name)
            cluster.store.remove(info, key)
        self.call(delete)

    def wait_for(self, predicate: Callable[[Sim], bool], timeout: float = 10,
                 interval: float = 0.05) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if predicate(self):
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            time.sleep(interval)


@contextlib.contextmanager
def running_sim(nodes: int = 3, gpus_per_node: int = 8, speed: float = 50.0,
                history: int = 10_000, pods: int = 0, seed: int = 1,
                **options: Any) -> Iterator[Sim]:
    """A started simulator on 127.0.0.1 (port 0 unless `port=` is given); closed on exit.

    Extra keyword options are SimConfig fields (e.g. bookmark_interval, watch_timeout).
    """
    config = SimConfig(nodes=nodes, gpus_per_node=gpus_per_node, speed=speed,
                       history=history, pods=pods, seed=seed, **options)
    sim = Sim(config)
    try:
        sim.start()
        yield sim
    finally:
        sim.close()
