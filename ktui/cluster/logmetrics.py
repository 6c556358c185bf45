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

MAX_WANTED = 20_000  # the shown trials, then every trial of the shown sweeps (for their best)
FETCH_QUEUE = 16
SCHEDULE_CHUNK = 256  # trials looked up in the store at a time while scheduling
RECHECK_SECONDS = 10.0  # trials read to the end are looked at again this often (a rerun)


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
        self._pool = ThreadPoolExecutor(max_follow, thread_name_prefix="ktui-logmetrics-follow")
        # Finished trials' logs: `fetch_workers` at a time, up to FETCH_QUEUE per worker queued
        # behind them, so one pass schedules a batch and a newly shown trial waits for a few.
        self._fetch_pool = ThreadPoolExecutor(fetch_workers, thread_name_prefix="ktui-logmetrics-fetch")
        self._fetch_slots = threading.Semaphore(fetch_workers * FETCH_QUEUE)
        self._in_flight = 0
        self._kick = threading.Event()  # the fetch queue ran dry: schedule the next batch now
        self._thread: threading.Thread | None = None
        self._hold_until = 0.0
        self._recheck_at = 0.0

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

    def read_count(self, keys: Iterable[TrialKey]) -> int:
        """How many of these trials have been read to the end (or have nothing to read)."""
        with self._lock:
            entries = self._entries
            return sum(1 for k in keys if (e := entries.get(k)) is not None and e.done)

    def history(self, key: TrialKey) -> dict[str, list[tuple[float, float]]]:
        """Each metric's (step, value) points read so far from the trial's log."""
        with self._lock:
            entry = self._entries.get(key)
            return {} if entry is None else {k: s.points() for k, s in entry.metrics.series.items()}

    def history_names(self, key: TrialKey) -> list[str]:
        with self._lock:
            entry = self._entries.get(key)
            return [] if entry is None else list(entry.metrics.series)

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
        self._kick.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._fetch_pool.shutdown(wait=False, cancel_futures=True)

    # -- the work -----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._kick.wait(self.poll_seconds)
            self._kick.clear()
            if self._stop.is_set():
                break
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
        now = time.monotonic()
        if now >= self._recheck_at:
            self._recheck_at = now + RECHECK_SECONDS  # (a trial read to the end may be rerun since)
        else:
            with self._lock:
                entries = self._entries
                want = [k for k in want if (e := entries.get(k)) is None or not e.done]
        store = self.backend.store
        queue_full = False
        for i in range(0, len(want), SCHEDULE_CHUNK):
            chunk = want[i:i + SCHEDULE_CHUNK]
            trials = store.get_trials(chunk)
            for key in chunk:
                t = trials.get(key)
                if t is not None and t.phase not in ("Pending", "Suspended"):
                    queue_full = not self._consider(key, t, now, queue_full)
            if queue_full and self._following_full():
                break  # (nothing more can start before the next pass)

    def _following_full(self) -> bool:
        with self._lock:
            return sum(1 for k in self._busy if k in self._following) >= self.max_follow

    def _consider(self, key: TrialKey, t: Trial, now: float, queue_full: bool) -> bool:
        """Start what this trial needs (a cached result, a follow, a fetch); False when the
        fetch queue is full."""
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
                return not queue_full
        if t.pod is None:
            if t.phase in TERMINAL_PHASES:
                entry.done = True  # finished, its pod gone and nothing cached: nothing to read
            return not queue_full
        follow = t.phase not in TERMINAL_PHASES
        with self._lock:
            if entry.done or key in self._busy or now - entry.failed_at < self.retry_seconds:
                return not queue_full
            if follow and sum(1 for k in self._busy if k in self._following) >= self.max_follow:
                return not queue_full
            if not follow and (queue_full or not self._fetch_slots.acquire(blocking=False)):
                return False
            self._busy.add(key)
            if not follow:
                self._in_flight += 1
        if follow:
            self._pool.submit(self._read, key, t, entry, True)
        else:
            self._fetch_pool.submit(self._read, key, t, entry, False)
        return True

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
            with self._lock:
                # The log is read from its start: what an earlier, cut read took is read
                # again, not added twice (a restarted container's log starts over too).
                entry.metrics = TrialMetrics()
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
                    self.cache.put(CachedResult.of(final, snapshot))
        except LookupError:
            # No log to read (no pod any more): final for a finished trial, which then
            # counts as read; a running one is tried again.
            entry.done = not follow
            entry.failed_at = time.monotonic()
        except Exception:  # forbidden, unreachable: tried again later
            entry.failed_at = time.monotonic()
        finally:
            if stream is not None:
                stream.close()
            with self._lock:
                self._busy.discard(key)
                self._following.pop(key, None)
            if not follow:
                self._fetch_slots.release()
                with self._lock:
                    self._in_flight -= 1
                    dry = self._in_flight == 0
                if dry:
                    self._kick.set()

    def _publish(self, key: TrialKey) -> None:
        with self._lock:
            self._version += 1
            self._changed[key] = self._version
