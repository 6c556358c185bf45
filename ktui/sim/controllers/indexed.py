"""Indexed Jobs (completionMode Indexed): per-index pods, accounting and failure rules.

Mirrors kube-controller-manager's job controller (v1.32) as seen in
k8s-reference/more/indexed-job-*: pods `<job>-<index>-<5 chars>` with the completion index as
label and annotation, `job-index-failure-count` when backoffLimitPerIndex is set, hostname
`<job>-<index>`, env JOB_COMPLETION_INDEX from a fieldRef; status completedIndexes and
failedIndexes in the compressed interval format ("0-2,4"); failed pods pass through
uncountedTerminatedPods.failed before they are counted (succeeded ones are recorded by
completedIndexes directly). A failed pod of an index that will be retried keeps its tracking
finalizer, uncounted, until its replacement exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ktui.sim.cluster import JOB_TRACKING
from ktui.sim.defaults import CONTAINER_ORDER, POD_SPEC_ORDER, ordered
from ktui.sim.store import ObjVersion

INDEX_KEY = "batch.kubernetes.io/job-completion-index"
FAILURE_COUNT_KEY = "batch.kubernetes.io/job-index-failure-count"
INDEX_ENV = "JOB_COMPLETION_INDEX"
BACKOFF_BASE = 10.0
BACKOFF_MAX = 360.0

FAILED_INDEXES = ("FailedIndexes", "Job has failed indexes")
MAX_FAILED_INDEXES = ("MaxFailedIndexesExceeded",
                      "Job has exceeded the specified maximal number of failed indexes")


def parse_indexes(text: str | None) -> set[int]:
    """"0-2,4" -> {0, 1, 2, 4}; malformed parts are skipped, as the controller does."""
    out: set[int] = set()
    for part in (text or "").split(","):
        lo, _, hi = part.partition("-")
        try:
            a = int(lo)
            b = int(hi) if hi else a
        except ValueError:
            continue
        out.update(range(a, b + 1))
    return out


def format_indexes(indexes: set[int] | list[int]) -> str:
    """{0, 1, 2, 4} -> "0-2,4": runs of 2 become "a,b" like the real controller ("0,1")."""
    items = sorted(indexes)
    out: list[str] = []
    i = 0
    while i < len(items):
        j = i
        while j + 1 < len(items) and items[j + 1] == items[j] + 1:
            j += 1
        if j - i >= 2:
            out.append(f"{items[i]}-{items[j]}")
        else:
            out.extend(str(x) for x in items[i:j + 1])
        i = j + 1
    return ",".join(out)


def pod_index(pod: dict[str, Any]) -> int | None:
    meta = pod.get("metadata") or {}
    raw = (meta.get("annotations") or {}).get(INDEX_KEY) or (meta.get("labels") or {}).get(
        INDEX_KEY)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def failure_count(pod: dict[str, Any]) -> int:
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(FAILURE_COUNT_KEY, "0")
    try:
        return int(raw)
    except ValueError:
        return 0


def _exit_codes(pod: dict[str, Any]) -> dict[str, int]:
    out = {}
    for cs in (pod.get("status") or {}).get("containerStatuses") or ():
        term = (cs.get("state") or {}).get("terminated")
        if term is not None:
            out[cs.get("name", "")] = int(term.get("exitCode") or 0)
    return out


def policy_action(spec: dict[str, Any], pod: dict[str, Any]) -> str | None:
    """The action of the first podFailurePolicy rule matching a failed pod (onExitCodes and
    onPodConditions), or None (count it as usual)."""
    policy = spec.get("podFailurePolicy") or {}
    codes = _exit_codes(pod)
    conds = {(c.get("type"), c.get("status"))
             for c in (pod.get("status") or {}).get("conditions") or ()}
    for rule in policy.get("rules") or ():
        on_codes = rule.get("onExitCodes")
        if on_codes:
            values = set(on_codes.get("values") or ())
            name = on_codes.get("containerName")
            relevant = [c for n, c in codes.items() if name in (None, n) and c != 0]
            hit = any(c in values for c in relevant)
            if on_codes.get("operator") == "NotIn":
                hit = any(c not in values for c in relevant)
            if hit:
                return str(rule.get("action"))
        for pc in rule.get("onPodConditions") or ():
            if (pc.get("type"), pc.get("status", "True")) in conds:
                return str(rule.get("action"))
    return None


@dataclass
class Accounting:
    """The result of one pass over an Indexed Job's pods."""

    completed: set[int]
    failed_indexes: set[int] | None  # None: backoffLimitPerIndex not set
    uncounted: list[str]
    newly_failed: int = 0
    # Pods whose finalizer goes once the status holding them is written.
    release: list[str] = field(default_factory=list)
    # index -> failures so far, for indexes to retry.
    retry: dict[int, int] = field(default_factory=dict)
    retry_pods: list[tuple[str, str]] = field(default_factory=list)  # (uid, key)

    def give_up_retries(self) -> None:
        """A finishing Job retries nothing: its held failed pods are counted now."""
        for uid, key in self.retry_pods:
            self.uncounted.append(uid)
            self.release.append(key)
        self.retry_pods.clear()


def account(spec: dict[str, Any], status: dict[str, Any],
            pods: list[tuple[ObjVersion, dict[str, Any]]], suspended: bool = False) -> Accounting:
    """Fold terminated pods into completedIndexes/failedIndexes/uncounted/succeeded/failed.
    A pod deleted because the Job was suspended (Kueue's preemption) is no failure of its
    index, as for a NonIndexed Job (JobController._count)."""
    per_index = spec.get("backoffLimitPerIndex")
    acc = Accounting(parse_indexes(status.get("completedIndexes")),
                     parse_indexes(status.get("failedIndexes")) if per_index is not None
                     else None,
                     list((status.get("uncountedTerminatedPods") or {}).get("failed") or ()))
    live = {v.uid: (v, p) for v, p in pods}
    # Step 2 of the two-step count: a pod listed as uncounted whose finalizer is gone (or that
    # is gone) is counted now.
    still: list[str] = []
    for uid in acc.uncounted:
        vp = live.get(uid)
        if vp is None or JOB_TRACKING not in (vp[1]["metadata"].get("finalizers") or ()):
            status["failed"] = status.get("failed", 0) + 1
        else:
            still.append(uid)
            acc.release.append(vp[0].key)
    acc.uncounted = still
    newest: dict[int, int] = {}
    for _, p in pods:
        idx = pod_index(p)
        if idx is not None:
            newest[idx] = max(newest.get(idx, 0), failure_count(p))
    for v, p in pods:
        if JOB_TRACKING not in (p["metadata"].get("finalizers") or ()) or v.uid in still:
            continue
        phase = (p.get("status") or {}).get("phase")
        unbound = v.deleting and not (p.get("spec") or {}).get("nodeName")
        if phase != "Succeeded" and phase != "Failed" and not unbound:
            continue
        idx = pod_index(p)
        if suspended and v.deleting and phase != "Succeeded":
            acc.release.append(v.key)
            continue
        if phase == "Succeeded":
            if idx is not None and idx not in acc.completed:
                acc.completed.add(idx)
                status["succeeded"] = status.get("succeeded", 0) + 1
            acc.release.append(v.key)
            continue
        action = policy_action(spec, p) if phase == "Failed" else None
        if action == "Ignore":
            acc.release.append(v.key)
            continue
        failures = failure_count(p) + 1
        if acc.failed_indexes is not None and idx is not None and per_index is not None:
            if action == "FailIndex" or failures > per_index:
                acc.failed_indexes.add(idx)
            elif newest.get(idx, 0) < failures:
                # Retried later: stays uncounted, holding its finalizer, until the
                # replacement exists (the controller's own bookkeeping, k8s v1.32).
                acc.retry[idx] = failures
                acc.retry_pods.append((v.uid, v.key))
                continue
        acc.uncounted.append(v.uid)
        acc.release.append(v.key)
        acc.newly_failed += 1
    return acc


def failure(spec: dict[str, Any], acc: Accounting) -> tuple[str, str] | None:
    if acc.failed_indexes is None:
        return None
    limit = spec.get("maxFailedIndexes")
    if limit is not None and len(acc.failed_indexes) > limit:
        return MAX_FAILED_INDEXES
    done = len(acc.completed) + len(acc.failed_indexes)
    if acc.failed_indexes and done >= (spec.get("completions") or 0):
        return FAILED_INDEXES
    return None


def write_status(status: dict[str, Any], spec: dict[str, Any], acc: Accounting) -> None:
    if acc.completed:
        status["completedIndexes"] = format_indexes(acc.completed)
    else:
        status.pop("completedIndexes", None)
    if acc.failed_indexes is not None:
        status["failedIndexes"] = format_indexes(acc.failed_indexes)
    status["uncountedTerminatedPods"] = {"failed": acc.uncounted} if acc.uncounted else {}


def backoff(failures: int) -> float:
    return min(BACKOFF_BASE * 2 ** max(0, failures - 1), BACKOFF_MAX)


def pending(spec: dict[str, Any], acc: Accounting,
            active: list[tuple[ObjVersion, dict[str, Any]]]) -> list[int]:
    """Indexes that need a pod, lowest first."""
    busy = {pod_index(p) for _, p in active}
    skip = acc.completed | (acc.failed_indexes or set()) | busy
    return [i for i in range(spec.get("completions") or 0) if i not in skip]


def decorate_pod(job_name: str, index: int, failures: int | None, pod: dict[str, Any]) -> None:
    """What the controller adds to a pod of index `index` (failures: with backoffLimitPerIndex)."""
    meta = pod["metadata"]
    meta["name"] = f"{job_name}-{index}-{meta['name'].rsplit('-', 1)[-1]}"
    meta["generateName"] = f"{job_name}-{index}-"
    labels = dict(meta.get("labels") or {})
    labels[INDEX_KEY] = str(index)
    meta["labels"] = dict(sorted(labels.items()))
    ann = dict(meta.get("annotations") or {})
    ann[INDEX_KEY] = str(index)
    if failures is not None:
        ann[FAILURE_COUNT_KEY] = str(failures)
    meta["annotations"] = dict(sorted(ann.items()))
    spec = pod["spec"]
    if not spec.get("hostname"):
        # A DNS label: the controller trims the name so "-<index>" fits in 63 characters.
        suffix = f"-{index}"
        spec["hostname"] = job_name[: 63 - len(suffix)] + suffix
        spec = _place_hostname(spec)
        pod["spec"] = spec
    for kind in ("initContainers", "containers"):
        out = []
        for c in spec.get(kind) or ():
            env = list(c.get("env") or ())
            if not any(e.get("name") == INDEX_ENV for e in env):
                env.append({"name": INDEX_ENV, "valueFrom": {"fieldRef": {
                    "apiVersion": "v1",
                    "fieldPath": f"metadata.labels['{INDEX_KEY}']"}}})
            out.append(ordered({**c, "env": env}, CONTAINER_ORDER))
        if kind in spec:
            spec[kind] = out


def _place_hostname(spec: dict[str, Any]) -> dict[str, Any]:
    return ordered(spec, POD_SPEC_ORDER)
