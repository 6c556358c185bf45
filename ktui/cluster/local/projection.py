"""The local backend's view in the Store: its tables as the Kubernetes-shaped records the
UI reads (a Job per trial, a pod per attempt, the queue's words as Events, this machine as
the one node) and the machine's usage sampled into it.

Kept apart from the queue and the supervisor: they write the database; this only reads it,
rebuilding no more than the rows that moved.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import msgspec

from ktui.cluster.gpuuse import pod_use
from ktui.cluster.local import machine
from ktui.cluster.local.gpu import GpuProbe
from ktui.cluster.local.spec import TrialSpec
from ktui.cluster.local.state import State
from ktui.cluster.local.supervisor import ACTIVE
from ktui.cluster.model import NodeCondition
from ktui.cluster.records import EventRec, JobRec, NodeRec, NodeUsage, PodRec, PodUsage
from ktui.cluster.store import Store
from ktui.wire.names import parse_metric, parse_object

_SPEC_DECODER = msgspec.json.Decoder(TrialSpec)
_SPEC_CACHE_MAX = 200_000
# Stands in for the spec of a row deleted between two reads (a cancel in another process).
_LOST_SPEC = TrialSpec(namespace="", name="", sweep=None, trial=None, params=None, metric=None, argv=["true"],
                       env={}, cpu_m=0, memory=0, memory_limit=0, gpu=0, backoff_limit=0)
_OUTCOMES = {"succeeded": "Complete", "failed": "Failed"}  # the queue's states, as a Job's outcome


def pod_name(job: str, uid: str, n: int) -> str:
    return f"{job}-{uid[:5]}-{n}"


def outcome(state: str) -> str | None:
    return _OUTCOMES.get(state)


class Projection:
    def __init__(self, state: State, store: Store, *, node: str, cpus: int, memory: int,
                 gpus: tuple[str, ...], gpu_probe: GpuProbe | None) -> None:
        self.state = state
        self.store = store
        self.node = node
        self.cpus = cpus
        self.memory = memory
        self.gpus = gpus
        self._gpu_probe = gpu_probe
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None  # (data version, own writes) last shown
        self._events: dict[tuple[str, str], EventRec] = {}
        self._machine = machine.MachineSampler()
        self._trees = machine.TreeSampler()
        # Records built by refresh(), by (uid, rv, ...): unchanged rows are not rebuilt.
        self._job_cache: dict[tuple[str, int, int], JobRec] = {}
        self._spec_cache: dict[str, TrialSpec] = {}
        self._pod_cache: dict[tuple[str, int, int], PodRec] = {}

    def show_node(self) -> None:
        self.store.apply("nodes", [NodeRec(
            name=self.node, rv="1", created=None, cpu_m=self.cpus * 1000, memory=self.memory,
            gpu=len(self.gpus), max_pods=0, unschedulable=False, taints=(),
            conditions=(NodeCondition("Ready", "True", "LocalMachine", "this machine"),),
        )])
        self.store.mark_synced("nodes")

    def refresh(self, force: bool = False) -> None:
        """Feed the store from the database when it changed (here or in another process)."""
        seen = (self.state.data_version(), self.state.writes)
        if seen == self._seen and not force:
            return
        self._seen = seen
        # Only rows whose rv moved are rebuilt: decoding every spec and manifest on each
        # change was several times slower (NOTES.md M23).
        jobs = self.state.query("SELECT namespace, name, uid, rv, state, created, started, completed,"
                                " failed, reason, message FROM jobs")
        attempts = self.state.query("SELECT job_uid, n, rv, phase, created, started, finished, cpu_m, memory,"
                                    " gpu, reason, message FROM attempts")
        by_job: dict[str, list[Any]] = {}
        for a in attempts:
            by_job.setdefault(a["job_uid"], []).append(a)
        job_recs = []
        pod_recs = []
        old_jobs, old_pods = self._job_cache, self._pod_cache
        new_jobs: dict[tuple[str, int, int], JobRec] = {}
        new_pods: dict[tuple[str, int, int], PodRec] = {}
        for j in jobs:
            atts = by_job.get(j["uid"], ())
            active = ready = 0
            for a in atts:
                if a["phase"] in ACTIVE:
                    active += 1
                    ready += a["phase"] == "Running"
            # The job record also counts its attempts' phases: key on both.
            jkey = (j["uid"], j["rv"], active * 1000 + ready)
            rec = old_jobs.get(jkey)
            if rec is None:
                rec = self._job_rec(j, active, ready)
            new_jobs[jkey] = rec
            job_recs.append(rec)
            for a in atts:
                pkey = (j["uid"], a["n"], a["rv"])
                prec = old_pods.get(pkey)
                if prec is None:
                    prec = PodRec(
                        namespace=j["namespace"], name=pod_name(j["name"], j["uid"], a["n"]),
                        rv=f"{j['uid'][:8]}.{a['rv']}", job=j["name"], job_uid=j["uid"], node=self.node,
                        phase=a["phase"], created=a["created"], started=a["started"], finished=a["finished"],
                        deleting=False, cpu_m=a["cpu_m"], memory=a["memory"], gpu=a["gpu"], restarts=0,
                        reason=a["reason"], message=a["message"],
                    )
                new_pods[pkey] = prec
                pod_recs.append(prec)
        self._job_cache, self._pod_cache = new_jobs, new_pods
        st = self.store
        st.apply("jobs", job_recs)
        st.apply("pods", pod_recs)
        st.retain("pods", {p.key for p in pod_recs})
        st.retain("jobs", {j.key for j in job_recs})
        for kind in ("jobs", "pods", "events"):
            if not st.is_synced(kind):
                st.mark_synced(kind)

    def _job_rec(self, j: Any, active: int, ready: int) -> JobRec:
        spec = self.spec(j["uid"])
        state = j["state"]
        return JobRec(
            namespace=j["namespace"], name=j["name"], uid=j["uid"], rv=f"{j['uid'][:8]}.{j['rv']}.{active}.{ready}",
            created=j["created"], started=j["started"], completed=j["completed"],
            sweep=spec.sweep, trial=spec.trial, params=spec.params, suspended=False,
            active=active, ready=ready,
            succeeded=1 if state == "succeeded" else 0, failed=j["failed"],
            outcome=outcome(state),
            reason=j["reason"], message=j["message"], gpu=spec.gpu, metric=parse_metric(spec.metric),
            early_stopping=parse_object(spec.early_stopping),
            stopped=j["message"] if state == "stopped" else None,
            provenance=spec.provenance,
        )

    def spec(self, uid: str) -> TrialSpec:
        """A job's spec, decoded once per uid (a spec never changes; rerun gives a new uid)."""
        spec = self._spec_cache.get(uid)
        if spec is None:
            row = self.state.query("SELECT spec FROM jobs WHERE uid=?", (uid,))
            spec = _SPEC_DECODER.decode(row[0]["spec"]) if row else _LOST_SPEC
            if len(self._spec_cache) >= _SPEC_CACHE_MAX:
                self._spec_cache.clear()
            self._spec_cache[uid] = spec
        return spec

    def set_events(self, wanted: dict[tuple[str, str], tuple[str, str]]) -> None:
        """The queue's words for each waiting trial, as one Warning event per trial."""
        now = time.time()
        with self._lock:
            upserts = []
            for (ns, name), (reason, message) in wanted.items():
                ev_name = f"{name}.ktui-queue"
                old = self._events.get((ns, ev_name))
                if old is not None and old.reason == reason and old.message == message:
                    continue
                rec = EventRec(namespace=ns, name=ev_name, rv=f"{reason}:{message}", kind="Job", obj=name,
                               type="Warning", reason=reason, message=message, count=1, last=now)
                self._events[(ns, ev_name)] = rec
                upserts.append(rec)
            keep = {(ns, f"{name}.ktui-queue") for ns, name in wanted}
            gone = [k for k in self._events if k not in keep]
            for k in gone:
                del self._events[k]
        if upserts or gone:
            self.store.apply("events", upserts, gone)

    def events_of(self, namespace: str, name: str) -> list[EventRec]:
        with self._lock:
            return [e for e in self._events.values() if e.namespace == namespace and e.obj == name]

    def sample_usage(self) -> None:
        running = self.state.query(
            "SELECT a.pid, a.n, j.namespace, j.name, j.uid FROM attempts a JOIN jobs j ON a.job_uid = j.uid"
            " WHERE a.phase='Running' AND a.pid IS NOT NULL")
        by_pid = {r["pid"]: r for r in running}
        trees = self._trees.sample(by_pid)
        pods = {}
        for pid, (cpu_m, rss) in trees.items():
            r = by_pid[pid]
            u = PodUsage(r["namespace"], pod_name(r["name"], r["uid"], r["n"]), cpu_m, rss)
            pods[u.key] = u
        self.store.set_pod_usage(pods)

        def owner(pid: int) -> str | None:
            try:
                r = by_pid.get(os.getpgid(pid))  # a trial's processes share its wrapper's group
            except OSError:
                return None
            return r["name"] if r is not None else None

        m = self._machine.sample()
        devices = self._gpu_probe.read(owner) if self._gpu_probe is not None else ()
        self.store.set_usage({self.node: NodeUsage(self.node, m.cpu_m, m.memory, m.cores, m.load, devices)})
        # Each trial's use of the GPUs its processes run on, as a cluster's exporter gives it.
        pod_of = {r["name"]: (r["namespace"], pod_name(r["name"], r["uid"], r["n"])) for r in running}
        held = [(pod_of[p], self.node, d) for d in devices for p in d.processes if p in pod_of]
        previous = {k: g for k in {h[0] for h in held} if (g := self.store.pod_gpu(k)) is not None}
        self.store.set_gpu({}, pod_use(held, previous, self.store.gpu_rule, time.time()), replace=True)
