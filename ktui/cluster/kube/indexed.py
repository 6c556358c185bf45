"""Indexed sweeps on a cluster: submit, rerun failed trials, cancel, and find a trial's Job.

Submit creates the Job suspended (and marked incomplete), then its ConfigMaps, each owned by
the Job (ownerReferences), then lets it run: whatever fails on the way, deleting the Job
leaves nothing behind (the garbage collector takes the ConfigMaps with it), and a relaunch
that finds a Job still marked incomplete (ktui was interrupted) finishes the job. A queued
sweep's Job stays suspended: Kueue lets it run.

A rerun of some trials is a new Job (`<sweep>-r<N>`) for just those, with its own ConfigMaps
copied from the ones that ran them (no sweep file needed); the store shows the newest Job's
state for each trial. Kubernetes cannot stop one index of an Indexed Job: cancelling one
trial is refused with what to do instead; cancelling all of a Job's trials deletes it.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from ktui.cluster.fingerprint import differences, launch_of, stamp
from ktui.cluster.indexfeed import (
    IndexedJobRec,
    contains,
    params_texts,
    parse_intervals,
    trial_indexes,
    trial_name,
)
from ktui.cluster.kube.actions import JOBS, MERGE_PATCH, Actions, clean_manifest, explain
from ktui.cluster.kube.decode import JOB_CODEC, POD_CODEC
from ktui.cluster.kube.transport import ApiError, Unreachable
from ktui.cluster.model import (
    ActionResult,
    Failure,
    SubmitProgress,
    SubmitResult,
    SubmitTally,
    TrialChange,
    TrialKey,
    TrialState,
)
from ktui.sweep.indexed import (
    INCOMPLETE_ANNOTATION,
    PARAMS_DIGEST_ANNOTATION,
    PARAMS_OF_LABEL,
    PARAMS_VOLUME,
    chunk_params,
    config_maps,
    format_indexes,
    is_indexed,
    params_volume,
)
from ktui.wire.names import (
    COMPLETION_INDEX_ANNOTATION,
    INDEXED_MODE,
    INDEXES_ANNOTATION,
    MODE_LABEL,
    QUEUE_LABEL,
    SWEEP_LABEL,
)

log = logging.getLogger(__name__)
CONFIGMAPS = "/api/v1/namespaces/{ns}/configmaps"
_SPEC_FIELDS = ("completions", "parallelism", "backoffLimitPerIndex", "maxFailedIndexes")
_TRIAL_NAME = re.compile(r"^(?P<sweep>.+)-(?P<index>\d+)$")
_RERUN_NAME = re.compile(r"-r(\d+)$")


def is_indexed_job(job: Mapping[str, Any]) -> bool:
    return ((job.get("metadata") or {}).get("labels") or {}).get(MODE_LABEL) == INDEXED_MODE


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _trial_names(job: Mapping[str, Any]) -> list[str]:
    """The trials a Job (a manifest or as the server has it) runs, by completion index."""
    meta = _meta(job)
    ann = meta.get("annotations") or {}
    sweep = (meta.get("labels") or {}).get(SWEEP_LABEL) or meta.get("name")
    width = int(ann.get("ktui.dev/index-width") or 3)
    completions = int((job.get("spec") or {}).get("completions") or 0)
    return [trial_name(str(sweep), t, width) for t in trial_indexes(ann.get(INDEXES_ANNOTATION), completions)]


class _Incomplete(Exception):
    """A step of creating a Job with its ConfigMaps failed; the Job was deleted again."""


# ---------------------------------------------------------------------------------------------
# Creating a Job with its ConfigMaps


def _owner_ref(job: Mapping[str, Any]) -> dict[str, Any]:
    meta = _meta(job)
    # (No blockOwnerDeletion: it needs the right to update the Job's finalizers, which a
    # user who may create Jobs need not have; a replace deletes the ConfigMaps itself.)
    return {"apiVersion": "batch/v1", "kind": "Job", "name": meta["name"], "uid": meta["uid"]}


def _create_maps(actions: Actions, ns: str, job: Mapping[str, Any], maps: Sequence[Mapping[str, Any]]) -> None:
    """Create the ConfigMaps, owned by ``job``. One of the same name owned by another Job (a
    deleted one the garbage collector has not reached yet) is replaced."""
    owner = _owner_ref(job)
    path = CONFIGMAPS.format(ns=ns)

    def one(cm: Mapping[str, Any]) -> None:
        body = {**cm, "metadata": {**cm["metadata"], "ownerReferences": [owner]}}
        for _ in range(3):
            if actions.create(path, body):
                return
            name = body["metadata"]["name"]
            have = msgspec.json.decode(actions.call("GET", f"{path}/{name}"))
            if any(r.get("uid") == owner["uid"] for r in _meta(have).get("ownerReferences") or ()):
                return  # made by a retry whose answer was lost
            _delete_map(actions, ns, have)
        raise _Incomplete(f"configmap {ns}/{body['metadata']['name']} keeps coming back")

    for cm in maps:  # (a few for 10,000 trials; and Actions._map would stop the Actions on an error)
        one(cm)


def _delete_map(actions: Actions, ns: str, cm: Mapping[str, Any]) -> None:
    body = {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": _meta(cm).get("uid")}}
    try:
        actions.call("DELETE", f"{CONFIGMAPS.format(ns=ns)}/{_meta(cm).get('name')}", body=body)
    except ApiError as exc:
        if exc.status not in (404, 409):
            raise


def _release(actions: Actions, ns: str, job: Mapping[str, Any]) -> None:
    """The last step: the Job may run (unless a queue decides when), no longer incomplete."""
    meta = _meta(job)
    patch: dict[str, Any] = {"metadata": {"annotations": {INCOMPLETE_ANNOTATION: None}}}
    if not (meta.get("labels") or {}).get(QUEUE_LABEL):
        patch["spec"] = {"suspend": False}
    path = f"{JOBS.format(ns=ns)}/{meta['name']}"
    actions._retrying(lambda: actions.transport.request("PATCH", path, body=patch, content_type=MERGE_PATCH))


def _create(actions: Actions, ns: str, manifest: Mapping[str, Any], maps: Sequence[Mapping[str, Any]],
            launch: str) -> Mapping[str, Any]:
    """Create the Job (suspended, incomplete), its ConfigMaps, then release it. Raises
    _Incomplete (the Job deleted again), ApiError, Unreachable."""
    meta = dict(_meta(manifest))
    meta["annotations"] = {**(meta.get("annotations") or {}), INCOMPLETE_ANNOTATION: launch}
    body = {**manifest, "metadata": meta, "spec": {**manifest["spec"], "suspend": True}}
    path = JOBS.format(ns=ns)
    try:
        job = msgspec.json.decode(actions.call("POST", path, body=body))
    except ApiError as exc:
        if exc.status != 409 or exc.reason != "AlreadyExists":
            raise
        job = msgspec.json.decode(actions.call("GET", f"{path}/{meta['name']}"))
        if launch_of(job) != launch and (_meta(job).get("annotations") or {}).get(INCOMPLETE_ANNOTATION) != launch:
            raise _Incomplete(f"job {meta['name']} was created meanwhile by another launch") from None
    _finish(actions, ns, job, maps)
    return job


def _finish(actions: Actions, ns: str, job: Mapping[str, Any], maps: Sequence[Mapping[str, Any]]) -> None:
    try:
        _create_maps(actions, ns, job, maps)
        _release(actions, ns, job)
    except (ApiError, Unreachable, _Incomplete) as exc:
        why = explain(exc)
        try:
            actions.delete((ns, str(_meta(job)["name"])), uid=_meta(job).get("uid"))
            left = "the Job was deleted again, with what it owned"
        except (ApiError, Unreachable) as again:
            left = f"deleting the Job failed too ({explain(again)}): delete job {_meta(job)['name']} by hand"
        raise _Incomplete(f"{why}; {left}") from None


# ---------------------------------------------------------------------------------------------
# Submit


def _params_of(actions: Actions, ns: str, job: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ConfigMaps of one incarnation of a Job."""
    name, uid = _meta(job).get("name"), _meta(job).get("uid")
    data = actions.call("GET", CONFIGMAPS.format(ns=ns), [("labelSelector", f"{PARAMS_OF_LABEL}={name}")])
    items = msgspec.json.decode(data).get("items") or []
    return [cm for cm in items
            if not _meta(cm).get("ownerReferences") or any(r.get("uid") == uid for r in _meta(cm)["ownerReferences"])]


def _scripts(maps: Iterable[Mapping[str, Any]]) -> dict[int, str]:
    out: dict[int, str] = {}
    for cm in maps:
        for key, value in (cm.get("data") or {}).items():
            if key.endswith(".sh") and key[:-3].isdigit():
                out[int(key[:-3])] = value
    return out


def _param_changes(old: Any, new: Any) -> list[str]:
    if not isinstance(old, dict) or not isinstance(new, dict):
        return [f"params: {old} -> {new}"]
    keys = list(new) + [k for k in old if k not in new]
    return [f"params.{k}: {old.get(k, '(none)')} -> {new.get(k, '(none)')}" for k in keys if old.get(k) != new.get(k)]


def _changes(actions: Actions, ns: str, have: Mapping[str, Any], want: Mapping[str, Any],
             maps: Sequence[Mapping[str, Any]]) -> list[TrialChange]:
    """How the Job ``have`` differs from ``want``: the whole Job's settings under its name,
    each trial whose parameters or command line differ under the trial's."""
    name = f"{ns}/{_meta(want)['name']}"
    found = list(differences(have, want))
    hs, ws = have.get("spec") or {}, want.get("spec") or {}
    found += [f"{f}: {hs.get(f, '(none)')} -> {ws.get(f, '(none)')}" for f in _SPEC_FIELDS if hs.get(f) != ws.get(f)]
    out = [TrialChange(name, tuple(found))] if found else []
    old_digest = (_meta(have).get("annotations") or {}).get(PARAMS_DIGEST_ANNOTATION)
    if old_digest == (_meta(want).get("annotations") or {}).get(PARAMS_DIGEST_ANNOTATION):
        return out
    try:
        old_maps = _params_of(actions, ns, have)
    except (ApiError, Unreachable):
        old_maps = []
    old_params, new_params = chunk_params_of(old_maps), chunk_params_of(maps)
    old_scripts, new_scripts = _scripts(old_maps), _scripts(maps)
    names = _trial_names(want)
    per_trial = 0
    for k, trial in enumerate(names):
        what = _param_changes(old_params.get(k), new_params.get(k)) if old_params.get(k) != new_params.get(k) else []
        if not what and old_scripts.get(k) != new_scripts.get(k):
            a = set((old_scripts.get(k) or "").splitlines())
            b = (new_scripts.get(k) or "").splitlines()
            what = [f"command line or env: {' / '.join(x for x in b if x not in a)}"]
        if what:
            per_trial += 1
            out.append(TrialChange(f"{ns}/{trial}", tuple(what)))
    if not per_trial and not found:
        out.append(TrialChange(name, (f"parameters: sha256 {old_digest} -> "
                                      f"{(_meta(want).get('annotations') or {}).get(PARAMS_DIGEST_ANNOTATION)}",)))
    return out


def submit(actions: Actions, manifests: Sequence[Mapping[str, Any]],
           progress: Callable[[SubmitProgress], None] | None = None, *, replace: bool = False,
           dry_run: bool = False, before_create: Callable[[], None] | None = None) -> SubmitResult:
    """Submit an indexed sweep (its ConfigMaps and Job, as render_indexed makes them), with
    Actions.submit's verdicts: the same Job already there is "existing" (an interrupted
    launch's is finished), another one is "changed" (refused unless ``replace``). Counts are
    of trials."""
    job_m = next(m for m in manifests if is_indexed(m))
    maps = [m for m in manifests if m.get("kind") == "ConfigMap"]
    ns = str(_meta(job_m).get("namespace") or actions.default_namespace)
    name = str(_meta(job_m)["name"])
    sweep = str((_meta(job_m).get("labels") or {}).get(SWEEP_LABEL) or name)
    launch = uuid.uuid4().hex
    want = stamp(job_m, launch)
    labels = [f"{ns}/{t}" for t in _trial_names(want)]
    tally = SubmitTally(len(labels), progress)
    others = [j for j in actions.sweep_jobs(sweep, ns) if not _meta(j).get("deletionTimestamp")]
    have = next((j for j in others if _meta(j).get("name") == name), None)
    doomed: list[Mapping[str, Any]] = []
    if have is not None:
        if not is_indexed_job(have):
            tally.failed.extend(Failure(lbl, f"conflict: job {name} already exists and is not an indexed sweep's")
                                for lbl in labels)
            return tally.result(dry_run=dry_run)
        found = _changes(actions, ns, have, want, maps)
        if not found:
            tally.existing.extend(labels)
            if (_meta(have).get("annotations") or {}).get(INCOMPLETE_ANNOTATION) and not dry_run:
                try:  # an interrupted launch: its Job is there, suspended; finish it
                    _finish(actions, ns, have, maps)
                except _Incomplete as exc:
                    tally.failed = [Failure(lbl, str(exc)) for lbl in labels]
                    tally.existing.clear()
            tally.report()
            return tally.result(dry_run=dry_run)
        tally.changed.extend(found)
        doomed = [j for j in others if is_indexed_job(j)]  # (its reruns go with it)
    plain = [j for j in others if not is_indexed_job(j)]
    if plain:  # launched before as one Job per trial
        tally.changed.extend(TrialChange(f"{ns}/{_meta(j)['name']}", ("mode: one Job per trial -> indexed",))
                             for j in plain)
        doomed += plain
    if dry_run:
        if tally.changed and replace:
            tally.replaced.extend(labels)
        elif not tally.changed:
            tally.created.extend(labels)
        return tally.result(dry_run=True)
    if tally.changed and not replace:
        tally.report()
        return tally.result()
    if before_create is not None:
        before_create()
    try:
        for old in doomed:
            remove(actions, ns, old)
        _create(actions, ns, want, maps, launch)
    except (ApiError, Unreachable, TimeoutError, _Incomplete) as exc:
        tally.failed.extend(Failure(lbl, explain(exc)) for lbl in labels)
    else:
        (tally.replaced if doomed else tally.created).extend(labels)
    tally.report()
    return tally.result()


def remove(actions: Actions, ns: str, job: Mapping[str, Any]) -> None:
    """Delete a Job with its pods and wait until it is gone; then its ConfigMaps, whose names
    the new Job's may take before the garbage collector reaches them."""
    meta = _meta(job)
    name, uid = str(meta["name"]), meta.get("uid")
    actions.delete((ns, name), propagation="Foreground", uid=uid)
    actions._wait_gone(ns, name, uid)
    if is_indexed_job(job):
        for cm in _params_of(actions, ns, job):
            _delete_map(actions, ns, cm)


# ---------------------------------------------------------------------------------------------
# Trials as the server holds them


@dataclass(frozen=True)
class _Index:
    job: dict[str, Any]
    k: int
    outcome: str | None


def trial_map(jobs: Iterable[Mapping[str, Any]]) -> dict[str, _Index]:
    """trial name -> the Job that runs it now (the newest of several), its index, its outcome."""
    out: dict[str, _Index] = {}
    ordered = sorted((j for j in jobs if is_indexed_job(j) and not _meta(j).get("deletionTimestamp")),
                     key=lambda j: (str(_meta(j).get("creationTimestamp") or ""), str(_meta(j).get("name"))))
    for job in ordered:
        rec = JOB_CODEC.decode_item(msgspec.json.encode(job))
        if not isinstance(rec, IndexedJobRec):
            continue
        completed, failed = parse_intervals(rec.completed_idx), parse_intervals(rec.failed_idx)
        for k, trial in enumerate(_trial_names(job)):
            outcome = None
            if contains(completed, k) or rec.outcome == "Complete":
                outcome = "Complete"
            elif contains(failed, k) or rec.outcome == "Failed":
                outcome = "Failed"
            out[trial] = _Index(dict(job), k, outcome)
    return out


def trial_states(jobs: Sequence[Mapping[str, Any]]) -> list[TrialState]:
    """One TrialState per trial of the sweep's indexed Jobs."""
    out = []
    for trial, ix in trial_map(jobs).items():
        out.append(TrialState((str(_meta(ix.job).get("namespace")), trial), ix.outcome))
    return out


def _sweep_of(name: str) -> str | None:
    m = _TRIAL_NAME.match(name)
    return m.group("sweep") if m else None


def _sweeps_of(actions: Actions, keys: Iterable[TrialKey]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """The Jobs of each (namespace, sweep) the keys' names suggest (`<sweep>-<digits>`) that
    has indexed ones: one list per sweep."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for ns, sweep in sorted({(k[0], s) for k in keys if (s := _sweep_of(k[1]))}):
        jobs = actions.sweep_jobs(sweep, ns)
        if any(is_indexed_job(j) for j in jobs):
            out[(ns, sweep)] = jobs
    return out


def locate(actions: Actions, keys: Iterable[TrialKey]) -> dict[TrialKey, _Index]:
    """The keys that name trials of indexed sweeps, with the Job that runs each now."""
    keys = list(keys)
    out: dict[TrialKey, _Index] = {}
    for (ns, _), jobs in _sweeps_of(actions, keys).items():
        by_name = trial_map(jobs)
        for key in keys:
            if key[0] == ns and key[1] in by_name:
                out[key] = by_name[key[1]]
    return out


def find(actions: Actions, key: TrialKey) -> TrialState | None:
    ix = locate(actions, [key]).get(key)
    return TrialState(key, ix.outcome) if ix is not None else None


def newest_pod(actions: Actions, key: TrialKey) -> str | None:
    """The newest pod of a trial of an indexed sweep, asking the server."""
    ix = locate(actions, [key]).get(key)
    if ix is None:
        return None
    meta = _meta(ix.job)
    sel = f"job-name={meta.get('name')},{COMPLETION_INDEX_ANNOTATION}={ix.k}"
    pods, _ = POD_CODEC.decode_list(actions.call("GET", f"/api/v1/namespaces/{key[0]}/pods", [("labelSelector", sel)]))
    pods = [p for p in pods if p.job == key[1]]
    return max(pods, key=lambda p: (p.created or 0.0, p.name)).name if pods else None


# ---------------------------------------------------------------------------------------------
# Cancel


def cancel(actions: Actions, keys: Sequence[TrialKey]) -> tuple[ActionResult, list[TrialKey]]:
    """Cancel the trials of indexed sweeps among ``keys``: each Job all of whose trials are
    named is deleted (its pods and ConfigMaps with it); a trial of a Job that stays cannot be
    stopped alone and is refused, saying so. Returns that, and the keys that are no indexed
    sweep's."""
    wanted = set(keys)
    done: list[str] = []
    failed: list[Failure] = []
    covered: set[TrialKey] = set()
    for (ns, sweep), jobs in _sweeps_of(actions, keys).items():
        now = trial_map(jobs)
        for job in jobs:
            if not is_indexed_job(job) or _meta(job).get("deletionTimestamp"):
                continue
            names = {(ns, n) for n in _trial_names(job)}
            mine = {k for k in wanted if k[0] == ns and k[1] in now and now[k[1]].job["metadata"]["name"]
                    == _meta(job)["name"]}
            if not names <= wanted:
                for key in sorted(mine):
                    failed.append(Failure(
                        f"{key[0]}/{key[1]}",
                        f"one trial of the indexed sweep {sweep} (Job {_meta(job)['name']} runs {len(names)}): "
                        "Kubernetes cannot stop one index of an Indexed Job; cancel the whole sweep instead "
                        f"(C, or ktui cancel {sweep})"))
                covered |= mine
                continue
            covered |= names | mine
            label = f"{ns}/{_meta(job)['name']}"
            try:
                actions.delete((ns, str(_meta(job)["name"])), uid=_meta(job).get("uid"))
                done.append(label)
            except (ApiError, Unreachable) as exc:
                failed.append(Failure(label, explain(exc)))
    rest = [k for k in keys if k not in covered]
    return ActionResult(tuple(done), tuple(failed)), rest


# ---------------------------------------------------------------------------------------------
# Rerun


def _rerun_name(sweep: str, jobs: Iterable[Mapping[str, Any]]) -> str:
    n = 0
    for j in jobs:
        m = _RERUN_NAME.search(str(_meta(j).get("name")))
        if m and str(_meta(j).get("name")).startswith(f"{sweep}-r"):
            n = max(n, int(m.group(1)))
    return f"{sweep}-r{n + 1}"


def rerun(actions: Actions, sweep: str, ns: str, trials: Iterable[str] | None = None,
          *, failed_only: bool = True) -> ActionResult:
    """A new Job for the sweep's failed (or, not ``failed_only``, finished) trials of its
    indexed Jobs (all of them, or those of ``trials``), each running what it ran before:
    its shell fragment and parameters are copied from the ConfigMaps of the Job that ran it."""
    jobs = [j for j in actions.sweep_jobs(sweep, ns) if not _meta(j).get("deletionTimestamp")]
    now = trial_map(jobs)
    pick = set(trials) if trials is not None else None
    chosen = {t: ix for t, ix in now.items() if (pick is None or t in pick)
              and (ix.outcome == "Failed" or (not failed_only and ix.outcome is not None))}
    if not chosen:
        return ActionResult()
    order = sorted(chosen, key=lambda t: int(t.rsplit("-", 1)[1]))
    sources: dict[str, list[dict[str, Any]]] = {}
    for ix in chosen.values():
        jname = str(_meta(ix.job)["name"])
        if jname not in sources:
            sources[jname] = _params_of(actions, ns, ix.job)
    entries = []
    for k, t in enumerate(order):
        ix = chosen[t]
        maps = sources[str(_meta(ix.job)["name"])]
        script = _scripts(maps).get(ix.k)
        params = chunk_params_of(maps).get(ix.k)
        if script is None:
            return ActionResult((), (Failure(f"{ns}/{t}", f"its parameters' ConfigMap of job {_meta(ix.job)['name']} "
                                                          "is gone: launch the sweep again instead"),))
        entries.append((k, script, params_texts({0: params})[0] if params is not None else "null"))
    name = _rerun_name(sweep, jobs)
    maps, digest = config_maps(name, ns, sweep, entries)
    base = max((chosen[t].job for t in order), key=lambda j: str(_meta(j).get("creationTimestamp") or ""))
    manifest = _rerun_job(base, name, [int(t.rsplit("-", 1)[1]) for t in order], maps, digest)
    labels = [f"{ns}/{t}" for t in order]
    launch = uuid.uuid4().hex
    try:
        _create(actions, ns, stamp(manifest, launch), maps, launch)
    except (ApiError, Unreachable, _Incomplete) as exc:
        return ActionResult((), tuple(Failure(lbl, explain(exc)) for lbl in labels))
    return ActionResult(tuple(labels), ())


def chunk_params_of(maps: Iterable[Mapping[str, Any]]) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for cm in maps:
        out.update(chunk_params(cm))
    return out


def _rerun_job(base: Mapping[str, Any], name: str, trials: list[int], maps: Sequence[Mapping[str, Any]],
               digest: str) -> dict[str, Any]:
    job = clean_manifest(base)
    meta = job["metadata"]
    meta["name"] = name
    spec = job["spec"]
    template = spec["template"]
    marks = {INDEXES_ANNOTATION: format_indexes(trials)}
    for holder in (meta, template.setdefault("metadata", {})):
        holder["annotations"] = {**(holder.get("annotations") or {}), **marks}
    meta["annotations"][PARAMS_DIGEST_ANNOTATION] = digest
    for key in ("ktui.dev/fingerprint", "ktui.dev/launch", INCOMPLETE_ANNOTATION):
        meta["annotations"].pop(key, None)
    spec["completions"] = len(trials)
    spec["parallelism"] = min(int(spec.get("parallelism") or len(trials)), len(trials))
    if spec.get("maxFailedIndexes") is not None and spec["maxFailedIndexes"] > len(trials):
        spec["maxFailedIndexes"] = len(trials)
    spec.pop("suspend", None)
    pod = template["spec"]
    pod["volumes"] = [v for v in pod.get("volumes") or () if v.get("name") != PARAMS_VOLUME] + [params_volume(maps)]
    return job


def rerun_keys(actions: Actions, keys: Sequence[TrialKey], *, failed_only: bool = True
               ) -> tuple[ActionResult, list[TrialKey]]:
    """Rerun the trials of indexed sweeps among ``keys`` (one new Job per sweep); the rest back."""
    found = locate(actions, keys)
    rest = [k for k in keys if k not in found]
    by_sweep: dict[tuple[str, str], list[str]] = {}
    for key, ix in found.items():
        sweep = str((_meta(ix.job).get("labels") or {}).get(SWEEP_LABEL))
        by_sweep.setdefault((key[0], sweep), []).append(key[1])
    done: list[str] = []
    failed: list[Failure] = []
    for (ns, sweep), names in sorted(by_sweep.items()):
        try:
            res = rerun(actions, sweep, ns, names, failed_only=failed_only)
        except (ApiError, Unreachable) as exc:
            res = ActionResult((), tuple(Failure(f"{ns}/{n}", explain(exc)) for n in names))
        done += res.done
        failed += res.failed
        missed = set(names) - {d.split("/", 1)[1] for d in res.done} - {f.name.split("/", 1)[1] for f in res.failed}
        failed += [Failure(f"{ns}/{n}", "has not failed" if failed_only else "not finished") for n in sorted(missed)]
    return ActionResult(tuple(done), tuple(failed)), rest


# ---------------------------------------------------------------------------------------------
# Parameters for the store


def read_params(actions: Actions, ns: str, name: str, uid: str) -> dict[int, str]:
    """{completion index: params JSON text} of one Job incarnation, from its ConfigMaps."""
    maps = _params_of(actions, ns, {"metadata": {"name": name, "uid": uid}})
    return params_texts(chunk_params_of(maps))




class ParamsReader:
    """Reads each indexed Job's parameters from its ConfigMaps, once per Job incarnation, on
    its own thread: the store asks (under its lock, so it only queues), this answers later
    with ``store.set_index_params``. A server that does not answer is asked again."""

    def __init__(self, actions: Actions, store: Any, retry: float = 2.0, attempts: int = 5) -> None:
        self.actions = actions
        self.store = store
        self.retry = retry
        self.attempts = attempts
        self._queue: queue.SimpleQueue[tuple[str, str, str, int]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def request(self, namespace: str, name: str, uid: str) -> None:
        self._queue.put((namespace, name, uid, 0))
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="ktui-index-params", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._queue.put(("", "", "", -1))

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            ns, name, uid, tries = self._queue.get()
            if tries < 0 or self._stop.is_set():
                return
            try:
                params = read_params(self.actions, ns, name, uid)
            except Unreachable:
                if tries + 1 < self.attempts and not self._stop.wait(self.retry):
                    self._queue.put((ns, name, uid, tries + 1))
                continue
            except ApiError as exc:
                if exc.retryable and tries + 1 < self.attempts and not self._stop.wait(self.retry):
                    self._queue.put((ns, name, uid, tries + 1))
                else:
                    log.info("parameters of job %s/%s not read: %s", ns, name, explain(exc))
                continue
            self.store.set_index_params((ns, name), uid, params)
