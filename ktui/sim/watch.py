"""WATCH streams: history replay, initial events, bookmarks, timeouts, 410 and Table events.

One JSON event per line over a chunked 200 response, as kube-apiserver writes them. A watch
without resourceVersion (or "0") first gets synthetic ADDED events for the current objects,
followed, when it asked for bookmarks and sendInitialEvents, by the initial-events-end
BOOKMARK; a watch from an older resourceVersion than the history window gets a single 410
ERROR event and the stream ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from ktui.sim import clock, errors, httpio, tables
from ktui.sim.lists import ListOptions, matches
from ktui.sim.resources import EVENTS, JOBS, NAMESPACES, NODES, PODS, ResourceInfo
from ktui.sim.store import ObjVersion, Watcher

if TYPE_CHECKING:
    from ktui.sim.server import SimServer

_EMPTY_NODE_INFO = {k: "" for k in (
    "machineID", "systemUUID", "bootID", "kernelVersion", "osImage", "containerRuntimeVersion",
    "kubeletVersion", "kubeProxyVersion", "operatingSystem", "architecture")}


def bookmark_object(info: ResourceInfo, rv: int, initial_end: bool = False) -> dict[str, Any]:
    """The zero-valued object kube-apiserver sends in BOOKMARK events (Go zero values)."""
    meta: dict[str, Any] = {"resourceVersion": str(rv), "creationTimestamp": None}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    obj: dict[str, Any] = {"kind": info.kind, "apiVersion": info.api_version, "metadata": meta}
    if info is JOBS:
        obj["spec"] = {"template": {"metadata": {"creationTimestamp": None},
                                    "spec": {"containers": None}}}
        obj["status"] = {}
    elif info is PODS:
        obj["spec"] = {"containers": None}
        obj["status"] = {}
    elif info is NODES:
        obj["spec"] = {}
        obj["status"] = {"daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
                         "nodeInfo": dict(_EMPTY_NODE_INFO)}
    elif info is NAMESPACES:
        obj["spec"] = {}
        obj["status"] = {}
    elif info is EVENTS:
        obj.update({"involvedObject": {}, "source": {}, "firstTimestamp": None,
                    "lastTimestamp": None, "eventTime": None, "reportingComponent": "",
                    "reportingInstance": ""})
    return obj


def expired_event(want: str, floor: int) -> bytes:
    status = errors.expired(f"too old resource version: {want} ({floor})").status()
    return b'{"type":"ERROR","object":' + msgspec.json.encode(status) + b"}\n"


class WatchStream:
    def __init__(self, server: SimServer, request: web.BaseRequest, info: ResourceInfo,
                 namespace: str | None, opts: ListOptions, query: Mapping[str, str],
                 table_version: str | None) -> None:
        self.server = server
        self.request = request
        self.info = info
        self.namespace = namespace
        self.opts = opts
        self.table_version = table_version
        self.include_object = query.get("includeObject", "Metadata")
        self.bookmarks = query.get("allowWatchBookmarks", "").lower() in ("1", "true")
        sie = query.get("sendInitialEvents")
        self.send_initial = None if sie is None else sie.lower() in ("1", "true")
        timeout = query.get("timeoutSeconds")
        self.timeout: float | None = None
        if timeout:
            try:
                self.timeout = max(0.0, float(int(timeout)))
            except ValueError as exc:
                raise errors.bad_request(f'invalid value for timeoutSeconds: "{timeout}"') from exc
        elif server.config.watch_timeout:
            self.timeout = server.config.watch_timeout
        self.columns_sent = False

    # ------------------------------------------------------------------ encoding

    def _event(self, type_: str, payload: Any) -> bytes:
        if isinstance(payload, ObjVersion):
            if self.table_version is None:
                return (b'{"type":"' + type_.encode() + b'","object":'
                        + payload.full(self.info) + b"}\n")
            obj = payload.obj()
            tbl = tables.table(self.info, self.table_version,
                               {"resourceVersion": str(payload.rv)},
                               [tables.row(self.info, obj, clock.now(), self.include_object)],
                               with_columns=not self.columns_sent)
            self.columns_sent = True
            return msgspec.json.encode({"type": type_, "object": tbl}) + b"\n"
        # BOOKMARK payloads are (rv, initial_end).
        rv, initial_end = payload
        if self.table_version is None:
            obj = bookmark_object(self.info, rv, initial_end)
        else:
            meta: dict[str, Any] = {"resourceVersion": str(rv)}
            if initial_end:
                meta["annotations"] = {"k8s.io/initial-events-end": "true"}
            obj = {"kind": "Table", "apiVersion": self.table_version, "metadata": meta,
                   "columnDefinitions": None, "rows": []}
        return msgspec.json.encode({"type": "BOOKMARK", "object": obj}) + b"\n"

    # ------------------------------------------------------------------ serving

    async def serve(self) -> web.StreamResponse:
        store = self.server.cluster.store
        rs = store[self.info.plural]
        want = self.opts.resource_version
        if want not in ("", "0"):
            try:
                int(want)
            except ValueError as exc:
                raise errors.bad_request(f'invalid resource version "{want}"') from exc
        resp = web.StreamResponse(status=200, headers=httpio.base_headers())
        resp.content_type = "application/json"
        resp.enable_chunked_encoding()
        await httpio.start(resp, self.request)
        faults = self.server.faults
        if faults.take_expired_watch():
            await resp.write(expired_event(want or str(store.rv), rs.floor))
            await resp.write_eof()
            return resp
        use_initial = self.send_initial is True or (
            want in ("", "0") and self.send_initial is None)
        since = 0
        if not use_initial and want not in ("", "0"):
            since = int(want)
            if since < rs.floor:
                await resp.write(expired_event(want, rs.floor))
                await resp.write_eof()
                return resp
        watcher = Watcher(self.info, self.namespace, self.opts.labels, self.opts.fields)
        initial: list[ObjVersion] = []
        # Registration, history replay and the initial snapshot happen without awaiting, so
        # no event can fall between them.
        if use_initial:
            lo, hi = rs.range_bounds(self.namespace)
            initial = [v for v in rs.iter_range(lo, hi, None)
                       if matches(v, self.opts.labels, self.opts.fields)]
        elif want not in ("", "0"):
            for ev in rs.history:
                if ev.rv > since:
                    watcher.offer(ev)
        initial_rv = store.rv
        rs.watchers.add(watcher)
        transport = self.request.transport
        if transport is not None:
            watcher.abort = transport.abort
        self.server.open_watches.add(watcher)
        try:
            await self._pump(resp, watcher, initial, initial_rv)
        except (ConnectionResetError, ConnectionError):
            pass
        finally:
            rs.watchers.discard(watcher)
            self.server.open_watches.discard(watcher)
            watcher.closed = True
        if not watcher.aborted:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await resp.write_eof()
        return resp

    async def _pump(self, resp: web.StreamResponse, watcher: Watcher,
                    initial: list[ObjVersion], initial_rv: int) -> None:
        buf: list[bytes] = []
        size = 0
        for v in initial:
            buf.append(self._event("ADDED", v))
            size += len(buf[-1])
            if size >= httpio.CHUNK:
                await resp.write(b"".join(buf))
                buf, size = [], 0
        if self.send_initial and self.bookmarks and initial_rv:
            buf.append(self._event("BOOKMARK", (initial_rv, True)))
        if buf:
            await resp.write(b"".join(buf))
        start = time.monotonic()
        deadline = start + self.timeout if self.timeout is not None else None
        # kube-apiserver sends a bookmark shortly before closing a timed-out watch.
        final_bookmark = (deadline - 1.0 if deadline is not None and self.timeout
                          and self.timeout >= 2 else None)
        interval = self.server.config.bookmark_interval
        next_bookmark = start + interval if self.bookmarks else None
        store = self.server.cluster.store
        while True:
            while watcher.queue:
                out = []
                n = 0
                while watcher.queue and n < 1000:
                    type_, payload = watcher.queue.popleft()
                    out.append(self._event(type_, payload))
                    n += 1
                await resp.write(b"".join(out))
            if watcher.closed:
                return
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return
            if self.bookmarks:
                due = [t for t in (next_bookmark, final_bookmark) if t is not None]
                if due and now >= min(due):
                    await resp.write(self._event("BOOKMARK", (store.rv, False)))
                    if next_bookmark is not None and now >= next_bookmark:
                        next_bookmark = now + interval
                    if final_bookmark is not None and now >= final_bookmark:
                        final_bookmark = None
                    continue
            wake_at = [t for t in (deadline, next_bookmark if self.bookmarks else None,
                                   final_bookmark if self.bookmarks else None) if t is not None]
            wait = max(0.0, min(wake_at) - now) if wake_at else None
            watcher.wake.clear()
            if watcher.queue or watcher.closed:
                continue
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(watcher.wake.wait(), wait)
