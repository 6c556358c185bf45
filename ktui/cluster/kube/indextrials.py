"""An indexed sweep's trials as the server holds them: which Job runs a trial now (the newest
of several), cancelling (refused for one trial alone), rerunning failed trials as a new Job,
and reading each Job's parameters for the store.

A rerun of some trials is a new Job (`<sweep>-r<N>`) for just those, with its own ConfigMaps
copied from the ones that ran them (no sweep file needed). Kubernetes cannot stop one index
of an Indexed Job: cancelling one trial is refused with what to do instead; cancelling all of
a Job's trials deletes it.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from ktui.cluster.fingerprint import stamp
from ktui.cluster.indexfeed import IndexedJobRec, contains, params_texts, parse_intervals
from ktui.cluster.kube.actions import Actions, clean_manifest, explain
from ktui.cluster.kube.decode import JOB_CODEC, POD_CODEC
from ktui.cluster.kube.indexed import (
    Incomplete,
    chunk_params_of,
    create,
    is_indexed_job,
    meta_of,
    params_of,
    scripts,
    trial_names,
)
from ktui.cluster.kube.transport import ApiError, Unreachable
from ktui.cluster.model import ActionResult, Failure, TrialKey, TrialState
from ktui.sweep.indexed import (
    INCOMPLETE_ANNOTATION,
    PARAMS_DIGEST_ANNOTATION,
    PARAMS_VOLUME,
    config_maps,
    format_indexes,
    params_volume,
)
from ktui.wire.names import COMPLETION_INDEX_ANNOTATION, INDEXES_ANNOTATION, SWEEP_LABEL

log = logging.getLogger(__name__)
_TRIAL_NAME = re.compile(r"^(?P<sweep>.+)-(?P<index>\d+)$")
_RERUN_NAME = re.compile(r"-r(\d+)$")


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
    ordered = sorted((j for j in jobs if is_indexed_job(j) and not meta_of(j).get("deletionTimestamp")),
                     key=lambda j: (str(meta_of(j).get("creationTimestamp") or ""), str(meta_of(j).get("name"))))
    for job in ordered:
        rec = JOB_CODEC.decode_item(msgspec.json.encode(job))
        if not isinstance(rec, IndexedJobRec):
            continue
        completed, failed = parse_intervals(rec.completed_idx), parse_intervals(rec.failed_idx)
        for k, trial in enumerate(trial_names(job)):
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
        out.append(TrialState((str(meta_of(ix.job).get("namespace")), trial), ix.outcome))
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
    meta = meta_of(ix.job)
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
            if not is_indexed_job(job) or meta_of(job).get("deletionTimestamp"):
                continue
            names = {(ns, n) for n in trial_names(job)}
            mine = {k for k in wanted if k[0] == ns and k[1] in now and now[k[1]].job["metadata"]["name"]
                    == meta_of(job)["name"]}
            if not names <= wanted:
                for key in sorted(mine):
                    failed.append(Failure(
                        f"{key[0]}/{key[1]}",
                        f"one trial of the indexed sweep {sweep} (Job {meta_of(job)['name']} runs {len(names)}): "
                        "Kubernetes cannot stop one index of an Indexed Job; cancel the whole sweep instead "
                        f"(C, or ktui cancel {sweep})"))
                covered |= mine
                continue
            covered |= names | mine
            label = f"{ns}/{meta_of(job)['name']}"
            try:
                actions.delete((ns, str(meta_of(job)["name"])), uid=meta_of(job).get("uid"))
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
        m = _RERUN_NAME.search(str(meta_of(j).get("name")))
        if m and str(meta_of(j).get("name")).startswith(f"{sweep}-r"):
            n = max(n, int(m.group(1)))
    return f"{sweep}-r{n + 1}"


def rerun(actions: Actions, sweep: str, ns: str, trials: Iterable[str] | None = None,
          *, failed_only: bool = True) -> ActionResult:
    """A new Job for the sweep's failed (or, not ``failed_only``, finished) trials of its
    indexed Jobs (all of them, or those of ``trials``), each running what it ran before:
    its shell fragment and parameters are copied from the ConfigMaps of the Job that ran it."""
    jobs = [j for j in actions.sweep_jobs(sweep, ns) if not meta_of(j).get("deletionTimestamp")]
    now = trial_map(jobs)
    pick = set(trials) if trials is not None else None
    chosen = {t: ix for t, ix in now.items() if (pick is None or t in pick)
              and (ix.outcome == "Failed" or (not failed_only and ix.outcome is not None))}
    if not chosen:
        return ActionResult()
    order = sorted(chosen, key=lambda t: int(t.rsplit("-", 1)[1]))
    sources: dict[str, list[dict[str, Any]]] = {}
    for ix in chosen.values():
        jname = str(meta_of(ix.job)["name"])
        if jname not in sources:
            sources[jname] = params_of(actions, ns, ix.job)
    entries = []
    for k, t in enumerate(order):
        ix = chosen[t]
        maps = sources[str(meta_of(ix.job)["name"])]
        script = scripts(maps).get(ix.k)
        params = chunk_params_of(maps).get(ix.k)
        if script is None:
            return ActionResult((), (Failure(f"{ns}/{t}", f"its parameters' ConfigMap of job {meta_of(ix.job)['name']} "
                                                          "is gone: launch the sweep again instead"),))
        entries.append((k, script, params_texts({0: params})[0] if params is not None else "null"))
    name = _rerun_name(sweep, jobs)
    maps, digest = config_maps(name, ns, sweep, entries)
    base = max((chosen[t].job for t in order), key=lambda j: str(meta_of(j).get("creationTimestamp") or ""))
    manifest = _rerun_job(base, name, [int(t.rsplit("-", 1)[1]) for t in order], maps, digest)
    labels = [f"{ns}/{t}" for t in order]
    launch = uuid.uuid4().hex
    try:
        create(actions, ns, stamp(manifest, launch), maps, launch)
    except (ApiError, Unreachable, Incomplete) as exc:
        return ActionResult((), tuple(Failure(lbl, explain(exc)) for lbl in labels))
    return ActionResult(tuple(labels), ())


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
        sweep = str((meta_of(ix.job).get("labels") or {}).get(SWEEP_LABEL))
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
    maps = params_of(actions, ns, {"metadata": {"name": name, "uid": uid}})
    return params_texts(chunk_params_of(maps))




class ParamsReader:
    """Reads each indexed Job's parameters from its ConfigMaps, once per Job incarnation, on
    its own thread: the store asks (under its lock, so it only queues), this answers later
    with ``store.set_index_params``. The store may see a new Job before its launch has
    created every ConfigMap, and a server may not answer: until every index's parameters
    are in, it asks again, less and less often (``retry`` doubling, ``attempts`` times)."""

    def __init__(self, actions: Actions, store: Any, retry: float = 0.25, attempts: int = 10) -> None:
        self.actions = actions
        self.store = store
        self.retry = retry
        self.attempts = attempts
        # (due, namespace, name, uid, attempt); attempt -1: stop
        self._queue: queue.SimpleQueue[tuple[float, str, str, str, int]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def request(self, namespace: str, name: str, uid: str) -> None:
        self._queue.put((0.0, namespace, name, uid, 0))
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="ktui-index-params", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._queue.put((0.0, "", "", "", -1))

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _again(self, ns: str, name: str, uid: str, tries: int) -> None:
        if tries + 1 < self.attempts:
            self._queue.put((time.monotonic() + self.retry * 2 ** tries, ns, name, uid, tries + 1))

    def _run(self) -> None:
        while not self._stop.is_set():
            due, ns, name, uid, tries = self._queue.get()
            if tries < 0 or self._stop.wait(max(0.0, due - time.monotonic())):
                return
            rec = self.store.job((ns, name))
            if not isinstance(rec, IndexedJobRec) or rec.uid != uid:
                continue  # gone, or replaced (its successor asks for itself)
            try:
                params = read_params(self.actions, ns, name, uid)
            except Unreachable:
                self._again(ns, name, uid, tries)
                continue
            except ApiError as exc:
                if exc.retryable:
                    self._again(ns, name, uid, tries)
                else:
                    log.info("parameters of job %s/%s not read: %s", ns, name, explain(exc))
                continue
            self.store.set_index_params((ns, name), uid, params)
            if len(params) < rec.completions:  # its launch is still creating ConfigMaps
                self._again(ns, name, uid, tries)
