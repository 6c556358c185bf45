"""Early stopping by the median rule, and the enforcer that applies it to a sweep.

The rule (Vizier's median stopping rule, as Katib's medianstop means it, done better): a
running trial is stopped when its best value up to its latest step s is worse than the
median of the completed trials' running averages at s. Katib's medianstop uses the mean,
judges each trial once, at exactly the start step, and never stops a trial started before
enough had finished; here a trial is judged at every new step from `startStep` on, against
the completed trials that reached that step, whenever it started.

The enforcer stops through the Backend (`stop_early`), which records the decisive figures
on the Job and never acts twice: several enforcers at once (two ktuis, a supervisor) agree
through the Job's resourceVersion.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import json
import logging
import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ktui.cluster.model import Problem, Trial, TrialKey
from ktui.logtext.history import Series

log = logging.getLogger(__name__)

Points = Sequence[tuple[float, float]]


@dataclass(frozen=True)
class Policy:
    rule: str
    min_trials: int
    start_step: float

    @classmethod
    def of(cls, annotation: Mapping[str, Any] | None) -> Policy | None:
        """The ktui.dev/early-stopping annotation as a policy; None if absent or not one ktui knows."""
        if not annotation or annotation.get("rule") != "median":
            return None
        try:
            return cls("median", max(1, int(annotation.get("minTrials", 3))), float(annotation.get("startStep", 0)))
        except (TypeError, ValueError):
            return None


@dataclass(frozen=True)
class Verdict:
    step: float
    best: float  # the running trial's best value up to `step`
    median: float  # of the completed trials' running averages at `step`
    peers: int  # completed trials that reached `step`
    maximize: bool
    started: float | None = None  # when the trial started (its Job forgets, once suspended)

    def to_json(self, at: float | None = None) -> str:
        """The ktui.dev/early-stopped annotation: the figures, and when (epoch seconds)."""
        return json.dumps({"rule": "median", "step": self.step, "best": self.best, "median": self.median,
                           "peers": self.peers, "goal": "maximize" if self.maximize else "minimize",
                           "started": self.started, "at": round(time.time() if at is None else at, 3)},
                          separators=(",", ":"))


class Peer:
    """A completed trial's curve, with prefix sums: its running average at any step is one
    bisect (judging a trial against thousands of completed ones stays cheap)."""

    __slots__ = ("steps", "sums", "last_step")

    def __init__(self, points: Points) -> None:
        self.steps = [s for s, _ in points]
        self.sums = list(itertools.accumulate(v for _, v in points))
        self.last_step = self.steps[-1] if self.steps else float("-inf")

    def average_at(self, step: float) -> float | None:
        n = bisect.bisect_right(self.steps, step)
        return self.sums[n - 1] / n if n else None


def running_average(points: Points, step: float) -> float | None:
    return Peer(points).average_at(step)


def judge(policy: Policy, maximize: bool, running: Points, completed: Sequence[Peer | Points]) -> Verdict | None:
    """Stop `running` now? At its latest step, against the completed trials that reached it."""
    if not running:
        return None
    step = running[-1][0]
    if step < policy.start_step:
        return None
    peers = [a for c in completed if (p := c if isinstance(c, Peer) else Peer(c)).last_step >= step
             and (a := p.average_at(step)) is not None]
    if len(peers) < policy.min_trials:
        return None
    median = statistics.median(peers)
    values = [v for s, v in running if s <= step]
    best = max(values) if maximize else min(values)
    worse = best < median if maximize else best > median
    return Verdict(step, best, median, len(peers), maximize) if worse else None


def describe(stopped: Mapping[str, Any] | None) -> str:
    """`step 12: best 0.71 < median 0.80 of 5 completed trials` from the Job's record."""
    if not stopped:
        return "stopped early"
    try:
        sign = "<" if stopped.get("goal") != "minimize" else ">"
        return (f"step {float(stopped['step']):g}: best {float(stopped['best']):.4g} {sign} median "
                f"{float(stopped['median']):.4g} of {int(stopped['peers'])} completed trials")
    except (KeyError, TypeError, ValueError):
        return "stopped early"


SeriesOf = Callable[[TrialKey, str], "Series | Points | None"]
Stop = Callable[[TrialKey, Verdict], bool]  # True: this enforcer stopped it


class Enforcer:
    """Applies each sweep's early-stopping rule to its running trials: fed the sweep's
    trials and a way to read their histories (LogMetrics.series), it asks `stop` for each
    trial the rule condemns; it remembers what it asked, so it never asks twice."""

    def __init__(self, series_of: SeriesOf, stop: Stop) -> None:
        self.series_of = series_of
        self.stop = stop
        self._asked: set[tuple[TrialKey, str]] = set()  # (trial, uid)
        self._lock = threading.Lock()
        # A completed trial's curve never changes: kept per (trial, uid, metric). And a
        # running trial is judged again only when it has reached a new step.
        self._peers: dict[tuple[TrialKey, str, str], tuple[int, Peer]] = {}  # (values seen, peer)
        self._judged: dict[tuple[TrialKey, str], float] = {}

    def check(self, trials: Sequence[Trial]) -> list[tuple[TrialKey, Verdict]]:
        """One pass over one sweep's trials; returns what it stopped."""
        first = next((t for t in trials if t.early_stopping), None)
        policy = Policy.of(first.early_stopping) if first is not None else None
        metric = (first.metric or {}).get("name") if first is not None else None
        if policy is None or not metric:
            return []
        maximize = (first.metric or {}).get("goal") != "minimize" if first is not None else True
        completed = [p for t in trials if t.phase == "Succeeded" and (p := self._peer(t, metric)) is not None]
        if len(completed) < policy.min_trials:
            return []
        stopped = []
        for t in trials:
            if t.phase != "Running":
                continue
            with self._lock:
                if (t.key, t.uid) in self._asked:
                    continue
            running = self._points(t, metric)
            if not running or self._judged.get((t.key, t.uid)) == running[-1][0]:
                continue
            self._judged[(t.key, t.uid)] = running[-1][0]
            verdict = judge(policy, maximize, running, completed)
            if verdict is None:
                continue
            verdict = dataclasses.replace(verdict, started=t.started)
            with self._lock:
                self._asked.add((t.key, t.uid))
            if self.stop(t.key, verdict):
                log.info("stopped %s/%s early: %s", *t.key, describe(json.loads(verdict.to_json())))
                stopped.append((t.key, verdict))
        return stopped

    def _points(self, t: Trial, metric: str) -> Points | None:
        s = self.series_of(t.key, metric)
        return s.points() if isinstance(s, Series) else s

    def _peer(self, t: Trial, metric: str) -> Peer | None:
        s = self.series_of(t.key, metric)
        if not s:
            return None  # (not read yet: looked for again next pass)
        count = s.count if isinstance(s, Series) else len(s)
        key = (t.key, t.uid, metric)
        hit = self._peers.get(key)
        if hit is None or hit[0] != count:  # (its log may still be being read to the end)
            hit = self._peers[key] = (count, Peer(s.points() if isinstance(s, Series) else s))
        return hit[1]


class EnforcerLoop:
    """A thread applying the rule to the sweeps a ktui has open (the TUI's shown sweeps,
    `ktui jobs --watch`'s), every `interval` seconds, over any Backend: histories from a
    LogMetrics (which reads those sweeps' logs), stops through `backend.stop_early`. A
    refused stop (no right to patch Jobs) is one problem line, not an error per trial."""

    def __init__(self, backend: Any, log_metrics: Any, interval: float = 2.0) -> None:
        self.backend = backend
        self.interval = interval
        self._sweeps: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

        self.enforcer = Enforcer(log_metrics.series, self._stop_trial)

    def watch(self, sweeps: Sequence[tuple[str, str]]) -> None:
        with self._lock:
            self._sweeps = list(sweeps)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ktui-earlystop", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def run_once(self) -> list[tuple[TrialKey, Verdict]]:
        with self._lock:
            sweeps = list(self._sweeps)
        store = self.backend.store
        done = []
        for ns, name in sweeps:
            trials = list(store.get_trials(store.sweep_members([(ns, name)])).values())
            done += self.enforcer.check(trials)
        return done

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:  # a broken pass is retried on the next; never stops the loop
                log.exception("early stopping pass failed")

    def _stop_trial(self, key: TrialKey, verdict: Verdict) -> bool:
        res = self.backend.stop_early(key, verdict.to_json())
        for f in res.failed:
            if "Forbidden" in f.message:
                self.backend.store.report_problem(
                    Problem("forbidden", "early-stopping", f"early stopping cannot stop trials: {f.message}"))
        return bool(res.done)


class SweepSupervisor:
    """Early stopping without a screen: finds the sweeps with a rule among the trials the
    backend sees (or just `sweep`), has their logs read and the rule enforced. Used by the
    local queue runner, `ktui supervise` and `ktui jobs --watch`; call `tick()` now and then
    (each call looks at the store, cheaply: the sweeps' members come from its index)."""

    def __init__(self, backend: Any, log_metrics: Any, *, sweep: str | None = None,
                 namespace: str | None = None, interval: float = 2.0) -> None:
        self.backend = backend
        self.log_metrics = log_metrics
        self.sweep = sweep
        self.namespace = namespace
        self.loop = EnforcerLoop(backend, log_metrics, interval)

    def start(self) -> None:
        self.log_metrics.start()
        self.loop.start()

    def stop(self) -> None:
        self.loop.stop()
        self.log_metrics.stop()

    def tick(self) -> list[tuple[str, str]]:
        """The sweeps supervised now (those with a rule and a trial not finished)."""
        store = self.backend.store
        live: dict[tuple[str, str], bool] = {}
        for s in store.sweeps():
            if (self.sweep is not None and s.name != self.sweep) or (
                    self.namespace is not None and s.namespace != self.namespace):
                continue
            if s.pending or s.running:
                live[(s.namespace, s.name)] = False
        keys: list[TrialKey] = []
        for pair in live:
            members = store.sweep_members([pair])
            first = next(iter(store.get_trials(members[:1]).values()), None)
            if first is not None and Policy.of(first.early_stopping) is not None:
                live[pair] = True
                keys += members
        watched = [pair for pair, ruled in live.items() if ruled]
        self.log_metrics.want(keys)
        self.loop.watch(watched)
        return watched
