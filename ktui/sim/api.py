"""Request routing and the REST verbs of the resource endpoints."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
import yaml
from aiohttp import web

from ktui.sim import clock, crds, errors, httpio, kueue, lists, logs, proxy, tables
from ktui.sim.patch import APPLY_PATCH, PATCH_TYPES
from ktui.sim.resources import BY_GVR, JOBS, NAMESPACES, PODS, ResourceInfo
from ktui.sim.store import ObjVersion
from ktui.sim.watch import WatchStream

if TYPE_CHECKING:
    from ktui.sim.cluster import Cluster
    from ktui.sim.server import SimServer

log = logging.getLogger("ktui.sim")

JOB_ORPHAN_WARNING = (
    '299 - "child pods are preserved by default when jobs are deleted; set '
    'propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress '
    'this warning"'
)
_NOT_FOUND_PAGE = errors.ApiError(404, "NotFound",
                                  "the server could not find the requested resource", {})


@dataclass
class Target:
    group: str
    version: str
    plural: str
    namespace: str | None
    name: str | None
    subresource: str | None
    legacy_watch: bool = False


def parse_target(parts: list[str]) -> Target | None:
    if len(parts) >= 2 and parts[0] == "api" and parts[1] == "v1":
        group, version, rest = "", "v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    legacy_watch = False
    if rest and rest[0] == "watch":
        legacy_watch, rest = True, rest[1:]
    if not rest:
        return None
    if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
        ns = rest[1]
        rest = rest[2:]
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if len(rest) > 3:
            return None
        return Target(group, version, rest[0], ns, name, sub, legacy_watch)
    if len(rest) > 3:
        return None
    return Target(group, version, rest[0], None, rest[1] if len(rest) > 1 else None,
                  rest[2] if len(rest) > 2 else None, legacy_watch)


@dataclass
class _Full:
    raw: bytes


def _page_not_found() -> web.Response:
    """What kube-apiserver's mux says for a group it does not serve (not a Status)."""
    resp = web.Response(status=404, body=b"404 page not found\n",
                        headers=httpio.base_headers() | {"X-Content-Type-Options": "nosniff"})
    resp.headers["Content-Type"] = "text/plain; charset=utf-8"
    return resp


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "t", "true")


def _dry_run(query: Any) -> bool:
    values = query.getall("dryRun", [])
    for v in values:
        if v != "All":
            raise errors.bad_request(f'Invalid dryRun value "{v}": only "All" is supported')
    return bool(values)


class Api:
    def __init__(self, server: SimServer) -> None:
        self.server = server

    @property
    def cluster(self) -> Cluster:
        return self.server.cluster

    # ------------------------------------------------------------------ entry

    async def handle(self, request: web.Request) -> web.StreamResponse:
        request[httpio.STARTED] = False
        try:
            return await self._handle(request)
        except errors.ApiError as err:
            if request.get(httpio.STARTED):
                raise
            return httpio.error(request, err)
        except web.HTTPException:
            raise
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception as exc:  # noqa: BLE001 - the server must answer with a Status
            log.exception("internal error serving %s %s", request.method, request.path)
            if request.get(httpio.STARTED):
                # The status line is already out; all we can do is cut the stream.
                raise
            return httpio.error(request, errors.generic(500, f"Internal error occurred: {exc}"))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        if request.method == "GET":
            disc = self.server.discovery.handle(request, parts)
            if disc is not None:
                return disc
        proxied = proxy.parse_proxy_path(request.path)
        if proxied is not None:
            return await self._proxy(request, *proxied)
        target = parse_target(parts)
        if target is None:
            if len(parts) >= 2 and parts[0] == "apis" and not crds.is_builtin_group(parts[1]):
                return _page_not_found()
            raise _NOT_FOUND_PAGE
        user = await self._admit(request)
        if target.group == "metrics.k8s.io":
            return await self._metrics(request, target, user)
        if target.group == kueue.VISIBILITY and self.server.kueue is not None:
            return self._pending_workloads(request, target, user)
        info = BY_GVR.get((target.group, target.version, target.plural))
        if info is None:
            info = self.server.crds.lookup(target.group, target.version, target.plural)
        if info is None and not crds.is_builtin_group(target.group):
            return _page_not_found()
        if info is None:
            raise _NOT_FOUND_PAGE
        if info.warning:
            request[httpio.WARNING] = info.warning
        if target.namespace is not None and not info.namespaced:
            raise _NOT_FOUND_PAGE
        method = request.method
        watch = target.legacy_watch or _truthy(request.query.get("watch"))
        if target.name is None:
            verb = {"GET": "watch" if watch else "list", "POST": "create",
                    "DELETE": "deletecollection"}.get(method)
        else:
            verb = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method)
        if verb is None:
            raise errors.method_not_allowed()
        self.server.auth.check(user, verb, info.plural, info.group, target.namespace,
                               target.name, target.subresource)
        if target.subresource is not None:
            return await self._subresource(request, info, target, method)
        if target.name is None:
            if method == "GET":
                return await self._list(request, info, target.namespace, watch)
            if method == "POST":
                if info.namespaced and target.namespace is None:
                    raise errors.method_not_allowed()
                return await self._create(request, info, target.namespace)
            return await self._delete_collection(request, info, target.namespace)
        if method == "GET":
            return await self._get(request, info, target.namespace, target.name)
        if method == "PUT":
            return await self._update(request, info, target.namespace, target.name, None)
        if method == "PATCH":
            return await self._patch(request, info, target.namespace, target.name, None)
        return await self._delete(request, info, target.namespace, target.name)

    # ------------------------------------------------------------------ helpers

    async def _body(self, request: web.Request) -> Any:
        raw = await request.read()
        if not raw:
            return None
        ctype = request.content_type or ""
        if "protobuf" in ctype or "cbor" in ctype:
            raise errors.unsupported_media_type(ctype)
        try:
            if "yaml" in ctype:
                return yaml.safe_load(raw)
            return msgspec.json.decode(raw)
        except (msgspec.DecodeError, yaml.YAMLError) as exc:
            raise errors.bad_request(f"couldn't get version/kind; json parse error: {exc}") from exc

    async def _object(self, request: web.Request, info: ResourceInfo, v: ObjVersion | dict[str, Any],
                      status: int = 200, headers: dict[str, str] | None = None,
                      ) -> web.StreamResponse:
        table_version = httpio.negotiate(request.headers.get("Accept"))
        pretty = httpio.is_pretty(request)
        if table_version is not None:
            obj = v.obj() if isinstance(v, ObjVersion) else v
            rv = (obj.get("metadata") or {}).get("resourceVersion", "")
            body = tables.table(info, table_version, {"resourceVersion": rv},
                                [tables.row(info, obj, clock.now(),
                                            request.query.get("includeObject", "Metadata"))])
            return await httpio.chunked(request, status, httpio.encode(body, pretty),
                                        headers=headers)
        if isinstance(v, ObjVersion):
            raw = v.full(info)
        else:
            raw = msgspec.json.encode({"kind": info.kind, "apiVersion": info.api_version, **v})
        return await httpio.chunked(request, status, httpio.encode(raw, pretty), headers=headers)

    # ------------------------------------------------------------------ verbs

    async def _get(self, request: web.Request, info: ResourceInfo, namespace: str | None,
                   name: str) -> web.StreamResponse:
        httpio.negotiate(request.headers.get("Accept"))
        return await self._object(request, info, self.cluster.get(info, namespace, name))

    async def _list(self, request: web.Request, info: ResourceInfo, namespace: str | None,
                    watch: bool) -> web.StreamResponse:
        query = request.query
        table_version = httpio.negotiate(request.headers.get("Accept"))
        opts = lists.parse_options(info, query, watch)
        if watch:
            return await WatchStream(self.server, request, info, namespace, opts, query,
                                     table_version).serve()
        result = lists.collect(self.cluster.store, info, namespace, opts)
        meta: dict[str, Any] = {"resourceVersion": str(result.resource_version)}
        if result.continue_token:
            meta["continue"] = result.continue_token
        elif info.plural in crds.CRDS:
            meta["continue"] = ""  # unstructured lists always carry it
        if result.remaining is not None:
            meta["remainingItemCount"] = result.remaining
        pretty = httpio.is_pretty(request, by_user_agent=False)
        if table_version is not None:
            now = clock.now()
            include = query.get("includeObject", "Metadata")
            rows = [tables.row(info, v.obj(), now, include) for v in result.items]
            body = tables.table(info, table_version, meta, rows)
            return await httpio.chunked(request, 200, httpio.encode(body, pretty))
        return await self._stream_list(request, info, meta, result.items, pretty)

    async def _stream_list(self, request: web.Request, info: ResourceInfo, meta: dict[str, Any],
                           items: list[ObjVersion], pretty: bool) -> web.StreamResponse:
        head = (b'{"kind":"' + info.list_kind.encode() + b'","apiVersion":"'
                + info.api_version.encode() + b'","metadata":' + msgspec.json.encode(meta)
                + b',"items":[')
        resp = web.StreamResponse(status=200, headers=httpio.base_headers())
        resp.content_type = "application/json"
        resp.enable_chunked_encoding()
        await httpio.start(resp, request)
        if info.plural in crds.CRDS:
            # Unstructured lists: every item carries its kind and apiVersion.
            items = [_Full(v.full(info)) for v in items]  # type: ignore[misc]
        if pretty:
            # Build the same document the compact path sends, then indent it like Go does.
            raw = head + b",".join(v.raw for v in items) + b"]}"
            await resp.write(msgspec.json.format(raw, indent=2))
            await resp.write_eof()
            return resp
        buf = [head]
        size = len(head)
        first = True
        cost = self.server.faults.list_cost
        pending = 0  # objects in buf whose serving cost is not yet paid
        for v in items:
            if not first:
                buf.append(b",")
            first = False
            buf.append(v.raw)
            size += len(v.raw) + 1
            pending += 1
            if size >= httpio.CHUNK:
                if cost:
                    await asyncio.sleep(pending * cost)
                    pending = 0
                await resp.write(b"".join(buf))
                buf, size = [], 0
        if cost and pending:
            await asyncio.sleep(pending * cost)
        buf.append(b"]}\n")
        await resp.write(b"".join(buf))
        await resp.write_eof()
        return resp

    async def _create(self, request: web.Request, info: ResourceInfo,
                      namespace: str | None) -> web.StreamResponse:
        body = await self._body(request)
        if body is None:
            raise errors.bad_request("the body of the request was empty")
        if info.up is not None and isinstance(body, dict):
            body = info.up(body)
        v = self.cluster.create(info, body, namespace, _dry_run(request.query))
        return await self._object(request, info, v, 201)

    async def _update(self, request: web.Request, info: ResourceInfo, namespace: str | None,
                      name: str, sub: str | None) -> web.StreamResponse:
        body = await self._body(request)
        if body is None:
            raise errors.bad_request("the body of the request was empty")
        if info.up is not None and isinstance(body, dict):
            body = info.up(body)
        v = self.cluster.update(info, namespace, name, body, sub, _dry_run(request.query))
        return await self._object(request, info, v)

    async def _patch(self, request: web.Request, info: ResourceInfo, namespace: str | None,
                     name: str, sub: str | None) -> web.StreamResponse:
        ctype = request.content_type
        if ctype not in PATCH_TYPES:
            raise errors.unsupported_media_type(ctype)
        body = await self._body(request)
        if body is None:
            raise errors.bad_request("the body of the request was empty")
        if info.up is not None and isinstance(body, dict):
            body = info.up(body)  # (renamed fields; a v1beta1 priorityClassName alone is kept)
        existed = self.cluster.store.get(info, namespace, name) is not None
        v = self.cluster.patch(info, namespace, name, ctype, body, sub, _dry_run(request.query),
                               request.query.get("fieldManager"))
        status = 201 if ctype == APPLY_PATCH and not existed else 200
        return await self._object(request, info, v, status)

    def _delete_options(self, request: web.Request, body: Any) -> dict[str, Any]:
        opts: dict[str, Any] = dict(body) if isinstance(body, dict) else {}
        q = request.query
        if "propagationPolicy" in q:
            opts["propagationPolicy"] = q["propagationPolicy"]
        if "gracePeriodSeconds" in q:
            try:
                opts["gracePeriodSeconds"] = int(q["gracePeriodSeconds"])
            except ValueError as exc:
                raise errors.bad_request("invalid gracePeriodSeconds") from exc
        if "orphanDependents" in q:
            opts["orphanDependents"] = _truthy(q["orphanDependents"])
        return opts

    def _deleted_status(self, info: ResourceInfo, v: ObjVersion | dict[str, Any]) -> dict[str, Any]:
        details: dict[str, Any] = {"name": v.name if isinstance(v, ObjVersion) else
                                   v["metadata"]["name"]}
        if info.group:
            details["group"] = info.group
        details["kind"] = info.plural
        details["uid"] = v.uid if isinstance(v, ObjVersion) else v["metadata"].get("uid")
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                "details": details}

    async def _delete(self, request: web.Request, info: ResourceInfo, namespace: str | None,
                      name: str) -> web.StreamResponse:
        body = await self._body(request)
        opts = self._delete_options(request, body)
        headers = {}
        if info is JOBS and opts.get("propagationPolicy") is None and \
                opts.get("orphanDependents") is None:
            headers["Warning"] = JOB_ORPHAN_WARNING
        v, exists = self.cluster.delete(info, namespace, name, opts, _dry_run(request.query))
        if exists or info is PODS:
            return await self._object(request, info, v, headers=headers)
        return httpio.small(request, 200, self._deleted_status(info, v), headers=headers)

    async def _delete_collection(self, request: web.Request, info: ResourceInfo,
                                 namespace: str | None) -> web.StreamResponse:
        if info is NAMESPACES:
            raise errors.method_not_allowed()
        body = await self._body(request)
        opts = self._delete_options(request, body)
        list_opts = lists.parse_options(info, request.query, False)
        list_opts.limit = 0
        list_opts.continue_token = None
        result = lists.collect(self.cluster.store, info, namespace, list_opts)
        dry = _dry_run(request.query)
        out = []
        for v in result.items:
            try:
                final, _ = self.cluster.delete(info, v.namespace, v.name, opts, dry)
            except errors.ApiError as err:
                if err.code == 404:
                    continue
                raise
            out.append(final.raw if isinstance(final, ObjVersion) else msgspec.json.encode(final))
        head = (b'{"kind":"' + info.list_kind.encode() + b'","apiVersion":"'
                + info.api_version.encode() + b'","metadata":{"resourceVersion":"'
                + str(self.cluster.store.rv).encode() + b'"},"items":[')
        raw = head + b",".join(out) + b"]}"
        return await httpio.chunked(request, 200, httpio.encode(raw, httpio.is_pretty(request)))

    async def _subresource(self, request: web.Request, info: ResourceInfo, target: Target,
                           method: str) -> web.StreamResponse:
        sub = target.subresource
        name = target.name or ""
        if sub == "log" and info is PODS and method == "GET":
            return await logs.serve_log(self.server, request, target.namespace or "", name)
        if sub == "status":
            if method == "GET":
                return await self._get(request, info, target.namespace, name)
            if method == "PUT":
                return await self._update(request, info, target.namespace, name, "status")
            if method == "PATCH":
                return await self._patch(request, info, target.namespace, name, "status")
        raise _NOT_FOUND_PAGE

    async def _admit(self, request: web.Request) -> str:
        """What every request meets first: the injected latency, who it comes from, and an
        injected error (raised)."""
        faults = self.server.faults
        if faults.latency:
            await asyncio.sleep(faults.latency)
        user = self.server.auth.user_for(request.headers.get("Authorization"))
        fault = faults.maybe_error()
        if fault is not None:
            raise fault
        return user

    # ------------------------------------------------------------------ proxy

    async def _proxy(self, request: web.Request, namespace: str, kind: str, ident: str,
                     rest: str | None) -> web.StreamResponse:
        user = await self._admit(request)
        try:
            return await proxy.Proxy(self.server).handle(request, user, namespace, kind, ident,
                                                          rest)
        except proxy.DropConnection:
            # kube-apiserver panics here; net/http recovers and closes without a response.
            if request.transport is not None:
                request.transport.close()
            raise web.HTTPInternalServerError() from None

    # ------------------------------------------------------------------ Kueue visibility

    def _pending_workloads(self, request: web.Request, target: Target,
                           user: str) -> web.StreamResponse:
        if target.version not in ("v1beta2", "v1beta1") or request.method != "GET" or \
                target.subresource != "pendingworkloads" or target.name is None or \
                target.plural not in ("clusterqueues", "localqueues") or \
                (target.plural == "localqueues") != (target.namespace is not None):
            raise _NOT_FOUND_PAGE
        self.server.auth.check(user, "get", target.plural, kueue.VISIBILITY, target.namespace,
                               target.name, "pendingworkloads")
        assert self.server.kueue is not None
        if target.plural == "clusterqueues":
            items = self.server.kueue.pending(target.name, None, None)
        else:
            items = self.server.kueue.pending(None, target.namespace, target.name)
        try:
            offset = int(request.query.get("offset", "0"))
            limit = int(request.query.get("limit", "1000"))
        except ValueError as exc:
            raise errors.bad_request("limit and offset must be integers") from exc
        body = {"kind": "PendingWorkloadsSummary",
                "apiVersion": f"{kueue.VISIBILITY}/{target.version}", "metadata": {},
                "items": items[offset: offset + limit]}
        return httpio.small(request, 200, body)

    # ------------------------------------------------------------------ metrics.k8s.io

    async def _metrics(self, request: web.Request, target: Target, user: str) -> web.StreamResponse:
        if target.version != "v1beta1" or target.plural not in ("nodes", "pods") or \
                request.method != "GET" or target.subresource:
            raise _NOT_FOUND_PAGE
        verb = "get" if target.name else "list"
        self.server.auth.check(user, verb, target.plural, "metrics.k8s.io", target.namespace,
                               target.name)
        m = self.server.metrics
        if target.plural == "nodes":
            if target.namespace is not None:
                raise _NOT_FOUND_PAGE
            body = await m.node_list(target.name)
        else:
            body = await m.pod_list(target.namespace, target.name)
        return await httpio.chunked(request, 200, httpio.encode(body, httpio.is_pretty(request)))
