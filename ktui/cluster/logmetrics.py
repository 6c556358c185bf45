"""Metrics trials print, read from their logs in the background for the job table.

Reading every pod's log would not scale (150,000 finished pods), so the collector works on
demand: the UI says which trials it shows (`want`), and only those are read. A running
trial is followed (bounded number of streams) so its metrics move live; a finished one is
read once, to its end, for its whole learning curve. Each trial keeps its latest values and
a bounded history per metric (ktui.logtext.history). Results are versioned like the store's
change feed, so the UI picks up just what changed on its tick. Works over any Backend
(stream_logs)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ktui.cluster.backend import Backend, LogStream
from ktui.cluster.model import TERMINAL_PHASES, Trial, TrialKey
from ktui.cluster.resultcache import CachedResult, ResultCache
from ktui.logtext.history import Series, TrialMetrics

MAX_WANTED = 2_000


@dataclass
class _Entry:
    uid: str
    metrics: TrialMetrics = field(default_factory=TrialMetrics)
    done: bool = False  # read to the end of a finished trial's log
    failed_at: float = 0.0  # last failure (no pod yet, forbidden): retry later


class LogMetrics:
    def __init__(self, backend: Backend, *, max_follow: int = 16, fetch_workers: int = 4,
                 retry_seconds: float = 5.0, poll_seconds: float = 0.5,
                 cache: ResultCache | None = None) -> None:
        self.backend = backend
        self.cache = cache  # finished trials' results, kept by Job UID (read before any log)
        self.max_follow = max_follow
        self.retry_seconds = retry_seconds
        self.poll_seconds = poll_seconds
        self._lock = threading.Lock()
        self._want: list[TrialKey] = []
        self._entries: dict[TrialKey, _Entry] = {}
        self._busy: set[TrialKey] = set()
        self._following: dict[TrialKey, LogStream] = {}
        self._version = 0
        self._changed: dict[TrialKey, int] = {}
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_follow + fetch_workers, thread_name_prefix="ktui-logmetrics")
        self._fetch_slots = threading.Semaphore(fetch_workers)
        self._thread: threading.Thread | None = None
        self._hold_until = 0.0

    # -- the consumer's side ------------------------------------------------------------

    def want(self, keys: Iterable[TrialKey]) -> None:
        """The trials worth reading now (on screen first); replaces the previous wish."""
        seen: dict[TrialKey, None] = {}
        for k in keys:
            seen.setdefault(k, None)
            if len(seen) >= MAX_WANTED:
                break
        with self._lock:
            self._want = list(seen)

    def hold(self, seconds: float) -> None:
        """Start no read for `seconds`: the user opened a log, and it goes through the same
        API server (and kubelets); the background reads delayed the first line of the log the
        user asked for (NOTES.md M15)."""
        with self._lock:
            self._hold_until = max(self._hold_until, time.monotonic() + seconds)

    def held(self) -> bool:
        """A hold is on: the user is busy (a key, a log opened), background work yields."""
        return time.monotonic() < self._hold_until

    def release(self) -> None:
        """End a hold (the log asked for has started to arrive)."""
        with self._lock:
            self._hold_until = 0.0

    def changes_since(self, version: int) -> tuple[int, dict[TrialKey, dict[str, float]]]:
        with self._lock:
            changed = {k: dict(self._entries[k].metrics.latest) for k, v in self._changed.items()
                       if v > version and k in self._entries}
            return self._version, changed

    def history(self, key: TrialKey) -> dict[str, list[tuple[float, float]]]:
        """Each metric's (step, value) points read so far from the trial's log."""
        with self._lock:
            entry = self._entries.get(key)
            return {} if entry is None else {k: s.points() for k, s in entry.metrics.series.items()}

    def series(self, key: TrialKey, name: str) -> Series | None:
        with self._lock:
            entry = self._entries.get(key)
            return None if entry is None else entry.metrics.series.get(name)

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ktui-logmetrics", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            streams = list(self._following.values())
        for s in streams:
            s.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- the work -----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self._schedule()
            except Exception:  # never let one bad record stop the collector
                time.sleep(self.retry_seconds)

    def _schedule(self) -> None:
        with self._lock:
            if time.monotonic() < self._hold_until:
                return
            want = list(self._want)
        if not want:
            return  # (reading the store joins what is pending: a big first list's trials)
        trials = self.backend.store.get_trials(want)
        now = time.monotonic()
        for key in want:
            t = trials.get(key)
            if t is None or t.phase in ("Pending", "Suspended"):
                continue
            with self._lock:
                old = self._entries.get(key)
                fresh = old is None or old.uid != t.uid  # new, or rerun under the same name
                entry = self._entries[key] = _Entry(t.uid) if fresh or old is None else old
            if fresh and t.phase in TERMINAL_PHASES and self.cache is not None:
                # Kept from an earlier read: even when its pod is gone since.
                hit = self.cache.get(t.uid)
                if hit is not None:
                    with self._lock:
                        entry.metrics, entry.done = hit.metrics, True
                    self._publish(key)
                    continue
            if t.pod is None:
                continue
            with self._lock:
                if entry.done or key in self._busy or now - entry.failed_at < self.retry_seconds:
                    continue
                follow = t.phase not in TERMINAL_PHASES
                if follow and sum(1 for k in self._busy if k in self._following) >= self.max_follow:
                    continue
                self._busy.add(key)
            if follow:
                self._pool.submit(self._read, key, t, entry, True)
            elif self._fetch_slots.acquire(blocking=False):
                self._pool.submit(self._read, key, t, entry, False)
            else:
                with self._lock:
                    self._busy.discard(key)

    def _read(self, key: TrialKey, t: Trial, entry: _Entry, follow: bool) -> None:
        stream: LogStream | None = None
        try:
            stream = self.backend.stream_logs(key, follow=follow, tail=None)
            if follow:
                with self._lock:
                    # stop() sets _stop, then closes what it finds here, under this lock: a
                    # stream opened meanwhile is closed by this check, or found by stop().
                    # (Missed, it followed a stopped server for minutes, and the process
                    # could not exit until it gave up.)
                    if self._stop.is_set():
                        return
                    self._following[key] = stream
            for batch in stream.batches():
                if self._stop.is_set():
                    break
                with self._lock:
                    found = entry.metrics.feed(line.text for line in batch)
                if found:
                    # A version per read, not per line; and never held back for a next
                    # read that may be an epoch away.
                    self._publish(key)
            # A follow also ends when the container restarts: only a finished trial is done.
            now_t = self.backend.store.get_trial(key)
            entry.done = not self._stop.is_set() and (not follow or (now_t is not None and now_t.phase in TERMINAL_PHASES))
            if entry.done and self.cache is not None:
                final = now_t if now_t is not None and now_t.uid == t.uid else t
                if final.phase in TERMINAL_PHASES:
                    with self._lock:
                        snapshot = entry.metrics
                    self.cache.put(CachedResult(t.uid, t.namespace, t.name, t.sweep, final.phase, t.params,
                                                final.started, final.finished, snapshot))
        except Exception:
            entry.failed_at = time.monotonic()
        finally:
            if stream is not None:
                stream.close()
            with self._lock:
                self._busy.discard(key)
                self._following.pop(key, None)
            if not follow:
                self._fetch_slots.release()

    def _publish(self, key: TrialKey) -> None:
        with self._lock:
            self._version += 1
            self._changed[key] = self._version
