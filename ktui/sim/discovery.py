"""Discovery (legacy and aggregated), /version, and the OpenAPI v3 documents kubectl fetches."""

from __future__ import annotations

import hashlib
import time
from functools import cached_property
from typing import Any

import msgspec
from aiohttp import web

from ktui.sim import data, httpio
from ktui.sim.crds import CustomResources

AGG_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGG_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"

METRICS_GROUP = {
    "name": "metrics.k8s.io",
    "versions": [{"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"}],
    "preferredVersion": {"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"},
}
METRICS_RESOURCES = {
    "kind": "APIResourceList",
    "apiVersion": "v1",
    "groupVersion": "metrics.k8s.io/v1beta1",
    "resources": [
        {"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics",
         "verbs": ["get", "list"]},
        {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics",
         "verbs": ["get", "list"]},
    ],
}
OPENAPI_DOCS = {"api/v1": "openapi-v3-api-v1", "apis/batch/v1": "openapi-v3-apis-batch-v1"}


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha512(body).hexdigest().upper() + '"'


class Discovery:
    def __init__(self, server_address: str, custom: CustomResources | None = None) -> None:
        self.server_address = server_address
        self.started = time.time()
        # Served CRD groups (kubeflow.org, kueue.x-k8s.io) when their feature is on.
        self.custom = custom

    @cached_property
    def openapi_hashes(self) -> dict[str, str]:
        return {path: hashlib.sha512(data.raw(name)).hexdigest().upper()
                for path, name in OPENAPI_DOCS.items()}

    def _aggregated(self, request: web.BaseRequest, name: str) -> web.StreamResponse | None:
        accept = request.headers.get("Accept", "")
        version = None
        for entry in accept.split(","):
            if "as=APIGroupDiscoveryList" in entry and "g=apidiscovery.k8s.io" in entry:
                if "v=v2beta1" in entry:
                    version = "v2beta1"
                elif "v=v2" in entry:
                    version = "v2"
                if version:
                    break
            elif entry.strip().split(";")[0] in ("application/json", "*/*"):
                break
        if version is None:
            return None
        doc = data.load(name)
        doc["apiVersion"] = f"apidiscovery.k8s.io/{version}"
        if name == "disc-apis-aggregated" and self.custom is not None:
            doc["items"] = doc["items"] + self.custom.aggregated()
        body = msgspec.json.encode(doc)
        etag = _etag(body)
        headers = {"ETag": etag, "Vary": "Accept"}
        ctype = AGG_V2 if version == "v2" else AGG_V2BETA1
        if request.headers.get("If-None-Match") == etag:
            resp = web.Response(status=304, headers=httpio.base_headers("public") | headers)
            return resp
        resp = web.Response(status=200, body=httpio.encode(body, httpio.is_pretty(request)),
                            headers=httpio.base_headers("public") | headers)
        resp.headers["Content-Type"] = ctype
        return resp

    def handle(self, request: web.BaseRequest, parts: list[str]) -> web.StreamResponse | None:
        """Answer discovery paths; None when `parts` is not a discovery path."""
        if parts == ["version"]:
            # The captured server's shape, but saying what it is.
            version = {**data.load("disc-version"), "gitVersion": "v1.32.0+ktui-sim",
                       "gitCommit": "0" * 40}
            return httpio.small(request, 200, version)
        if parts == ["api"]:
            agg = self._aggregated(request, "disc-api-aggregated")
            if agg is not None:
                return agg
            return httpio.small(request, 200, {
                "kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                "serverAddress": self.server_address}]})
        if parts == ["api", "v1"]:
            return httpio.small(request, 200, data.load("disc-api-v1"))
        if parts == ["apis"]:
            agg = self._aggregated(request, "disc-apis-aggregated")
            if agg is not None:
                return agg
            batch = data.load("disc-apis-batch")
            batch.pop("kind", None)
            batch.pop("apiVersion", None)
            custom = [self.custom.api_group(g) for g in self.custom.groups] if self.custom else []
            return httpio.small(request, 200, {"kind": "APIGroupList", "apiVersion": "v1",
                                               "groups": [batch, METRICS_GROUP, *custom]})
        if parts == ["apis", "batch"]:
            return httpio.small(request, 200, data.load("disc-apis-batch"))
        if parts == ["apis", "batch", "v1"]:
            return httpio.small(request, 200, data.load("disc-apis-batch-v1"))
        if parts == ["apis", "metrics.k8s.io"]:
            return httpio.small(request, 200, {"kind": "APIGroup", "apiVersion": "v1",
                                               **METRICS_GROUP})
        if parts == ["apis", "metrics.k8s.io", "v1beta1"]:
            return httpio.small(request, 200, METRICS_RESOURCES)
        if self.custom is not None and len(parts) in (2, 3) and parts[0] == "apis" and \
                self.custom.serves(parts[1]):
            if len(parts) == 2:
                return httpio.small(request, 200, {"kind": "APIGroup", "apiVersion": "v1",
                                                   **self.custom.api_group(parts[1])})
            doc = self.custom.resource_list(parts[1], parts[2])
            if doc is not None:
                return httpio.small(request, 200, doc)
        if parts and parts[0] in ("healthz", "livez", "readyz"):
            resp = web.Response(status=200, body=b"ok", headers=httpio.base_headers())
            resp.content_type = "text/plain"
            resp.charset = "utf-8"
            return resp
        if parts[:2] == ["openapi", "v3"]:
            return self._openapi(request, "/".join(parts[2:]))
        return None

    def _openapi(self, request: web.BaseRequest, path: str) -> web.StreamResponse:
        last_modified = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(self.started))
        if not path:
            index: dict[str, Any] = {"paths": {
                p: {"serverRelativeURL": f"/openapi/v3/{p}?hash={h}"}
                for p, h in self.openapi_hashes.items()}}
            resp = web.Response(status=200, body=msgspec.json.encode(index),
                                headers=httpio.base_headers() | {"Accept-Ranges": "bytes",
                                                                 "Last-Modified": last_modified})
            resp.headers["Content-Type"] = "text/plain; charset=utf-8"
            return resp
        name = OPENAPI_DOCS.get(path)
        if name is None:
            resp = web.Response(status=404, body=b"404 page not found\n",
                                headers=httpio.base_headers())
            resp.headers["Content-Type"] = "text/plain; charset=utf-8"
            return resp
        current = self.openapi_hashes[path]
        asked = request.query.get("hash")
        if asked and asked != current:
            raise web.HTTPMovedPermanently(f"/openapi/v3/{path}?hash={current}")
        headers = {"Accept-Ranges": "bytes", "Last-Modified": last_modified, "Vary": "Accept"}
        if asked:
            headers |= {"ETag": f'"{current}"',
                        "Expires": time.strftime("%a, %d %b %Y %H:%M:%S UTC",
                                                 time.gmtime(time.time() + 365 * 86400))}
            base = httpio.base_headers("public, immutable")
        else:
            base = httpio.base_headers()
        if "gzip" in request.headers.get("Accept-Encoding", ""):
            # The package already holds the document gzipped; large bodies are compressed by
            # kube-apiserver too when the client accepts it.
            resp = web.Response(status=200, body=data.gz(name),
                                headers=base | headers | {"Content-Encoding": "gzip"})
        else:
            resp = web.Response(status=200, body=data.raw(name), headers=base | headers)
        resp.headers["Content-Type"] = "application/json"
        return resp
