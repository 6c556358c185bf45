from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ktui.cluster.local import LocalBackend

ROOT = Path(__file__).resolve().parents[2]
NS = "default"


def job(name: str, code: str, *, sweep: str = "t", cpu: str | None = None, memory: str | None = None,
        mem_limit: str | None = None, gpu: int | None = None, retries: int = 0,
        env: dict[str, str] | None = None, args: list[str] | None = None) -> dict[str, Any]:
    """A Job manifest as ktui renders them, running ``python -c CODE``."""
    requests: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    if cpu is not None:
        requests["cpu"] = cpu
    if memory is not None:
        requests["memory"] = memory
    if mem_limit is not None:
        limits["memory"] = mem_limit
    if gpu is not None:
        requests["nvidia.com/gpu"] = gpu
        limits["nvidia.com/gpu"] = gpu
    labels = {"ktui.dev/sweep": sweep, "ktui.dev/trial": name.rsplit("-", 1)[-1]}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": NS, "labels": labels,
                     "annotations": {"ktui.dev/params": '{"x": 1}'}},
        "spec": {
            "backoffLimit": retries,
            "template": {"spec": {
                "restartPolicy": "OnFailure",
                "containers": [{
                    "name": "trial", "image": "ignored:latest",
                    "command": [sys.executable, "-c", code], "args": args or [],
                    "env": [{"name": k, "value": v} for k, v in (env or {}).items()],
                    "resources": {k: v for k, v in (("requests", requests), ("limits", limits)) if v},
                }],
            }},
        },
    }


def wait_for(pred: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.03)
    raise AssertionError(f"timed out waiting for {what}")


def trial(b: LocalBackend, name: str):  # type: ignore[no-untyped-def]
    return b.store.get_trial((NS, name))


def wait_phase(b: LocalBackend, name: str, *phases: str, timeout: float = 15.0):  # type: ignore[no-untyped-def]
    def check():  # type: ignore[no-untyped-def]
        t = trial(b, name)
        return t if t is not None and t.phase in phases else None

    return wait_for(check, timeout, f"{name} in {phases} (now {trial(b, name)})")


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def work(tmp_path: Path) -> Path:
    d = tmp_path / "work"
    d.mkdir()
    return d


@pytest.fixture
def make_backend(state_dir: Path, work: Path) -> Iterator[Callable[..., LocalBackend]]:
    made: list[LocalBackend] = []

    def make(**kw: Any) -> LocalBackend:
        kw.setdefault("state_dir", state_dir)
        kw.setdefault("poll_interval", 0.05)
        kw.setdefault("kill_grace", 1.0)
        kw.setdefault("retry_delay", 0.0)
        b = LocalBackend(kw.pop("workdir", work), **kw)
        made.append(b)
        b.start()
        return b

    yield make
    # Cancel whatever is left so no test leaves processes behind, then stop.
    for b in made:
        if not b._stopped:
            b.cancel(list(b.store.snapshot_trials()))
            b.step()
            b.stop()
