"""KubeBackend: the Backend protocol on a Kubernetes cluster."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec

from ktui.cluster.backend import ProgressFn
from ktui.cluster.gpuuse import GpuIdleRule
from ktui.cluster.kube import config as kconfig
from ktui.cluster.kube import indexed, indextrials, training
from ktui.cluster.kube.actions import JOBS, Actions, explain
from ktui.cluster.kube.backoff import Backoff
from ktui.cluster.kube.connection import ConnectionMonitor
from ktui.cluster.kube.decode import EVENT_CODEC, POD_CODEC
from ktui.cluster.kube.discovery import Served, discover
from ktui.cluster.kube.gpu import GpuPoller
from ktui.cluster.kube.kinds import BY_KIND, JOB_KIND, Kind
from ktui.cluster.kube.kinds import of as kind_of
from ktui.cluster.kube.logs import CONTAINER, KubeLogStream, newest_pod_of_job
from ktui.cluster.kube.metrics import MIN_INTERVAL, MetricsPoller
from ktui.cluster.kube.reflector import Reflector
from ktui.cluster.kube.resources import RESOURCES, Resource
from ktui.cluster.kube.transport import ApiError, Transport, Unreachable
from ktui.cluster.kube.workloads import QueueWatch
from ktui.cluster.model import (
    ActionResult,
    Capabilities,
    Capability,
    EventView,
    Failure,
    PodSummary,
    SubmitResult,
    TrialDescription,
    TrialKey,
    TrialState,
)
from ktui.cluster.records import EventRec, PodRec
from ktui.cluster.store import Store
from ktui.cluster.trainingfeed import TRAINING_KINDS

log = logging.getLogger(__name__)

# What each action needs: (verb, group, resource, subresource).
_NEEDS: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "submit": (("create", "batch", "jobs", ""),),
    "cancel": (("delete", "batch", "jobs", ""),),
    "rerun": (("create", "batch", "jobs", ""), ("delete", "batch", "jobs", "")),
    "logs": (("get", "", "pods", "log"),),
    "describe": (("get", "batch", "jobs", ""),),
}


class KubeBackend:
    name = "kubernetes"

    def __init__(
        self,
        cluster: kconfig.ClusterConfig,
        *,
        all_namespaces: bool = False,
        resources: Iterable[str] = ("nodes", "pods", "jobs", "events"),
        metrics: bool = True,
        metrics_interval: float = MIN_INTERVAL,
        metrics_min_interval: float = MIN_INTERVAL,
        page_limit: int = 500,
        watch_timeout: int = 300,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        forbidden_retry: float = 60.0,
        submit_concurrency: int = 8,
        probe_capabilities: bool = True,
        connect_timeout: tuple[float, float] = (5.0, 15.0),
        gpu: bool = True,
        gpu_interval: float = 15.0,
        prometheus: str | None = None,
        gpu_idle: GpuIdleRule | None = None,
        queues: bool = True,
        queue_interval: float = 3.0,
    ) -> None:
        """``queues``: where the cluster runs Kueue, read its Workloads and, every
        ``queue_interval`` seconds, places in line (kube/workloads.py). ``gpu``: read GPU telemetry (dcgm-exporter, Prometheus; see kube/gpu.py) for the
        nodes ``set_gpu_focus`` names, every ``gpu_interval`` seconds; ``prometheus``: a URL
        or "namespace/service[:port]" to query instead of finding one."""
        self.cluster = cluster
        self.namespace: str | None = None if all_namespaces else cluster.namespace
        self.transport = Transport(cluster.api_client)
        self._store = Store()
        self._served: Served | None = None
        self._served_lock = threading.Lock()
        self._discovered = threading.Event()  # the training kinds' reflectors are decided
        self.actions = Actions(
            self.transport, cluster.namespace, concurrency=submit_concurrency,
            backoff_base=backoff_base, backoff_cap=min(backoff_cap, 15.0),
            served=self.served, kind_hint=self._kind_hint,
        )

        def new_reflector(resource: Resource) -> Reflector:
            return Reflector(
                self.transport,
                self._store,
                resource,
                namespace=self.namespace,
                page_limit=page_limit,
                watch_timeout=watch_timeout,
                backoff=Backoff(backoff_base, backoff_cap),
                forbidden_retry=forbidden_retry,
                user=cluster.user,
            )

        self._new_reflector = new_reflector
        self.reflectors: dict[str, Reflector] = {kind: new_reflector(RESOURCES[kind]) for kind in resources}
        self.queues = QueueWatch(self.transport, self._store, new_reflector,
                                 visibility_interval=queue_interval,
                                 served=self.served) if queues else None
        self.metrics: MetricsPoller | None = (
            MetricsPoller(self.transport, self._store, interval=metrics_interval,
                          min_interval=metrics_min_interval, namespace=self.namespace)
            if metrics else None
        )
        if gpu_idle is not None:
            self._store.gpu_rule = gpu_idle
        self.gpu: GpuPoller | None = (
            GpuPoller(self.transport, self._store, interval=gpu_interval, prometheus=prometheus,
                      rule=self._store.gpu_rule, namespace=self.namespace) if gpu else None
        )
        # Nothing starts before the server answers (see ktui.cluster.kube.connection).
        self.connection = ConnectionMonitor(
            self.transport, self._store, self._answered,
            backoff=Backoff(backoff_base, min(backoff_cap, 5.0)), timeout=connect_timeout,
        )
        # An indexed sweep's parameters, read from its ConfigMaps once per Job.
        self.index_params = indextrials.ParamsReader(self.actions, self._store)
        self._store.params_wanted = self.index_params.request
        self._probe = probe_capabilities
        self._run_lock = threading.Lock()
        self._running = False  # the reflectors have been started
        self._caps: dict[str, Capability] = {}
        self._caps_lock = threading.Lock()
        self._started = False
        self._stopped = False

    @classmethod
    def connect(
        cls,
        kubeconfig: str | None = None,
        context: str | None = None,
        namespace: str | None = None,
        all_namespaces: bool = False,
        **kw: Any,
    ) -> KubeBackend:
        """Load credentials (raises kconfig.ConfigError) and build a backend; not started."""
        cluster = kconfig.load(kubeconfig, context, namespace)
        return cls(cluster, all_namespaces=all_namespaces, **kw)

    # ----------------------------------------------------------------------------------------
    # Backend protocol

    @property
    def store(self) -> Store:
        return self._store

    @property
    def location(self) -> str:
        ns = "all namespaces" if self.namespace is None else f"namespace {self.namespace}"
        ctx = f"context {self.cluster.context}, " if self.cluster.context else ""
        return f"{self.cluster.server} ({ctx}{ns})"

    @property
    def capabilities(self) -> Capabilities:
        with self._caps_lock:
            caps = dict(self._caps)
        if self.metrics is not None and self.metrics.available is False:
            problem = next((p for p in self._store.problems() if p.resource == "metrics"), None)
            caps["metrics"] = Capability(False, problem.message if problem else "unavailable")
        elif self.metrics is None:
            caps["metrics"] = Capability(False, "disabled")
        return Capabilities(**caps)

    def check(self) -> str:
        """One request to fail fast (raises Unreachable/ApiError); returns the server version."""
        data = self.transport.get("/version", timeout=(5.0, 15.0))
        try:
            return str(msgspec.json.decode(data).get("gitVersion", "?"))
        except (msgspec.DecodeError, AttributeError):
            return "?"

    def start(self) -> None:
        """Returns at once; the lists start when the server first answers."""
        if self._started:
            return
        self._started = True
        self.connection.start()

    def _answered(self, first: bool) -> None:
        """The server answered after silence: start everything, or resume it now."""
        with self._run_lock:
            if self._stopped:
                return
            if not self._running:
                self._running = True
                for r in self.reflectors.values():
                    r.start()
                if self.metrics is not None:
                    self.metrics.start()
                if self.gpu is not None:
                    self.gpu.start()
                if self.queues is not None:
                    self.queues.start()
                if self._probe:
                    threading.Thread(target=self._probe_capabilities, name="ktui-rbac", daemon=True).start()
                if "jobs" in self.reflectors:
                    threading.Thread(target=self._watch_training, name="ktui-discovery", daemon=True).start()
                else:
                    self._discovered.set()
                return
        for r in self.reflectors.values():
            r.wake()
        if self.queues is not None:
            self.queues.wake()

    def served(self) -> Served:
        """What the cluster serves of the optional APIs (discovery, asked once it answers)."""
        with self._served_lock:
            if self._served is None or self._served.error:
                self._served = discover(self.transport)
            return self._served

    def _watch_training(self) -> None:
        """A reflector for each training kind (PyTorchJob...) the cluster serves."""
        try:
            kinds = training.served_kinds(self.served().serves)
            with self._run_lock:
                if self._stopped:
                    return
                for kind in kinds:
                    r = self._new_reflector(RESOURCES[kind.plural])
                    self.reflectors[kind.plural] = r
                    r.start()
        finally:
            self._discovered.set()

    def training_kinds(self, timeout: float = 30.0) -> tuple[str, ...]:
        """The store kinds of the training objects watched ("pytorchjobs"), once decided."""
        self._discovered.wait(timeout)
        with self._run_lock:
            return tuple(k for k in self.reflectors if k in TRAINING_KINDS)

    def _kind_hint(self, key: TrialKey) -> str | None:
        job = self._store.job(key)
        return job.kind if job is not None else None

    def stop(self, timeout: float = 5.0) -> None:
        """``timeout`` bounds the whole wait for the threads (a request stuck on a server
        that never answers cannot be aborted; its thread is a daemon)."""
        with self._run_lock:
            if self._stopped:
                return
            self._stopped = True
        deadline = time.monotonic() + timeout
        self.actions.stop.set()
        self.index_params.stop()
        self.connection.stop()
        for r in self.reflectors.values():
            r.stop()
        if self.metrics is not None:
            self.metrics.stop()
        if self.gpu is not None:
            self.gpu.stop()
        if self.queues is not None:
            self.queues.stop()
        for r in self.reflectors.values():
            r.join(max(0.0, deadline - time.monotonic()))
        if self.metrics is not None:
            self.metrics.join(max(0.0, deadline - time.monotonic()))
        if self.gpu is not None:
            self.gpu.join(max(0.0, deadline - time.monotonic()))
        if self.queues is not None:
            self.queues.join(max(0.0, deadline - time.monotonic()))
        self.index_params.join(max(0.0, deadline - time.monotonic()))
        self.transport.close()

    def __enter__(self) -> KubeBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def submit(
        self,
        manifests: Sequence[Mapping[str, Any]],
        progress: ProgressFn | None = None,
        *,
        source_dir: str | None = None,  # the code is in the image: nothing to do with it
        replace: bool = False,
        dry_run: bool = False,
        code: Mapping[str, Any] | None = None,
    ) -> SubmitResult:
        from ktui.cluster.kube import codemap

        def ship() -> None:
            assert code is not None
            codemap.ensure(self.actions, code)  # (what it says of the ConfigMap: the CLI prints it)

        result = self.actions.submit(manifests, progress, replace=replace, dry_run=dry_run,
                                     before_create=ship if code is not None else None)
        self._learn(result.failed, "submit")
        return result

    def cancel(
        self,
        trials: Iterable[TrialKey] = (),
        *,
        sweep: str | None = None,
        namespace: str | None = None,
    ) -> ActionResult:
        keys = list(trials)
        pre, keys = self._indexed(indextrials.cancel, keys)  # (one trial of an indexed sweep: refused)
        if sweep is not None:
            res = self.actions.cancel_sweep(sweep, namespace or self.namespace)
            if keys:
                more = self.actions.cancel(keys)
                res = ActionResult(res.done + more.done, res.failed + more.failed)
        else:
            res = self.actions.cancel(keys)
        res = ActionResult(pre.done + res.done, pre.failed + res.failed)
        self._learn(res.failed, "cancel")
        return res

    def _indexed(self, act: Any, keys: list[TrialKey], **kw: Any) -> tuple[ActionResult, list[TrialKey]]:
        """Act on the keys that are trials of indexed sweeps (ktui.cluster.kube.indexed); the
        rest are Jobs of their own."""
        if not keys:
            return ActionResult(), keys
        try:
            res, rest = act(self.actions, keys, **kw)
        except (ApiError, Unreachable) as exc:
            return ActionResult((), tuple(Failure(f"{k[0]}/{k[1]}", explain(exc)) for k in keys)), []
        return res, rest

    def rerun(
        self,
        sweep: str | None = None,
        *,
        trials: Iterable[TrialKey] = (),
        namespace: str | None = None,
        failed_only: bool = True,
    ) -> ActionResult:
        keys = list(trials)
        res, keys = self._indexed(indextrials.rerun_keys, keys, failed_only=failed_only)
        if sweep is not None:
            more = self.actions.rerun_sweep(sweep, namespace or self.namespace, failed_only=failed_only)
            res = ActionResult(res.done + more.done, res.failed + more.failed)
        if keys:
            more = self.actions.rerun(keys, failed_only=failed_only)
            res = ActionResult(res.done + more.done, res.failed + more.failed)
        self._learn(res.failed, "rerun")
        return res

    def set_gpu_focus(self, nodes: Iterable[str]) -> None:
        if self.gpu is not None:
            self.gpu.set_focus(nodes)

    @property
    def queue_kinds(self) -> tuple[str, ...]:
        """What a command waits for besides its lists: the Workloads (synced at once
        where Kueue is not served)."""
        return ("workloads",) if self.queues is not None else ()

    def set_queue_focus(self, queues: Iterable[tuple[str, str]] | None) -> None:
        """The (namespace, LocalQueue) of the waiting trials on screen: only their places in
        line are read (None: every LocalQueue with a waiting Workload)."""
        if self.queues is not None:
            self.queues.set_focus(set(queues) if queues is not None else None)

    def refresh_queue_positions(self) -> None:
        """Read the waiting trials' places in line now; blocks for one round of requests."""
        if self.queues is not None:
            self.queues.refresh()

    def refresh_gpus(self, nodes: Iterable[str]) -> None:
        if self.gpu is not None:
            self.gpu.refresh(list(nodes))

    def stop_early(self, trial: TrialKey, note: str) -> ActionResult:
        return self.actions.stop_early(trial, note)

    @property
    def default_namespace(self) -> str:
        return self.cluster.namespace

    def sweep_trials(self, sweep: str, namespace: str | None = None) -> list[TrialState]:
        jobs = self.actions.sweep_jobs(sweep, namespace)
        out = indextrials.trial_states(jobs)  # one per trial of its indexed Jobs
        for job in jobs:
            if indexed.is_indexed_job(job):
                continue
            rec = kind_of(job).codec.decode_item(msgspec.json.encode(job))
            if rec is not None:
                out.append(TrialState((rec.namespace, rec.name), rec.outcome))
        return out

    def find_trial(self, trial: TrialKey) -> TrialState | None:
        obj = self.actions.fetch(trial)
        if obj is None:
            return indextrials.find(self.actions, trial)  # one index of an indexed sweep's Job?
        rec = kind_of(obj).codec.decode_item(msgspec.json.encode(obj))
        return TrialState(trial, rec.outcome) if rec is not None else None

    def _trial_kind(self, trial: TrialKey) -> Kind | None:
        """What runs the trial: the store knows the trials it shows; else the server says."""
        hint = self._kind_hint(trial)
        if hint is not None:
            return BY_KIND.get(hint, JOB_KIND)
        obj = self.actions.fetch(trial)
        return kind_of(obj) if obj is not None else None

    def _pods_of(self, trial: TrialKey, kind: Kind) -> list[PodRec]:
        """A distributed trial's pods, newest first: the store's, else the server's."""
        if self._store.is_synced("pods"):
            return self._store.pods_of(trial)
        job = self._store.job(trial)
        uid = job.uid if job is not None else None
        return training.list_pods(self.transport, kind, trial[0], trial[1], uid)

    def pod_for(self, trial: TrialKey) -> str | None:
        """The trial's newest pod: from the store when it sees pods, else from the server."""
        if self._store.is_synced("pods"):
            pods = self._store.pods_of(trial)
            if pods:
                return pods[0].name
        return newest_pod_of_job(self.transport, trial[0], trial[1]) or indextrials.newest_pod(self.actions, trial)

    def stream_logs(
        self, trial: TrialKey, *, follow: bool = True, tail: int | None = None, replica: str | None = None
    ) -> KubeLogStream:
        kind = self._trial_kind(trial)
        if kind is not None and kind is not JOB_KIND:
            # A distributed trial: its master's log, or the replica asked for.
            chosen = training.pick(trial[1], self._pods_of(trial, kind), replica)
            if chosen is None:
                what = f"no pod for replica {replica}" if replica else "no pod"
                raise LookupError(f"{kind.word} {trial[0]}/{trial[1]} has {what} (yet)")
            return KubeLogStream(self.transport, trial[0], chosen.name, container=training.container_of(kind.kind),
                                 follow=follow, tail=tail)
        if replica is not None:
            raise LookupError(f"job {trial[0]}/{trial[1]} runs one pod: it has no replica {replica}")
        pod = self.pod_for(trial)
        container: str | None = CONTAINER
        if pod is None:
            if self.find_trial(trial) is not None or not self._pod_exists(trial):
                raise LookupError(f"job {trial[0]}/{trial[1]} has no pod (yet)")
            pod, container = trial[1], None  # not a job: a pod of that name (kubectl logs POD)
        return KubeLogStream(self.transport, trial[0], pod, container=container,
                             follow=follow, tail=tail)

    def _pod_exists(self, key: TrialKey) -> bool:
        try:
            self.transport.get(f"/api/v1/namespaces/{key[0]}/pods/{key[1]}")
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def describe(self, trial: TrialKey) -> TrialDescription:
        ns, name = trial
        src = self._store.index_source(trial)  # one index of an indexed sweep's Job: that Job
        found = self.actions.fetch((ns, src[0].name) if src is not None else trial)
        if found is None:  # (the server's own 404, as for any missing Job)
            found = msgspec.json.decode(self.transport.get(f"{JOBS.format(ns=ns)}/{name}"))
        manifest: dict[str, Any] = found
        kind = kind_of(manifest)
        job_name = src[0].name if src is not None else name
        t = self._store.get_trial(trial)
        pods: list[PodRec]
        if kind is not JOB_KIND:
            pods = self._pods_of(trial, kind)
        elif self._store.is_synced("pods"):
            pods = self._store.pods_of(trial)
        else:
            recs, _ = POD_CODEC.decode_list(self.transport.get(
                f"/api/v1/namespaces/{ns}/pods", [("labelSelector", f"job-name={name}")]))
            uid = (manifest.get("metadata") or {}).get("uid")
            pods = sorted((p for p in recs if p.job_uid in (None, uid)),
                          key=lambda p: (p.created or 0.0, p.name), reverse=True)
        if t is None:
            from ktui.cluster.join import build_trial, owned_pods

            rec = kind.codec.decode_item(msgspec.json.encode(manifest))
            assert rec is not None
            t = build_trial(rec, owned_pods(rec, pods))
        events: list[EventView] = []
        # A distributed trial's events are its object's and each replica's (up to 16).
        shown = pods[:16] if kind is not JOB_KIND else pods[:3]
        for kind_name, obj in [(kind.kind, job_name)] + [("Pod", p.name) for p in shown]:
            try:
                recs_e, _ = EVENT_CODEC.decode_list(self.transport.get(
                    f"/api/v1/namespaces/{ns}/events",
                    [("fieldSelector", f"involvedObject.kind={kind_name},involvedObject.name={obj}")]))
            except ApiError:
                recs_e = self._store.events_of(ns, kind_name, obj)
            events.extend(_event_view(e) for e in recs_e if e.kind == kind_name and e.obj == obj)
        events.sort(key=lambda e: e.last or 0.0)
        return TrialDescription(
            trial=t,
            pods=tuple(PodSummary(p.name, p.phase, p.node, p.created, p.restarts, p.reason)
                       for p in pods),
            events=tuple(events),
            manifest=manifest,
        )

    # ----------------------------------------------------------------------------------------

    def _learn(self, failures: Iterable[Any], action: str) -> None:
        """An action refused with 403 becomes unavailable, with the server's reason."""
        for f in failures:
            if "Forbidden" in f.message:
                with self._caps_lock:
                    self._caps[action] = Capability(False, f.message)
                return

    def _probe_capabilities(self) -> None:
        ns = self.namespace or self.cluster.namespace
        for action, needs in _NEEDS.items():
            for verb, group, resource, sub in needs:
                allowed, reason = self._access_review(ns, verb, group, resource, sub)
                if allowed is False:
                    what = f"{resource}/{sub}" if sub else resource
                    with self._caps_lock:
                        self._caps[action] = Capability(
                            False, reason or f"Forbidden: cannot {verb} {what} in {ns}")
                    break

    def _access_review(
        self, ns: str, verb: str, group: str, resource: str, sub: str
    ) -> tuple[bool | None, str | None]:
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": {
                "namespace": ns, "verb": verb, "group": group, "resource": resource,
                **({"subresource": sub} if sub else {}),
            }},
        }
        try:
            data = self.transport.request(
                "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body=body)
            status = (msgspec.json.decode(data) or {}).get("status") or {}
        except (ApiError, Unreachable, msgspec.DecodeError):
            return None, None  # cannot tell: assume allowed, learn from a 403 later
        allowed = status.get("allowed")
        return (bool(allowed) if allowed is not None else None), status.get("reason") or None


def _event_view(e: EventRec) -> EventView:
    return EventView(e.type, e.reason, e.message, e.count, e.last, f"{e.kind}/{e.obj}")

