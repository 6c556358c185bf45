"""`pods/{id}/proxy/...` and `services/{id}/proxy/...`, answered as kube-apiserver does.

Location rules follow kube-apiserver's pod and service ResourceLocation (and the captures in
k8s-reference/more): a pod id is `[scheme:]name[:port]` (no port: the first container port;
a named port makes the real server panic and drop the connection, so this one drops it
too); the pod needs a global unicast IP (else 400 "address not allowed"). A service id's
port number must be a Service port (else 503), then the Endpoints object is read (missing:
404 as if the Service were missing; no subsets: 503), and only addresses whose Pod
targetRef exists with that IP count. Behind an address, the simulated processes answer
(dcgm-exporter on 9400, Prometheus on 9090); anything else refuses the connection.
`https:` reaches nothing that speaks TLS: 503 "EOF".
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ktui.sim import errors, httpio
from ktui.sim.dcgm import CONTENT_TYPE
from ktui.sim.resources import ENDPOINTS, PODS, SERVICES

if TYPE_CHECKING:
    from ktui.sim.server import SimServer

VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch",
         "DELETE": "delete", "OPTIONS": "create"}


class DropConnection(Exception):
    """The real server panics on this request: no HTTP response at all."""


def parse_proxy_path(path: str) -> tuple[str, str, str, str | None] | None:
    """(namespace, "pods"|"services", id, path after `/proxy` or None if nothing follows)."""
    parts = path.split("/")
    # "", "api", "v1", "namespaces", ns, kind, id, "proxy", ...
    if len(parts) < 8 or parts[1:4] != ["api", "v1", "namespaces"] or parts[7] != "proxy":
        return None
    if parts[5] not in ("pods", "services") or not parts[4] or not parts[6]:
        return None
    rest = "/".join(parts[8:]) if len(parts) > 8 else None
    return parts[4], parts[5], parts[6], rest


def split_id(ident: str) -> tuple[str, str, str] | None:
    """utilnet.SplitSchemeNamePort: `name`, `name:port`, `scheme:name:port`."""
    parts = ident.split(":")
    if len(parts) == 1:
        scheme, name, port = "", parts[0], ""
    elif len(parts) == 2:
        scheme, name, port = "", parts[0], parts[1]
    elif len(parts) == 3:
        scheme, name, port = parts
        if scheme not in ("http", "https"):
            return None
    else:
        return None
    if not name:
        return None
    return scheme, name, port


def _unavailable(message: str) -> errors.ApiError:
    return errors.ApiError(503, "ServiceUnavailable", message)


def _not_found(kind: str, name: str) -> errors.ApiError:
    return errors.ApiError(404, "NotFound", f'{kind} "{name}" not found',
                           {"name": name, "kind": kind})


class Proxy:
    def __init__(self, server: SimServer) -> None:
        self.server = server

    async def handle(self, request: web.Request, user: str, namespace: str, kind: str,
                     ident: str, rest: str | None) -> web.StreamResponse:
        verb = VERBS.get(request.method, "get")
        # The authorizer names the object by the raw path segment, port and scheme included.
        self.server.auth.check(user, verb, kind, "", namespace, ident, "proxy")
        if rest is None:
            # `.../proxy` without a slash: the apiserver redirects to `.../proxy/`.
            resp = web.Response(status=301, headers=httpio.base_headers() | {
                "Location": request.path + "/"})
            return resp
        parsed = split_id(ident)
        if parsed is None:
            raise errors.bad_request(f'invalid {kind[:-1]} request "{ident}"')
        scheme, name, port = parsed
        if kind == "pods":
            ip, port_num = self._pod_location(namespace, name, port)
        else:
            ip, port_num = self._service_location(namespace, name, port, ident)
        if scheme == "https":
            raise _unavailable("error trying to reach service: EOF")
        return await self._forward(request, ip, port_num, "/" + rest)

    # ------------------------------------------------------------------ locations

    def _pod_location(self, namespace: str, name: str, port: str) -> tuple[str, int]:
        v = self.server.cluster.store.get(PODS, namespace, name)
        if v is None:
            raise errors.not_found(PODS, name)
        pod = v.obj()
        if not port:
            for c in (pod.get("spec") or {}).get("containers") or ():
                if c.get("ports"):
                    port = str(c["ports"][0].get("containerPort"))
                    break
        ip = (pod.get("status") or {}).get("podIP") or ""
        if not _global_unicast(ip):
            raise errors.bad_request("address not allowed")
        if port and not port.isdigit():
            raise DropConnection(f"named pod port {port!r}")
        return ip, int(port) if port else 80

    def _service_location(self, namespace: str, name: str, port: str,
                          ident: str) -> tuple[str, int]:
        store = self.server.cluster.store
        if port.isdigit():
            svc = store.get(SERVICES, namespace, name)
            if svc is None:
                raise _not_found("services", name)
            for p in (svc.obj().get("spec") or {}).get("ports") or ():
                if p.get("port") == int(port):
                    port = p.get("name", "")
                    break
            else:
                raise _unavailable(f'no service port {int(port)} found for service "{name}"')
        ep = store.get(ENDPOINTS, namespace, name)
        if ep is None:
            raise _not_found("services", name)
        subsets = ep.obj().get("subsets") or []
        if not subsets:
            raise _unavailable(f'no endpoints available for service "{name}"')
        for ss in subsets:
            for p in ss.get("ports") or ():
                if p.get("name", "") != port:
                    continue
                for addr in ss.get("addresses") or ():
                    if self._valid_address(addr):
                        return addr["ip"], int(p["port"])
        raise _unavailable(f'no endpoints available for service "{ident}"')

    def _valid_address(self, addr: dict[str, Any]) -> bool:
        ref = addr.get("targetRef") or {}
        if ref.get("kind") != "Pod":
            return False
        v = self.server.cluster.store.get(PODS, ref.get("namespace"), ref.get("name", ""))
        if v is None:
            return False
        ips = [x.get("ip") for x in (v.obj().get("status") or {}).get("podIPs") or ()]
        return addr.get("ip") in ips

    # ------------------------------------------------------------------ backends

    async def _forward(self, request: web.Request, ip: str, port: int,
                       path: str) -> web.StreamResponse:
        telemetry = self.server.telemetry
        backend = telemetry.backend(ip, port)
        if backend is None or not self._backend_alive(backend.pod_key, ip):
            raise _unavailable(f"error trying to reach service: dial tcp {ip}:{port}: "
                               "connect: connection refused")
        if backend.kind == "dcgm":
            if path == "/metrics" and request.method in ("GET", "HEAD"):
                sample = telemetry.exporter.sample(backend.node)
                body = sample.text() if sample is not None else b""
                return _passthrough(200, CONTENT_TYPE, body)
            if path == "/health":
                return _passthrough(200, "text/plain; charset=utf-8", b"OK")
            return _passthrough(404, "text/plain; charset=utf-8", b"404 page not found\n")
        body = await request.read()
        status, ctype, out = await telemetry.prometheus.handle(
            request.method, path, request.query_string, body,
            request.headers.get("Content-Type", ""))
        return _passthrough(status, ctype, out)

    def _backend_alive(self, pod_key: str, ip: str) -> bool:
        # The process answers only while its pod runs with that IP (deleted: refused).
        v = self.server.cluster.store["pods"].objects.get(pod_key)
        return (v is not None and v.fields.get("status.phase") == "Running"
                and v.fields.get("status.podIP") == ip)


def _global_unicast(ip: str) -> bool:
    """Go's net.IP.IsGlobalUnicast: private and documentation ranges count, loopback not."""
    try:
        a = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return not (a.is_loopback or a.is_link_local or a.is_multicast or a.is_unspecified
                or ip == "255.255.255.255")


def _passthrough(status: int, content_type: str, body: bytes) -> web.Response:
    """The backend's answer with the apiserver's own headers added (Audit-Id, Cache-Control)."""
    resp = web.Response(status=status, body=body, headers=httpio.base_headers())
    resp.headers["Content-Type"] = content_type
    if status == 404:
        resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp
