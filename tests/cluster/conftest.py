"""Fixtures for the HTTP tests: the in-repo simulator and backends pointed at it.

Everything goes through real HTTP, the official client and a kubeconfig; nothing patches
client methods. Timings are shrunk (backoff, watch timeout, metrics interval) so fault
recovery happens in fractions of a second.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ktui.cluster.kube.backend import KubeBackend
from ktui.cluster.kube.config import load

FAST = dict(
    metrics_interval=0.3,
    metrics_min_interval=0.0,
    backoff_base=0.05,
    backoff_cap=0.4,
    watch_timeout=5,
    forbidden_retry=0.3,
    probe_capabilities=False,
)


# The simulator runs this many simulated seconds per wall second.
SPEED = 50.0


@pytest.fixture
def sim() -> Iterator[Any]:
    from ktui.sim.testing import running_sim

    with running_sim(nodes=3, gpus_per_node=8, speed=SPEED, history=10_000, pods=0, seed=1) as s:
        yield s


def make_backend(kubeconfig: Any, *, namespace: str | None = None, all_namespaces: bool = True,
                 **kw: Any) -> KubeBackend:
    opts = {**FAST, **kw}
    return KubeBackend(load(str(kubeconfig), namespace=namespace), all_namespaces=all_namespaces, **opts)


@pytest.fixture
def backend_factory() -> Iterator[Callable[..., KubeBackend]]:
    made: list[KubeBackend] = []

    def factory(kubeconfig: Any, **kw: Any) -> KubeBackend:
        b = make_backend(kubeconfig, **kw)
        made.append(b)
        return b

    yield factory
    for b in made:
        b.stop(timeout=3.0)


def eventually(pred: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05,
               message: str | Callable[[], str] = "condition not met") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message() if callable(message) else message)
        time.sleep(interval)


def _key(kind: str, obj: dict[str, Any]) -> Any:
    meta = obj["metadata"]
    return meta["name"] if kind == "nodes" else (meta["namespace"], meta["name"])


def server_state(sim: Any, kind: str) -> dict[Any, str]:
    objs = sim.objects(kind)
    if kind == "events":
        objs = [o for o in objs if o.get("type") == "Warning"]
    return {_key(kind, o): o["metadata"]["resourceVersion"] for o in objs}


def store_state(backend: KubeBackend, kind: str) -> dict[Any, str]:
    store = backend.store
    return {k: store.record(kind, k).rv for k in store.keys(kind)}


def diff(sim: Any, backend: KubeBackend, kinds: tuple[str, ...]) -> str:
    out = []
    for kind in kinds:
        want, have = server_state(sim, kind), store_state(backend, kind)
        if want != have:
            missing = sorted(set(want) - set(have))[:5]
            extra = sorted(set(have) - set(want))[:5]
            stale = sorted(k for k in set(want) & set(have) if want[k] != have[k])[:5]
            out.append(f"{kind}: missing {missing} extra {extra} stale {stale}")
    return "; ".join(out)


def assert_converged(sim: Any, backend: KubeBackend, kinds: tuple[str, ...] = ("pods", "jobs", "nodes"),
                     timeout: float = 15.0) -> None:
    """The store equals the server, object by object (key and resourceVersion)."""
    eventually(lambda: not diff(sim, backend, kinds), timeout,
               message=lambda: "store != server: " + diff(sim, backend, kinds))


def job_manifest(name: str, sweep: str = "sw", trial: int = 0, *, namespace: str = "default",
                 duration: float = 1.0, exit_code: int | None = None, oom: bool = False,
                 log: str | None = None, gpu: int = 0, backoff_limit: int = 0,
                 params: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ktui-style trial Job; ``duration`` is in *wall* seconds (the simulator's pods run
    simulated seconds, SPEED per wall second)."""
    import json

    ann = {"sim.ktui.dev/duration": str(duration * SPEED)}
    if exit_code is not None:
        ann["sim.ktui.dev/exit-code"] = str(exit_code)
    if oom:
        ann["sim.ktui.dev/oom"] = "true"
    if log is not None:
        ann["sim.ktui.dev/log"] = log
    labels = {"ktui.dev/sweep": sweep, "ktui.dev/trial": str(trial)}
    resources: dict[str, Any] = {"requests": {"cpu": "1", "memory": "1Gi"}}
    if gpu:
        resources["requests"]["nvidia.com/gpu"] = str(gpu)
        resources["limits"] = {"nvidia.com/gpu": str(gpu)}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "annotations": {"ktui.dev/params": json.dumps(params or {"lr": 0.1, "trial": trial})},
        },
        "spec": {
            "backoffLimit": backoff_limit,
            "template": {
                "metadata": {"labels": dict(labels), "annotations": ann},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "trial", "image": "python:3.11",
                                    "command": ["python", "train.py"], "resources": resources}],
                },
            },
        },
    }


def kubectl(sim: Any, tmp_path: Any, *args: str) -> str:
    """kubectl's stdout against the simulator (its own HOME and cache: no user config)."""
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    env = dict(os.environ, KUBECONFIG=str(sim.kubeconfig), HOME=str(tmp_path))
    proc = subprocess.run(["kubectl", f"--cache-dir={tmp_path}/cache", *args], env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout
