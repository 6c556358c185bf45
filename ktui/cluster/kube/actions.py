"""Writes: submit Jobs, cancel them, rerun failed ones.

Submitting is idempotent per sweep: a Job name that already exists *with the same
``ktui.dev/sweep`` label* counts as "existing", so relaunching after an interruption (Ctrl-C,
a dropped connection, a crashed laptop) creates exactly the missing trials. A name taken by
another sweep, or by a Job that is not ktui's, is a conflict and is reported, never
overwritten.

Every request is retried with exponential backoff and jitter on 429 (honouring Retry-After),
5xx and connection errors. A create whose answer was lost may have succeeded: if its retry
then finds the Job there with our sweep label, it counts as created, not existing.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import msgspec

from ktui.cluster.kube.decode import JOB_CODEC, SWEEP_LABEL, TRIAL_LABEL
from ktui.cluster.kube.reflector import Backoff
from ktui.cluster.kube.transport import ApiError, Transport, Unreachable
from ktui.cluster.model import ActionResult, Failure, SubmitProgress, SubmitResult, SubmitTally, TrialKey

T = TypeVar("T")
JOBS = "/apis/batch/v1/namespaces/{ns}/jobs"

# Labels and annotations the API server adds to a Job and its template; a recreated Job
# must not carry the old incarnation's.
_SERVER_LABELS = (
    "controller-uid",
    "batch.kubernetes.io/controller-uid",
    "job-name",
    "batch.kubernetes.io/job-name",
)
_SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "managedFields",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
    "finalizers",
)


class _Ambiguous(Exception):
    pass


def clean_manifest(job: Mapping[str, Any]) -> dict[str, Any]:
    """A Job as the server returned it -> a manifest that creates the same Job anew."""
    m = copy.deepcopy(dict(job))
    m.pop("status", None)
    m.setdefault("apiVersion", "batch/v1")
    m.setdefault("kind", "Job")
    meta = m.setdefault("metadata", {})
    for key in _SERVER_METADATA:
        meta.pop(key, None)
    for holder in (meta, (m.get("spec") or {}).get("template", {}).get("metadata") or {}):
        labels = holder.get("labels")
        if labels:
            for key in _SERVER_LABELS:
                labels.pop(key, None)
        holder.pop("creationTimestamp", None)
    spec = m.get("spec") or {}
    if not spec.get("manualSelector"):
        # A generated selector names the old uid; the server generates a new one.
        spec.pop("selector", None)
        spec.pop("manualSelector", None)
    return m


class Actions:
    def __init__(
        self,
        transport: Transport,
        default_namespace: str = "default",
        *,
        concurrency: int = 8,
        attempts: int = 6,
        backoff_base: float = 0.5,
        backoff_cap: float = 15.0,
        delete_wait: float = 60.0,
    ) -> None:
        self.transport = transport
        self.default_namespace = default_namespace
        self.concurrency = max(1, concurrency)
        self.attempts = attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.delete_wait = delete_wait
        self.stop = threading.Event()  # set to abandon queued work (Ctrl-C)

    # ----------------------------------------------------------------------------------------

    def _retrying(self, call: Callable[[], T], on_ambiguous: Callable[[], None] | None = None) -> T:
        backoff = Backoff(self.backoff_base, self.backoff_cap)
        for attempt in range(self.attempts):
            last = attempt == self.attempts - 1
            try:
                return call()
            except ApiError as exc:
                if not exc.retryable or last:
                    raise
                if exc.status != 429 and on_ambiguous is not None:
                    on_ambiguous()  # a 5xx may come after the write happened
                delay = backoff.next()
                if exc.retry_after is not None:
                    delay = max(delay, exc.retry_after)
            except Unreachable:
                if last:
                    raise
                if on_ambiguous is not None:
                    on_ambiguous()
                delay = backoff.next()
            if self.stop.wait(delay):
                raise Unreachable(self.transport.server, "interrupted")
        raise AssertionError("unreachable")

    def _map(self, fn: Callable[[Any], None], items: Sequence[Any]) -> None:
        if not items:
            return
        if len(items) == 1 or self.concurrency == 1:
            for it in items:
                if self.stop.is_set():
                    break
                fn(it)
            return
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(items)),
                                thread_name_prefix="ktui-action") as pool:
            futures = [pool.submit(self._guarded, fn, it) for it in items]
            try:
                for f in futures:
                    f.result()
            except BaseException:
                self.stop.set()
                for f in futures:
                    f.cancel()
                raise

    def _guarded(self, fn: Callable[[Any], None], item: Any) -> None:
        if not self.stop.is_set():
            fn(item)

    # ----------------------------------------------------------------------------------------
    # submit

    def submit(
        self,
        manifests: Sequence[Mapping[str, Any]],
        progress: Callable[[SubmitProgress], None] | None = None,
    ) -> SubmitResult:
        lock = threading.Lock()
        tally = SubmitTally(len(manifests), progress)

        def one(manifest: Mapping[str, Any]) -> None:
            meta = manifest.get("metadata") or {}
            name = str(meta.get("name") or meta.get("generateName") or "?")
            ns = str(meta.get("namespace") or self.default_namespace)
            label = f"{ns}/{name}"
            try:
                outcome = self._create(ns, manifest)
            except ApiError as exc:
                outcome = Failure(label, _explain(exc))
            except Unreachable as exc:
                outcome = Failure(label, str(exc))
            with lock:
                if outcome == "created":
                    tally.created.append(label)
                elif outcome == "existing":
                    tally.existing.append(label)
                else:
                    tally.failed.append(outcome)  # type: ignore[arg-type]
                tally.report()

        tally.report()
        self._map(one, list(manifests))
        return tally.result()

    def _create(self, ns: str, manifest: Mapping[str, Any]) -> str | Failure:
        path = JOBS.format(ns=ns)
        ambiguous = False

        def mark() -> None:
            nonlocal ambiguous
            ambiguous = True

        try:
            self._retrying(lambda: self.transport.request("POST", path, body=manifest), mark)
            return "created"
        except ApiError as exc:
            if exc.status != 409 or exc.reason != "AlreadyExists":
                raise
        meta = manifest.get("metadata") or {}
        name = str(meta.get("name"))
        want = (meta.get("labels") or {}).get(SWEEP_LABEL)
        data = self._retrying(lambda: self.transport.get(f"{path}/{name}"))
        have = JOB_CODEC.decode_item(data)
        have_sweep = have.sweep if have is not None else None
        if want and have_sweep == want:
            return "created" if ambiguous else "existing"
        if not want and have_sweep is None:
            return "existing"
        owner = f"sweep {have_sweep!r}" if have_sweep else "no ktui sweep"
        return Failure(f"{ns}/{name}", f"conflict: job {name} already exists and belongs to {owner}")

    # ----------------------------------------------------------------------------------------
    # cancel

    def delete(self, key: TrialKey, *, propagation: str = "Background", uid: str | None = None) -> bool:
        """Delete one Job; False if it was already gone."""
        ns, name = key
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions",
                                "propagationPolicy": propagation}
        if uid:
            # Only this incarnation: never a newer Job that took the name meanwhile.
            body["preconditions"] = {"uid": uid}
        try:
            self._retrying(lambda: self.transport.request(
                "DELETE", f"{JOBS.format(ns=ns)}/{name}", body=body))
        except ApiError as exc:
            if exc.status == 404:
                return False
            if exc.status == 409 and uid:  # precondition failed: that incarnation is gone
                return False
            raise
        return True

    def cancel(self, keys: Iterable[TrialKey]) -> ActionResult:
        done: list[str] = []
        failed: list[Failure] = []
        lock = threading.Lock()

        def one(key: TrialKey) -> None:
            label = f"{key[0]}/{key[1]}"
            try:
                self.delete(key)
                with lock:
                    done.append(label)
            except (ApiError, Unreachable) as exc:
                with lock:
                    failed.append(Failure(label, _explain(exc)))

        self._map(one, sorted(set(keys)))
        return ActionResult(tuple(sorted(done)), tuple(failed))

    def sweep_jobs(self, sweep: str, namespace: str | None) -> list[dict[str, Any]]:
        """The sweep's Jobs, from the server (authoritative, unlike a store being filled)."""
        path = JOBS.format(ns=namespace) if namespace else "/apis/batch/v1/jobs"
        items: list[dict[str, Any]] = []
        cont: str | None = None
        while True:
            query: list[tuple[str, str | int | bool]] = [
                ("labelSelector", f"{SWEEP_LABEL}={sweep}"), ("limit", 500)]
            if cont:
                query.append(("continue", cont))
            data = self._retrying(partial(self.transport.get, path, query))
            page = msgspec.json.decode(data)
            items.extend(page.get("items") or [])
            cont = (page.get("metadata") or {}).get("continue")
            if not cont:
                return items

    def cancel_sweep(self, sweep: str, namespace: str | None) -> ActionResult:
        try:
            jobs = self.sweep_jobs(sweep, namespace)
        except (ApiError, Unreachable) as exc:
            return ActionResult((), (Failure(sweep, _explain(exc)),))
        return self.cancel((j["metadata"]["namespace"], j["metadata"]["name"]) for j in jobs)

    # ----------------------------------------------------------------------------------------
    # rerun

    def rerun_jobs(self, jobs: Sequence[Mapping[str, Any]]) -> ActionResult:
        """Delete each Job (this incarnation only), wait until it is gone, recreate it."""
        done: list[str] = []
        failed: list[Failure] = []
        lock = threading.Lock()

        def one(job: Mapping[str, Any]) -> None:
            meta = job.get("metadata") or {}
            ns, name = str(meta.get("namespace")), str(meta.get("name"))
            uid: str | None = meta.get("uid")
            label = f"{ns}/{name}"
            try:
                manifest = clean_manifest(job)
                self.delete((ns, name), uid=uid)
                self._wait_gone(ns, name, uid)
                self._retrying(lambda: self.transport.request(
                    "POST", JOBS.format(ns=ns), body=manifest))
                with lock:
                    done.append(label)
            except (ApiError, Unreachable, TimeoutError) as exc:
                with lock:
                    failed.append(Failure(label, _explain(exc)))

        self._map(one, list(jobs))
        return ActionResult(tuple(sorted(done)), tuple(failed))

    def rerun_sweep(self, sweep: str, namespace: str | None, *, failed_only: bool = True) -> ActionResult:
        try:
            jobs = self.sweep_jobs(sweep, namespace)
        except (ApiError, Unreachable) as exc:
            return ActionResult((), (Failure(sweep, _explain(exc)),))
        chosen = [j for j in jobs if _is_rerunnable(j, failed_only)]
        return self.rerun_jobs(chosen)

    def rerun(self, keys: Iterable[TrialKey], *, failed_only: bool = True) -> ActionResult:
        jobs: list[dict[str, Any]] = []
        failed: list[Failure] = []
        for ns, name in keys:
            path = f"{JOBS.format(ns=ns)}/{name}"
            try:
                job = msgspec.json.decode(self._retrying(partial(self.transport.get, path)))
            except (ApiError, Unreachable) as exc:
                failed.append(Failure(f"{ns}/{name}", _explain(exc)))
                continue
            if _is_rerunnable(job, failed_only):
                jobs.append(job)
            else:
                failed.append(Failure(f"{ns}/{name}", "not finished" if not failed_only
                                      else "has not failed"))
        res = self.rerun_jobs(jobs)
        return ActionResult(res.done, res.failed + tuple(failed))

    def _wait_gone(self, ns: str, name: str, uid: str | None) -> None:
        deadline = time.monotonic() + self.delete_wait
        delay = 0.05
        while True:
            try:
                data = self.transport.get(f"{JOBS.format(ns=ns)}/{name}")
            except ApiError as exc:
                if exc.status == 404:
                    return
                if not exc.retryable:
                    raise
            except Unreachable:
                pass
            else:
                rec = JOB_CODEC.decode_item(data)
                if rec is None or (uid and rec.uid != uid):
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"job {ns}/{name} still exists after {self.delete_wait:.0f}s")
            if self.stop.wait(delay):
                raise TimeoutError("interrupted")
            delay = min(delay * 2, 1.0)


def _is_rerunnable(job: Mapping[str, Any], failed_only: bool) -> bool:
    rec = JOB_CODEC.decode_item(msgspec.json.encode(job))
    if rec is None:
        return False
    if failed_only:
        return rec.outcome == "Failed"
    return rec.outcome is not None


def _explain(exc: BaseException) -> str:
    if isinstance(exc, ApiError):
        st = exc.body
        causes = st.details.causes if st is not None and st.details is not None else None
        if causes:
            first = causes[0]
            where = f"{first.field}: " if first.field else ""
            return f"{exc.reason}: {where}{first.message}"
        return f"{exc.reason}: {exc.message}" if exc.message else f"{exc.status} {exc.reason}"
    return str(exc)


__all__ = ["Actions", "clean_manifest", "SWEEP_LABEL", "TRIAL_LABEL"]
