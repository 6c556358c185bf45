"""Indexed sweeps in the store: one batch/v1 Indexed Job fanned out into one trial per index.

The Job's record (an IndexedJobRec) stays in the store's job table under its own name, as the
API server has it; its trials are named `<sweep>-<trial index, padded>` as in the default
mode, and each is joined from the Job, its index's place in completedIndexes/failedIndexes
and its own pods (decode.py names a pod's trial from its completion-index annotation). A
trial's JobRec is made when it is joined, never stored: 10,000 trials cost their Trials and
their keys, not 10,000 more records.

A status update of a 10,000-index Job rewrites its index lists ("0-4,6-9999"): the lists are
kept as intervals and diffed as intervals, so only the trials whose index moved are marked.

A rerun of some failed trials is a new Job naming them (INDEXES_ANNOTATION); a trial run by
several Jobs shows the newest one's state, and the older one's again when that is deleted.
A Job's parameters are in its ConfigMaps: the backend reads them once per Job, off the
store's lock, and hands them over with ``set_index_params``.

A part of Store (its base class), under the store's lock.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import msgspec

from ktui.cluster.records import JobRec, ObjKey, PodRec
from ktui.wire.names import (
    COMPLETION_INDEX_ANNOTATION,
    INDEX_WIDTH_ANNOTATION,
    INDEXED_MODE,
    INDEXES_ANNOTATION,
    MODE_LABEL,
    SWEEP_LABEL,
)

TrialKey = ObjKey
# (starts, ends): disjoint intervals [starts[i], ends[i]], sorted.
Intervals = tuple[tuple[int, ...], tuple[int, ...]]
_EMPTY: Intervals = ((), ())


class IndexedJobRec(JobRec, frozen=True, gc=False):
    """An indexed sweep's Job: what its trials are joined from."""

    completions: int = 0
    completed_idx: str = ""  # status.completedIndexes, as the API writes it ("0-4,7")
    failed_idx: str = ""  # status.failedIndexes
    indexes: str | None = None  # INDEXES_ANNOTATION: the trial each completion index runs
    width: int = 3  # INDEX_WIDTH_ANNOTATION


def parse_intervals(text: str | None) -> Intervals:
    """"0-2,4" -> ((0, 4), (2, 4)); malformed parts are skipped, as the Job controller does."""
    if not text:
        return _EMPTY
    pairs: list[tuple[int, int]] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        try:
            a = int(lo)
            b = int(hi) if hi else a
        except ValueError:
            continue
        if b >= a:
            pairs.append((a, b))
    pairs.sort()
    return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)


def contains(iv: Intervals, k: int) -> bool:
    i = bisect_right(iv[0], k) - 1
    return i >= 0 and k <= iv[1][i]


def size(iv: Intervals) -> int:
    return sum(b - a + 1 for a, b in zip(*iv, strict=True))


def changed(old: Intervals, new: Intervals) -> Iterator[int]:
    """The indexes in exactly one of the two: each set's boundaries toggle membership, so
    those of the difference are the boundaries met an odd number of times. Costs the
    intervals, not the indexes (a 10,000-index list of a few runs is a few steps)."""
    counts: dict[int, int] = {}
    for iv in (old, new):
        for a, b in zip(*iv, strict=True):
            counts[a] = counts.get(a, 0) + 1
            counts[b + 1] = counts.get(b + 1, 0) + 1
    odd = sorted(p for p, n in counts.items() if n % 2)
    for i in range(0, len(odd) - 1, 2):
        yield from range(odd[i], odd[i + 1])


def trial_indexes(indexes: str | None, completions: int) -> tuple[int, ...] | range:
    """The trial each completion index runs: itself, or the INDEXES_ANNOTATION's list."""
    if indexes is None:
        return range(completions)
    starts, ends = parse_intervals(indexes)
    out: list[int] = []
    for a, b in zip(starts, ends, strict=True):
        out.extend(range(a, b + 1))
    return tuple(out[:completions])


_trials_cache: dict[str, tuple[int, ...] | range] = {}


def trial_of_index(indexes: str | None, k: int) -> int | None:
    """Completion index k's trial (each pod of a rerun Job asks: the parsed list is cached)."""
    if indexes is None:
        return k
    got = _trials_cache.get(indexes)
    if got is None:
        if len(_trials_cache) > 16:
            _trials_cache.clear()
        got = _trials_cache[indexes] = trial_indexes(indexes, 1 << 30)
    return got[k] if 0 <= k < len(got) else None


def trial_name(sweep: str, trial: int, width: int) -> str:
    return f"{sweep}-{trial:0{width}d}"


def child_uid(job_uid: str, k: int) -> str:
    """A trial's uid: its Job's and its index (results are kept by uid, one per trial)."""
    return f"{job_uid}/{k}"


def indexed_job_record(rec: JobRec, completions: int | None, completed: str | None, failed: str | None,
                       annotations: Mapping[str, str]) -> IndexedJobRec:
    try:
        width = int(annotations.get(INDEX_WIDTH_ANNOTATION) or 3)
    except ValueError:
        width = 3
    return IndexedJobRec(**msgspec.structs.asdict(rec), completions=completions or 0,
                         completed_idx=completed or "", failed_idx=failed or "",
                         indexes=annotations.get(INDEXES_ANNOTATION), width=width)


def pod_trial(labels: Mapping[str, str], annotations: Mapping[str, str],
              owner_uid: str | None) -> tuple[str, str | None] | None:
    """(trial name, trial uid) of a pod of an indexed sweep's Job; None for any other pod."""
    sweep = labels.get(SWEEP_LABEL)
    if labels.get(MODE_LABEL) != INDEXED_MODE or not sweep:
        return None
    raw = annotations.get(COMPLETION_INDEX_ANNOTATION) or labels.get(COMPLETION_INDEX_ANNOTATION)
    try:
        k = int(raw) if raw is not None else -1
        width = int(annotations.get(INDEX_WIDTH_ANNOTATION) or 3)
    except ValueError:
        return None
    t = trial_of_index(annotations.get(INDEXES_ANNOTATION), k) if k >= 0 else None
    if t is None:
        return None
    return trial_name(sweep, t, width), child_uid(owner_uid, k) if owner_uid else None


class IndexFeed:
    _lock: threading.RLock
    _cond: threading.Condition
    _version: int
    _jobs: dict[ObjKey, JobRec]
    _pods: dict[ObjKey, PodRec]
    _job_pods: dict[TrialKey, tuple[str, ...]]
    _index_children: dict[ObjKey, tuple[TrialKey, ...]]

    _tkey: Callable[[TrialKey], TrialKey]  # Store's

    def _mark_trial(self, key: TrialKey, v: int) -> None: ...

    def _init_index(self) -> None:
        # trial -> ((Job key, completion index), ...): the Jobs that run it, usually one.
        self._index_src: dict[TrialKey, tuple[tuple[ObjKey, int], ...]] = {}
        self._index_sets: dict[ObjKey, tuple[Intervals, Intervals]] = {}
        # Job key -> (its uid, {completion index: params JSON text}), once read.
        self._index_params: dict[ObjKey, tuple[str, dict[int, str]]] = {}
        # Told (under the lock: it must only queue the request) of each new indexed Job whose
        # parameters are to be read: (namespace, name, uid).
        self.params_wanted: Callable[[str, str, str], None] | None = None

    # ----------------------------------------------------------------------------------------
    # Writers (the store's lock held)

    def _put_indexed(self, key: ObjKey, old: JobRec | None, rec: JobRec, v: int) -> int:
        if not isinstance(rec, IndexedJobRec):  # (no longer indexed: a Job cannot change mode)
            self._drop_indexed(key, v)
            self._mark_trial(key, v)
            return 1
        sets = (parse_intervals(rec.completed_idx), parse_intervals(rec.failed_idx))
        prev = old if isinstance(old, IndexedJobRec) else None
        same_trials = prev is not None and (prev.uid, prev.completions, prev.indexes, prev.width, prev.sweep) == (
            rec.uid, rec.completions, rec.indexes, rec.width, rec.sweep)
        if not same_trials:
            self._drop_indexed(key, v)
            sweep = rec.sweep or rec.name
            children = tuple(self._tkey((rec.namespace, trial_name(sweep, t, rec.width)))
                             for t in trial_indexes(rec.indexes, rec.completions))
            self._index_children[key] = children
            for k, child in enumerate(children):
                self._index_src[child] = (*self._index_src.get(child, ()), (key, k))
                self._mark_trial(child, v)
            self._index_sets[key] = sets
            if self.params_wanted is not None and self._index_params.get(key, ("",))[0] != rec.uid:
                self.params_wanted(rec.namespace, rec.name, rec.uid)
            return 1
        assert prev is not None
        children = self._index_children.get(key, ())
        old_sets = self._index_sets.get(key, (_EMPTY, _EMPTY))
        self._index_sets[key] = sets
        broad = msgspec.structs.replace(
            rec, rv=prev.rv, completed_idx=prev.completed_idx, failed_idx=prev.failed_idx, active=prev.active,
            ready=prev.ready, succeeded=prev.succeeded, failed=prev.failed, started=prev.started) != prev
        if broad:  # finished, suspended, relabelled...: every trial may read differently
            for child in children:
                self._mark_trial(child, v)
            return 1
        marked = 0
        for old_iv, new_iv in zip(old_sets, sets, strict=True):
            for k in changed(old_iv, new_iv):
                if k < len(children):
                    self._mark_trial(children[k], v)
                    marked += 1
        return 1 if marked else 0

    def _drop_indexed(self, key: ObjKey, v: int) -> None:
        children = self._index_children.pop(key, ())
        self._index_sets.pop(key, None)
        self._index_params.pop(key, None)
        for child in children:
            rest = tuple(s for s in self._index_src.get(child, ()) if s[0] != key)
            if rest:
                self._index_src[child] = rest
            else:
                self._index_src.pop(child, None)
            self._mark_trial(child, v)

    def set_index_params(self, key: ObjKey, uid: str, params: Mapping[int, str]) -> None:
        """The parameters of the Job ``key`` (that incarnation: ``uid``), by completion index,
        as JSON text."""
        with self._lock:
            rec = self._jobs.get(key)
            if not isinstance(rec, IndexedJobRec) or rec.uid != uid:
                return  # gone or replaced meanwhile
            self._index_params[key] = (uid, dict(params))
            v = self._version + 1
            for child in self._index_children.get(key, ()):
                self._mark_trial(child, v)
            self._version = v
            self._cond.notify_all()

    # ----------------------------------------------------------------------------------------
    # Readers (the store's lock held)

    def _trial_job(self, key: TrialKey) -> JobRec | None:
        """The JobRec a trial is joined from: its own Job, or one index of an indexed Job's."""
        srcs = self._index_src.get(key)
        if srcs is None:
            rec = self._jobs.get(key)
            return None if isinstance(rec, IndexedJobRec) else rec
        jobs = self._jobs
        job_key, k = srcs[0] if len(srcs) == 1 else max(
            srcs, key=lambda s: (jobs[s[0]].created or 0.0, s[0][1]) if s[0] in jobs else (-1.0, ""))
        parent = jobs.get(job_key)
        if not isinstance(parent, IndexedJobRec):
            return None
        return self._child(key, parent, k)

    def _child(self, key: TrialKey, parent: IndexedJobRec, k: int) -> JobRec:
        completed, failed = self._index_sets.get((parent.namespace, parent.name), (_EMPTY, _EMPTY))
        uid = child_uid(parent.uid, k)
        pods = [p for p in (self._pods.get((key[0], n)) for n in self._job_pods.get(key, ())) if p is not None
                and p.job_uid in (None, uid)]
        finished = max((p.finished for p in pods if p.finished is not None), default=None)
        # Its first pod's start, as a Job's startTime is its first attempt's: a retried
        # trial's time spans its attempts, not only its last.
        started = min((p.started for p in pods if p.started is not None), default=None)
        outcome: str | None = None
        reason = message = None
        if contains(completed, k) or parent.outcome == "Complete":
            outcome = "Complete"
        elif contains(failed, k):
            outcome = "Failed"  # (its pods say why)
        elif parent.outcome == "Failed":
            outcome, reason = "Failed", parent.reason
            message = parent.message if pods else f"never started: the Job failed first ({parent.message})"
            finished = finished or parent.completed
        params = self._index_params.get((parent.namespace, parent.name))
        raw = params[1].get(k) if params is not None and params[0] == parent.uid else None
        trial = trial_of_index(parent.indexes, k)
        return msgspec.structs.replace(
            parent, name=key[1], uid=uid, trial=trial, params=raw, active=0, ready=0, succeeded=0, failed=0,
            started=started, completed=finished if outcome else None, outcome=outcome, reason=reason,
            message=message, source=parent.name, completion_index=k)

    def index_source(self, key: TrialKey) -> tuple[IndexedJobRec, int] | None:
        """The indexed Job that runs a trial now (the newest of several) and its index there."""
        with self._lock:
            job = self._trial_job(key)
            if job is None or job.source is None or job.completion_index is None:
                return None
            parent = self._jobs.get((key[0], job.source))
            return (parent, job.completion_index) if isinstance(parent, IndexedJobRec) else None

    def index_jobs(self) -> list[IndexedJobRec]:
        with self._lock:
            return [r for r in self._jobs.values() if isinstance(r, IndexedJobRec)]


def params_texts(by_index: Mapping[int, Any]) -> dict[int, str]:
    """{completion index: parameters} -> the JSON text a JobRec's params hold."""
    enc = msgspec.json.encode
    return {k: enc(v).decode() for k, v in by_index.items()}
