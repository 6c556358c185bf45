"""The store's account of how its sources are doing: the API server's connection (for the
banner), the problems that stop a resource (a refused list, a missing source), and how far
each first list has come. Read by the UI's banner and by the CLI before it prints.

A half of Store (its base class), apart from the records and their joins; it shares the
store's lock and version, so a change here reaches readers through the same change feed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from ktui.cluster.model import Problem


@dataclass(frozen=True)
class Connection:
    """How the API server has been answering, for the banner (times are time.monotonic()).

    ``state``: "connecting" (nothing answered yet), "up", or "down" (it answered, then a
    request found it unreachable). ``since``: when that state began. ``error``: the last
    failure's cause ("timed out"), ``message`` the whole sentence. ``outage``: once up again,
    how long it was down."""

    server: str
    state: str
    since: float
    error: str | None = None
    message: str | None = None
    outage: float | None = None


class Health:
    _lock: threading.RLock
    _cond: threading.Condition
    _version: int
    _problems_ver: int
    _synced: set[str]

    def _init_health(self) -> None:
        # kind -> (records listed so far, what the server said the list holds or None),
        # while its first list arrives.
        self._progress: dict[str, tuple[int, int | None]] = {}
        self._problems: dict[tuple[str, str], Problem] = {}
        self._connection: Connection | None = None  # None: no server (a local backend)
        self._answered = True  # read without the lock on every answer (see connection_ok)

    def report_problem(self, problem: Problem) -> bool:
        """Record a problem; True if it is new (so the caller logs it once)."""
        key = (problem.code, problem.resource)
        with self._lock:
            if self._problems.get(key) == problem:
                return False
            self._problems[key] = problem
            self._version += 1
            self._problems_ver = self._version
            self._cond.notify_all()
            return True

    def clear_problem(self, code: str, resource: str) -> None:
        with self._lock:
            if self._problems.pop((code, resource), None) is not None:
                self._version += 1
                self._problems_ver = self._version
                self._cond.notify_all()

    def connecting(self, server: str) -> None:
        """Nothing has answered yet: the banner says where it is connecting to."""
        with self._lock:
            self._answered = False
            self._connection = Connection(server, "connecting", time.monotonic())
            self._problem_changed()

    def connection_failed(self, message: str, why: str, started: float | None = None) -> None:
        """A request found the server unreachable (``message``, the whole sentence, is also
        a Problem("unreachable", "cluster"), which the CLI reads). ``started``: when that
        request was sent; one sent before the server last came back tells nothing new (a
        request stuck on a hung connection) and is ignored."""
        with self._lock:
            c = self._connection
            if c is None:
                return
            if c.state == "up":
                if started is not None and started < c.since:
                    return
                c = Connection(c.server, "down", time.monotonic())
            self._answered = False
            self._connection = Connection(c.server, c.state, c.since, why, message)
            self._problems[("unreachable", "cluster")] = Problem("unreachable", "cluster", message)
            self._problem_changed()

    def connection_ok(self) -> bool:
        """The server answered (a list page, a watch, a metrics poll...): whatever failed
        before, it is reachable. True when that ends an outage (or the wait for a first
        answer). Called on every answer: costs one attribute read while all is well."""
        if self._answered:
            return False
        with self._lock:
            c = self._connection
            if self._answered or c is None:
                return False
            now = time.monotonic()
            self._answered = True
            outage = now - c.since if c.state == "down" else None
            self._connection = Connection(c.server, "up", now, outage=outage)
            self._problems.pop(("unreachable", "cluster"), None)
            self._problem_changed()
            return True

    def connection(self) -> Connection | None:
        return self._connection  # (immutable, replaced whole)

    def _problem_changed(self) -> None:
        self._version += 1
        self._problems_ver = self._version
        self._cond.notify_all()

    def problems(self) -> tuple[Problem, ...]:
        with self._lock:
            return tuple(self._problems.values())

    def note_listed(self, kind: str, listed: int, expected: int | None) -> None:
        """How far the first list of ``kind`` has come (``expected``: the server's count
        of the whole list, from remainingItemCount, when it gave one)."""
        with self._lock:
            if kind not in self._synced:
                self._progress[kind] = (listed, expected)

    def list_progress(self) -> dict[str, tuple[int, int | None]]:
        """kind -> (listed, expected or None), for first lists still arriving."""
        with self._lock:
            blocked = self._blocked()
            return {k: v for k, v in self._progress.items() if k not in blocked}

    def _blocked(self) -> set[str]:
        """Resources a problem stops (their first list will not come); under the lock."""
        return {r for (_, r) in self._problems}

    def is_synced(self, kind: str) -> bool:
        with self._lock:
            return kind in self._synced

    def listing(self, kinds: Iterable[str] = ("jobs", "pods")) -> bool:
        """Whether a first list of one of ``kinds`` is still arriving (neither synced nor
        stopped by a problem)."""
        with self._lock:
            blocked = self._blocked()
            return not all(k in self._synced or k in blocked for k in kinds)

    def wait_synced(self, kinds: Iterable[str], timeout: float | None = None) -> bool:
        """Wait until every kind has listed once, or has a problem that stops it."""
        wanted = set(kinds)

        def done() -> bool:
            blocked = self._blocked()
            return all(k in self._synced or k in blocked for k in wanted)

        with self._cond:
            return self._cond.wait_for(done, timeout)
