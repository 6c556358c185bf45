"""An in-memory backend for UI tests that need exact, hand-made states (the simulator-
driven tests cover the real path). It implements the Backend protocol over a real Store,
and passes the same contract suite as the real backends (tests/contract): what it is
given to run finishes at once, with the log and exit code its pod template asks the
simulator for (sim.ktui.dev/log, sim.ktui.dev/exit-code)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import msgspec

from ktui.cluster.fingerprint import differences, stamp
from ktui.cluster.model import (
    ActionResult,
    Capabilities,
    Failure,
    GpuDevice,
    LogLine,
    NodeCondition,
    PodSummary,
    SubmitResult,
    SubmitTally,
    TrialChange,
    TrialDescription,
    TrialState,
)
from ktui.cluster.records import JobRec, NodeRec, NodeUsage, PodRec, PodUsage, failure_words
from ktui.cluster.store import Store
from ktui.wire.names import (
    EARLY_STOPPING_ANNOTATION,
    METRIC_ANNOTATION,
    PARAMS_ANNOTATION,
    SWEEP_LABEL,
    TRIAL_LABEL,
    parse_metric,
    parse_object,
)

GiB = 2**30
NOW = 1_790_000_000.0
_OUTCOME = {"Succeeded": "Complete", "Failed": "Failed"}  # a fixed "now", so rendered ages are stable in snapshots


class FakeStream:
    def __init__(self, lines: list[str], follow_until: threading.Event | None = None) -> None:
        self.lines = lines
        self.closed = threading.Event()
        self.follow_until = follow_until

    def __iter__(self) -> Iterator[LogLine]:
        for batch in self.batches():
            yield from batch

    def batches(self) -> Iterator[list[LogLine]]:
        if self.closed.is_set():
            return
        yield [LogLine(None, line) for line in self.lines]
        if self.follow_until is not None:
            while not self.closed.is_set() and not self.follow_until.is_set():
                time.sleep(0.01)

    def close(self) -> None:
        self.closed.set()


class FakeBackend:
    name = "fake"
    location = "memory"

    def __init__(self, capabilities: Capabilities | None = None) -> None:
        self.store = Store()
        self.capabilities = capabilities or Capabilities()
        self.logs: dict[tuple[str, str], list[str]] = {}
        # Set: streams end after their lines. Clear: they stay open, as a running trial's
        # follow stream does between lines.
        self.follow_until = threading.Event()
        self.follow_until.set()
        self.started = False
        self.cancelled: list[object] = []
        self.submitted: list[dict] = []
        self.submit_calls: list[dict] = []
        self.jobs: dict[tuple[str, str], dict] = {}  # what submit made, by (namespace, name)
        self._rv = 0
        self.usage: dict[str, NodeUsage] = {}

    def start(self) -> None:
        self.started = True
        for kind in ("pods", "jobs", "nodes", "events"):
            self.store.mark_synced(kind)

    def stop(self, timeout: float = 5.0) -> None:
        self.started = False

    def rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def add_node(self, name: str, cpu: int = 32, mem_gi: int = 256, gpu: int = 8, ready: bool = True,
                 used_cpu_m: int | None = None) -> None:
        self.store.apply("nodes", [NodeRec(name, self.rv(), NOW - 86400, cpu * 1000, mem_gi * GiB, gpu, 110,
                                           False, (), (NodeCondition("Ready", "True" if ready else "False"),))])
        if used_cpu_m is not None:
            self.usage[name] = NodeUsage(name, used_cpu_m, 10 * GiB)
            self.store.set_usage(dict(self.usage))

    def add_trial(self, sweep: str, index: int, phase: str, node: str | None = "node-a", params: str = '{"lr":0.1}',
                  reason: str | None = None, namespace: str = "default", cpu_m: int = 2000, gpu: int = 0,
                  exit_reason: str | None = None, provenance: dict | None = None,  # type: ignore[type-arg]
                  image_id: str | None = None) -> tuple[str, str]:
        name = f"{sweep}-{index:03d}"
        now = NOW
        outcome = {"Succeeded": "Complete", "Failed": "Failed"}.get(phase)
        job = JobRec(namespace, name, f"uid-{name}", self.rv(), now - 600, now - 590, now - 10 if outcome else None,
                     sweep, index, json.loads(params), False, 1 if phase == "Running" else 0, 0, 1 if outcome == "Complete" else 0,
                     1 if outcome == "Failed" else 0, outcome, reason, None, gpu, provenance=provenance)
        pod_phase = {"Running": "Running", "Succeeded": "Succeeded", "Failed": "Failed"}.get(phase, "Pending")
        pod = PodRec(namespace, f"{name}-abcde", self.rv(), name, f"uid-{name}", node if pod_phase != "Pending" else None,
                     pod_phase, now - 595, now - 590 if pod_phase != "Pending" else None, now - 10 if outcome else None,
                     False, cpu_m, 4 * GiB, gpu, 0, exit_reason, None, image_id=image_id)
        self.store.apply("jobs", [job])
        self.store.apply("pods", [pod])
        return (namespace, name)

    def submit(self, manifests, progress=None, *, source_dir=None, replace=False,  # type: ignore[no-untyped-def]
               dry_run=False, code=None) -> SubmitResult:
        """As the real backends: the same trial is existing; one with other settings
        refuses the whole submission unless ``replace``."""
        self.source_dir = source_dir
        self.submit_calls.append({"replace": replace, "dry_run": dry_run, "code": code})
        tally = SubmitTally(len(manifests), progress)
        todo, doomed = [], set()
        for m in manifests:
            key = (m["metadata"].get("namespace") or "default", m["metadata"]["name"])
            old = self.jobs.get(key)
            found = differences(old, m) if old is not None else None
            if found:
                tally.changed.append(TrialChange(f"{key[0]}/{key[1]}", found))
                doomed.add(key)
            if found is None or found:
                todo.append((key, m))
            else:
                tally.existing.append(f"{key[0]}/{key[1]}")
        if dry_run or (doomed and not replace):
            if dry_run:
                for key, _ in todo:
                    if key not in doomed:
                        tally.created.append(f"{key[0]}/{key[1]}")
                    elif replace:
                        tally.replaced.append(f"{key[0]}/{key[1]}")
            return tally.result(dry_run=dry_run)
        for key, m in todo:
            if key in doomed:
                self._remove(key)
            self.jobs[key] = stamp(m, "fake")
            self.submitted.append(m)
            self._run(key)
            (tally.replaced if key in doomed else tally.created).append(f"{key[0]}/{key[1]}")
        tally.report()
        return tally.result()

    def _run(self, key: tuple[str, str]) -> None:
        """The trial runs and ends at once, as its template tells the simulator's kubelet."""
        m = self.jobs[key]
        meta, tmpl = m["metadata"], m["spec"]["template"]
        ann = (tmpl.get("metadata") or {}).get("annotations") or {}
        labels = meta.get("labels") or {}
        code = int(ann.get("sim.ktui.dev/exit-code", "0"))
        ok = code == 0
        # A long run (a minute or more) is still running: what the contract's stop needs.
        running = float(ann.get("sim.ktui.dev/duration", "0")) >= 60
        uid = f"uid-{key[1]}-{self.rv()}"
        trial = labels.get(TRIAL_LABEL)
        params = (meta.get("annotations") or {}).get(PARAMS_ANNOTATION)
        metric = (meta.get("annotations") or {}).get(METRIC_ANNOTATION)
        early = parse_object((meta.get("annotations") or {}).get(EARLY_STOPPING_ANNOTATION))
        if running:
            job = JobRec(key[0], key[1], uid, self.rv(), NOW, NOW, None, labels.get(SWEEP_LABEL),
                         int(trial) if trial is not None else None, params, False, 1, 1, 0, 0, None, None, None, 0,
                         parse_metric(metric), early)
            pod = PodRec(key[0], f"{key[1]}-{uid[-5:]}", self.rv(), key[1], uid, "node-a", "Running", NOW, NOW,
                         None, False, 0, 0, 0, 0, None, None)
        else:
            job = JobRec(key[0], key[1], uid, self.rv(), NOW, NOW, NOW, labels.get(SWEEP_LABEL),
                         int(trial) if trial is not None else None, params, False, 0, 0, int(ok), int(not ok),
                         "Complete" if ok else "Failed", None if ok else "BackoffLimitExceeded", None, 0,
                         parse_metric(metric), early)
            pod = PodRec(key[0], f"{key[1]}-{uid[-5:]}", self.rv(), key[1], uid, "node-a",
                         "Succeeded" if ok else "Failed", NOW, NOW, NOW, False, 0, 0, 0, 0, failure_words(code), None)
        self.store.apply("jobs", [job])
        self.store.apply("pods", [pod])
        if "sim.ktui.dev/log" in ann:
            self.logs[key] = ann["sim.ktui.dev/log"].splitlines()

    def _remove(self, key: tuple[str, str]) -> None:
        self.jobs.pop(key, None)
        self.logs.pop(key, None)
        self.store.apply("pods", [], [p.key for p in self.store.pods_of(key)])
        self.store.apply("jobs", [], [key])

    def _targets(self, trials, sweep, namespace) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
        keys = set(trials)
        if sweep is not None:
            keys.update(t.key for t in self.sweep_trials(sweep, namespace))
        return sorted(keys)

    def cancel(self, trials=(), *, sweep=None, namespace=None) -> ActionResult:  # type: ignore[no-untyped-def]
        self.cancelled.append(sweep or list(trials))
        done, failed = [], []
        for key in self._targets(trials, sweep, namespace):
            if self.store.get_trial(key) is None:
                failed.append(Failure(f"{key[0]}/{key[1]}", f"NotFound: job {key[1]} not found"))
                continue
            self._remove(key)
            done.append(f"{key[0]}/{key[1]}")
        return ActionResult(tuple(done), tuple(failed))

    def set_gpu_focus(self, nodes) -> None:  # type: ignore[no-untyped-def]
        self.gpu_focus = set(nodes)

    def refresh_gpus(self, nodes) -> None:  # type: ignore[no-untyped-def]
        pass

    def set_queue_focus(self, queues) -> None:  # type: ignore[no-untyped-def]
        self.queue_focus = None if queues is None else set(queues)

    def stop_early(self, trial, note) -> ActionResult:  # type: ignore[no-untyped-def]
        label = f"{trial[0]}/{trial[1]}"
        job = self.store.job(trial)
        t = self.store.get_trial(trial)
        if job is None or t is None:
            return ActionResult((), (Failure(label, f"NotFound: job {trial[1]} not found"),))
        if job.stopped is not None:
            return ActionResult((), (Failure(label, "already stopped early"),))
        if t.phase != "Running":
            return ActionResult((), (Failure(label, f"not running ({t.phase})"),))
        self.store.apply("pods", [], [p.key for p in self.store.pods_of(trial)])
        self.store.apply("jobs", [msgspec.structs.replace(job, rv=self.rv(), suspended=True, active=0, ready=0,
                                                          stopped=note)])
        return ActionResult((label,), ())

    def rerun(self, sweep=None, *, trials=(), namespace=None, failed_only=True) -> ActionResult:  # type: ignore[no-untyped-def]
        done = []
        for key in self._targets(trials, sweep, namespace):
            t = self.store.get_trial(key)
            if t is None or t.phase not in (("Failed",) if failed_only else ("Failed", "Succeeded")):
                continue
            if key in self.jobs:  # made by submit: run again as a new Job
                self.store.apply("pods", [], [p.key for p in self.store.pods_of(key)])
                self._run(key)
                done.append(f"{key[0]}/{key[1]}")
        return ActionResult(tuple(done))

    default_namespace = "default"

    def sweep_trials(self, sweep, namespace=None) -> list[TrialState]:  # type: ignore[no-untyped-def]
        return [TrialState(t.key, _OUTCOME.get(t.phase)) for t in self.store.snapshot_trials().values()
                if t.sweep == sweep and namespace in (None, t.namespace)]

    def find_trial(self, trial) -> TrialState | None:  # type: ignore[no-untyped-def]
        t = self.store.get_trial(trial)
        return TrialState(t.key, _OUTCOME.get(t.phase)) if t is not None else None

    def stream_logs(self, trial, *, follow=True, tail=None) -> FakeStream:  # type: ignore[no-untyped-def]
        if trial not in self.logs:
            raise LookupError(f"job {trial[1]} has no pod (yet)")
        return FakeStream(self.logs[trial], self.follow_until)

    def describe(self, trial) -> TrialDescription:  # type: ignore[no-untyped-def]
        t = self.store.get_trial(trial)
        if t is None:
            raise LookupError(f"job {trial[0]}/{trial[1]} not found")
        return TrialDescription(t, (PodSummary(f"{t.name}-abcde", t.pod_phase or "Pending", t.node, t.created, 0, t.reason),), (), None)


def demo_backend() -> FakeBackend:
    b = FakeBackend()
    for i, name in enumerate(["node-a", "node-b", "node-c"]):
        b.add_node(name, used_cpu_m=4000 + 3000 * i)
    b.add_trial("mnist", 0, "Succeeded")
    b.add_trial("mnist", 1, "Running", node="node-b")
    b.add_trial("mnist", 2, "Failed", node="node-c", exit_reason="OOMKilled", reason="BackoffLimitExceeded")
    b.add_trial("mnist", 3, "Pending", node=None)
    b.logs[("default", "mnist-001")] = [f"epoch={i} loss=0.{90 - i} accuracy=0.{50 + i}" for i in range(1, 10)]
    b.store.set_pod_usage({("default", "mnist-001-abcde"): PodUsage("default", "mnist-001-abcde", 1870, 3 * GiB)})
    return b


def machine_backend() -> FakeBackend:
    """One node with per-core readings and two GPUs, like the local backend with NVML."""
    b = FakeBackend()
    b.add_node("workstation", cpu=8, mem_gi=64, gpu=2)
    devices = (
        GpuDevice(0, "NVIDIA RTX A6000", 97, 40 * GiB, 48 * GiB, 81, 287.0, 300.0, ("mnist-001",)),
        GpuDevice(1, "NVIDIA RTX A6000", 0, 300 * 2**20, 48 * GiB, 38, None, None, ()),
    )
    b.store.set_usage({"workstation": NodeUsage("workstation", 5300, 21 * GiB, (98, 95, 91, 64, 40, 12, 3, 0),
                                                5.7, devices)})
    b.add_trial("mnist", 0, "Succeeded", node="workstation")
    b.add_trial("mnist", 1, "Running", node="workstation", gpu=1)
    b.add_trial("mnist", 2, "Pending", node=None, gpu=2)
    b.store.set_pod_usage({("default", "mnist-001-abcde"): PodUsage("default", "mnist-001-abcde", 4200, 19 * GiB)})
    return b
