"""Fixtures for the simulator's tests: a running simulator and clients talking real HTTP."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest

from ktui.sim.testing import Sim, running_sim

# Simulated seconds per wall second: a 20 s trial takes 0.2 s.
SPEED = 100.0


@pytest.fixture
def sim() -> Iterator[Sim]:
    with running_sim(nodes=3, gpus_per_node=8, speed=SPEED, history=10_000, pods=0,
                     seed=1) as s:
        yield s


@pytest.fixture
def api(sim: Sim) -> Iterator[kubernetes.client.ApiClient]:
    client = kubernetes.config.new_client_from_config(str(sim.kubeconfig))
    yield client
    client.close()


@pytest.fixture
def core(api: kubernetes.client.ApiClient) -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(api)


@pytest.fixture
def batch(api: kubernetes.client.ApiClient) -> kubernetes.client.BatchV1Api:
    return kubernetes.client.BatchV1Api(api)


@pytest.fixture
def kubectl(sim: Sim, tmp_path: Any) -> Any:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")

    def run(*args: str, timeout: float = 20, check: bool = True,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, KUBECONFIG=str(sim.kubeconfig), HOME=str(tmp_path))
        proc = subprocess.run(["kubectl", f"--cache-dir={tmp_path}/cache", *args], env=env,
                              capture_output=True, text=True, timeout=timeout, input=input)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout}\n{proc.stderr}")
        return proc

    return run
