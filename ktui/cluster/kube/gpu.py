"""GPU readings on a cluster, from the exporters it already runs, for the nodes on screen.

Sources, found without configuration and tried in this order (facts and names:
shared/k8s-reference/ecosystem-facts.md, sections 1 and 3):
1. NVIDIA dcgm-exporter pods (GPU Operator: `app=nvidia-dcgm-exporter`; its Helm chart:
   `app.kubernetes.io/name=dcgm-exporter`), in any namespace, each read through the API
   server's pod proxy: no port-forward, no network path to the nodes needed. One request per
   node read, a bounded number in flight.
2. A Prometheus that scrapes them (kube-prometheus-stack, prometheus-operator, the community
   chart), found by its usual Service names and asked through the service proxy, or given as
   ``prometheus`` (a URL, or "namespace/service[:port]"): one instant query per refresh for
   every node read, the path for hundreds of GPU nodes.
3. Neither: GPUs show allocation only, and one problem line says why and what to install.
A refused proxy (RBAC) is one problem line naming the verb and resource; the next source is
tried and everything else keeps working.

Only the nodes the screen asks for (``set_focus``: the nodes shown and the nodes of the
trials shown) are read, every ``interval`` seconds (dcgm-exporter collects every 30 s; 15 s
sees each new sample within half its age).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import msgspec

from ktui.cluster.dcgm import SERIES, DcgmError, GpuReading, parse_dcgm, parse_prometheus_vector
from ktui.cluster.gpuuse import GpuIdleRule, device_of, held_devices, pod_use
from ktui.cluster.kube.transport import ApiError, Transport, Unreachable
from ktui.cluster.model import GpuDevice, Problem
from ktui.cluster.records import ObjKey
from ktui.cluster.store import Store

log = logging.getLogger(__name__)

EXPORTER_SELECTORS = ("app=nvidia-dcgm-exporter", "app.kubernetes.io/name=dcgm-exporter")
EXPORTER_NAMESPACES = ("gpu-operator", "nvidia-gpu-operator", "dcgm-exporter", "monitoring")
# (service, port name) as kube-prometheus-stack / prometheus-operator, kube-prometheus and
# the community chart name them.
PROMETHEUS_SERVICES = (("prometheus-operated", "web"), ("kube-prometheus-stack-prometheus", "http-web"),
                       ("prometheus-k8s", "web"), ("prometheus-server", "http"))
QUERY_NODES = 100
MAX_FOCUS = 400  # more nodes than any screen shows: a runaway caller costs bounded requests


class _Port(msgspec.Struct):
    containerPort: int = 0
    name: str = ""


class _Container(msgspec.Struct):
    ports: list[_Port] = []


class _PodSpec(msgspec.Struct):
    nodeName: str = ""
    containers: list[_Container] = []


class _PodStatus(msgspec.Struct):
    phase: str = ""


class _Meta(msgspec.Struct):
    name: str = ""
    namespace: str = ""


class _Pod(msgspec.Struct):
    metadata: _Meta = msgspec.field(default_factory=_Meta)
    spec: _PodSpec = msgspec.field(default_factory=_PodSpec)
    status: _PodStatus = msgspec.field(default_factory=_PodStatus)


class _PodList(msgspec.Struct):
    items: list[_Pod] = []


class _SvcPort(msgspec.Struct):
    port: int = 0
    name: str = ""


class _SvcSpec(msgspec.Struct):
    ports: list[_SvcPort] = []


class _Svc(msgspec.Struct):
    metadata: _Meta = msgspec.field(default_factory=_Meta)
    spec: _SvcSpec = msgspec.field(default_factory=_SvcSpec)


class _SvcList(msgspec.Struct):
    items: list[_Svc] = []


class _CensusLabels(msgspec.Struct, gc=False):
    gpu: str = ""
    UUID: str = ""
    Hostname: str = ""
    hostname: str = ""
    GPU_I_ID: str = ""
    exported_pod: str = ""
    exported_namespace: str = ""


class _CensusItem(msgspec.Struct, gc=False):
    metric: _CensusLabels
    value: list[float | str]


class _CensusData(msgspec.Struct, gc=False):
    result: list[_CensusItem] = []


class _CensusAnswer(msgspec.Struct, gc=False):
    status: str = ""
    data: _CensusData | None = None
    error: str = ""


_PODS = msgspec.json.Decoder(_PodList)
_CENSUS = msgspec.json.Decoder(_CensusAnswer)
_SVCS = msgspec.json.Decoder(_SvcList)


@dataclass(frozen=True)
class Exporter:
    namespace: str
    pod: str
    port: int
    node: str

    @property
    def path(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/pods/{self.pod}:{self.port}/proxy/metrics"


def _for(exc: ApiError) -> str:
    return f" for user {exc.user}" if exc.user else ""


def prometheus_query(nodes: Iterable[str]) -> str:
    """One instant query for the reading series of every GPU on ``nodes``: exporters before
    4.6 label the node `Hostname`, later ones `hostname`. (Node names are [a-z0-9.-]; a `.`
    is escaped for the regex, and the backslash again for the PromQL string.)"""
    names = "|".join(n.replace(".", "\\\\.") for n in sorted(set(nodes)))
    series = "|".join(SERIES)
    return " or ".join(f'{{__name__=~"{series}",{label}=~"{names}"}}' for label in ("Hostname", "hostname"))


class GpuPoller:
    def __init__(self, transport: Transport, store: Store, *, interval: float = 15.0,
                 prometheus: str | None = None, rule: GpuIdleRule | None = None,
                 concurrency: int = 8, rediscover: float = 300.0, timeout: float = 10.0,
                 namespace: str | None = None) -> None:
        """``namespace``: the one whose pods the store watches (None: every namespace)."""
        self.transport = transport
        self.namespace = namespace
        self.store = store
        self.interval = interval
        self.rule = rule or GpuIdleRule()
        self.prometheus_given = prometheus
        self.rediscover = rediscover
        self.timeout = timeout
        self.exporters: dict[str, Exporter] = {}  # node -> its exporter
        self.prometheus: str | None = None  # a URL or a service proxy path, once found
        self.discovered_at: float | None = None
        self.pods_proxy_denied = False
        self.requests = 0  # sent to read readings (a benchmark's figure)
        self.refreshes = 0
        self.census_requests = 0
        self._focus: set[str] = set()
        self._read_once: set[str] = set()
        self._left: dict[str, float] = {}  # node -> when it left the screen
        # The idle census: every held GPU's use, off screen too, where one query can tell.
        # (Idle is judged over rule.after, 5 min by default: a census every half of that
        # flags a trial at most half of it late.)
        self.census_interval = max(60.0, 4 * interval, self.rule.after / 2)
        self._census_at = float("-inf")
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="ktui-gpu")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ktui-gpu", daemon=True)

    # ---------------------------------------------------------------------------------------
    # Lifecycle

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def join(self, timeout: float | None = None) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def set_focus(self, nodes: Iterable[str]) -> None:
        """The nodes whose GPUs the screen shows; a node not read yet is read at once. The
        readings of a node off screen for two intervals are forgotten: kept, they would go
        stale (a finished trial still holding its GPUs) and be counted as if current."""
        focus = set(list(nodes)[:MAX_FOCUS])
        now = time.monotonic()
        with self._lock:
            new = focus - self._focus - self._read_once
            for n in self._focus - focus:
                self._left[n] = now
            for n in focus:
                self._left.pop(n, None)
            self._focus = focus
        if new:
            self._wake.set()

    def _forget(self) -> None:
        cutoff = time.monotonic() - 2 * self.interval
        with self._lock:
            gone = [n for n, t in self._left.items() if t < cutoff]
            for n in gone:
                del self._left[n]
                self._read_once.discard(n)
        if gone:
            # With a census, its pods' use stays (and their idle clocks run on); without
            # one it would go stale, and goes.
            self.store.set_gpu({n: () for n in gone}, {}, devices_only=self.prometheus is not None)

    def _run(self) -> None:
        # Which GPUs a finished pod still holds in the exporter's last collection is told
        # by the pods' phases: read once they are listed (or 10 s have gone by).
        deadline = time.monotonic() + 10.0
        while not self._stop.is_set() and time.monotonic() < deadline:
            if self.store.wait_synced(["pods"], timeout=0.25):
                break
        while not self._stop.is_set():
            with self._lock:
                focus = set(self._focus)
            try:
                self._forget()
                if focus:
                    self.refresh(focus)
                    with self._lock:
                        self._read_once |= focus
                    if self.prometheus is not None and time.monotonic() - self._census_at > self.census_interval:
                        self.census(focus)
            except Exception:  # a reading nobody foresaw must not end GPU readings for good
                if self._stop.is_set():
                    return
                log.exception("GPU readings")
            self._wake.wait(self.interval)
            if self._wake.is_set() and not self._stop.is_set():
                self._stop.wait(0.3)  # a burst of focus changes (scrolling) reads once
            self._wake.clear()

    # ---------------------------------------------------------------------------------------
    # One refresh

    def refresh(self, nodes: Collection[str]) -> bool:
        """Read ``nodes``' GPUs from the first source that answers and store them; True if
        any source answered. (The poller's thread and a command may both call it.)"""
        with self._refresh_lock:
            return self._refresh(nodes)

    def _refresh(self, nodes: Collection[str]) -> bool:
        self.refreshes += 1
        due = self.discovered_at is None or time.monotonic() - self.discovered_at > self.rediscover
        if due or (not self.exporters and self.prometheus is None
                   and time.monotonic() - (self.discovered_at or 0) > 60.0):
            self.discover()
        readings: dict[str, list[GpuReading]] | None = None
        read: Collection[str] = ()
        if self.prometheus_given is None and self.exporters and not self.pods_proxy_denied:
            read = [n for n in nodes if n in self.exporters]
            readings = self._read_exporters(read)
        if readings is None and self.prometheus is not None:
            read = nodes
            readings = self._read_prometheus(nodes)
        if readings is None:
            self._none_found()
            return False
        self._store(read, readings)
        return True

    def _store(self, nodes: Collection[str], readings: dict[str, list[GpuReading]]) -> None:
        trial_of: dict[ObjKey, str] = {}
        for rs in readings.values():
            for r in rs:
                if r.pod is None:
                    continue
                rec = self.store.record("pods", r.pod)
                if rec is not None and rec.job:
                    trial_of[r.pod] = rec.job
                if not self._live(r.pod):
                    # The exporter's last collection (every 30 s) predates the pod's end:
                    # the GPU is free, and counting it as held would say more are held
                    # than the pods request.
                    r.pod = None
        devices: dict[str, tuple[GpuDevice, ...]] = {
            n: tuple(device_of(r, trial_of) for r in readings.get(n, ())) for n in nodes}
        held = [h for n, devs in devices.items() for h in held_devices(n, devs)]
        previous = {k: p for k in {h[0] for h in held} if (p := self.store.pod_gpu(k)) is not None}
        self.store.set_gpu(devices, pod_use(held, previous, self.rule, time.time()))

    def census(self, focus: Collection[str]) -> bool:
        """Every trial's GPU use cluster-wide, nodes on screen apart (read in full), in one
        Prometheus query for the GPUs that pods hold, so the `gpu-idle` filter and the GPU
        sort see every idle trial, not only those on screen. Only with Prometheus: from the
        exporters it would cost one request per GPU node. One series per GPU (GPU_UTIL;
        GR_ENGINE_ACTIVE for MIG instances, which have no GPU_UTIL), decoded into just the
        labels it needs: at 7,500 trials holding GPUs, ~15 ms of this thread (NOTES.md M27)."""
        self._census_at = time.monotonic()
        if self.prometheus is None:
            return False
        query = ('DCGM_FI_DEV_GPU_UTIL{exported_pod!=""} or '
                 'DCGM_FI_PROF_GR_ENGINE_ACTIVE{exported_pod!="",GPU_I_ID!=""}')
        try:
            answer = _CENSUS.decode(self._query_raw(query, census=True))
        except (ApiError, Unreachable, OSError, msgspec.DecodeError) as exc:
            log.info("GPU census: %s", exc)
            return False
        if answer.status != "success" or answer.data is None:
            log.info("GPU census: %s", answer.error or "not a Prometheus answer")
            return False
        known = self.store.keys("nodes")
        by_pod = {e.pod: n for n, e in self.exporters.items()}
        held = []
        for item in answer.data.result:
            m = item.metric
            host = m.Hostname or m.hostname
            node = host if host in known else by_pod.get(host, host)
            pod = (m.exported_namespace, m.exported_pod)
            if node in focus or not m.exported_pod or not self._live(pod):
                continue
            try:
                value = float(item.value[1])
            except (IndexError, ValueError):
                continue
            util = value * 100.0 if m.GPU_I_ID else value  # GR_ENGINE_ACTIVE is a 0-1 ratio
            held.append((pod, node, GpuDevice(int(m.gpu) if m.gpu.isdigit() else 0, "", round(util), uuid=m.UUID)))
        previous = {k: p for k in {h[0] for h in held} if (p := self.store.pod_gpu(k)) is not None}
        self.store.set_gpu({}, pod_use(held, previous, self.rule, time.time()), census_but=focus)
        return True

    def _live(self, pod: ObjKey) -> bool:
        """Whether a pod may still hold GPUs (see _store)."""
        if not self.store.is_synced("pods") or (self.namespace is not None and pod[0] != self.namespace):
            return True
        rec = self.store.record("pods", pod)
        return rec is not None and rec.phase not in ("Succeeded", "Failed")

    def _read_exporters(self, nodes: Collection[str]) -> dict[str, list[GpuReading]] | None:
        """Each node's exporter through the pod proxy; None if the proxy is refused."""
        results = list(self._pool.map(self._read_exporter, [self.exporters[n] for n in nodes]))
        out: dict[str, list[GpuReading]] = {}
        for node, got in zip(nodes, results, strict=True):
            if isinstance(got, ApiError) and got.status in (401, 403):
                self.pods_proxy_denied = True
                self.store.report_problem(Problem(
                    "forbidden", "gpu.pods/proxy",
                    f"GPU metrics: Forbidden: get pods/proxy in {self.exporters[node].namespace}{_for(got)}"))
                return None
            if isinstance(got, list):
                out[node] = got
            # (Anything else, an exporter restarting, is that node's readings missing this time.)
        self.store.clear_problem("forbidden", "gpu.pods/proxy")
        failed = [r for r in results if not isinstance(r, list)]
        if nodes and len(failed) == len(nodes):
            self.store.report_problem(Problem("gpu-unavailable", "gpu", f"GPU metrics: dcgm-exporter: {failed[0]}"))
        else:
            self.store.clear_problem("gpu-unavailable", "gpu")
        self.store.set_gpu_source(f"dcgm-exporter ({len(self.exporters)} via pods/proxy)")
        return out

    def _read_exporter(self, e: Exporter) -> list[GpuReading] | Exception:
        self.requests += 1
        try:
            text = self.transport.get(e.path, accept="text/plain", timeout=(5.0, self.timeout))
            return parse_dcgm(text.decode("utf-8", "replace"))
        except (ApiError, Unreachable, DcgmError) as exc:
            log.info("GPU metrics of %s (%s/%s): %s", e.node, e.namespace, e.pod, exc)
            return exc

    def _read_prometheus(self, nodes: Collection[str]) -> dict[str, list[GpuReading]] | None:
        if not nodes:
            return {}
        assert self.prometheus is not None
        names = sorted(set(nodes))
        readings: list[GpuReading] = []
        try:
            # One query for what a screen shows; a command printing every node sends one
            # per QUERY_NODES (a query's URL stays well under the servers' 8-16 KiB limits).
            for i in range(0, len(names), QUERY_NODES):
                readings.extend(parse_prometheus_vector(self._query(prometheus_query(names[i:i + QUERY_NODES]))))
        except ApiError as exc:
            if exc.status in (401, 403):
                self.store.report_problem(Problem(
                    "forbidden", "gpu.services/proxy",
                    f"GPU metrics: Forbidden: get services/proxy in {self._where().partition('/')[0]}{_for(exc)}"))
            else:
                self.store.report_problem(Problem(
                    "gpu-unavailable", "gpu", f"Prometheus at {self.prometheus} did not answer: {exc}"))
            return None
        except (Unreachable, OSError, ValueError, DcgmError, msgspec.DecodeError) as exc:
            self.store.report_problem(Problem(
                "gpu-unavailable", "gpu", f"Prometheus at {self._where()} did not answer: {exc}"))
            return None
        self.store.clear_problem("forbidden", "gpu.services/proxy")
        self.store.clear_problem("gpu-unavailable", "gpu")
        self.store.set_gpu_source(f"Prometheus ({self._where()})")
        by_pod = {e.pod: n for n, e in self.exporters.items()}
        out: dict[str, list[GpuReading]] = {}
        wanted = set(nodes)
        for r in readings:
            node = r.node if r.node in wanted else by_pod.get(r.node or "")
            if node in wanted:
                out.setdefault(node, []).append(r)  # type: ignore[arg-type]
        return out

    def _query(self, query: str) -> object:
        return msgspec.json.decode(self._query_raw(query))

    def _query_raw(self, query: str, census: bool = False) -> bytes:
        assert self.prometheus is not None
        if census:
            self.census_requests += 1
        else:
            self.requests += 1
        if self.prometheus.startswith(("http://", "https://")):
            url = self.prometheus.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": query})
            with urllib.request.urlopen(url, timeout=self.timeout) as resp:  # noqa: S310 (a URL the user gave)
                return resp.read()  # type: ignore[no-any-return]
        return self.transport.get(self.prometheus + "/api/v1/query", [("query", query)], timeout=(5.0, self.timeout))

    def _where(self) -> str:
        p = self.prometheus or ""
        if p.startswith("/api/v1/namespaces/"):
            parts = p.split("/")  # /api/v1/namespaces/<ns>/services/<name:port>/proxy
            return f"{parts[4]}/{parts[6]} via services/proxy"
        return p

    def _none_found(self) -> None:
        self.store.set_gpu_source(None)
        if not any(v.allocatable.gpu for v in self.store.snapshot_nodes().values()):
            return  # no GPUs here: nothing to say
        if self.pods_proxy_denied and self.prometheus is None:
            return  # (the forbidden line says it)
        # (One line at 80 columns; the README and `ktui nodes` say more.)
        self.store.report_problem(Problem(
            "gpu-unavailable", "gpu", "no GPU use: no dcgm-exporter or Prometheus found (install the GPU Operator)"))

    # ---------------------------------------------------------------------------------------
    # Discovery

    def discover(self) -> None:
        self.discovered_at = time.monotonic()
        self.pods_proxy_denied = False  # (RBAC may have changed: asked again)
        self.exporters = self._find_exporters()
        if self.prometheus_given is not None:
            given = self.prometheus_given
            if not given.startswith(("http://", "https://")):
                ns, _, svc = given.partition("/")
                given = f"/api/v1/namespaces/{ns}/services/{svc}/proxy"
            self.prometheus = given
        elif self.prometheus is None:
            self.prometheus = self._find_prometheus()

    def _find_exporters(self) -> dict[str, Exporter]:
        found: dict[str, Exporter] = {}
        for sel in EXPORTER_SELECTORS:
            pods = self._list("/api/v1/pods", sel)
            if pods is None:  # cannot list every namespace's pods: try the usual ones
                pods = [p for ns in EXPORTER_NAMESPACES for p in self._list(f"/api/v1/namespaces/{ns}/pods", sel) or ()]
            for p in pods:
                node = p.spec.nodeName
                if not node or p.status.phase != "Running" or node in found:
                    continue
                ports = [port for c in p.spec.containers for port in c.ports]
                port = next((x.containerPort for x in ports if x.name == "metrics"),
                            ports[0].containerPort if ports else 9400)
                found[node] = Exporter(p.metadata.namespace, p.metadata.name, port, node)
        return found

    def _list(self, path: str, selector: str) -> list[_Pod] | None:
        try:
            return _PODS.decode(self.transport.get(path, [("labelSelector", selector)],
                                                   timeout=(5.0, 60.0))).items
        except ApiError as exc:
            if exc.status not in (401, 403, 404):
                log.info("listing GPU exporters: %s", exc)
            return None
        except (Unreachable, msgspec.DecodeError) as exc:
            log.info("listing GPU exporters: %s", exc)
            return None

    def _find_prometheus(self) -> str | None:
        for name, port_name in PROMETHEUS_SERVICES:
            try:
                svcs = _SVCS.decode(self.transport.get(
                    "/api/v1/services", [("fieldSelector", f"metadata.name={name}")], timeout=(5.0, 30.0))).items
            except ApiError as exc:
                if exc.status not in (401, 403):
                    continue
                svcs = []
                # Cannot list every namespace's services: ask the usual one.
                with contextlib.suppress(ApiError, Unreachable, msgspec.DecodeError):
                    one = msgspec.json.decode(self.transport.get(f"/api/v1/namespaces/monitoring/services/{name}"),
                                              type=_Svc)
                    svcs = [_Svc(_Meta(name, "monitoring"), one.spec)]
            except (Unreachable, msgspec.DecodeError):
                return None
            for svc in svcs:
                port = next((p for p in svc.spec.ports if p.name == port_name), None)
                ref = port.name if port is not None else str(svc.spec.ports[0].port) if svc.spec.ports else ""
                target = f"{svc.metadata.name}:{ref}" if ref else svc.metadata.name
                return f"/api/v1/namespaces/{svc.metadata.namespace}/services/{target}/proxy"
        return None
