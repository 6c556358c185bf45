"""HTTP details shared by handlers: headers, pretty printing, content negotiation, framing.

Framing follows the captures: small Status errors and discovery bodies carry Content-Length;
objects, lists, watches and logs are sent with Transfer-Encoding: chunked.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from aiohttp import web

from ktui.sim import errors

FLOWSCHEMA_UID = str(uuid.uuid4())
PRIORITY_LEVEL_UID = str(uuid.uuid4())
NO_CACHE = "no-cache, private"
TABLE_VERSIONS = {"v1": "meta.k8s.io/v1", "v1beta1": "meta.k8s.io/v1beta1"}
CHUNK = 256 * 1024
# Set once a streamed response has sent its status line: errors can then only cut it.
STARTED = web.RequestKey("ktui_started", bool)
# A Warning header every answer to this request carries (a deprecated API version).
WARNING = web.RequestKey("ktui_warning", str)


async def add_warning(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """on_response_prepare: streamed answers too get it, before their headers go out."""
    warning = request.get(WARNING)
    if warning:
        response.headers["Warning"] = warning


async def start(resp: web.StreamResponse, request: web.BaseRequest) -> None:
    """Send the status line and headers; from here on errors can only cut the stream."""
    request[STARTED] = True
    await resp.prepare(request)


def base_headers(cache_control: str | None = NO_CACHE) -> dict[str, str]:
    h = {
        "Audit-Id": str(uuid.uuid4()),
        "X-Kubernetes-Pf-Flowschema-Uid": FLOWSCHEMA_UID,
        "X-Kubernetes-Pf-Prioritylevel-Uid": PRIORITY_LEVEL_UID,
    }
    if cache_control:
        h["Cache-Control"] = cache_control
    return h


def is_pretty(request: web.BaseRequest, by_user_agent: bool = True) -> bool:
    """kube-apiserver's isPrettyPrint: ?pretty=true, or a curl/Wget/browser User-Agent.

    Lists pass by_user_agent=False: indenting a 150k-pod list for curl would triple its
    size and the time to serve it, so only an explicit ?pretty=true does that.
    """
    pretty = request.query.get("pretty")
    if pretty:
        return pretty.lower() in ("1", "t", "true")
    if not by_user_agent:
        return False
    ua = request.headers.get("User-Agent", "")
    return ua.startswith(("curl", "Wget", "Mozilla/5.0"))


def encode(obj: Any, pretty: bool) -> bytes:
    raw = obj if isinstance(obj, bytes) else msgspec.json.encode(obj)
    if pretty:
        # Go's MarshalIndent output: two-space indent and no trailing newline.
        return msgspec.json.format(raw, indent=2)
    return raw if raw.endswith(b"\n") else raw + b"\n"


def small(request: web.BaseRequest, status: int, obj: Any,
          content_type: str = "application/json", headers: dict[str, str] | None = None,
          cache_control: str | None = NO_CACHE) -> web.Response:
    """A Content-Length response (Status errors, discovery)."""
    h = base_headers(cache_control)
    if headers:
        h.update(headers)
    body = encode(obj, is_pretty(request))
    resp = web.Response(status=status, body=body, headers=h)
    resp.content_type = content_type
    return resp


def error(request: web.BaseRequest, err: errors.ApiError) -> web.Response:
    return small(request, err.code, err.status(), headers=err.headers)


async def chunked(request: web.BaseRequest, status: int, body: bytes | list[bytes],
                  content_type: str = "application/json",
                  headers: dict[str, str] | None = None) -> web.StreamResponse:
    h = base_headers()
    if headers:
        h.update(headers)
    resp = web.StreamResponse(status=status, headers=h)
    resp.content_type = content_type
    resp.enable_chunked_encoding()
    await start(resp, request)
    parts = [body] if isinstance(body, bytes) else body
    for part in parts:
        for i in range(0, len(part), CHUNK):
            await resp.write(part[i : i + CHUNK])
    await resp.write_eof()
    return resp


def negotiate(accept: str | None) -> str | None:
    """None for plain JSON, else the Table apiVersion to answer with; 406 if neither fits."""
    if not accept or not accept.strip():
        return None
    for entry in accept.split(","):
        parts = [p.strip() for p in entry.split(";")]
        media = parts[0].lower()
        params = {}
        for p in parts[1:]:
            k, _, v = p.partition("=")
            params[k.strip()] = v.strip()
        if media in ("*/*", "application/*"):
            return None
        if media != "application/json":
            continue
        as_ = params.get("as")
        if as_ is None:
            return None
        if as_ == "Table" and params.get("g") == "meta.k8s.io" and params.get("v") in TABLE_VERSIONS:  # noqa: E501
            return TABLE_VERSIONS[params["v"]]
    raise errors.not_acceptable()
