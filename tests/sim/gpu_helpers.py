"""Helpers for the GPU telemetry tests: scrape an exporter through the pod proxy, parse it."""

from __future__ import annotations

import json
import re
from typing import Any

import kubernetes
from prometheus_client.parser import text_string_to_metric_families

from ktui.sim.testing import Sim

from .helpers import FIXTURES

GPU_OPERATOR = "gpu-operator"
_LINE = re.compile(r"^(\w+)\{(.*)\} (\S+)$")


def exporter_for(sim: Sim, node: str) -> dict[str, Any]:
    return next(p for p in sim.objects("pods", GPU_OPERATOR) if p["spec"]["nodeName"] == node)


def scrape(core: kubernetes.client.CoreV1Api, pod: str, port: str = ":9400") -> tuple[int, dict[str, str], str]:
    """GET pods/<pod><port>/proxy/metrics with the official client: (status, headers, text)."""
    resp = core.connect_get_namespaced_pod_proxy_with_path(f"{pod}{port}", GPU_OPERATOR, "metrics",
                                                           _preload_content=False)
    return resp.status, dict(resp.headers), resp.data.decode()


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """(metric, labels, value) of every sample, parsed by prometheus_client."""
    return [(s.name, s.labels, s.value) for fam in text_string_to_metric_families(text)
            for s in fam.samples]


def label_orders(text: str) -> list[list[str]]:
    """Label names of each sample line in the order the exporter printed them."""
    out = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if m:
            out.append(re.findall(r'(\w+)="(?:[^"\\]|\\.)*"', m.group(2)))
    return out


def of(text: str, metric: str) -> dict[str, tuple[dict[str, str], float]]:
    """GPU index (plus /GPU_I_ID on MIG lines) -> (labels, value) of one metric."""
    out = {}
    for name, labels, value in samples(text):
        if name == metric:
            key = labels["gpu"] + (f"/{labels['GPU_I_ID']}" if "GPU_I_ID" in labels else "")
            out[key] = (labels, value)
    return out


def capture(name: str) -> tuple[int, dict[str, str], Any]:
    """A captured kube-apiserver answer: (status, headers, body as JSON when it is JSON)."""
    text = (FIXTURES / "proxy" / name).read_text()
    head, _, body = text.partition("\n\n")
    lines = head.splitlines()
    status = int(lines[0].split()[1])
    headers = dict(line.split(": ", 1) for line in lines[1:])
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        parsed = body
    return status, headers, parsed


def variant(request_line: str) -> tuple[int, Any]:
    """One answer of proxy-variants.txt, found by its `### GET ...` line: (status, body)."""
    text = (FIXTURES / "proxy" / "proxy-variants.txt").read_text()
    part = text.split(f"### {request_line}\n", 1)[1].split("\n### ", 1)[0]
    head, _, body = part.partition("\n\n")
    status = int(head.splitlines()[0].split()[1])
    body = body.strip()
    return status, json.loads(body) if body.startswith("{") else body
