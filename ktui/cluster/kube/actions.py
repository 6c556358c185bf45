"""Writes: submit Jobs, cancel them, rerun failed ones.

Submitting is idempotent per sweep: a Job that already exists for the same sweep and runs
the same trial (see ktui.cluster.fingerprint) counts as "existing", so relaunching after an
interruption (Ctrl-C, a dropped connection, a crashed laptop) creates exactly the missing
trials. One that runs something else (the file was edited) refuses the whole submission
unless told to replace it. A name taken by another sweep, or by a Job that is not ktui's,
is a conflict and is reported, never overwritten.

Every request is retried with exponential backoff and jitter on 429 (honouring Retry-After),
5xx and connection errors. A create whose answer was lost may have succeeded: if its retry
then finds the Job there carrying this submission's launch id, it counts as created.
"""

from __future__ import annotations

import copy
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

import msgspec

from ktui.cluster.fingerprint import differences, launch_of, stamp
from ktui.cluster.kube.backoff import Backoff
from ktui.cluster.kube.decode import SWEEP_LABEL, TRIAL_LABEL
from ktui.cluster.kube.discovery import Served, discover
from ktui.cluster.kube.kinds import BY_KIND, JOB_KIND, OPTIONAL, Kind
from ktui.cluster.kube.kinds import of as kind_of
from ktui.cluster.kube.transport import ApiError, Query, Transport, Unreachable
from ktui.cluster.model import (
    ActionResult,
    Failure,
    SubmitProgress,
    SubmitResult,
    SubmitTally,
    TrialChange,
    TrialKey,
)
from ktui.sweep.indexed import is_indexed
from ktui.wire.names import EARLY_STOPPED_ANNOTATION

T = TypeVar("T")
JOBS = "/apis/batch/v1/namespaces/{ns}/jobs"
MERGE_PATCH = "application/merge-patch+json"

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


class KindNotServed(Exception):
    """The sweep's trials are of a kind (PyTorchJob...) whose CRD the cluster does not serve:
    nothing is submitted. The message is the one line that says what to install."""


def clean_manifest(job: Mapping[str, Any]) -> dict[str, Any]:
    """A Job (or PyTorchJob) as the server returned it -> a manifest that creates it anew."""
    m = copy.deepcopy(dict(job))
    m.pop("status", None)
    kind = kind_of(m)
    m.setdefault("apiVersion", kind.api_version)
    m.setdefault("kind", kind.kind)
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
        served: Callable[[], Served] | None = None,
        kind_hint: Callable[[TrialKey], str | None] | None = None,
    ) -> None:
        """``served``: what the cluster serves (discovery; asked here when not given);
        ``kind_hint``: the kind of a trial's object if known (the store's), so an action on it
        need not look for it."""
        self._served_fn = served
        self._served: Served | None = None
        self._served_lock = threading.Lock()
        self.kind_hint = kind_hint
        self.transport = transport
        self.default_namespace = default_namespace
        self.concurrency = max(1, concurrency)
        self.attempts = attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.delete_wait = delete_wait
        self.stop = threading.Event()  # set to abandon queued work (Ctrl-C)

    # ----------------------------------------------------------------------------------------

    def call(self, method: str, path: str, query: Query = (), body: Any = None) -> bytes:
        """One request, retried as every action's are (throttling, 5xx, a dropped connection)."""
        return self._retrying(lambda: self.transport.request(method, path, query=query, body=body))

    def create(self, path: str, manifest: Mapping[str, Any]) -> bool:
        """POST an object, retried; False when one of its name already exists (409
        AlreadyExists: perhaps made by a retry whose first answer was lost)."""
        try:
            self.call("POST", path, body=manifest)
            return True
        except ApiError as exc:
            if exc.status != 409 or exc.reason != "AlreadyExists":
                raise
            return False

    def served(self) -> Served:
        if self._served_fn is not None:
            return self._served_fn()
        with self._served_lock:
            if self._served is None or self._served.error:
                self._served = discover(self.transport)
            return self._served

    def kinds(self) -> list[Kind]:
        """Job, and each optional kind (PyTorchJob...) the cluster serves."""
        served = self.served()
        return [JOB_KIND, *(k for k in OPTIONAL if served.serves(k.kind))]

    def refuse_unserved(self, manifests: Iterable[Mapping[str, Any]]) -> None:
        """Raises KindNotServed for the first kind of ``manifests`` the cluster lacks."""
        wanted = sorted({kind_of(m).kind for m in manifests} - {JOB_KIND.kind})
        for kind in wanted:
            served = self.served()
            if not served.serves(kind):
                raise KindNotServed(served.missing(kind))

    def _candidates(self, key: TrialKey) -> Iterable[Kind]:
        """The kinds a trial's object may be of, the likeliest first (asked lazily: a Job is
        found without discovery)."""
        hint = self.kind_hint(key) if self.kind_hint is not None else None
        known = BY_KIND.get(hint) if hint is not None else None
        if known is not None:
            yield known
            return
        yield JOB_KIND
        yield from self.kinds()[1:]

    def fetch(self, key: TrialKey) -> dict[str, Any] | None:
        """A trial's object as the server has it (with its kind and apiVersion), None if none."""
        ns, name = key
        for kind in self._candidates(key):
            try:
                obj = msgspec.json.decode(self._retrying(partial(self.transport.get, kind.item(ns, name))))
            except ApiError as exc:
                if exc.status == 404:
                    continue
                raise
            obj.setdefault("kind", kind.kind)
            obj.setdefault("apiVersion", kind.api_version)
            return obj  # type: ignore[no-any-return]
        return None

    def _retrying(self, call: Callable[[], T]) -> T:
        backoff = Backoff(self.backoff_base, self.backoff_cap)
        for attempt in range(self.attempts):
            last = attempt == self.attempts - 1
            try:
                return call()
            except ApiError as exc:
                if not exc.retryable or last:
                    raise
                delay = backoff.next()
                if exc.retry_after is not None:
                    delay = max(delay, exc.retry_after)
            except Unreachable:
                if last:
                    raise
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
        *,
        replace: bool = False,
        dry_run: bool = False,
        before_create: Callable[[], None] | None = None,
    ) -> SubmitResult:
        """Create the Jobs. The sweep's existing Jobs are listed first (raises ApiError or
        Unreachable when that fails: nothing is submitted blind). A trial whose Job exists
        and runs the same thing is "existing"; one whose Job runs something else is
        "changed": then nothing at all is created, unless ``replace``, which deletes those
        Jobs with their pods, waits until they are gone and creates them anew.
        ``dry_run``: the same verdict, nothing written. ``before_create`` runs once the
        verdict allows writing, before the first Job is created or deleted (the code
        snapshot's ConfigMap); what it raises propagates, with nothing submitted."""
        self.refuse_unserved(manifests)
        if any(is_indexed(m) for m in manifests):  # one Job and its ConfigMaps for the whole sweep
            from ktui.cluster.kube import indexed

            return indexed.submit(self, manifests, progress, replace=replace, dry_run=dry_run,
                                  before_create=before_create)
        launch = uuid.uuid4().hex
        stamped = [stamp(m, launch) for m in manifests]
        tally = SubmitTally(len(stamped), progress)
        have = self._existing(stamped)
        fresh: list[dict[str, Any]] = []
        changed: list[tuple[dict[str, Any], Mapping[str, Any]]] = []
        for m in stamped:
            meta = m["metadata"]
            key = (str(meta.get("namespace") or self.default_namespace), str(meta.get("name")))
            old = have.get(key)
            if old is None or (old.get("metadata") or {}).get("deletionTimestamp"):
                fresh.append(m)  # one being deleted is no trial to keep: its create says so
                continue
            found = differences(old, m)
            if found:
                changed.append((m, old))
                tally.changed.append(TrialChange(f"{key[0]}/{key[1]}", found))
            else:
                tally.existing.append(f"{key[0]}/{key[1]}")
        from ktui.cluster.kube import indexed

        # The sweep ran as one Indexed Job: its trials would run twice (replace: it goes first).
        modes = [old for old in have.values() if indexed.is_indexed_job(old)
                 and not (old.get("metadata") or {}).get("deletionTimestamp")]
        tally.changed.extend(TrialChange(_label(old, self.default_namespace), ("mode: indexed -> jobs (one Job per trial)",))
                             for old in modes)
        if dry_run:
            tally.created.extend(_label(m, self.default_namespace) for m in fresh)
            if replace:
                tally.replaced.extend(c.name for c in tally.changed)
            return tally.result(dry_run=True)
        if (changed or modes) and not replace:
            tally.report()
            return tally.result()
        if before_create is not None and (fresh or changed):
            before_create()
        for old in modes:
            try:
                indexed.remove(self, str(old["metadata"]["namespace"]), old)
            except (ApiError, Unreachable, TimeoutError) as exc:
                tally.failed.append(Failure(_label(old, self.default_namespace), explain(exc)))
                tally.report()
                return tally.result()  # (its trials would run twice)
            tally.replaced.append(_label(old, self.default_namespace))
        lock = threading.Lock()

        def count(outcome: str | Failure, label: str) -> None:
            with lock:
                if outcome == "created":
                    tally.created.append(label)
                elif outcome == "replaced":
                    tally.replaced.append(label)
                elif outcome == "existing":
                    tally.existing.append(label)
                else:
                    tally.failed.append(outcome)  # type: ignore[arg-type]
                tally.report()

        def one(manifest: dict[str, Any]) -> None:
            label = _label(manifest, self.default_namespace)
            try:
                outcome = self._create(label.split("/", 1)[0], manifest, launch)
            except (ApiError, Unreachable) as exc:
                outcome = Failure(label, explain(exc))
            count(outcome, label)

        def renew(pair: tuple[dict[str, Any], Mapping[str, Any]]) -> None:
            manifest, old = pair
            label = _label(manifest, self.default_namespace)
            ns, name = label.split("/", 1)
            try:
                # Foreground: the Job goes only after its pods, so once it is gone no old
                # pod still runs the old settings beside the new one.
                kind = kind_of(old)
                self.delete((ns, name), propagation="Foreground", uid=old["metadata"].get("uid"), kind=kind)
                self._wait_gone(ns, name, old["metadata"].get("uid"), kind)
                outcome = self._create(ns, manifest, launch)
            except (ApiError, Unreachable, TimeoutError) as exc:
                outcome = Failure(label, explain(exc))
            count("replaced" if outcome == "created" else outcome, label)

        tally.report()
        self._map(renew, changed)
        self._map(one, fresh)
        return tally.result()

    def _existing(self, manifests: Sequence[Mapping[str, Any]]) -> dict[TrialKey, Mapping[str, Any]]:
        """The Jobs already there for the sweeps of ``manifests``, by (namespace, name)."""
        sweeps = set()
        for m in manifests:
            meta = m.get("metadata") or {}
            sweep = (meta.get("labels") or {}).get(SWEEP_LABEL)
            if sweep:
                sweeps.add((str(meta.get("namespace") or self.default_namespace), sweep))
        out: dict[TrialKey, Mapping[str, Any]] = {}
        # Every kind the cluster serves: a trial relaunched as another kind is a change.
        wanted = {kind_of(m).kind for m in manifests}
        kinds = self.kinds()
        for ns, sweep in sorted(sweeps):
            for job in self.sweep_jobs(sweep, ns, kinds, required=wanted):
                meta = job.get("metadata") or {}
                out[(str(meta.get("namespace")), str(meta.get("name")))] = job
        return out

    def _create(self, ns: str, manifest: Mapping[str, Any], launch: str) -> str | Failure:
        """POST one Job: "created", "existing" or why not. The answer to a create may be
        lost (a 5xx, a dropped connection) after the server made the Job; the retry then
        finds it, and the launch id it carries tells ours from one made before."""
        kind = kind_of(manifest)
        path = kind.collection(ns)
        if self.create(path, manifest):
            return "created"
        meta = manifest.get("metadata") or {}
        name = str(meta.get("name"))
        word = kind.word
        label = f"{ns}/{name}"
        want = (meta.get("labels") or {}).get(SWEEP_LABEL)
        have = msgspec.json.decode(self.call("GET", f"{path}/{name}"))
        if launch_of(have) == launch:
            return "created"
        have_sweep = ((have.get("metadata") or {}).get("labels") or {}).get(SWEEP_LABEL)
        if (want or None) != (have_sweep or None):
            owner = f"sweep {have_sweep!r}" if have_sweep else "no ktui sweep"
            return Failure(label, f"conflict: {word} {name} already exists and belongs to {owner}")
        if (have.get("metadata") or {}).get("deletionTimestamp"):
            return Failure(label, f"{word} {name} is still being deleted; launch again once it is gone")
        found = differences(have, manifest)
        if found:  # made meanwhile by another launch, with other settings
            return Failure(label, "already exists with different settings: " + ", ".join(found))
        return "existing"

    # ----------------------------------------------------------------------------------------
    # cancel

    def delete(self, key: TrialKey, *, propagation: str = "Background", uid: str | None = None,
               kind: Kind = JOB_KIND) -> bool:
        """Delete one Job (or PyTorchJob...: its pods go with it); False if it was already gone."""
        ns, name = key
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions",
                                "propagationPolicy": propagation}
        if uid:
            # Only this incarnation: never a newer Job that took the name meanwhile.
            body["preconditions"] = {"uid": uid}
        try:
            self._retrying(lambda: self.transport.request(
                "DELETE", kind.item(ns, name), body=body))
        except ApiError as exc:
            if exc.status == 404:
                return False
            if exc.status == 409 and uid:  # precondition failed: that incarnation is gone
                return False
            raise
        return True

    def cancel(self, keys: Iterable[TrialKey], kinds: Mapping[TrialKey, Kind] | None = None) -> ActionResult:
        """Delete each trial's object (``kinds``: those known; the others are looked for)."""
        done: list[str] = []
        failed: list[Failure] = []
        lock = threading.Lock()

        def one(key: TrialKey) -> None:
            label = f"{key[0]}/{key[1]}"
            try:
                known = (kinds or {}).get(key)
                if known is not None:
                    self.delete(key, kind=known)
                else:
                    any(self.delete(key, kind=k) for k in self._candidates(key))
                with lock:
                    done.append(label)
            except (ApiError, Unreachable) as exc:
                with lock:
                    failed.append(Failure(label, explain(exc)))

        self._map(one, sorted(set(keys)))
        return ActionResult(tuple(sorted(done)), tuple(failed))

    def stop_early(self, key: TrialKey, note: str) -> ActionResult:
        """Stop a running trial for the sweep's early-stopping rule: suspend its Job (its
        pods go, the Job stays, not failed) and record `note` (the figures) on it, in one
        merge patch conditional on the Job's resourceVersion, so of several enforcers only
        one acts; a Job already stopped or finished is left alone."""
        ns, name = key
        label = f"{ns}/{name}"
        try:
            job = self.fetch(key)
            if job is None:
                return ActionResult((), (Failure(label, "not found"),))
            kind = kind_of(job)
            meta = job.get("metadata") or {}
            if EARLY_STOPPED_ANNOTATION in (meta.get("annotations") or {}):
                return ActionResult((), (Failure(label, "already stopped early"),))
            rec = kind.codec.decode_item(msgspec.json.encode(job))
            if rec is not None and rec.outcome is not None:
                return ActionResult((), (Failure(label, "already finished"),))
            # A PyTorchJob suspends through its runPolicy (its pods go, as a Job's do).
            suspend = {"runPolicy": {"suspend": True}} if kind is not JOB_KIND else {"suspend": True}
            body = {"metadata": {"resourceVersion": meta.get("resourceVersion"),
                                 "annotations": {EARLY_STOPPED_ANNOTATION: note}},
                    "spec": suspend}
            self.transport.request("PATCH", kind.item(ns, name), body=body, content_type=MERGE_PATCH)
        except ApiError as exc:
            if exc.status == 409:
                return ActionResult((), (Failure(label, "changed meanwhile (another ktui stopped it?)"),))
            return ActionResult((), (Failure(label, explain(exc)),))
        except Unreachable as exc:
            return ActionResult((), (Failure(label, explain(exc)),))
        return ActionResult((label,), ())

    def sweep_jobs(self, sweep: str, namespace: str | None, kinds: Sequence[Kind] | None = None,
                   required: Iterable[str] = (JOB_KIND.kind,)) -> list[dict[str, Any]]:
        """The sweep's Jobs (and PyTorchJobs..., each with its kind), from the server
        (authoritative, unlike a store being filled). ``kinds``: those to list (default:
        every kind served); one not ``required`` that the user may not list is left out."""
        items: list[dict[str, Any]] = []
        must = set(required)
        for kind in kinds if kinds is not None else self.kinds():
            try:
                found = self._list(kind, sweep, namespace)
            except ApiError as exc:
                if kind.kind in must or exc.status not in (403, 404):
                    raise
                continue
            for item in found:
                item.setdefault("kind", kind.kind)
                item.setdefault("apiVersion", kind.api_version)
            items.extend(found)
        return items

    def _list(self, kind: Kind, sweep: str, namespace: str | None) -> list[dict[str, Any]]:
        path = kind.collection(namespace)
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
            return ActionResult((), (Failure(sweep, explain(exc)),))
        kinds = {(j["metadata"]["namespace"], j["metadata"]["name"]): kind_of(j) for j in jobs}
        return self.cancel(list(kinds), kinds)

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
            kind = kind_of(job)
            try:
                manifest = clean_manifest(job)
                self.delete((ns, name), uid=uid, kind=kind)
                self._wait_gone(ns, name, uid, kind)
                self._retrying(lambda: self.transport.request(
                    "POST", kind.collection(ns), body=manifest))
                with lock:
                    done.append(label)
            except (ApiError, Unreachable, TimeoutError) as exc:
                with lock:
                    failed.append(Failure(label, explain(exc)))

        self._map(one, list(jobs))
        return ActionResult(tuple(sorted(done)), tuple(failed))

    def rerun_sweep(self, sweep: str, namespace: str | None, *, failed_only: bool = True) -> ActionResult:
        try:
            jobs = self.sweep_jobs(sweep, namespace)
        except (ApiError, Unreachable) as exc:
            return ActionResult((), (Failure(sweep, explain(exc)),))
        from ktui.cluster.kube import indexed, indextrials

        chosen = [j for j in jobs if _is_rerunnable(j, failed_only) and not indexed.is_indexed_job(j)]
        res = self.rerun_jobs(chosen)
        if any(indexed.is_indexed_job(j) for j in jobs):  # its trials, in a new Job
            try:
                more = indextrials.rerun(self, sweep, str(jobs[0]["metadata"]["namespace"]), failed_only=failed_only)
            except (ApiError, Unreachable) as exc:
                more = ActionResult((), (Failure(sweep, explain(exc)),))
            res = ActionResult(res.done + more.done, res.failed + more.failed)
        return res

    def rerun(self, keys: Iterable[TrialKey], *, failed_only: bool = True) -> ActionResult:
        jobs: list[dict[str, Any]] = []
        failed: list[Failure] = []
        for ns, name in keys:
            try:
                job = self.fetch((ns, name))
            except (ApiError, Unreachable) as exc:
                failed.append(Failure(f"{ns}/{name}", explain(exc)))
                continue
            if job is None:
                failed.append(Failure(f"{ns}/{name}", "not found"))
                continue
            if _is_rerunnable(job, failed_only):
                jobs.append(job)
            else:
                failed.append(Failure(f"{ns}/{name}", "not finished" if not failed_only
                                      else "has not failed"))
        res = self.rerun_jobs(jobs)
        return ActionResult(res.done, res.failed + tuple(failed))

    def _wait_gone(self, ns: str, name: str, uid: str | None, kind: Kind = JOB_KIND) -> None:
        deadline = time.monotonic() + self.delete_wait
        delay = 0.05
        while True:
            try:
                data = self.transport.get(kind.item(ns, name))
            except ApiError as exc:
                if exc.status == 404:
                    return
                if not exc.retryable:
                    raise
            except Unreachable:
                pass
            else:
                rec = kind.codec.decode_item(data)
                if rec is None or (uid and rec.uid != uid):
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{kind.word} {ns}/{name} still exists after {self.delete_wait:.0f}s")
            if self.stop.wait(delay):
                raise TimeoutError("interrupted")
            delay = min(delay * 2, 1.0)


def _is_rerunnable(job: Mapping[str, Any], failed_only: bool) -> bool:
    rec = kind_of(job).codec.decode_item(msgspec.json.encode(job))
    if rec is None:
        return False
    if failed_only:
        return rec.outcome == "Failed"
    return rec.outcome is not None


def _label(manifest: Mapping[str, Any], default_namespace: str) -> str:
    meta = manifest.get("metadata") or {}
    name = str(meta.get("name") or meta.get("generateName") or "?")
    return f"{meta.get('namespace') or default_namespace}/{name}"


def explain(exc: BaseException) -> str:
    if isinstance(exc, ApiError):
        st = exc.body
        causes = st.details.causes if st is not None and st.details is not None else None
        if causes:
            first = causes[0]
            where = f"{first.field}: " if first.field else ""
            return f"{exc.reason}: {where}{first.message}"
        return f"{exc.reason}: {exc.message}" if exc.message else f"{exc.status} {exc.reason}"
    return str(exc)


__all__ = ["Actions", "KindNotServed", "clean_manifest", "SWEEP_LABEL", "TRIAL_LABEL"]
