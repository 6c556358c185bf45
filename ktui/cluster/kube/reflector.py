"""One reflector per resource: paged list, then watch, forever, converging on the server.

The protocol is client-go's:
  * list in pages (``limit`` + ``continue``), each page applied to the store as it arrives
    (the UI fills in while a big cluster lists), then every key the list did not return is
    deleted: that is the reconcile that makes a relist converge (deletes for vanished
    objects, updates for changed ones; unchanged resourceVersions are skipped by the store);
  * watch from the list's resourceVersion with ``allowWatchBookmarks`` and a
    ``timeoutSeconds``; a clean end re-watches from the last resourceVersion seen (an event's
    or a BOOKMARK's), without relisting;
  * 410 Gone/Expired (as an HTTP status or as a watch ERROR event) means the RV fell out of
    the server's window: relist and reconcile;
  * disconnects, 429 (Retry-After honoured) and 5xx back off exponentially with jitter, then
    resume from the last RV, so a flaky network costs a watch, not a 150k-pod relist;
  * 403 is reported once as a typed Problem ("cannot list pods: Forbidden (user viewer)")
    and retried slowly; the other reflectors are unaffected.

Reflectors are threads because the official client is synchronous. ``stop()`` sets a flag
and shuts the socket of the watch or the list pages in flight, so a stop takes milliseconds,
not a watch timeout. The pages themselves are fetched (ahead, chained) by paging.Pager.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ktui.cluster.kube.backoff import Backoff
from ktui.cluster.kube.paging import Pager, peek_continue
from ktui.cluster.kube.resources import Resource
from ktui.cluster.kube.transport import ApiError, PartialLine, Transport, Unreachable, abort
from ktui.cluster.model import Problem
from ktui.cluster.store import Store
from ktui.gcpause import gc_paused

log = logging.getLogger(__name__)


class Expired(Exception):
    """The resourceVersion (or continue token) is too old: relist."""


@dataclass
class ReflectorStats:
    lists: int = 0  # complete lists (initial + relists)
    pages: int = 0
    chained: int = 0  # pages asked for from the head of the one before (see list_once)
    watches: int = 0  # watch requests opened
    events: int = 0  # watch events applied
    expired: int = 0  # 410s seen
    errors: int = 0  # failed requests (any cause)
    last_error: str | None = None
    last_rv: str | None = None
    list_seconds: list[float] = field(default_factory=list)


class Reflector:
    def __init__(
        self,
        transport: Transport,
        store: Store,
        resource: Resource,
        *,
        namespace: str | None = None,
        page_limit: int = 500,
        watch_timeout: int = 300,
        backoff: Backoff | None = None,
        forbidden_retry: float = 60.0,
        user: str | None = None,
    ) -> None:
        self.transport = transport
        self.store = store
        self.resource = resource
        self.namespace = namespace if resource.namespaced else None
        self.page_limit = page_limit
        # Servers cap watches at their own --min-request-timeout anyway; jitter the request
        # so many clients do not all re-watch in the same second (client-go does the same).
        self.watch_timeout = watch_timeout
        self.backoff = backoff or Backoff()
        self.forbidden_retry = forbidden_retry
        self.user = user
        self.stats = ReflectorStats()
        self._stop = threading.Event()
        self._resp: Any = None  # the watch in flight
        self._rv: str | None = None  # last resourceVersion seen; None: (re)list first
        self._verb = "list"  # what the request in flight does, for error messages
        self._resp_lock = threading.Lock()
        self._wake = threading.Event()  # ends a back-off wait early (stop, or the server is back)
        self._sent = 0.0  # when the watch in flight (the last one sent) was sent
        self.pager = Pager(transport, store, resource.kind, backoff=self.backoff,
                           stats=self.stats, stop=self._stop, lock=self._resp_lock)
        self._thread = threading.Thread(
            target=self._run, name=f"ktui-reflector-{resource.kind}", daemon=True
        )

    # ----------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        with self._resp_lock:
            resps = [self._resp, *self.pager.pages]
        for resp in resps:
            if resp is not None:
                abort(resp)
        self.pager.shutdown()

    def join(self, timeout: float | None = None) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def wake(self) -> None:
        """Retry now if waiting out a back-off: the server answered someone else."""
        self.backoff.reset()
        self._wake.set()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # ----------------------------------------------------------------------------------------

    def _run(self) -> None:
        kind = self.resource.kind
        while not self._stop.is_set():
            delay = 0.0
            try:
                if self._rv is None:
                    self._rv = self.list_once()
                    self.store.mark_synced(kind)
                    self._recovered()
                started = time.monotonic()
                before = self.stats.events
                self._watch(self._rv)
                self._recovered()
                if self.stats.events == before and time.monotonic() - started < 1.0:
                    # The server closed an empty watch at once: do not spin on it.
                    delay = self.backoff.next()
                else:
                    self.backoff.reset()
            except Expired:
                self._expired()
            except ApiError as exc:
                self._count_error(exc)
                if exc.status < 500:
                    self.store.connection_ok()  # (it answered, if not as hoped)
                if exc.expired:
                    self._expired()
                else:
                    delay = self._on_api_error(exc)
            except (Unreachable, PartialLine, msgspec.DecodeError) as exc:
                # A cut connection or a stream cut mid-event: resume from the last RV.
                self._count_error(exc)
                if isinstance(exc, Unreachable) and not self._stop.is_set():
                    # (Since the last request sent: the list's pages and the watch never
                    # overlap, so that is the later of the two clocks.)
                    sent = max(self._sent, self.pager.sent)
                    self.store.connection_failed(str(exc), exc.why, sent)
                delay = self.backoff.next()
            except Exception as exc:  # never let a reflector thread die silently
                self._count_error(exc)
                log.exception("%s reflector: unexpected error", kind)
                self.store.report_problem(
                    Problem("error", kind, f"watching {kind} failed: {exc.__class__.__name__}: {exc}")
                )
                delay = self.backoff.next()
            if delay > 0:
                self._wake.wait(delay)
                self._wake.clear()

    def _expired(self) -> None:
        self.stats.expired += 1
        log.info("%s: resourceVersion %s expired; relisting", self.resource.kind, self._rv)
        self._rv = None

    def _count_error(self, exc: BaseException) -> None:
        self.stats.errors += 1
        self.stats.last_error = f"{exc.__class__.__name__}: {exc}"

    def _recovered(self) -> None:
        kind = self.resource.kind
        self.store.clear_problem("forbidden", kind)
        self.store.clear_problem("error", kind)

    def _on_api_error(self, exc: ApiError) -> float:
        kind = self.resource.kind
        if exc.status in (401, 403):
            user = exc.user or self.user
            scope = f" in namespace {self.namespace}" if self.namespace else ""
            who = f" (user {user})" if user else ""
            word = "Forbidden" if exc.status == 403 else "Unauthorized"
            msg = f"cannot {self._verb} {kind}{scope}: {word}{who}"
            if self.store.report_problem(Problem("forbidden", kind, msg)):
                log.warning("%s", msg)
            return self.forbidden_retry
        if exc.status == 404:
            self.store.report_problem(
                Problem("error", kind, f"cannot {self._verb} {kind}: the server does not serve them")
            )
            return self.forbidden_retry
        if exc.retryable:
            backoff = self.backoff.next()
            return max(backoff, exc.retry_after) if exc.retry_after is not None else backoff
        self.store.report_problem(Problem("error", kind, f"cannot {self._verb} {kind}: {exc}"))
        return self.backoff.next()

    # ----------------------------------------------------------------------------------------

    def _query(self) -> list[tuple[str, str | int | bool]]:
        q: list[tuple[str, str | int | bool]] = []
        if self.resource.field_selector:
            q.append(("fieldSelector", self.resource.field_selector))
        return q

    def list_once(self) -> str:
        """A full paged list applied to the store; returns its resourceVersion.

        Pages are applied as they arrive, so the UI fills in while a big cluster lists;
        whatever the store held that the list did not return is deleted at the end (the
        store tracks that while the resync is open, at no cost on a first list).

        The next page is prefetched while this one decodes when the server is the slower
        side (a page took longer to arrive than half the time the previous one took to
        decode): a kube-apiserver spends real time per pod reading etcd, and overlapping that
        with decoding brings the first screen down to the floor, a bare GET (NOTES.md M20). Against a server that answers at memory speed (the
        simulator) prefetching was slower (reader and decoder trade the GIL on every socket
        read), and the rule keeps it off there.

        Where the server is by far the slower side (a page took over three times as long to come
        as the last one took to decode), the page after that is asked for as soon as the
        prefetched page's head is in (its continue token comes first), so the server works
        on it while this one's items arrive: two pages in flight at most, one decoding.
        """
        res = self.resource
        path = res.path(self.namespace)
        codec = res.codec
        store = self.store
        pager = self.pager
        self._verb = "list"
        t0 = time.monotonic()
        query = self._query()
        if self.page_limit:
            query.append(("limit", self.page_limit))
        try:
            while True:  # restarts when a continue token expires mid-list
                store.begin_resync(res.kind)
                listed = 0
                rv = ""
                cont: str | None = None
                restart = False
                ahead: Future[tuple[bytes, float]] | None = None
                fetch_s = decode_s = 0.0
                while True:
                    try:
                        if ahead is not None:
                            pending, ahead = ahead, None
                            data, fetch_s = pending.result()
                        else:
                            data, fetch_s = pager.timed_page(path, query, cont)
                    except ApiError as exc:
                        if not (exc.expired and cont):
                            raise
                        # The snapshot behind the token is gone: start over, or the result
                        # would mix two points in time and the reconcile could delete objects
                        # that exist.
                        log.info("%s: continue token expired; restarting the list", res.kind)
                        self.stats.expired += 1
                        restart = True
                        break
                    nxt = peek_continue(data)
                    if nxt:
                        ahead = pager.take_chained(nxt)
                        self.stats.chained += ahead is not None
                    if ahead is None and nxt and fetch_s > decode_s / 2 and not self._stop.is_set():
                        ahead = pager.fetch_ahead(path, query, nxt)
                    t_decode = time.monotonic()
                    recs, meta = codec.decode_list(data)
                    del data
                    store.apply(res.kind, recs)
                    listed += len(recs)
                    remaining = meta.remainingItemCount if meta.continue_ else 0
                    store.note_listed(res.kind, listed, None if remaining is None else listed + remaining)
                    decode_s = time.monotonic() - t_decode
                    # Chained only where the server is by far the slower side (a page
                    # there comes in several times its decoding): against one that
                    # answers at memory speed, a third page in flight only adds to the
                    # peak memory and to the threads trading the GIL.
                    pager.chain_ok = fetch_s > 3 * decode_s
                    self.stats.pages += 1
                    if not rv:
                        rv = meta.resourceVersion
                    cont = meta.continue_
                    if ahead is not None and cont != nxt:
                        ahead.cancel()  # the token peeked at was not the list's (odd JSON): refetch
                        ahead = None
                    if not cont or self._stop.is_set():
                        break
                if not restart:
                    break
                pager.unchain()  # (tokens of the snapshot just left)
        finally:
            pager.unchain()
            pager.chain_ok = False
        if self._stop.is_set():
            store.end_resync(res.kind, commit=False)
            raise Unreachable(self.transport.server, "stopped")
        store.end_resync(res.kind)
        self.stats.lists += 1
        self.stats.list_seconds.append(time.monotonic() - t0)
        self.stats.last_rv = rv
        return rv

    def apply_lines(self, lines: list[bytes], rv: str) -> str:
        """Decode a batch of watch lines and apply them to the store under as few lock
        acquisitions as possible (runs of upserts go in one call); return the last RV.

        ``self._rv`` moves only once the batch's events are in the store, so whatever ends
        the watch, the next one resumes exactly after the last applied event.
        """
        kind = self.resource.kind
        decode = self.resource.codec.decode_event
        store = self.store
        upserts: list[Any] = []
        events = 0
        try:
            with gc_paused():
                for line in lines:
                    if not line or line.isspace():
                        continue
                    ev = decode(line)
                    etype = ev.type
                    if etype == "ADDED" or etype == "MODIFIED":
                        if ev.record is not None:
                            upserts.append(ev.record)
                    elif etype == "DELETED":
                        if upserts:
                            store.apply(kind, upserts)
                            upserts = []
                        if ev.record is not None:
                            store.apply(kind, deletes=(ev.record.key,))
                    elif etype == "ERROR":
                        st = ev.status
                        if st is not None and (st.code == 410 or st.reason in ("Expired", "Gone")):
                            raise Expired(st.message)
                        raise ApiError(
                            st.code if st is not None and st.code else 500,
                            (st.reason if st is not None else "") or "WatchError",
                            st.message if st is not None else "",
                        )
                    elif etype != "BOOKMARK":
                        continue  # an event type from the future: skip it
                    if ev.rv:
                        rv = ev.rv
                    events += 1
        finally:
            if upserts:
                store.apply(kind, upserts)
            self.stats.events += events
            self._rv = self.stats.last_rv = rv
        return rv

    def _watch(self, rv: str) -> None:
        """One watch request, applied batch by batch until the server ends it."""
        res = self.resource
        self._verb = "watch"
        timeout = max(1, int(self.watch_timeout * (0.9 + random.random() * 0.2)))
        query = self._query()
        query += [
            ("watch", "true"),
            ("resourceVersion", rv),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", timeout),
        ]
        self._sent = time.monotonic()
        resp = self.transport.open(
            "GET", res.path(self.namespace), query=query, timeout=(10.0, timeout + 30.0)
        )
        self.store.connection_ok()
        with self._resp_lock:
            self._resp = resp
        self.stats.watches += 1
        if self._stop.is_set():
            abort(resp)
        try:
            for lines in Transport.iter_batches(resp, self.transport.server):
                rv = self.apply_lines(lines, rv)
                self._sent = time.monotonic()  # (a failure now is news, whatever came since)
                self.store.connection_ok()
        except PartialLine:
            if not self._stop.is_set():
                raise
        finally:
            with self._resp_lock:
                self._resp = None
            resp.release_conn()
