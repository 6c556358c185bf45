"""Why a trial waits in Kueue, read over real HTTP from the simulator's Kueue: Workloads in
the version served, places in line from the visibility API, preemption, and a cluster
without Kueue (or without the right to ask) saying nothing more than one line."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ktui.cluster.kube.backend import KubeBackend
from ktui.cluster.kube.backoff import Backoff
from ktui.cluster.kube.config import load
from ktui.cluster.kube.reflector import Reflector
from ktui.cluster.kube.transport import Transport
from ktui.cluster.kube.workloads import workload_resource
from ktui.cluster.model import Trial
from ktui.cluster.store import Store
from ktui.sim.testing import Sim, running_sim

from .conftest import SPEED, eventually, job_manifest, kubectl

QUEUE = "kueue.x-k8s.io/queue-name"
PRIO = "kueue.x-k8s.io/priority-class"
EVICTED = "Preempted to accommodate a higher priority Workload"


@pytest.fixture
def qsim() -> Iterator[Sim]:
    # One trial at a time: each waits for the one before it.
    with running_sim(nodes=3, gpus_per_node=8, speed=SPEED, kueue=True,
                     kueue_quota={"cpu": "1", "memory": "64Gi"}) as s:
        yield s


def queued(name: str, trial: int, seconds: float, priority: str | None = None) -> dict[str, Any]:
    # (backoff 0: a preempted trial's deleted pod is not a failure, as the upstream Job
    # controller has it: more/job-kueue-style-*.json)
    body = job_manifest(name, "qs", trial, duration=seconds, backoff_limit=0)
    body["metadata"]["labels"][QUEUE] = "user-queue"
    if priority:
        body["metadata"]["labels"][PRIO] = priority
    return body


def backend(factory: Callable[..., KubeBackend], kubeconfig: Any) -> KubeBackend:
    b = factory(kubeconfig, namespace="default", all_namespaces=False, queue_interval=0.1)
    b.start()
    assert b.store.wait_synced(["jobs", "pods", "workloads"], timeout=15)
    return b


def trial(b: KubeBackend, name: str) -> Trial | None:
    return b.store.get_trial(("default", name))




def test_a_queued_sweep_shows_places_in_line_that_go_down(qsim: Sim, backend_factory,
                                                           tmp_path) -> None:
    for i in range(4):
        qsim.create(queued(f"qs-{i:03d}", i, 0.6))
    b = backend(backend_factory, qsim.kubeconfig)
    seen: list[int] = []
    reasons: set[str] = set()

    def last_admitted() -> bool:
        t = trial(b, "qs-003")
        if t is not None and t.queue is not None and t.queue.position_local is not None:
            if not seen or seen[-1] != t.queue.position_local:
                seen.append(t.queue.position_local)
            reasons.add(t.reason or "")
            assert t.phase == "Pending"
        return t is not None and t.queue is not None and t.queue.state == "Admitted"
    eventually(last_admitted, timeout=30, interval=0.02)
    assert seen and seen == sorted(seen, reverse=True) and len(seen) >= 2, seen
    assert f"queued #{seen[0] + 1} in user-queue" in reasons
    q = trial(b, "qs-003").queue
    assert (q.local_queue, q.cluster_queue, q.position_local) == ("user-queue", "cluster-queue",
                                                                  None)
    assert q.workload.startswith("job-qs-003-")
    # kubectl agrees: the same Workloads, the same queue and reservation.
    rows = kubectl(qsim, tmp_path, "get", "workloads", "-n", "default", "--no-headers", "-o",
                   "custom-columns=N:.metadata.name,Q:.spec.queueName,"
                   "R:.status.admission.clusterQueue").split("\n")
    theirs = {tuple(r.split()) for r in rows if r.strip()}
    ours = {(rec.name, rec.queue, rec.cluster_queue or "<none>")
            for rec in (b.store.record("workloads", k) for k in b.store.keys("workloads"))}
    assert theirs == ours and len(ours) == 4


def test_a_preempted_trial_says_so_with_kueues_messages(qsim: Sim, backend_factory) -> None:
    qsim.create({"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "WorkloadPriorityClass",
                 "metadata": {"name": "high"}, "value": 1000})
    b = backend(backend_factory, qsim.kubeconfig)
    qsim.create(queued("qs-000", 0, 60))
    eventually(lambda: (t := trial(b, "qs-000")) is not None and t.phase == "Running", timeout=15)
    qsim.create(queued("qs-001", 1, 0.5, priority="high"))

    def preempted() -> Trial | None:
        t = trial(b, "qs-000")
        # (The Workload may say so a moment before the Job's suspension reaches the store.)
        return t if t is not None and t.queue is not None and t.queue.state == "Preempted" \
            and t.phase == "Pending" else None
    t = eventually(preempted, timeout=15)
    assert (t.queue.reason, t.queue.message) == ("Preempted", EVICTED)
    # (Its place in line too, once the visibility API has been read: test_queue_combos.py.)
    assert t.reason in (f"Preempted: {EVICTED}", "#1 (preempted) in user-queue")
    assert t.message == EVICTED
    conds = {c[0]: c for c in t.queue.conditions}
    assert conds["Evicted"] == ("Evicted", "True", "Preempted", EVICTED)
    assert conds["Preempted"][:3] == ("Preempted", "True", "InClusterQueue")
    assert conds["QuotaReserved"][1] == "False" and conds["Admitted"][1] == "False"
    # Its turn comes again once the higher one is done.
    eventually(lambda: (t := trial(b, "qs-000")) is not None and t.queue is not None
               and t.queue.state == "Admitted", timeout=30)
    assert trial(b, "qs-000").reason is None or "Preempted" not in trial(b, "qs-000").reason


@pytest.mark.parametrize("version", ["v1beta2", "v1beta1"])
def test_workloads_decode_alike_in_both_versions(qsim: Sim, version: str) -> None:
    qsim.create({"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "WorkloadPriorityClass",
                 "metadata": {"name": "high"}, "value": 7})
    for i in range(2):
        qsim.create(queued(f"qs-{i:03d}", i, 600, priority="high"))
    qsim.wait_for(lambda s: len(s.objects("workloads", "default")) == 2)
    qsim.wait_for(lambda s: all((w.get("status") or {}).get("conditions")
                                for w in s.objects("workloads", "default")))
    store = Store()
    t = Transport(load(str(qsim.kubeconfig)).api_client)
    r = Reflector(t, store, workload_resource(f"kueue.x-k8s.io/{version}"), namespace="default",
                  backoff=Backoff(0.05, 0.4), watch_timeout=5)
    try:
        r.start()
        assert store.wait_synced(["workloads"], timeout=10)
        recs = sorted((store.record("workloads", k) for k in store.keys("workloads")),
                      key=lambda rec: rec.owner_name)
        assert [(rec.owner_kind, rec.owner_name, rec.queue, rec.priority) for rec in recs] == [
            ("Job", "qs-000", "user-queue", 7), ("Job", "qs-001", "user-queue", 7)]
        assert [(rec.state, rec.cluster_queue) for rec in recs] == [
            ("Admitted", "cluster-queue"), ("Pending", None)]
        assert recs[1].message.startswith("couldn't assign flavors to pod set main: "
                                          "insufficient unused quota for cpu")
        assert not store.problems()
    finally:
        r.stop()
        r.join(3)
        t.close()


def test_a_cluster_without_kueue_shows_nothing_and_no_error(backend_factory) -> None:
    with running_sim(nodes=1, gpus_per_node=0, speed=SPEED) as sim:
        sim.create(queued("qs-000", 0, 0.2))
        b = backend(backend_factory, sim.kubeconfig)
        eventually(lambda: trial(b, "qs-000") is not None)
        assert trial(b, "qs-000").queue is None
        assert b.store.problems() == () and b.store.queue_loads() == []
        assert b.queues is not None and b.queues.reflector is None


def test_positions_refused_are_one_line_and_the_rest_works(qsim: Sim, backend_factory) -> None:
    qsim.deny("viewer", "get", "localqueues/pendingworkloads")
    for i in range(3):
        qsim.create(queued(f"qs-{i:03d}", i, 60))
    b = backend(backend_factory, qsim.kubeconfig_for("viewer"))
    problems = eventually(lambda: b.store.problems(), timeout=10)
    assert [p.message for p in problems] == [
        "queue positions: Forbidden: get localqueues/pendingworkloads in default "
        "(visibility.kueue.x-k8s.io); queued trials show no place in line"]
    t = eventually(lambda: (t := trial(b, "qs-002")) and t.queue and t.queue.message and t)
    assert t.queue.position_local is None
    assert t.reason == ("no quota: couldn't assign flavors to pod set main: insufficient unused "
                        "quota for cpu in flavor default-flavor, 1 more needed")
    loads = b.store.queue_loads()
    assert [(q.name, q.pending, q.admitted) for q in loads] == [("user-queue", 2, 1)]


def test_ktui_jobs_json_carries_each_trials_queue(qsim: Sim, capsys) -> None:
    from ktui.cli import main

    for i in range(3):
        qsim.create(queued(f"qs-{i:03d}", i, 600))
    qsim.wait_for(lambda s: len([w for w in s.objects("workloads", "default")
                                 if (w.get("status") or {}).get("conditions")]) == 3)
    assert main(["jobs", "--kubeconfig", str(qsim.kubeconfig), "--no-metrics", "-o", "json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["qs-000"]["queue"]["state"] == "Admitted"
    assert rows["qs-000"]["queue"]["cluster_queue"] == "cluster-queue"
    q = rows["qs-002"]["queue"]
    assert (rows["qs-002"]["phase"], q["state"], q["reason"], q["local_queue"]) == (
        "Pending", "Pending", "Pending", "user-queue")
    assert q["workload"].startswith("job-qs-002-") and q["position_local"] == 1
    assert ["QuotaReserved", "False", "Pending", q["message"]] in q["conditions"]
    assert main(["jobs", "--kubeconfig", str(qsim.kubeconfig), "--no-metrics"]) == 0
    table = capsys.readouterr().out
    assert "queued #2 in user-queue" in next(line for line in table.splitlines()
                                             if line.startswith("qs-002"))
