"""Deletions that must finish: a foreground-deleted owner goes once its pods are gone, whatever
state those pods were in (the simulator once kept such owners forever)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ktui.sim.resources import PODS
from ktui.sim.testing import Sim, running_sim

from .conftest import SPEED
from .helpers import job, job_done, pods_of, request
from .test_kubeflow import BASE as PYTORCH_BASE
from .test_kubeflow import pytorchjob

JOBS = "/apis/batch/v1/namespaces/default/jobs"
FOREGROUND = {"propagationPolicy": "Foreground"}


def running(sim: Sim, name: str, n: int) -> None:
    sim.wait_for(lambda s: sum(p["status"].get("phase") == "Running" for p in pods_of(s, name)) == n,
                 timeout=20)


def test_an_indexed_job_with_retries_left_goes_in_the_foreground(sim: Sim) -> None:
    # Its killed pods are failures with retries left: the controller held them for their
    # replacements, which a Job being deleted never makes.
    sim.create(job("ix", annotations={"sim.ktui.dev/duration": "6000"}, completionMode="Indexed",
                   completions=3, parallelism=3, backoffLimitPerIndex=2))
    running(sim, "ix", 3)
    assert request(sim, "DELETE", JOBS + "/ix", FOREGROUND).status == 200
    sim.wait_for(lambda s: s.get("jobs", "default", "ix") is None and not pods_of(s, "ix"), timeout=20)


def test_a_container_that_exits_as_its_pod_is_deleted_lets_the_pod_go(sim: Sim) -> None:
    sim.create(job("race", annotations={"sim.ktui.dev/duration": "6000"}))
    running(sim, "race", 1)
    [pod] = pods_of(sim, "race")
    name = pod["metadata"]["name"]

    def delete_then_exit() -> None:
        # In one turn of the simulator's loop, so the order is certain: the deletion, then
        # the container's own exit, before the kubelet's kill (KILL_DELAY later) gets to it.
        sim.server.cluster.delete(PODS, "default", name, {"propagationPolicy": "Background"})
        kubelet = sim.server.kubelet
        rt = kubelet.pods[f"default/{name}"]
        kubelet._finish(rt, rt.containers["trial"])

    sim.call(delete_then_exit)
    sim.wait_for(lambda s: s.get("pods", "default", name) is None, timeout=20)


def test_a_pod_deleted_while_it_starts_is_a_failure_not_a_success(sim: Sim) -> None:
    # The pod waits for a ConfigMap that does not exist: it never gets past ContainerCreating.
    body = job("starting", backoff=6)
    pod_spec = body["spec"]["template"]["spec"]
    pod_spec["volumes"] = [{"name": "params", "configMap": {"name": "not-yet"}}]
    pod_spec["containers"][0]["volumeMounts"] = [{"name": "params", "mountPath": "/p"}]
    sim.create(body)
    sim.wait_for(lambda s: any(e.get("reason") == "FailedMount" for e in s.objects("events", "default")),
                 timeout=20)
    [pod] = pods_of(sim, "starting")
    assert request(sim, "DELETE", f"/api/v1/namespaces/default/pods/{pod['metadata']['name']}").status == 200
    sim.wait_for(lambda s: (s.get("jobs", "default", "starting") or {}).get("status", {}).get("failed") == 1,
                 timeout=20)
    got = sim.get("jobs", "default", "starting")
    assert not got["status"].get("succeeded") and not job_done(sim, "starting")


@pytest.fixture
def ksim() -> Iterator[Sim]:
    with running_sim(nodes=4, gpus_per_node=8, speed=SPEED, kubeflow=True) as s:
        yield s


def test_a_pytorchjob_goes_in_the_foreground_after_its_pods(ksim: Sim) -> None:
    ksim.create(pytorchjob("pt", workers=2, seconds="6000", master_seconds="6000"))
    ksim.wait_for(lambda s: sum(p["status"].get("phase") == "Running" for p in s.objects("pods", "default")) == 3,
                  timeout=20)
    got = request(ksim, "DELETE", PYTORCH_BASE + "/pt", FOREGROUND).json()
    assert got["metadata"]["finalizers"] == ["foregroundDeletion"]
    ksim.wait_for(lambda s: s.get("pytorchjobs", "default", "pt") is None, timeout=20)
    assert not ksim.objects("pods", "default") and not [
        s for s in ksim.objects("services", "default") if s["metadata"]["name"].startswith("pt-")]
