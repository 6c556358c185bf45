"""Node usage from metrics.k8s.io, polled.

metrics-server refreshes every 15 s (its default --metric-resolution), so polling faster only
loads the API server; the floor is 15 s unless a caller (a test) lowers it explicitly. When
the API is absent (404, or 503 from an unavailable APIService) the problem is reported once
and the store's node views fall back to requests; polling continues slowly in case it
appears.
"""

from __future__ import annotations

import logging
import threading

import msgspec

from ktui.cluster.kube.decode import NODE_METRICS_CODEC
from ktui.cluster.kube.transport import ApiError, Transport, Unreachable
from ktui.cluster.model import Problem
from ktui.cluster.store import Store

log = logging.getLogger(__name__)

NODE_METRICS_PATH = "/apis/metrics.k8s.io/v1beta1/nodes"
MIN_INTERVAL = 15.0


class MetricsPoller:
    def __init__(
        self,
        transport: Transport,
        store: Store,
        *,
        interval: float = MIN_INTERVAL,
        min_interval: float = MIN_INTERVAL,
        absent_interval: float = 120.0,
    ) -> None:
        self.transport = transport
        self.store = store
        self.interval = max(interval, min_interval)
        self.absent_interval = max(absent_interval, self.interval)
        self.available: bool | None = None  # None until the first answer
        self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ktui-metrics", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def poll_once(self) -> bool:
        """One poll; True if usage was stored."""
        self.polls += 1
        try:
            data = self.transport.get(NODE_METRICS_PATH, timeout=(10.0, 30.0))
            usage, _ = NODE_METRICS_CODEC.decode_list(data)
        except ApiError as exc:
            if exc.status in (404, 503):
                why = "not installed" if exc.status == 404 else "unavailable"
                self._absent(f"metrics-server {why} ({exc.status} on /apis/metrics.k8s.io); "
                             "node usage shows requests only")
            elif exc.status in (401, 403):
                self._absent(f"cannot read node metrics: Forbidden ({exc.message})", code="forbidden")
            else:
                log.info("metrics poll failed: %s", exc)
            return False
        except (Unreachable, msgspec.DecodeError) as exc:
            log.info("metrics poll failed: %s", exc)
            return False
        self.store.set_usage({u.name: u for u in usage})
        if self.available is not True:
            self.store.clear_problem("metrics-unavailable", "metrics")
            self.store.clear_problem("forbidden", "metrics")
        self.available = True
        return True

    def _absent(self, message: str, code: str = "metrics-unavailable") -> None:
        self.available = False
        self.store.set_usage(None)
        if self.store.report_problem(Problem(code, "metrics", message)):
            log.info("%s", message)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            delay = self.interval if self.available is not False else self.absent_interval
            self._stop.wait(delay)
