"""A sweep's results: every trial's metrics (from the cache, else read from its log, with
bounded concurrency) and the leaderboard built from them. Used by `ktui results` and
`ktui jobs`; works over any Backend.

"Best" follows the sweep's declared goal for its metric; for the other metrics it follows
the name (loss, error, perplexity... are minimised, the rest maximised), as the tools that
plot them do.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ktui.cluster.backend import Backend
from ktui.cluster.model import TERMINAL_PHASES, Trial, TrialKey
from ktui.cluster.resultcache import CachedResult, ResultCache
from ktui.logtext.history import TrialMetrics

_MINIMISED = ("loss", "error", "err", "mse", "mae", "rmse", "perplexity", "ppl", "wer", "cer", "runtime", "time")

Progress = Callable[[int, int], None]  # (trials read, trials to read)


def maximize(metric: str, declared: dict[str, str] | None = None) -> bool:
    """Whether a larger value of `metric` is better."""
    if declared and declared.get("name") == metric:
        return declared.get("goal") != "minimize"
    low = metric.lower()
    return not any(w in low.replace("-", "_").split("_") or low.endswith(w) for w in _MINIMISED)


class Unreadable(Exception):
    """A log that exists but could not be read (forbidden, unreachable): said, not hidden.
    `kind` groups the same cause across trials (the messages name each pod)."""

    def __init__(self, cause: BaseException) -> None:
        text = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        super().__init__(text)
        self.kind = f"{type(cause).__name__}:{getattr(cause, 'status', '')}"


def read_trial(backend: Backend, t: Trial, cache: ResultCache | None) -> TrialMetrics | None:
    """The trial's metrics: cached when it finished before, else read from its log to the
    end (and cached when it has finished). None when it has no log to read (yet); raises
    Unreadable when its log could not be read."""
    finished = t.phase in TERMINAL_PHASES
    if finished and cache is not None:
        hit = cache.get(t.uid)
        if hit is not None:
            return hit.metrics
    if t.pod is None:
        return None
    m = TrialMetrics()
    try:
        stream = backend.stream_logs(t.key, follow=False, tail=None)
    except LookupError:  # no pod any more: nothing to read
        return None
    except Exception as exc:  # forbidden, unreachable: the rest goes on, the caller says why
        raise Unreadable(exc) from exc
    try:
        for batch in stream.batches():
            m.feed(line.text for line in batch)
    except Exception as exc:  # cut mid-read: not kept, as it is not the whole log
        if m.latest:
            return m
        raise Unreadable(exc) from exc
    finally:
        stream.close()
    if finished and cache is not None:
        cache.put(CachedResult.of(t, m))
    return m


def read_all(backend: Backend, trials: Sequence[Trial], cache: ResultCache | None, *, workers: int = 8,
             progress: Progress | None = None,
             problems: dict[str, tuple[int, str]] | None = None) -> dict[TrialKey, TrialMetrics]:
    """Every trial's metrics; `problems` gathers why logs could not be read: per cause, how
    many trials and the first one's message."""
    out: dict[TrialKey, TrialMetrics] = {}
    lock = threading.Lock()
    done = 0

    def one(t: Trial) -> None:
        nonlocal done
        try:
            m = read_trial(backend, t, cache)
        except Unreadable as exc:
            m = None
            if problems is not None:
                with lock:
                    n, first = problems.get(exc.kind, (0, str(exc)))
                    problems[exc.kind] = (n + 1, first)
        with lock:
            if m is not None:
                out[t.key] = m
            done += 1
            if progress is not None:
                progress(done, len(trials))

    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="ktui-results") as pool:
        list(pool.map(one, trials))
    return out


@dataclass
class Row:
    namespace: str
    name: str
    phase: str
    params: dict[str, Any]
    duration: float | None
    metrics: TrialMetrics | None
    live: bool  # in the cluster now (False: known from the cache only, its Job gone)


@dataclass
class Leaderboard:
    sweep: str
    metric: str | None  # the sweep's declared metric
    declared: dict[str, str] | None
    params: list[str]  # the parameters that vary across the sweep
    metrics: list[str]  # every metric read, the sweep's first
    rows: list[Row]

    def last(self, row: Row, metric: str) -> float | None:
        return row.metrics.latest.get(metric) if row.metrics is not None else None

    def best(self, row: Row, metric: str) -> float | None:
        s = row.metrics.series.get(metric) if row.metrics is not None else None
        return s.best(maximize(metric, self.declared)) if s is not None else None

    def sort(self, by: str | None = None) -> None:
        """By a metric's best value (best first, unknown last), a parameter, or 'duration';
        default: the sweep's metric, else the trials' names."""
        key = by or self.metric
        if key is None:
            self.rows.sort(key=lambda r: (r.namespace, r.name))
        elif key in self.metrics:
            sign = -1.0 if maximize(key, self.declared) else 1.0

            def by_metric(r: Row) -> tuple[bool, float, str]:
                v = self.best(r, key)
                return (v is None, sign * v if v is not None else 0.0, r.name)
            self.rows.sort(key=by_metric)
        elif key == "duration":
            self.rows.sort(key=lambda r: (r.duration is None, r.duration or 0.0, r.name))
        elif key in self.params:
            self.rows.sort(key=lambda r: (key not in r.params, json.dumps(r.params.get(key), sort_keys=True), r.name))
        else:
            raise KeyError(key)

    def to_dicts(self) -> list[dict[str, Any]]:
        out = []
        for r in self.rows:
            out.append({
                "namespace": r.namespace, "trial": r.name, "phase": r.phase,
                "params": {k: r.params.get(k) for k in self.params}, "duration": r.duration,
                "metrics": {m: {"last": self.last(r, m), "best": self.best(r, m)} for m in self.metrics},
                "in_cluster": r.live,
            })
        return out


def varying(params: Iterable[dict[str, Any]]) -> list[str]:
    """The parameter names whose values differ between trials (or that some trials lack);
    every name when there is a single trial."""
    rows = list(params)
    values: dict[str, set[str]] = {}
    for p in rows:
        for k, v in p.items():
            values.setdefault(k, set()).add(json.dumps(v, sort_keys=True))
    if len(rows) <= 1:
        return list(values)
    return [k for k, vals in values.items() if len(vals) > 1 or any(k not in p for p in rows)]


def leaderboard(sweep: str, trials: Sequence[Trial], metrics: dict[TrialKey, TrialMetrics],
                cached: Iterable[CachedResult] = (), now: float = 0.0) -> Leaderboard:
    """`trials`: the sweep's trials in the cluster; `cached`: its results kept on disk, of
    which those whose trial is gone (TTL, deleted) join the board."""
    rows = [Row(t.namespace, t.name, t.phase, t.params, t.duration(now), metrics.get(t.key), True) for t in trials]
    live = {t.key for t in trials}
    newest: dict[TrialKey, CachedResult] = {}
    for c in cached:
        k = (c.namespace, c.name)
        if k not in live and (k not in newest or (c.finished or 0) > (newest[k].finished or 0)):
            newest[k] = c
    for c in newest.values():
        duration = c.finished - c.started if c.finished is not None and c.started is not None else None
        rows.append(Row(c.namespace, c.name, c.phase, c.params or {}, duration, c.metrics, False))
    declared = next((t.metric for t in trials if t.metric), None)
    metric = declared.get("name") if declared else None
    seen: dict[str, int] = {}
    for r in rows:
        if r.metrics is not None:
            for name in r.metrics.latest:
                seen[name] = seen.get(name, 0) + 1
    # The sweep's metric first, then those most trials report (a stable order, whatever
    # order the trials came in).
    names = ([metric] if metric else []) + sorted((n for n in seen if n != metric), key=lambda n: (-seen[n], n))
    board = Leaderboard(sweep, metric, declared, varying(r.params for r in rows), names, rows)
    board.sort()
    return board
