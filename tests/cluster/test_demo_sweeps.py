"""`ktui demo`'s cluster as ktui sees it over HTTP: the three sweeps issue 18 asks the demo
to show (a distributed sweep with a failing worker, a 1,000-trial indexed sweep, a queued
sweep whose places in line go down), each cross-checked with kubectl."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ktui.demo import start_demo_cluster
from ktui.sim.testing import Sim

from .conftest import eventually, kubectl


@pytest.fixture(scope="module")
def demo() -> Iterator[Sim]:
    sim = start_demo_cluster(nodes=8, gpus_per_node=8, speed=50.0)
    try:
        yield sim
    finally:
        sim.close()


def test_the_queued_sweeps_places_go_down_until_it_runs(demo: Sim, backend_factory, tmp_path) -> None:
    b = backend_factory(demo.kubeconfig, namespace="default", all_namespaces=False, queue_interval=0.1)
    b.start()
    assert b.store.wait_synced(["jobs", "pods", "workloads"], timeout=30)
    last = ("default", "bert-queue-009")
    seen: list[int] = []

    def admitted() -> bool:
        t = b.store.get_trial(last)
        if t is not None and t.queue is not None and t.queue.position_local is not None:
            if not seen or seen[-1] != t.queue.position_local:
                seen.append(t.queue.position_local)
            assert t.phase == "Pending" and t.reason is not None and t.reason.startswith("queued #")
        return t is not None and t.queue is not None and t.queue.state == "Admitted"
    eventually(admitted, timeout=60, interval=0.02)
    assert len(seen) >= 2 and seen == sorted(seen, reverse=True), seen
    # kubectl sees the same Workloads, one per trial of the sweep, in the same queue.
    rows = kubectl(demo, tmp_path, "get", "workloads", "-n", "default", "--no-headers",
                   "-o", "custom-columns=N:.metadata.name,Q:.spec.queueName").split("\n")
    theirs = {tuple(r.split()) for r in rows if r.strip()}
    ours = {(rec.name, rec.queue) for rec in (b.store.record("workloads", k) for k in b.store.keys("workloads"))}
    assert theirs == ours and len(ours) == 10


def test_the_distributed_and_indexed_sweeps_are_rows_as_kubectl_counts_them(demo: Sim, backend_factory,
                                                                             tmp_path) -> None:
    b = backend_factory(demo.kubeconfig, namespace="default", all_namespaces=False)
    b.start()
    assert b.store.wait_synced(["jobs", "pods"], timeout=30)

    def ddp_failed() -> bool:
        t = b.store.get_trial(("default", "ddp-demo-001"))
        return t is not None and t.phase == "Failed"
    eventually(ddp_failed, timeout=60)
    t = b.store.get_trial(("default", "ddp-demo-001"))
    assert t is not None and t.kind == "PyTorchJob" and t.pods_total == 5
    assert t.reason is not None and t.reason.startswith("worker-1: ")
    assert "ddp-demo-001" in kubectl(demo, tmp_path, "get", "pytorchjobs", "-n", "default", "--no-headers")
    # The indexed sweep: one Job on the server, one row per trial here.
    trials = b.store.trials_of_sweep("sweep-1k", "default")
    assert len(trials) == 1000 and {x.source for x in trials} == {"sweep-1k"}
    completions = kubectl(demo, tmp_path, "get", "job", "sweep-1k", "-n", "default",
                          "-o", "jsonpath={.spec.completions}")
    assert completions == "1000"
