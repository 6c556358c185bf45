"""A Prometheus (kube-prometheus-stack) that has scraped every dcgm-exporter: `/api/v1/query`.

Series are the exporters' samples relabelled as a ServiceMonitor with honorLabels false
leaves them: the workload's `pod`/`namespace`/`container` become `exported_*`, and the target
labels name the exporter pod (`pod`, `namespace="gpu-operator"`, `container`, `endpoint`,
`job`, `service`, `instance="<podIP>:9400"`). A query narrowed by `Hostname` (= or a plain
alternation) reads only those nodes' samples; the cost is per node, never per pod.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import msgspec

from ktui.sim import promql
from ktui.sim.dcgm import NAMES, DcgmExporter

# Exporter target of a node: (exporter pod name, pod IP).
TargetOf = Callable[[str], tuple[str, str]]

_TARGET = {"namespace": "gpu-operator", "container": "nvidia-dcgm-exporter",
           "endpoint": "gpu-metrics", "job": "nvidia-dcgm-exporter",
           "service": "nvidia-dcgm-exporter"}


def _value(text: str) -> str:
    """Prometheus prints sample values as Go's strconv 'f', -1: shortest, no exponent."""
    v = float(text)
    if v.is_integer() and abs(v) < 1e21:
        return str(int(v))
    return repr(v)


def error(message: str, error_type: str = "bad_data") -> tuple[int, dict[str, Any]]:
    status = {"bad_data": 400, "execution": 422, "timeout": 503, "internal": 500}.get(
        error_type, 500)
    return status, {"status": "error", "errorType": error_type, "error": message}


class Prometheus:
    def __init__(self, exporter: DcgmExporter, target_of: TargetOf) -> None:
        self.exporter = exporter
        self.target_of = target_of

    async def handle(self, method: str, path: str, query: str, body: bytes,
                     content_type: str) -> tuple[int, str, bytes]:
        """(status, content type, body) for one request reaching Prometheus's web port.
        A query over thousands of nodes yields to the event loop between nodes: Prometheus
        is another server, and the API server goes on answering while it evaluates."""
        if path != "/api/v1/query":
            return 404, "text/plain; charset=utf-8", b"404 page not found\n"
        if method not in ("GET", "POST"):
            return 405, "text/plain; charset=utf-8", b"Method Not Allowed\n"
        params = parse_qs(query, keep_blank_values=True)
        if method == "POST" and content_type.startswith("application/x-www-form-urlencoded"):
            for k, v in parse_qs(body.decode(errors="replace"), keep_blank_values=True).items():
                params.setdefault(k, []).extend(v)
        text = (params.get("query") or [""])[0]
        try:
            selectors = promql.parse(text)
        except promql.QueryError as exc:
            status, doc = error(f'invalid parameter "query": {exc}')
            return status, "application/json", msgspec.json.encode(doc)
        now = time.time()
        sides = []
        for sel in selectors:
            side: list[dict[str, Any]] = []
            for i, node in enumerate(self._nodes(sel)):
                side.extend(self._select_node(sel, node, now))
                if i % 50 == 49:
                    await asyncio.sleep(0)
            sides.append(side)
        doc = self._vector(sides)
        return 200, "application/json", msgspec.json.encode(doc)

    def query(self, text: str, now: float | None = None) -> tuple[int, dict[str, Any]]:
        try:
            selectors = promql.parse(text)
        except promql.QueryError as exc:
            return error(f'invalid parameter "query": {exc}')
        now = time.time() if now is None else now
        return 200, self._vector([self._select(sel, now) for sel in selectors])

    @staticmethod
    def _vector(sides: list[list[dict[str, Any]]]) -> dict[str, Any]:
        result = sides[0] if len(sides) == 1 else promql.union(sides)
        return {"status": "success", "data": {"resultType": "vector", "result": result}}

    def _nodes(self, sel: promql.Selector) -> list[str]:
        # (Exporters before 4.6 say `Hostname`, later ones `hostname`: a selector naming
        # nodes by either reads only those, as Prometheus' index would.)
        hosts = sel.literals("Hostname")
        if hosts is None:
            hosts = sel.literals("hostname")
        return self.exporter.nodes() if hosts is None else [
            h for h in dict.fromkeys(hosts) if h in self.exporter.allocator.nodes]

    def _select(self, sel: promql.Selector, now: float) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for node in self._nodes(sel):
            out.extend(self._select_node(sel, node, now))
        return out

    def _select_node(self, sel: promql.Selector, node: str, now: float) -> list[dict[str, Any]]:
        on_name = [m for m in sel.matchers if m.label == "__name__"]
        names = [n for n in NAMES if all(m.matches(n) for m in on_name)]
        # An instant query's samples carry the evaluation time, not the scrape's.
        at = round(now, 3)
        out: list[dict[str, Any]] = []
        sample = self.exporter.sample(node, now)
        if sample is not None:
            pod_name, pod_ip = self.target_of(node)
            target = {**_TARGET, "pod": pod_name, "instance": f"{pod_ip}:9400"}
            for r in sample.readings:
                base = dict(r.labels)
                for k, v in r.pod:
                    base[f"exported_{k}"] = v
                base.update(target)
                for name in names:
                    value = r.values.get(name)
                    if value is None:
                        continue
                    labels = {"__name__": name, **base}
                    if name == "DCGM_FI_DEV_XID_ERRORS":
                        labels |= {"err_code": "0", "err_msg": "No Error"}
                    if sel.matches(labels):
                        # Prometheus keeps a series' labels sorted by name.
                        out.append({"metric": dict(sorted(labels.items())),
                                    "value": [at, _value(value)]})
        return out
