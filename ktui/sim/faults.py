"""Fault injection: error rates, latency, dropped and expired watches."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from ktui.sim import errors

_MESSAGES = {
    429: "Too many requests, please try again later.",
    500: "Internal error occurred: injected fault (ktui sim)",
    503: "the server is currently unable to handle the request",
    504: "the server was unable to return a response in the time allotted",
}


@dataclass
class Faults:
    seed: int = 1
    error_share: float = 0.0
    error_status: int = 500
    retry_after: int | None = None
    latency: float = 0.0
    # Seconds a list spends per object served, as a kube-apiserver reading etcd and
    # encoding does (the simulator serves cached bytes ~100x faster than one). Slept, not
    # burnt: a real server's CPU is not the client machine's.
    list_cost: float = 0.0
    expire_next: int = 0
    # Installed by the server: closes every open watch connection abruptly.
    _drop_watches: Callable[[], int] = field(default=lambda: 0, repr=False)
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def set_error_rate(self, share: float, status: int = 500, retry_after: int | None = None) -> None:  # noqa: E501
        self.error_share = max(0.0, min(1.0, float(share)))
        self.error_status = int(status)
        self.retry_after = retry_after

    def set_latency(self, seconds: float) -> None:
        self.latency = max(0.0, float(seconds))

    def set_list_cost(self, seconds_per_object: float) -> None:
        self.list_cost = max(0.0, float(seconds_per_object))

    def expire_next_watches(self, n: int = 1) -> None:
        self.expire_next += int(n)

    def drop_watches(self) -> int:
        return self._drop_watches()

    def clear(self) -> None:
        self.error_share = 0.0
        self.error_status = 500
        self.retry_after = None
        self.latency = 0.0
        self.list_cost = 0.0
        self.expire_next = 0

    def maybe_error(self) -> errors.ApiError | None:
        if self.error_share <= 0 or self._rng.random() >= self.error_share:
            return None
        retry = self.retry_after
        if retry is None and self.error_status == 429:
            retry = 1
        message = _MESSAGES.get(self.error_status, "injected fault (ktui sim)")
        return errors.generic(self.error_status, message, retry)

    def take_expired_watch(self) -> bool:
        if self.expire_next > 0:
            self.expire_next -= 1
            return True
        return False
