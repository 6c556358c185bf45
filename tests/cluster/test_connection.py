"""The connection status the banner shows: produced by every request, over real HTTP."""

from __future__ import annotations

import time
from typing import Any

from ktui.cluster.kube.metrics import MetricsPoller
from ktui.cluster.store import Store

from .conftest import eventually, job_manifest

UNREACHABLE = ("unreachable", "cluster")


def _problem_keys(store: Store) -> set[tuple[str, str]]:
    return {(p.code, p.resource) for p in store.problems()}


def test_connecting_then_up_then_down_then_up_with_how_long():
    store = Store()
    store.connecting("https://k8s:6443")
    c = store.connection()
    assert c is not None and (c.state, c.server, c.error) == ("connecting", "https://k8s:6443", None)
    store.connection_failed("cannot reach the cluster at https://k8s:6443: timed out", "timed out")
    c = store.connection()
    assert (c.state, c.error) == ("connecting", "timed out")  # still connecting, the cause said
    assert UNREACHABLE in _problem_keys(store)  # (what the CLI reads)
    assert store.connection_ok()
    c = store.connection()
    assert (c.state, c.outage, c.error) == ("up", None, None)  # a first connection is no outage
    assert UNREACHABLE not in _problem_keys(store)
    assert not store.connection_ok()  # nothing to end
    store.connection_failed("cannot reach the cluster at https://k8s:6443: connection refused",
                            "connection refused", time.monotonic())
    assert store.connection().state == "down"
    assert store.connection_ok()
    c = store.connection()
    assert c.state == "up" and c.outage is not None and c.outage >= 0


def test_a_request_sent_before_the_server_came_back_does_not_bring_the_banner_back():
    store = Store()
    store.connecting("https://k8s:6443")
    sent = time.monotonic()  # a request stuck on a hung connection since then...
    store.connection_ok()  # ... while another one got an answer
    store.connection_failed("cannot reach the cluster at https://k8s:6443: timed out", "timed out", sent)
    assert store.connection().state == "up" and UNREACHABLE not in _problem_keys(store)


def test_a_metrics_answer_ends_an_outage(sim: Any, backend_factory: Any):
    b = backend_factory(sim.kubeconfig, resources=(), metrics=False)
    b.store.connecting(sim.url)
    b.store.connection_failed(f"cannot reach the cluster at {sim.url}: connection refused", "connection refused")
    poller = MetricsPoller(b.transport, b.store, interval=0, min_interval=0)
    assert poller.poll_once()
    assert b.store.connection().state == "up" and UNREACHABLE not in _problem_keys(b.store)


def test_nothing_is_listed_before_the_server_answers_then_all_is(sim: Any, backend_factory: Any):
    sim.create(job_manifest("early-0", sweep="early", trial=0, duration=30))
    b = backend_factory(sim.kubeconfig)
    sim.run(sim.server.stop_http)
    b.start()
    eventually(lambda: (b.store.connection().error or "") == "connection refused")
    assert b.store.connection().state == "connecting"
    assert not any(r.alive for r in b.reflectors.values())  # no request waits out a timeout
    sim.run(sim.server.start_http)
    assert b.store.wait_synced(("jobs", "pods", "nodes"), timeout=20)
    assert b.store.connection().state == "up"
    assert {t.name for t in b.store.trials_of_sweep("early")} == {"early-0"}
