"""Process-wide garbage-collector tuning: the cyclic GC paused around bulk allocation (decoding,
store updates) and run when the UI is idle. A concern of the process, not of one layer: the
cluster layer and the UI both use it."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_gc_lock = threading.Lock()
_gc_depth = 0
_gc_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold off the cyclic GC while a page or a batch of events is decoded or stored.

    Decoding allocates thousands of tracked containers (lists, dicts) per page; each burst
    of 700 triggers a collection that walks them (a large share of a pod list's decode:
    benchmarks/NOTES.md M1). Decoded JSON cannot contain reference cycles, so the collector has
    nothing to find there. Nested and concurrent pauses (several reflector threads) share
    one counter, so the collector is re-enabled exactly when the last one ends, and only if
    it was enabled before the first began.
    """
    global _gc_depth, _gc_was_enabled
    with _gc_lock:
        if _gc_depth == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_depth += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_depth -= 1
            if _gc_depth == 0 and _gc_was_enabled:
                gc.enable()


def freeze_survivors() -> None:
    """Move every object alive now out of the collector's sight (``gc.freeze``).

    Called once a full load is in place: at 150,000 trials the views and indexes are
    millions of long-lived containers, and each full collection walked them all (NOTES.md
    M2). Frozen objects are still freed by reference
    counting when dropped; only cycles among them would leak, and a load builds none.
    Only the young generations are collected first: a full collection here walks the
    whole load (seconds at scale: NOTES.md M3); the cyclic garbage
    already in the old generation (a few thousand UI objects at most) is frozen with it,
    once.
    """
    gc.collect(1)
    gc.freeze()


# Automatic full collections are put off to moments the caller picks (see IdleCollector).
_NO_AUTO_FULL = 1_000_000


class IdleCollector:
    """Full (generation 2) collections when the user is idle, instead of when the
    collector decides.

    After a big load the UI holds several lists of 150,000 items (sorted views, their sort
    keys and tags); a full collection walks each element twice, with the GIL held, every few
    seconds, landing on keypresses (p95) at random (NOTES.md M4). Young
    collections still run automatically; the full ones run here, when the user has been
    idle for `idle` seconds and `every` seconds have passed, or after `at_most` seconds
    whatever the user does (so cyclic garbage cannot pile up)."""

    def __init__(self, every: float = 10.0, idle: float = 1.0, at_most: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.every, self.idle, self.at_most, self.clock = every, idle, at_most, clock
        self.last = clock()
        self.collections = 0
        self._saved: tuple[int, int, int] | None = None

    def start(self) -> None:
        if self._saved is None:
            self._saved = gc.get_threshold()
            gc.set_threshold(self._saved[0], self._saved[1], _NO_AUTO_FULL)

    def stop(self) -> None:
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None

    def due(self, last_input: float) -> bool:
        now = self.clock()
        since = now - self.last
        return since >= self.at_most or (since >= self.every and now - last_input >= self.idle)

    def maybe_collect(self, last_input: float) -> bool:
        """Collect if due (see the class); True if it did."""
        if self._saved is None or not self.due(last_input):
            return False
        gc.collect()
        self.last = self.clock()
        self.collections += 1
        return True


def age_young() -> None:
    """Collect the young generations now, moving what survives to the old one.

    A sorted view built at scale is a few lists of 150,000 items; each young collection
    walks every item of every young container, and the next two collections after a build
    did, at random moments: on the next keypresses (NOTES.md M5). Called right after such
    a build, in the worker that made it, so that cost comes once, at a known moment; the
    old generation is walked only by IdleCollector."""
    gc.collect(1)
