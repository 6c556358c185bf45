"""Retry pacing shared by every request loop that talks to the API server (reflectors,
submit, log streams, the connection probe)."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Exponential backoff with "equal jitter": half fixed, half random, so reconnecting
    clients spread out instead of stampeding a recovering API server."""

    def __init__(self, base: float = 0.5, cap: float = 30.0, rng: Callable[[], float] = random.random):
        self.base = base
        self.cap = cap
        self._rng = rng
        self._n = 0

    def next(self) -> float:
        delay = min(self.cap, self.base * float(1 << self._n))
        self._n = min(self._n + 1, 30)
        jitter: float = self._rng()
        return delay / 2 + jitter * delay / 2

    def reset(self) -> None:
        self._n = 0
