"""HTTP through the official client's ApiClient, bytes out, typed errors.

The ApiClient does what it is good at: kubeconfig/in-cluster auth (tokens, client certs,
exec plugins and their refresh hooks), TLS, proxies, and a thread-safe urllib3 pool. Every
call here goes through ``ApiClient.param_serialize`` + ``call_api`` with the response left
unread (the same path as ``_preload_content=False``), so ktui gets raw bytes to decode with
msgspec and never builds the client's model objects.

Errors come out as two types: ``ApiError`` (the server answered with a status >= 400; the
Kubernetes Status body is decoded) and ``Unreachable`` (no answer: refused, DNS, TLS, reset,
timeout). Neither ever carries credentials: messages name the server URL only.
"""

from __future__ import annotations

import contextlib
import email.utils
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import urllib3
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from ktui.cluster.kube.decode import decode_status
from ktui.cluster.kube.wire import Status

Query = Sequence[tuple[str, str | int | bool]]
JSON = "application/json"

# (connect, read) seconds for ordinary requests; watches and log follows pass their own.
DEFAULT_TIMEOUT = (10.0, 60.0)
_MAX_ERROR_BODY = 64 * 1024
_READ_CHUNK = 256 * 1024
_HEAD_BYTES = 16 * 1024  # a list's metadata fits, whatever its continue token


class ApiError(Exception):
    """The API server answered with an error status."""

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        *,
        method: str = "",
        path: str = "",
        retry_after: float | None = None,
        body: Status | None = None,
    ) -> None:
        self.status = status
        self.reason = reason  # Status.reason ("Forbidden", "AlreadyExists", "Expired") or HTTP's
        self.message = message
        self.method = method
        self.path = path
        self.retry_after = retry_after
        self.body = body
        super().__init__(f"{status} {reason}: {message}" if message else f"{status} {reason}")

    @property
    def expired(self) -> bool:
        """410 Gone/Expired: the resourceVersion or continue token is too old; relist."""
        return self.status == 410 or self.reason in ("Expired", "Gone")

    @property
    def retryable(self) -> bool:
        """Worth retrying after a pause: throttled or a server-side failure."""
        return self.status == 429 or self.status >= 500

    @property
    def user(self) -> str | None:
        """The user named in an RBAC message ('User "viewer" cannot list ...'), if any."""
        msg = self.message
        start = msg.find('User "')
        if start < 0:
            return None
        start += len('User "')
        end = msg.find('"', start)
        return msg[start:end] if end > start else None


class Unreachable(Exception):
    """No HTTP answer from the server (refused, unresolvable, TLS failure, reset, timeout)."""

    def __init__(self, server: str, why: str, waited: float | None = None) -> None:
        self.server = server
        self.why = why
        #: seconds the request waited before it gave up, when that is the story (a time-out)
        self.waited = waited
        after = f" after {waited:.0f} s" if waited is not None and waited >= 1 else ""
        super().__init__(f"cannot reach the cluster at {server}: {why}{after}")


def _why(exc: BaseException) -> str:
    """A short, credential-free cause for a connection failure."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cur, (socket.gaierror,)):
            return "name or service not known"
        if isinstance(cur, urllib3.exceptions.NameResolutionError):
            return "name or service not known"
        if isinstance(cur, urllib3.exceptions.SSLError):
            return f"TLS error ({cur.__class__.__name__})"
        if isinstance(cur, urllib3.exceptions.NewConnectionError):
            # A subclass of ConnectTimeoutError, but usually refused/unroutable: look deeper.
            deeper = cur.__cause__ or cur.__context__
            if deeper is not None:
                cur = deeper
                continue
            return "cannot connect"
        if isinstance(cur, (urllib3.exceptions.ConnectTimeoutError,)):
            return "connection timed out"
        if isinstance(cur, (urllib3.exceptions.ReadTimeoutError, TimeoutError, socket.timeout)):
            # Connected, and then nothing: a hung server, or a proxy that accepts and waits.
            return "connected, but no answer"
        if isinstance(cur, ConnectionResetError):
            return "connection reset"
        if isinstance(cur, OSError) and cur.strerror:
            return cur.strerror.lower()
        if isinstance(cur, urllib3.exceptions.ProtocolError):
            return "connection broken"
        nxt = getattr(cur, "reason", None)
        cur = nxt if isinstance(nxt, BaseException) else (cur.__cause__ or cur.__context__)
    return exc.__class__.__name__


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def abort(resp: Any) -> None:
    """Unblock a thread reading ``resp`` (a watch or log stream) from another thread."""
    with contextlib.suppress(Exception):
        # urllib3 >= 2.3: shut the socket's read side; the blocked reader sees EOF at once.
        resp.shutdown()
    with contextlib.suppress(Exception):
        resp.close()


class Transport:
    def __init__(self, api_client: ApiClient) -> None:
        self.api_client = api_client
        self.server: str = api_client.configuration.host

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.api_client.close()

    def open(
        self,
        method: str,
        path: str,
        *,
        query: Query = (),
        body: Any = None,
        accept: str = JSON,
        timeout: float | tuple[float, float | None] | None = DEFAULT_TIMEOUT,
        content_type: str = JSON,
    ) -> urllib3.BaseHTTPResponse:
        """Send a request; return the unread urllib3 response of a 2xx answer.

        The caller must read it to the end or call ``release_conn``/``close``.
        """
        headers: dict[str, str] = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type
        params = [(k, v if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v))
                  for k, v in query]
        sent = time.monotonic()
        try:
            req = self.api_client.param_serialize(
                method=method,
                resource_path=path,
                query_params=params,
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            rest = self.api_client.call_api(*req, _request_timeout=timeout)
        except ApiException as exc:  # TLS failures come out of the client this way
            raise Unreachable(self.server, (exc.reason or "error").splitlines()[0]) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            why = _why(exc)
            waited = time.monotonic() - sent if "no answer" in why or "timed out" in why else None
            raise Unreachable(self.server, why, waited) from None
        resp = rest.response
        if resp.status >= 400:
            raise self._error(method, path, resp)
        return resp  # type: ignore[no-any-return]

    def _error(self, method: str, path: str, resp: urllib3.BaseHTTPResponse) -> ApiError:
        try:
            data = resp.read(_MAX_ERROR_BODY)
        except Exception:
            data = b""
        finally:
            resp.release_conn()
        st = decode_status(data) if data else None
        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        if retry_after is None and st is not None and st.details is not None:
            retry_after = st.details.retryAfterSeconds
        reason = (st.reason if st is not None and st.reason else None) or resp.reason or "Error"
        message = st.message if st is not None else data[:200].decode("utf-8", "replace").strip()
        return ApiError(
            resp.status, reason, message, method=method, path=path, retry_after=retry_after, body=st
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Query = (),
        body: Any = None,
        timeout: float | tuple[float, float] | None = DEFAULT_TIMEOUT,
        accept: str = JSON,
        hold: Callable[[Any], None] | None = None,
        head: Callable[[bytes], None] | None = None,
        content_type: str = JSON,
    ) -> bytes:
        """A whole response body (lists, gets, creates, deletes).

        ``hold`` is called with the open response before its body is read, and with None
        after: a reflector keeps it so ``stop()`` can abort a large page mid-read. ``head``
        is called with the body's first bytes as soon as they are in (a list's metadata,
        with its continue token, comes first), before the rest is read.
        """
        resp = self.open(method, path, query=query, body=body, timeout=timeout, accept=accept,
                         content_type=content_type)
        if hold is not None:
            hold(resp)
        try:
            if head is not None:
                first = resp.read(_HEAD_BYTES)
                head(first)
                return first + resp.read()
            return resp.read()
        except (urllib3.exceptions.HTTPError, OSError, AttributeError, ValueError) as exc:
            # AttributeError/ValueError: http.client reading a response that stop() aborted
            # from another thread (its file is gone mid-read), as in iter_batches.
            raise Unreachable(self.server, _why(exc)) from None
        finally:
            if hold is not None:
                hold(None)
            resp.release_conn()

    def get(self, path: str, query: Query = (), **kw: Any) -> bytes:
        return self.request("GET", path, query=query, **kw)

    @staticmethod
    def iter_batches(resp: urllib3.BaseHTTPResponse, server: str = "") -> Iterator[list[bytes]]:
        """Split a streaming body into lines (without the newline) as data arrives, one list
        per network read.

        ``read1`` returns whatever the socket has (a chunk of a chunked response) instead of
        waiting for a full buffer, so a watch event or log line is delivered the moment its
        newline arrives, and a burst of events comes out as one batch the store can absorb
        under one lock. If the stream ends in the middle of a line, ``PartialLine`` carries
        the bytes: a cut watch must not decode half an event, a log may end without one.
        """
        buf = b""
        while True:
            try:
                chunk = resp.read1(_READ_CHUNK)
            except (urllib3.exceptions.HTTPError, OSError, ValueError, AttributeError) as exc:
                raise Unreachable(server, _why(exc)) from None
            if not chunk:
                break
            if buf:
                chunk = buf + chunk
            lines = chunk.split(b"\n")
            buf = lines.pop()
            if lines:
                yield lines
        if buf:
            raise PartialLine(buf)


class PartialLine(Exception):
    """The stream ended in the middle of a line (the bytes are in ``.data``)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        super().__init__("stream ended mid-line")
