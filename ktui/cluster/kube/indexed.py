"""Indexed sweeps on a cluster: submitting one, and what every write of one needs.

Submit creates the Job suspended (and marked incomplete), then its ConfigMaps, each owned by
the Job (ownerReferences), then lets it run: whatever fails on the way, deleting the Job
leaves nothing behind (the garbage collector takes the ConfigMaps with it), and a relaunch
that finds a Job still marked incomplete (ktui was interrupted) finishes the job. A queued
sweep's Job stays suspended: Kueue lets it run. Finding, cancelling and rerunning trials:
indextrials.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import msgspec

from ktui.cluster.fingerprint import differences, launch_of, stamp
from ktui.cluster.indexfeed import (
    trial_indexes,
    trial_name,
)
from ktui.cluster.kube.actions import JOBS, MERGE_PATCH, Actions, explain
from ktui.cluster.kube.transport import ApiError, Unreachable
from ktui.cluster.model import (
    Failure,
    SubmitProgress,
    SubmitResult,
    SubmitTally,
    TrialChange,
)
from ktui.sweep.indexed import (
    INCOMPLETE_ANNOTATION,
    PARAMS_DIGEST_ANNOTATION,
    PARAMS_OF_LABEL,
    chunk_params,
    is_indexed,
)
from ktui.wire.names import (
    INDEXED_MODE,
    INDEXES_ANNOTATION,
    MODE_LABEL,
    QUEUE_LABEL,
    SWEEP_LABEL,
)

CONFIGMAPS = "/api/v1/namespaces/{ns}/configmaps"
_SPEC_FIELDS = ("completions", "parallelism", "backoffLimitPerIndex", "maxFailedIndexes")


def is_indexed_job(job: Mapping[str, Any]) -> bool:
    return ((job.get("metadata") or {}).get("labels") or {}).get(MODE_LABEL) == INDEXED_MODE


def meta_of(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def trial_names(job: Mapping[str, Any]) -> list[str]:
    """The trials a Job (a manifest or as the server has it) runs, by completion index."""
    meta = meta_of(job)
    ann = meta.get("annotations") or {}
    sweep = (meta.get("labels") or {}).get(SWEEP_LABEL) or meta.get("name")
    width = int(ann.get("ktui.dev/index-width") or 3)
    completions = int((job.get("spec") or {}).get("completions") or 0)
    return [trial_name(str(sweep), t, width) for t in trial_indexes(ann.get(INDEXES_ANNOTATION), completions)]


class Incomplete(Exception):
    """A step of creating a Job with its ConfigMaps failed; the Job was deleted again."""


# ---------------------------------------------------------------------------------------------
# Creating a Job with its ConfigMaps


def _owner_ref(job: Mapping[str, Any]) -> dict[str, Any]:
    meta = meta_of(job)
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
            if any(r.get("uid") == owner["uid"] for r in meta_of(have).get("ownerReferences") or ()):
                return  # made by a retry whose answer was lost
            _delete_map(actions, ns, have)
        raise Incomplete(f"configmap {ns}/{body['metadata']['name']} keeps coming back")

    for cm in maps:  # (a few for 10,000 trials; and Actions._map would stop the Actions on an error)
        one(cm)


def _delete_map(actions: Actions, ns: str, cm: Mapping[str, Any]) -> None:
    body = {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": meta_of(cm).get("uid")}}
    try:
        actions.call("DELETE", f"{CONFIGMAPS.format(ns=ns)}/{meta_of(cm).get('name')}", body=body)
    except ApiError as exc:
        if exc.status not in (404, 409):
            raise


def _release(actions: Actions, ns: str, job: Mapping[str, Any]) -> None:
    """The last step: the Job may run (unless a queue decides when), no longer incomplete."""
    meta = meta_of(job)
    patch: dict[str, Any] = {"metadata": {"annotations": {INCOMPLETE_ANNOTATION: None}}}
    if not (meta.get("labels") or {}).get(QUEUE_LABEL):
        patch["spec"] = {"suspend": False}
    path = f"{JOBS.format(ns=ns)}/{meta['name']}"
    actions._retrying(lambda: actions.transport.request("PATCH", path, body=patch, content_type=MERGE_PATCH))


def create(actions: Actions, ns: str, manifest: Mapping[str, Any], maps: Sequence[Mapping[str, Any]],
            launch: str) -> Mapping[str, Any]:
    """Create the Job (suspended, incomplete), its ConfigMaps, then release it. Raises
    Incomplete (the Job deleted again), ApiError, Unreachable."""
    meta = dict(meta_of(manifest))
    meta["annotations"] = {**(meta.get("annotations") or {}), INCOMPLETE_ANNOTATION: launch}
    body = {**manifest, "metadata": meta, "spec": {**manifest["spec"], "suspend": True}}
    path = JOBS.format(ns=ns)
    try:
        job = msgspec.json.decode(actions.call("POST", path, body=body))
    except ApiError as exc:
        if exc.status != 409 or exc.reason != "AlreadyExists":
            raise
        job = msgspec.json.decode(actions.call("GET", f"{path}/{meta['name']}"))
        if launch_of(job) != launch and (meta_of(job).get("annotations") or {}).get(INCOMPLETE_ANNOTATION) != launch:
            raise Incomplete(f"job {meta['name']} was created meanwhile by another launch") from None
    _finish(actions, ns, job, maps)
    return job


def _finish(actions: Actions, ns: str, job: Mapping[str, Any], maps: Sequence[Mapping[str, Any]]) -> None:
    try:
        _create_maps(actions, ns, job, maps)
        _release(actions, ns, job)
    except (ApiError, Unreachable, Incomplete) as exc:
        why = explain(exc)
        try:
            actions.delete((ns, str(meta_of(job)["name"])), uid=meta_of(job).get("uid"))
            left = "the Job was deleted again, with what it owned"
        except (ApiError, Unreachable) as again:
            left = f"deleting the Job failed too ({explain(again)}): delete job {meta_of(job)['name']} by hand"
        raise Incomplete(f"{why}; {left}") from None


# ---------------------------------------------------------------------------------------------
# Submit


def params_of(actions: Actions, ns: str, job: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ConfigMaps of one incarnation of a Job."""
    name, uid = meta_of(job).get("name"), meta_of(job).get("uid")
    data = actions.call("GET", CONFIGMAPS.format(ns=ns), [("labelSelector", f"{PARAMS_OF_LABEL}={name}")])
    items = msgspec.json.decode(data).get("items") or []
    return [cm for cm in items
            if not meta_of(cm).get("ownerReferences") or any(r.get("uid") == uid for r in meta_of(cm)["ownerReferences"])]


def scripts(maps: Iterable[Mapping[str, Any]]) -> dict[int, str]:
    out: dict[int, str] = {}
    for cm in maps:
        for key, value in (cm.get("data") or {}).items():
            if key.endswith(".sh") and key[:-3].isdigit():
                out[int(key[:-3])] = value
    return out


def chunk_params_of(maps: Iterable[Mapping[str, Any]]) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for cm in maps:
        out.update(chunk_params(cm))
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
    name = f"{ns}/{meta_of(want)['name']}"
    found = list(differences(have, want))
    hs, ws = have.get("spec") or {}, want.get("spec") or {}
    found += [f"{f}: {hs.get(f, '(none)')} -> {ws.get(f, '(none)')}" for f in _SPEC_FIELDS if hs.get(f) != ws.get(f)]
    out = [TrialChange(name, tuple(found))] if found else []
    old_digest = (meta_of(have).get("annotations") or {}).get(PARAMS_DIGEST_ANNOTATION)
    if old_digest == (meta_of(want).get("annotations") or {}).get(PARAMS_DIGEST_ANNOTATION):
        return out
    try:
        old_maps = params_of(actions, ns, have)
    except (ApiError, Unreachable):
        old_maps = []
    old_params, new_params = chunk_params_of(old_maps), chunk_params_of(maps)
    old_scripts, new_scripts = scripts(old_maps), scripts(maps)
    names = trial_names(want)
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
                                      f"{(meta_of(want).get('annotations') or {}).get(PARAMS_DIGEST_ANNOTATION)}",)))
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
    ns = str(meta_of(job_m).get("namespace") or actions.default_namespace)
    name = str(meta_of(job_m)["name"])
    sweep = str((meta_of(job_m).get("labels") or {}).get(SWEEP_LABEL) or name)
    launch = uuid.uuid4().hex
    want = stamp(job_m, launch)
    labels = [f"{ns}/{t}" for t in trial_names(want)]
    tally = SubmitTally(len(labels), progress)
    others = [j for j in actions.sweep_jobs(sweep, ns) if not meta_of(j).get("deletionTimestamp")]
    have = next((j for j in others if meta_of(j).get("name") == name), None)
    doomed: list[Mapping[str, Any]] = []
    if have is not None:
        if not is_indexed_job(have):
            tally.failed.extend(Failure(lbl, f"conflict: job {name} already exists and is not an indexed sweep's")
                                for lbl in labels)
            return tally.result(dry_run=dry_run)
        found = _changes(actions, ns, have, want, maps)
        if not found:
            tally.existing.extend(labels)
            if (meta_of(have).get("annotations") or {}).get(INCOMPLETE_ANNOTATION) and not dry_run:
                try:  # an interrupted launch: its Job is there, suspended; finish it
                    _finish(actions, ns, have, maps)
                except Incomplete as exc:
                    tally.failed = [Failure(lbl, str(exc)) for lbl in labels]
                    tally.existing.clear()
            tally.report()
            return tally.result(dry_run=dry_run)
        tally.changed.extend(found)
        doomed = [j for j in others if is_indexed_job(j)]  # (its reruns go with it)
    plain = [j for j in others if not is_indexed_job(j)]
    if plain:  # launched before as one Job per trial
        tally.changed.extend(TrialChange(f"{ns}/{meta_of(j)['name']}", ("mode: one Job per trial -> indexed",))
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
        create(actions, ns, want, maps, launch)
    except (ApiError, Unreachable, TimeoutError, Incomplete) as exc:
        tally.failed.extend(Failure(lbl, explain(exc)) for lbl in labels)
    else:
        (tally.replaced if doomed else tally.created).extend(labels)
    tally.report()
    return tally.result()


def remove(actions: Actions, ns: str, job: Mapping[str, Any]) -> None:
    """Delete a Job with its pods and wait until it is gone; then its ConfigMaps, whose names
    the new Job's may take before the garbage collector reaches them."""
    meta = meta_of(job)
    name, uid = str(meta["name"]), meta.get("uid")
    actions.delete((ns, name), propagation="Foreground", uid=uid)
    actions._wait_gone(ns, name, uid)
    if is_indexed_job(job):
        for cm in params_of(actions, ns, job):
            _delete_map(actions, ns, cm)
