"""Reflectors against the simulator over real HTTP: the store converges to the server under
every injected fault, object by object."""

from __future__ import annotations

import threading
import time
from typing import Any

from ktui.cluster.kube.backend import KubeBackend

from .conftest import assert_converged, eventually, job_manifest

KINDS = ("pods", "jobs", "nodes")


def _start(backend_factory: Any, sim: Any, timeout: float = 10, **kw: Any) -> KubeBackend:
    b = backend_factory(sim.kubeconfig, **kw)
    b.start()
    assert b.store.wait_synced(KINDS, timeout=timeout)
    return b


def _churn(sim: Any, prefix: str, n: int, *, duration: float = 0.5) -> None:
    for i in range(n):
        sim.create(job_manifest(f"{prefix}-{i}", sweep=prefix, trial=i, duration=duration))


def test_paged_initial_list_and_watch(sim, backend_factory):
    _churn(sim, "pre", 30)
    b = _start(backend_factory, sim, page_limit=7)
    refl = b.reflectors["jobs"]
    assert refl.stats.pages >= 5 and refl.stats.lists == 1
    assert_converged(sim, b, KINDS)
    # The watch delivers what happens next: jobs run to completion through their pods.
    _churn(sim, "post", 5, duration=1.0)
    assert_converged(sim, b, KINDS)
    eventually(lambda: {t.phase for t in b.store.trials_of_sweep("post")} == {"Succeeded"},
               timeout=15, message=lambda: str({t.name: t.phase for t in b.store.trials_of_sweep("post")}))
    assert refl.stats.lists == 1  # no relist needed for any of that
    assert_converged(sim, b, KINDS)
    sweeps = {s.name: s for s in b.store.sweeps()}
    assert sweeps["post"].total == 5 and sweeps["post"].succeeded == 5


def test_dropped_watches_resume_from_last_rv(sim, backend_factory):
    b = _start(backend_factory, sim)
    _churn(sim, "a", 5)
    assert_converged(sim, b, KINDS)
    jobs = b.reflectors["jobs"]
    for r in range(3):
        before = jobs.stats.watches
        assert sim.faults.drop_watches() >= 1
        _churn(sim, f"d{r}", 3)
        eventually(lambda before=before: jobs.stats.watches > before, timeout=5)
    assert_converged(sim, b, KINDS)
    # A disconnect costs a watch, not a relist.
    assert all(r.stats.lists == 1 for r in b.reflectors.values())
    assert jobs.stats.watches >= 4


def test_expired_watch_relists_and_reconciles_deletes(sim, backend_factory):
    b = _start(backend_factory, sim)
    _churn(sim, "x", 6)
    assert_converged(sim, b, KINDS)
    lists_before = b.reflectors["jobs"].stats.lists
    # Keep the reflectors from reconnecting while objects vanish, then expire their RV.
    sim.faults.set_error_rate(1.0, 500)
    sim.faults.drop_watches()
    for i in range(3):
        sim.delete("jobs", "default", f"x-{i}")
    _churn(sim, "y", 2)
    sim.compact()
    sim.faults.clear()
    assert_converged(sim, b, KINDS)
    assert b.reflectors["jobs"].stats.lists > lists_before
    assert b.reflectors["jobs"].stats.expired >= 1
    assert all(b.store.get_trial(("default", f"x-{i}")) is None for i in range(3))


def test_expire_next_watches_error_event(sim, backend_factory):
    b = _start(backend_factory, sim)
    sim.faults.expire_next_watches(n=3)
    sim.faults.drop_watches()
    _churn(sim, "e", 4)
    assert_converged(sim, b, KINDS)
    assert sum(r.stats.expired for r in b.reflectors.values()) >= 1


def test_throttling_with_retry_after(sim, backend_factory):
    sim.faults.set_error_rate(share=0.3, status=429, retry_after=1)
    _churn(sim, "t", 10)
    b = _start(backend_factory, sim, timeout=30, page_limit=5)
    # (That the wait honours Retry-After is checked in test_reflector_unit.)
    assert sum(r.stats.errors for r in b.reflectors.values()) > 0
    sim.faults.drop_watches()
    _churn(sim, "t2", 3)
    t0 = time.monotonic()
    sim.faults.clear()
    assert_converged(sim, b, KINDS)
    assert time.monotonic() - t0 < 10


def test_server_errors_and_latency(sim, backend_factory):
    b = _start(backend_factory, sim)
    sim.faults.set_error_rate(share=0.4, status=500)
    sim.faults.set_latency(0.05)
    sim.faults.drop_watches()
    _churn(sim, "s", 8)
    sim.faults.drop_watches()
    time.sleep(0.5)
    sim.faults.clear()
    assert_converged(sim, b, KINDS)


def test_server_restart_keeps_state(sim, backend_factory):
    b = _start(backend_factory, sim)
    _churn(sim, "r", 4)
    assert_converged(sim, b, KINDS)
    sim.restart()
    _churn(sim, "r2", 4)
    assert_converged(sim, b, KINDS)


def test_concurrent_churn_under_faults(sim, backend_factory):
    """Creates and deletes keep coming while watches drop and expire; once it stops, the
    store equals the server."""
    b = _start(backend_factory, sim, page_limit=5)
    stop = threading.Event()

    def churn() -> None:
        i = 0
        while not stop.is_set():
            sim.create(job_manifest(f"c-{i}", sweep="c", trial=i, duration=0.3))
            if i >= 3:
                sim.delete("jobs", "default", f"c-{i - 3}")
            i += 1
            time.sleep(0.02)

    t = threading.Thread(target=churn)
    t.start()
    try:
        for _ in range(3):
            time.sleep(0.3)
            sim.faults.drop_watches()
            time.sleep(0.2)
            sim.faults.expire_next_watches(n=1)
            sim.faults.drop_watches()
    finally:
        stop.set()
        t.join()
    assert_converged(sim, b, KINDS)


def test_node_view_requests_follow_the_pods(sim, backend_factory):
    b = _start(backend_factory, sim)
    sim.create(job_manifest("gpu-0", gpu=2, duration=30))
    eventually(lambda: sum(n.requested.gpu for n in b.store.snapshot_nodes().values()) == 2, timeout=10)
    nodes = b.store.snapshot_nodes()
    assert len(nodes) == 3
    assert all(n.allocatable.gpu == 8 for n in nodes.values())
    busy = [n for n in nodes.values() if n.requested.gpu]
    assert len(busy) == 1 and busy[0].pods >= 1 and busy[0].requested.cpu_m >= 1000
    # Pods and Jobs come from separate watches: the pod (and so the node's requests) may be
    # seen before its Job, so the trial is waited for, not assumed.
    eventually(lambda: (t := b.store.get_trial(("default", "gpu-0"))) is not None and t.node == busy[0].name,
               timeout=10)
    sim.delete("jobs", "default", "gpu-0")
    eventually(lambda: sum(n.requested.gpu for n in b.store.snapshot_nodes().values()) == 0, timeout=10)


def test_unschedulable_reason(sim, backend_factory):
    b = _start(backend_factory, sim)
    sim.create(job_manifest("huge", gpu=64, duration=5))
    t = eventually(lambda: (x := b.store.get_trial(("default", "huge"))) and x.reason and x, timeout=10)
    assert t.phase == "Pending"
    assert t.reason.startswith("Unschedulable: 0/3 nodes are available")
    assert "nvidia.com/gpu" in t.reason


def test_failure_reasons_from_real_pods(sim, backend_factory):
    b = _start(backend_factory, sim)
    sim.create(job_manifest("boom", exit_code=3, duration=0.2))
    sim.create(job_manifest("oom", oom=True, duration=0.2, trial=1))
    boom = eventually(lambda: (x := b.store.get_trial(("default", "boom"))) and x.phase == "Failed" and x,
                      timeout=15)
    oom = eventually(lambda: (x := b.store.get_trial(("default", "oom"))) and x.phase == "Failed" and x,
                     timeout=15)
    assert boom.reason == "exit code 3" and boom.retries >= 1
    assert oom.reason == "OOMKilled"
    assert boom.finished is not None and boom.started is not None


def test_stop_is_prompt_with_watches_open(sim, backend_factory):
    b = _start(backend_factory, sim, watch_timeout=300)
    eventually(lambda: all(r.stats.watches >= 1 for r in b.reflectors.values()), timeout=5)
    t0 = time.monotonic()
    b.stop(timeout=5)
    assert time.monotonic() - t0 < 1.5
    assert not any(r.alive for r in b.reflectors.values())
    assert b.metrics is not None
    assert not b.store.problems()  # stopping is not a connection problem


def test_a_slow_server_gets_the_next_page_asked_for_while_one_decodes(sim, backend_factory):
    _churn(sim, "slow", 24)
    eventually(lambda: len(sim.objects("pods")) >= 24, timeout=10)
    sim.faults.set_list_cost(0.004)  # 4 ms per object: a page of 4 takes 16 ms to arrive
    try:
        b = _start(backend_factory, sim, page_limit=4)
    finally:
        sim.faults.clear()
    refl = b.reflectors["pods"]
    assert refl.pager._pool is not None  # pages were fetched ahead
    # ... and asked for from the head of the page before, while its items still came
    assert refl.stats.chained >= 1
    assert refl.stats.pages >= 6 and refl.stats.lists == 1
    assert_converged(sim, b, KINDS)


def test_stop_mid_list_aborts_every_page_in_flight(sim, backend_factory):
    _churn(sim, "slow", 24)
    eventually(lambda: len(sim.objects("pods")) >= 24, timeout=10)
    sim.faults.set_list_cost(0.4)  # a page of 4 takes 1.6 s: two are in flight at once
    try:
        b = backend_factory(sim.kubeconfig, page_limit=4, resources=("pods",))
        refl = b.reflectors["pods"]
        b.start()
        eventually(lambda: refl.stats.chained >= 1, timeout=10)
        t0 = time.monotonic()
        b.stop(timeout=5)
        assert time.monotonic() - t0 < 1.0
        assert not refl.alive and not refl.pager.pages
    finally:
        sim.faults.clear()


def test_a_page_asked_for_ahead_while_stopping_is_not_an_error(sim, backend_factory):
    b = backend_factory(sim.kubeconfig, page_limit=4, resources=("pods",))
    refl = b.reflectors["pods"]
    refl.pager._prefetcher()
    refl.stop()  # shuts the page pool down, as it does mid-list
    assert refl.pager.fetch_ahead("/api/v1/pods", [("limit", 4)], "token") is None


def test_continue_token_expired_mid_list_restarts_the_list(sim, backend_factory):
    _churn(sim, "p", 20)
    eventually(lambda: len(sim.objects("pods")) >= 20, timeout=10)
    sim.faults.set_latency(0.1)
    b = backend_factory(sim.kubeconfig, page_limit=2, resources=("jobs",))
    refl = b.reflectors["jobs"]
    b.start()
    eventually(lambda: refl.stats.pages >= 2, timeout=10)
    # Writes move the server on; compaction then drops the list's snapshot.
    sim.create(job_manifest("late", sweep="late"))
    sim.compact()
    sim.faults.clear()
    assert b.store.wait_synced(("jobs",), timeout=15)
    assert refl.stats.expired >= 1 and refl.stats.lists == 1
    assert refl.stats.pages > 10  # the list started over
    assert_converged(sim, b, ("jobs",))
