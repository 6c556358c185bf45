"""Kueue with the other parts of issue 18, as users combine them, over real HTTP against the
simulator: a queued distributed sweep (PyTorchJob, TrainJob) waits suspended in line and
runs; a queued indexed sweep waits as one Workload, every trial saying so, and its rerun
gets a Workload of its own; a preempted trial shows its new place in line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ktui.cluster.kube.backend import KubeBackend
from ktui.cluster.model import Trial
from ktui.sim.kueue import workload_name
from ktui.sim.testing import Sim, running_sim
from ktui.sweep import Overrides, load_sweep
from ktui.sweep.render import launch_manifests

from .conftest import SPEED, eventually, job_manifest

NS = "default"
QUEUE = "kueue.x-k8s.io/queue-name"
EVICTED = "Preempted to accommodate a higher priority Workload"
WAITING_OR_RUNNING = {"Pending", "Running"}


def kubectl_json(sim: Sim, tmp_path: Path, *args: str) -> Any:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed: the cross-check needs it")
    env = dict(os.environ, KUBECONFIG=str(sim.kubeconfig), HOME=str(tmp_path))
    proc = subprocess.run(["kubectl", f"--cache-dir={tmp_path}/cache", *args, "-o", "json"],
                          env=env, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def manifests(tmp_path: Path, text: str, name: str = "sweep.yaml") -> list[dict[str, Any]]:
    f = tmp_path / name
    f.write_text(text)
    return launch_manifests(load_sweep(f, Overrides()), NS, None,
                            {"ktui.dev/launched-by": "test@here"})


def started(factory: Any, sim: Sim) -> KubeBackend:
    b: KubeBackend = factory(sim.kubeconfig, namespace=NS, all_namespaces=False,
                             queue_interval=0.1)
    b.start()
    assert b.store.wait_synced(["jobs", "pods", "workloads"], timeout=15)
    return b


def trial(b: KubeBackend, name: str) -> Trial | None:
    return b.store.get_trial((NS, name))


class Steps:
    """What each trial's row said, in order, each change once: (phase, reason, place)."""

    def __init__(self, b: KubeBackend, sweep: str) -> None:
        self.b, self.sweep = b, sweep
        self.rows: dict[str, list[tuple[str, str | None, int | None]]] = {}

    def look(self) -> list[Trial]:
        trials = self.b.store.trials_of_sweep(self.sweep)
        for t in trials:
            step = (t.phase, t.reason, t.queue.position_local if t.queue else None)
            seen = self.rows.setdefault(t.name, [])
            if not seen or seen[-1] != step:
                seen.append(step)
        return trials

    def places(self, name: str) -> list[int]:
        out: list[int] = []
        for _, _, place in self.rows.get(name, ()):
            if place is not None and (not out or out[-1] != place):
                out.append(place)
        return out


def workloads_agree(sim: Sim, b: KubeBackend, tmp_path: Path) -> dict[str, Any]:
    """kubectl's Workloads are the store's: names, owners, queues, reservations."""
    items = kubectl_json(sim, tmp_path, "get", "workloads", "-n", NS)["items"]
    theirs = {(w["metadata"]["name"], w["metadata"]["ownerReferences"][0]["name"],
               w["spec"]["queueName"], (w.get("status", {}).get("admission") or {}).get("clusterQueue"))
              for w in items}
    recs = [b.store.record("workloads", k) for k in b.store.keys("workloads")]
    ours = {(r.name, r.owner_name, r.queue, r.cluster_queue) for r in recs}
    assert theirs == ours
    return {w["metadata"]["name"]: w for w in items}


# ---------------------------------------------------------------------------- queue: + PyTorchJob

DDP = """\
name: qddp
image: python:3.11-slim
kind: PyTorchJob
workers: 1
queue: user-queue
command: [python, train.py]
args: ["--lr={lr}"]
resources: {cpu: "1", memory: 1Gi}
restartPolicy: Never
parameters:
  grid: {lr: [0.1, 0.03, 0.01, 0.003]}
"""


@pytest.fixture
def kqsim() -> Iterator[Sim]:
    # Two cpus: one trial of a master and a worker at a time; the others wait in line.
    with running_sim(nodes=3, gpus_per_node=0, speed=SPEED, kubeflow=True, kueue=True,
                     kueue_quota={"cpu": "2", "memory": "64Gi"}) as s:
        yield s


def ddp(tmp_path: Path, text: str = DDP, seconds: float = 0.5, name: str = "ddp.yaml",
        fail_worker_of: int | None = None) -> list[dict[str, Any]]:
    out = manifests(tmp_path, text, name)
    for i, m in enumerate(out):
        for rtype, r in m["spec"]["pytorchReplicaSpecs"].items():
            ann = r["template"]["metadata"].setdefault("annotations", {})
            ann["sim.ktui.dev/duration"] = str(seconds * SPEED)
            if i == fail_worker_of and rtype == "Worker":
                ann.update({"sim.ktui.dev/fail-indexes": "0", "sim.ktui.dev/exit-code": "1",
                            "sim.ktui.dev/duration": str(0.1 * SPEED)})
    return out


def test_a_queued_pytorchjob_sweep_waits_suspended_in_line_then_runs(
        kqsim: Sim, backend_factory, tmp_path: Path) -> None:
    b = started(backend_factory, kqsim)
    res = b.submit(ddp(tmp_path, fail_worker_of=1))
    assert len(res.created) == 4 and not res.failed
    # Created suspended, as Kueue's webhook makes a queued PyTorchJob (the last in line
    # waits for the three before it).
    last = kubectl_json(kqsim, tmp_path, "get", "pytorchjob", "qddp-003", "-n", NS)
    assert last["spec"]["runPolicy"]["suspend"] is True
    assert last["metadata"]["labels"][QUEUE] == "user-queue"
    steps = Steps(b, "qddp")
    loads: set[tuple[str, int, int]] = set()

    def finished() -> bool:
        loads.update((q.name, q.pending, q.admitted) for q in b.store.queue_loads())
        trials = steps.look()
        return len(trials) == 4 and all(t.phase in ("Succeeded", "Failed") for t in trials)
    eventually(finished, timeout=60, interval=0.02, message=lambda: f"rows: {steps.rows}")

    # The last one waited with its place in line, which went down, then ran and succeeded;
    # never shown Suspended (it waits) nor failed on the way.
    rows = steps.rows["qddp-003"]
    places = steps.places("qddp-003")
    assert len(places) >= 2 and places == sorted(places, reverse=True), rows
    assert (("Pending", f"queued #{places[0] + 1} in user-queue", places[0]) in rows)
    assert {p for p, _, _ in rows[:-1]} <= WAITING_OR_RUNNING and rows[-1][0] == "Succeeded"
    assert "Running" in {p for p, _, _ in rows}
    assert any(p > 0 and a == 1 for q, p, a in loads if q == "user-queue"), loads
    # The one whose worker failed, once admitted: one row, the replica that failed.
    failed = trial(b, "qddp-001")
    assert failed is not None and failed.phase == "Failed" and failed.reason == "worker-0: exit code 1"
    assert failed.queue is not None and failed.queue.state == "Finished"
    assert {p for p, _, _ in steps.rows["qddp-001"][:-1]} <= WAITING_OR_RUNNING
    assert sorted(t.name for t in b.store.trials_of_sweep("qddp") if t.phase == "Succeeded") == [
        "qddp-000", "qddp-002", "qddp-003"]
    # kubectl agrees: one Workload per PyTorchJob, with a master and a worker PodSet.
    wls = workloads_agree(kqsim, b, tmp_path)
    assert sorted(n.rsplit("-", 1)[0] for n in wls) == [f"pytorchjob-qddp-00{i}" for i in range(4)]
    for w in wls.values():
        assert [(p["name"], p["count"]) for p in w["spec"]["podSets"]] == [("master", 1), ("worker", 1)]
        fin = next(c for c in w["status"]["conditions"] if c["type"] == "Finished")
        ok = w["metadata"]["ownerReferences"][0]["name"] != "qddp-001"
        assert fin["reason"] == ("Succeeded" if ok else "Failed")


def test_a_preempted_pytorchjob_trial_shows_its_place_then_runs_again(
        kqsim: Sim, backend_factory, tmp_path: Path) -> None:
    kqsim.create({"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "WorkloadPriorityClass",
                  "metadata": {"name": "high"}, "value": 1000})
    b = started(backend_factory, kqsim)
    low = ddp(tmp_path, DDP.replace("name: qddp", "name: low").replace(
        "[0.1, 0.03, 0.01, 0.003]", "[0.1]"), seconds=3.0, name="low.yaml")
    assert len(b.submit(low).created) == 1
    eventually(lambda: (t := trial(b, "low-000")) is not None and t.phase == "Running"
               and t.pods_ready == 2, timeout=20)
    high = ddp(tmp_path, DDP.replace("name: qddp", "name: high").replace(
        "[0.1, 0.03, 0.01, 0.003]", "[0.1, 0.01]"), seconds=0.6, name="high.yaml")
    for m in high:
        m["metadata"]["labels"]["kueue.x-k8s.io/priority-class"] = "high"
    assert len(b.submit(high).created) == 2
    steps = Steps(b, "low")

    def ran_again() -> bool:
        (t,) = steps.look() or (None,)
        return t is not None and t.phase == "Succeeded"
    eventually(ran_again, timeout=60, interval=0.02, message=lambda: f"rows: {steps.rows}")
    rows = steps.rows["low-000"]
    # Preempted: it waits again, saying so and, once the visibility API lists it, where.
    assert ("Pending", "#2 (preempted) in user-queue", 1) in rows, rows
    assert ("Pending", "#1 (preempted) in user-queue", 0) in rows, rows
    assert steps.places("low-000") == [1, 0]
    assert {p for p, _, _ in rows[:-1]} <= WAITING_OR_RUNNING
    assert trial(b, "low-000").retries == 0  # (its deleted pods were no failures)
    events = kubectl_json(kqsim, tmp_path, "get", "events", "-n", NS,
                          "--field-selector", "involvedObject.name=low-000")["items"]
    assert {"Stopped", "Started"} <= {e["reason"] for e in events}


# ---------------------------------------------------------------------------- queue: + indexed

IX = """\
name: qix
image: python:3.11-slim
mode: indexed
parallelism: 2
retries: 0
queue: user-queue
args: ["--lr={lr}"]
resources: {cpu: "1", memory: 1Gi}
parameters:
  grid: {lr: [0.1, 0.03, 0.01, 0.003, 0.001, 0.0003]}
"""


@pytest.fixture
def qsim() -> Iterator[Sim]:
    with running_sim(nodes=3, gpus_per_node=0, speed=SPEED, kueue=True,
                     kueue_quota={"cpu": "2", "memory": "64Gi"}) as s:
        yield s


def blocker(name: str, seconds: float) -> dict[str, Any]:
    """A queued Job that holds the whole quota for ``seconds``."""
    body = job_manifest(name, "blk", 0, duration=seconds, backoff_limit=3)
    body["metadata"]["labels"][QUEUE] = "user-queue"
    body["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "2"}}
    return body


def test_a_queued_indexed_sweep_waits_as_one_and_its_rerun_queues_again(
        qsim: Sim, backend_factory, tmp_path: Path) -> None:
    qsim.create(blocker("blocker", 1.5))
    b = started(backend_factory, qsim)
    out = manifests(tmp_path, IX)
    ann = out[-1]["spec"]["template"]["metadata"]["annotations"]
    ann["sim.ktui.dev/duration"] = str(0.3 * SPEED)
    ann["sim.ktui.dev/fail-indexes"] = "4"
    assert len(b.submit(out).created) == 6
    steps = Steps(b, "qix")

    # While the blocker runs, Kueue holds the whole Job: every trial says the same.
    def all_queued() -> list[Trial]:
        trials = steps.look()
        return trials if len(trials) == 6 and all(
            t.phase == "Pending" and t.reason == "queued #1 in user-queue" for t in trials) else []
    trials = eventually(all_queued, timeout=20, interval=0.02, message=lambda: f"rows: {steps.rows}")
    assert len({t.queue.workload for t in trials if t.queue}) == 1
    assert trials[0].queue is not None and trials[0].queue.workload.startswith("job-qix-")

    def finished() -> bool:
        trials = steps.look()
        return len(trials) == 6 and all(t.phase in ("Succeeded", "Failed") for t in trials)
    eventually(finished, timeout=60, interval=0.02, message=lambda: f"rows: {steps.rows}")
    assert [t.name for t in b.store.trials_of_sweep("qix") if t.phase == "Failed"] == ["qix-004"]
    for name, rows in steps.rows.items():
        assert {p for p, _, _ in rows[:-1]} <= WAITING_OR_RUNNING, (name, rows)
        assert "Running" in {p for p, _, _ in rows}, (name, rows)
    wls = workloads_agree(qsim, b, tmp_path)
    (ix,) = [w for n, w in wls.items() if n.startswith("job-qix-")]
    # Admitted as a whole: one PodSet of its parallelism.
    assert [(p["name"], p["count"]) for p in ix["spec"]["podSets"]] == [("main", 2)]

    # The rerun of the failed trial is a new Job with a Workload of its own: while another
    # blocker holds the quota, that trial waits in line and the others keep their state.
    qsim.create(blocker("blocker-2", 1.0))
    eventually(lambda: any(w["metadata"]["name"].startswith("job-blocker-2-")
                           and (w.get("status") or {}).get("admission")
                           for w in qsim.objects("workloads", NS)), timeout=10)
    assert b.rerun("qix", namespace=NS).done == ("default/qix-004",)
    t4 = eventually(lambda: (t := trial(b, "qix-004")) is not None and t.source == "qix-r1"
                    and t.reason == "queued #1 in user-queue" and t, timeout=20)
    assert t4.phase == "Pending" and t4.queue is not None and t4.queue.workload.startswith("job-qix-r1-")
    assert trial(b, "qix-003").phase == "Succeeded"
    eventually(lambda: (t := trial(b, "qix-004")) is not None and t.source == "qix-r1"
               and t.phase == "Succeeded", timeout=30)
    wls = workloads_agree(qsim, b, tmp_path)
    (r1,) = [w for n, w in wls.items() if n.startswith("job-qix-r1-")]
    assert r1["metadata"]["ownerReferences"][0]["name"] == "qix-r1"
    assert [(p["name"], p["count"]) for p in r1["spec"]["podSets"]] == [("main", 1)]


def test_a_preempted_indexed_sweep_waits_as_one_and_loses_no_trial(
        qsim: Sim, backend_factory, tmp_path: Path) -> None:
    qsim.create({"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "WorkloadPriorityClass",
                 "metadata": {"name": "high"}, "value": 1000})
    b = started(backend_factory, qsim)
    out = manifests(tmp_path, IX)
    out[-1]["spec"]["template"]["metadata"]["annotations"]["sim.ktui.dev/duration"] = str(0.6 * SPEED)
    assert len(b.submit(out).created) == 6
    steps = Steps(b, "qix")
    eventually(lambda: sum(t.phase == "Running" for t in steps.look()) == 2, timeout=20, interval=0.02)
    high = blocker("urgent", 1.0)
    high["metadata"]["labels"]["kueue.x-k8s.io/priority-class"] = "high"
    qsim.create(high)

    def finished() -> bool:
        trials = steps.look()
        return len(trials) == 6 and all(t.phase in ("Succeeded", "Failed") for t in trials)
    eventually(finished, timeout=60, interval=0.02, message=lambda: f"rows: {steps.rows}")
    # Kueue suspended the whole Job: the two running trials' pods were deleted, which is no
    # failure of their indexes (retries: 0 would have failed them); every trial waited
    # saying so, with the Job's place in line, and then ran.
    for name, rows in steps.rows.items():
        assert rows[-1][0] == "Succeeded", (name, rows)
        assert ("Pending", "#1 (preempted) in user-queue", 0) in rows, (name, rows)
        assert {p for p, _, _ in rows[:-1]} <= WAITING_OR_RUNNING, (name, rows)
    job = kubectl_json(qsim, tmp_path, "get", "job", "qix", "-n", NS)
    assert (job["status"]["completedIndexes"], job["status"].get("failedIndexes")) == ("0-5", "")


# ---------------------------------------------------------------------------- queue: + TrainJob

TJ = """\
name: qtj
image: python:3.11-slim
kind: TrainJob
workers: 1
queue: user-queue
command: [torchrun, train.py]
args: ["--lr={lr}"]
resources: {cpu: "1", memory: 1Gi}
parameters:
  grid: {lr: [0.1, 0.03, 0.01]}
"""


@pytest.fixture
def tqsim() -> Iterator[Sim]:
    with running_sim(nodes=3, gpus_per_node=0, speed=SPEED, trainer=True, kueue=True,
                     kueue_quota={"cpu": "2", "memory": "64Gi"}) as s:
        yield s


def test_a_queued_trainjob_sweep_waits_suspended_in_line_then_runs(
        tqsim: Sim, backend_factory, tmp_path: Path) -> None:
    out = manifests(tmp_path, TJ)
    for m in out:
        ann = {"sim.ktui.dev/duration": str(0.4 * SPEED)}
        m["spec"]["runtimePatches"] = [{"manager": "ktui.dev/test", "trainingRuntimeSpec": {
            "template": {"spec": {"replicatedJobs": [{"name": "node", "template": {
                "spec": {"template": {"metadata": {"annotations": ann}}}}}]}}}}]
    b = started(backend_factory, tqsim)
    assert len(b.submit(out).created) == 3
    last = kubectl_json(tqsim, tmp_path, "get", "trainjob", "qtj-002", "-n", NS)
    assert last["spec"]["suspend"] is True  # (Kueue's webhook)
    steps = Steps(b, "qtj")

    def finished() -> bool:
        trials = steps.look()
        return len(trials) == 3 and all(t.phase == "Succeeded" for t in trials)
    eventually(finished, timeout=60, interval=0.02, message=lambda: f"rows: {steps.rows}")
    rows = steps.rows["qtj-002"]
    places = steps.places("qtj-002")
    assert places == [1, 0], rows
    assert ("Pending", "queued #2 in user-queue", 1) in rows
    assert {p for p, _, _ in rows[:-1]} <= WAITING_OR_RUNNING and "Running" in {p for p, _, _ in rows}
    t = trial(b, "qtj-002")
    assert t is not None and t.queue is not None and t.queue.state == "Finished"
    # One Workload per TrainJob (none for its JobSet's Jobs), named as Kueue names it, a PodSet
    # of its nodes; kubectl agrees with the store.
    wls = workloads_agree(tqsim, b, tmp_path)
    tjs = {j["metadata"]["name"]: j for j in kubectl_json(tqsim, tmp_path, "get", "trainjobs", "-n", NS)["items"]}
    assert sorted(wls) == sorted(workload_name("TrainJob", "trainer.kubeflow.org", n, j["metadata"]["uid"])
                                 for n, j in tjs.items())
    for w in wls.values():
        assert w["metadata"]["name"].startswith("trainjob-qtj-")
        (ps,) = w["spec"]["podSets"]
        assert (ps["name"], ps["count"]) == ("node", 2)
        assert ps["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "1"
        assert w["status"]["admission"]["podSetAssignments"][0]["resourceUsage"]["cpu"] == "2"
    # Unsuspended on admission, as the TrainJob's conditions tell.
    resumed = next(c for c in tjs["qtj-002"]["status"]["conditions"] if c["type"] == "Suspended")
    assert (resumed["status"], resumed["reason"]) == ("False", "Resumed")
    assert tjs["qtj-002"]["spec"]["suspend"] is False
