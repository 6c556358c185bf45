"""The pages of a reflector's list: each fetched with retries in place, the next one fetched
ahead while this one decodes, and, where the server is by far the slower side, asked for
from the head of the page before.

This is apart from reflector.py because it is the list's plumbing, not its protocol: the
reflector decides what a list means (resync, reconcile, restart on an expired token, when to
look ahead) and this fetches what it asks for, on a small pool of its own, keeping every
page in flight where ``stop()`` can abort it. It shares the reflector's stop flag, lock,
back-off and stats, so stopping, pacing and counting are as they were in one class.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ktui.cluster.kube.backoff import Backoff
from ktui.cluster.kube.transport import ApiError, PartialLine, Transport, Unreachable, abort
from ktui.cluster.store import Store

if TYPE_CHECKING:
    from ktui.cluster.kube.reflector import ReflectorStats

_CONTINUE = re.compile(rb'"continue"\s*:\s*"([^"]*)"')


def peek_continue(page: bytes) -> str | None:
    """The continue token of a list page, read from its head without decoding the items;
    None if there is none (or the metadata does not come first: then no prefetch)."""
    head_end = page.find(b'"items"')
    m = _CONTINUE.search(page, 0, head_end if head_end >= 0 else 4096)
    return m.group(1).decode("ascii", "replace") if m and m.group(1) else None


class Pager:
    """Fetches the pages of one reflector's lists (see Reflector.list_once for when)."""

    def __init__(
        self,
        transport: Transport,
        store: Store,
        kind: str,
        *,
        backoff: Backoff,
        stats: ReflectorStats,
        stop: threading.Event,
        lock: threading.Lock,
    ) -> None:
        self.transport = transport
        self.store = store
        self.kind = kind
        self.backoff = backoff
        self.stats = stats
        self._stop = stop
        self._lock = lock  # the reflector's: stop() takes the pages in flight under it
        self.pages: set[Any] = set()  # the list pages in flight (two, when chained)
        self.sent = 0.0  # when the last page request was sent
        self._pool: ThreadPoolExecutor | None = None  # the page prefetcher, made on first use
        # A page's fetch, started from the previous page's head (see list_once), by the
        # continue token it asks for; at most one not yet taken by the list.
        self._chained: dict[str, Future[tuple[bytes, float]]] = {}
        self.chain_ok = False  # the server was by far the slower side on the last page

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def timed_page(self, path: str, query: list[tuple[str, Any]],
                   cont: str | None = None) -> tuple[bytes, float]:
        t = time.monotonic()
        data = self._get_page(path, query, cont)
        return data, time.monotonic() - t

    def _prefetcher(self) -> ThreadPoolExecutor:
        if self._pool is None:
            # Two: a page, and the next one chained from its head.
            self._pool = ThreadPoolExecutor(2, thread_name_prefix=f"ktui-list-{self.kind}")
        return self._pool

    def fetch_ahead(self, path: str, query: list[tuple[str, Any]],
                    cont: str) -> Future[tuple[bytes, float]] | None:
        try:
            return self._prefetcher().submit(self.timed_page, path, query, cont)
        except RuntimeError:  # stop() shut the pool down meanwhile: no page ahead
            return None

    def _chain(self, path: str, query: list[tuple[str, Any]]) -> Callable[[bytes], None]:
        """What a page does with its head: when the server is the slower side, ask for the
        next page at once, while this one's items still come and before it is decoded."""

        def head(first: bytes) -> None:
            if not self.chain_ok or self._stop.is_set():
                return
            nxt = peek_continue(first)
            with self._lock:
                if not nxt or self._chained:  # (one at most: the list takes it first)
                    return
                ahead = self.fetch_ahead(path, query, nxt)
                if ahead is not None:
                    self._chained[nxt] = ahead

        return head

    def take_chained(self, cont: str) -> Future[tuple[bytes, float]] | None:
        """The page already asked for by ``cont``, if its head asked for it."""
        with self._lock:
            return self._chained.pop(cont, None)

    def unchain(self) -> None:
        with self._lock:
            chained, self._chained = self._chained, {}
        for f in chained.values():
            f.cancel()

    def _hold_page(self) -> Callable[[Any], None]:
        """A page's ``hold`` for Transport.request: ``stop()`` aborts every page in flight."""
        held: list[Any] = []

        def hold(resp: Any) -> None:
            with self._lock:
                if resp is None:
                    self.pages.difference_update(held)
                    held.clear()
                else:
                    held.append(resp)
                    self.pages.add(resp)
            if resp is not None and self._stop.is_set():
                abort(resp)

        return hold

    def _get_page(self, path: str, query: list[tuple[str, Any]], cont: str | None = None) -> bytes:
        """One page, retried in place on transient errors: the continue token stays valid
        for minutes, and restarting a 300-page list because page 200 hiccupped is costly."""
        attempts = 0
        q = query + [("continue", cont)] if cont else query
        while True:
            try:
                # (The head is read apart only where it may chain: elsewhere a page is one
                # read, not two and a copy of its megabytes.)
                head = self._chain(path, query) if self.chain_ok else None
                self.sent = time.monotonic()
                data = self.transport.request("GET", path, query=q, timeout=(10.0, 120.0),
                                              hold=self._hold_page(), head=head)
                self.store.connection_ok()
                return data
            except ApiError as exc:
                if exc.status < 500:
                    self.store.connection_ok()
                if exc.expired or not exc.retryable or attempts >= 5:
                    raise
                delay = self.backoff.next()
                if exc.retry_after is not None:
                    delay = max(delay, exc.retry_after)
            except (Unreachable, PartialLine) as exc:
                if attempts >= 5 or self._stop.is_set():
                    raise
                if isinstance(exc, Unreachable):  # (said at once, though retried in place)
                    self.store.connection_failed(str(exc), exc.why, self.sent)
                delay = self.backoff.next()
            attempts += 1
            self.stats.errors += 1
            if self._stop.wait(delay):
                raise Unreachable(self.transport.server, "stopped")
