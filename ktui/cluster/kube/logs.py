"""One pod's log, streamed line by line, resumed across drops without duplicates or gaps.

The log is requested with ``timestamps=true``: every line starts with the runtime's
RFC 3339 nano timestamp. When a follow stream drops, it is reopened with ``sinceTime`` = the
last timestamp seen. ``sinceTime`` has one-second precision, so the server resends from the
start of that second: lines older than the last one delivered are skipped, and of the lines
with exactly the last timestamp, as many as were already delivered are skipped.

Bytes are decoded as UTF-8, those that are not kept as they are (``decode_log``), and
otherwise passed through untouched (no stripping of control characters or escapes): the UI
and `ktui logs` sanitise for display, `ktui logs --raw` writes them back byte for byte.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from ktui.cluster.kube.backoff import Backoff
from ktui.cluster.kube.decode import POD_CODEC
from ktui.cluster.kube.transport import ApiError, PartialLine, Transport, Unreachable, abort
from ktui.cluster.model import LogLine
from ktui.logtext.sanitize import decode_log

CONTAINER = "trial"


def parse_timestamp(ts: bytes | str) -> int | None:
    """RFC 3339 (nano) timestamp -> integer nanoseconds since the epoch; None if it is not one.

    Integers, because kubelet trims trailing zeros of the fraction ("...:42.1Z" vs
    "...:42.100000001Z"): comparing the strings would be wrong.
    """
    s = ts.decode("ascii", "replace") if isinstance(ts, bytes) else ts
    if len(s) < 20 or s[4] != "-" or s[10] != "T":
        return None
    try:
        base = datetime(
            int(s[0:4]), int(s[5:7]), int(s[8:10]), int(s[11:13]), int(s[14:16]), int(s[17:19]),
            tzinfo=timezone.utc,
        )
    except ValueError:
        return None
    rest = s[19:]
    frac = 0
    if rest.startswith("."):
        digits = ""
        i = 1
        while i < len(rest) and rest[i].isdigit():
            i += 1
        digits = rest[1:i]
        rest = rest[i:]
        frac = int((digits + "000000000")[:9]) if digits else 0
    offset = 0
    if rest in ("Z", "z"):
        pass
    elif len(rest) == 6 and rest[0] in "+-" and rest[3] == ":":
        try:
            offset = (int(rest[1:3]) * 3600 + int(rest[4:6]) * 60) * (1 if rest[0] == "+" else -1)
        except ValueError:
            return None
    else:
        return None
    return (int(base.timestamp()) - offset) * 1_000_000_000 + frac


def since_time(ns: int) -> str:
    """The RFC 3339 second a sinceTime request needs (rounded down)."""
    return datetime.fromtimestamp(ns // 1_000_000_000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Dedup:
    """Remembers the position reached: the last timestamp and how many lines carried it."""

    def __init__(self) -> None:
        self.last_ns: int | None = None
        self.last_ts: str | None = None
        self.at_last = 0  # lines delivered with timestamp == last_ns
        self._skip_same = 0  # on a resumed stream: lines at last_ns still to skip

    def resume(self) -> None:
        self._skip_same = self.at_last

    def accept(self, ns: int | None, ts: str) -> bool:
        if ns is None:
            return True
        last = self.last_ns
        if last is not None:
            if ns < last:
                return False
            if ns == last:
                if self._skip_same > 0:
                    self._skip_same -= 1
                    return False
                self.at_last += 1
                return True
        self.last_ns, self.last_ts, self.at_last, self._skip_same = ns, ts, 1, 0
        return True


def split_line(raw: bytes) -> tuple[str | None, int | None, str]:
    """``b"<ts> text"`` -> (ts, ns, text); lines without a timestamp keep all their bytes."""
    sp = raw.find(b" ")
    head = raw[:sp] if sp > 0 else raw
    ns = parse_timestamp(head) if head[:1].isdigit() else None
    if ns is None:
        return None, None, decode_log(raw)
    text = raw[sp + 1 :] if sp > 0 else b""
    return head.decode("ascii"), ns, decode_log(text)


class KubeLogStream:
    """Iterate to get LogLines; ``close()`` from any thread ends the iteration promptly."""

    def __init__(
        self,
        transport: Transport,
        namespace: str,
        pod: str,
        *,
        container: str | None = CONTAINER,
        follow: bool = True,
        tail: int | None = None,
        backoff: Backoff | None = None,
        idle_poll: float = 1.0,
        give_up_after: float = 300.0,
    ) -> None:
        self.transport = transport
        self.namespace = namespace
        self.pod = pod
        self.container = container
        self.follow = follow
        self.tail = tail
        self.backoff = backoff or Backoff(base=0.2, cap=5.0)
        self.idle_poll = idle_poll
        self.give_up_after = give_up_after  # unreachable this long while following: stop
        self.reconnects = 0
        self._closed = threading.Event()
        self._resp: Any = None
        self._lock = threading.Lock()

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            resp = self._resp
        if resp is not None:
            abort(resp)

    @property
    def path(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/pods/{self.pod}/log"

    def _query(self, dedup: _Dedup, follow: bool) -> list[tuple[str, str | int | bool]]:
        q: list[tuple[str, str | int | bool]] = [("timestamps", "true")]
        if self.container:
            q.append(("container", self.container))
        if follow:
            q.append(("follow", "true"))
        if dedup.last_ns is not None:
            q.append(("sinceTime", since_time(dedup.last_ns)))
        elif self.tail is not None:
            q.append(("tailLines", self.tail))
        return q

    def _pod_finished(self) -> bool | None:
        """True if the pod (its container) has terminated or is gone; None if unknown."""
        try:
            rec = POD_CODEC.decode_item(
                self.transport.get(f"/api/v1/namespaces/{self.namespace}/pods/{self.pod}")
            )
        except ApiError as exc:
            return True if exc.status == 404 else None
        except Unreachable:
            return None
        return rec is None or rec.terminated

    def __iter__(self) -> Iterator[LogLine]:
        for batch in self.batches():
            yield from batch

    def batches(self) -> Iterator[list[LogLine]]:
        dedup = _Dedup()
        follow = self.follow
        final = False  # the last, non-follow fetch after the container ended
        unreachable_since: float | None = None
        while not self._closed.is_set():
            live = follow and not final
            ended_cleanly = False
            try:
                resp = self.transport.open(
                    "GET", self.path, query=self._query(dedup, live),
                    accept="*/*", timeout=(10.0, None if live else 60.0),
                )
            except ApiError as exc:
                if exc.status == 404 and dedup.last_ns is not None:
                    return  # the pod was deleted after we saw its log
                if exc.status == 400 and self.container and "is not valid for pod" in exc.message \
                        and dedup.last_ns is None:
                    # Not a ktui trial (no container named "trial"): its pod's only container.
                    self.container = None
                    continue
                if exc.status == 400 and live and "waiting to start" in exc.message:
                    self._closed.wait(self.idle_poll)  # ContainerCreating: not yet
                    continue
                if exc.retryable and live:
                    self._closed.wait(max(self.backoff.next(), exc.retry_after or 0.0))
                    continue
                raise
            except Unreachable:
                if not live:
                    raise
                now = time.monotonic()
                unreachable_since = unreachable_since or now
                if now - unreachable_since > self.give_up_after:
                    raise
                self._closed.wait(self.backoff.next())
                continue
            unreachable_since = None
            with self._lock:
                self._resp = resp
            if self._closed.is_set():
                abort(resp)
            try:
                if resp.status == 204:  # an unscheduled pod: no log yet
                    ended_cleanly = True
                else:
                    try:
                        for batch in Transport.iter_batches(resp, self.transport.server):
                            out: list[LogLine] = []
                            for raw in batch:
                                ts, ns, text = split_line(raw)
                                if dedup.accept(ns, ts or ""):
                                    out.append(LogLine(ts, text))
                            if out:
                                yield out
                        ended_cleanly = True
                    except PartialLine as cut:
                        # Without a newline the line may be incomplete (a drop), unless this
                        # was the full read of a finished log.
                        if not live and not self._closed.is_set():
                            ts, ns, text = split_line(cut.data)
                            if dedup.accept(ns, ts or ""):
                                yield [LogLine(ts, text)]
                            ended_cleanly = True
                    except Unreachable:
                        if not live:
                            raise
            finally:
                with self._lock:
                    self._resp = None
                resp.release_conn()
            if self._closed.is_set() or not live:
                return
            # The follow stream ended: the container finished, or the connection dropped.
            if ended_cleanly and self._pod_finished():
                final = True  # one more plain read picks up whatever the drop cost us
            else:
                self.reconnects += 1
                self._closed.wait(self.backoff.next() if not ended_cleanly else self.idle_poll / 5)
            dedup.resume()


def newest_pod_of_job(transport: Transport, namespace: str, job: str) -> str | None:
    """The name of the job's newest pod, asking the server (when the store has no pods)."""
    from ktui.cluster.kube.decode import JOB_CODEC

    selectors: list[str] = []
    try:
        rec = JOB_CODEC.decode_item(transport.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/{job}"))
    except ApiError as exc:
        if exc.status != 404:
            raise
        rec = None
    if rec is not None and rec.uid:
        # kubectl's own selector: the controller uid is unique to this incarnation of the job.
        selectors.append(f"batch.kubernetes.io/controller-uid={rec.uid}")
    selectors.append(f"job-name={job}")
    for sel in selectors:
        pods, _ = POD_CODEC.decode_list(
            transport.get(f"/api/v1/namespaces/{namespace}/pods", [("labelSelector", sel)])
        )
        if rec is not None:
            pods = [p for p in pods if p.job_uid in (None, rec.uid)]
        if pods:
            return max(pods, key=lambda p: (p.created or 0.0, p.name)).name
    return None
