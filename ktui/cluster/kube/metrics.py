"""Node and pod usage from metrics.k8s.io, polled.

metrics-server refreshes every 15 s (its default --metric-resolution), so polling faster only
loads the API server; the floor is 15 s unless a caller (a test) lowers it explicitly. When
the API is absent (404, or 503 from an unavailable APIService) the problem is reported once
and the store's node views fall back to requests; polling continues slowly in case it
appears. Pod usage (the job table's CPU and MEM) is read for the namespace in view, or every
namespace; metrics-server only reports running pods, so the list is as long as what runs.
"""

from __future__ import annotations

import logging
import threading

import msgspec

from ktui.cluster.kube.decode import NODE_METRICS_CODEC, POD_METRICS_CODEC
from ktui.cluster.kube.transport import ApiError, Transport, Unreachable
from ktui.cluster.model import Problem
from ktui.cluster.store import Store

log = logging.getLogger(__name__)

NODE_METRICS_PATH = "/apis/metrics.k8s.io/v1beta1/nodes"
POD_METRICS_PATH = "/apis/metrics.k8s.io/v1beta1/pods"


def pod_metrics_path(namespace: str | None) -> str:
    if namespace is None:
        return POD_METRICS_PATH
    return f"/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods"
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
        pods: bool = True,
        namespace: str | None = None,
    ) -> None:
        """``pods``: read pod usage too, in ``namespace`` (None: all namespaces)."""
        self.transport = transport
        self.pods_path = pod_metrics_path(namespace) if pods else None
        self.pods_denied = False
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
        self.store.connection_ok()  # (an answer ends an outage as a watch event does)
        self.store.set_usage({u.name: u for u in usage})
        if self.available is not True:
            self.store.clear_problem("metrics-unavailable", "metrics")
            self.store.clear_problem("forbidden", "metrics")
        self.available = True
        self._poll_pods()
        return True

    def _poll_pods(self) -> None:
        if self.pods_path is None or self.pods_denied:
            return
        try:
            data = self.transport.get(self.pods_path, timeout=(10.0, 60.0))
            usage, _ = POD_METRICS_CODEC.decode_list(data)
        except ApiError as exc:
            if exc.status in (401, 403):
                # Node metrics are readable but pod metrics are not: the CPU and MEM
                # columns stay empty; say so once and stop asking.
                self.pods_denied = True
                self.store.report_problem(Problem("forbidden", "pods.metrics",
                                                  f"cannot read pod metrics: Forbidden ({exc.message})"))
            else:
                log.info("pod metrics poll failed: %s", exc)
            return
        except (Unreachable, msgspec.DecodeError) as exc:
            log.info("pod metrics poll failed: %s", exc)
            return
        self.store.set_pod_usage({u.key: u for u in usage})

    def _absent(self, message: str, code: str = "metrics-unavailable") -> None:
        self.available = False
        self.store.set_usage(None)
        self.store.set_pod_usage({})
        if self.store.report_problem(Problem(code, "metrics", message)):
            log.info("%s", message)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            delay = self.interval if self.available is not False else self.absent_interval
            self._stop.wait(delay)
