"""Small helpers shared by the simulator tests: raw HTTP, fixtures, object builders."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ktui.sim.testing import Sim

FIXTURES = Path(__file__).parent / "fixtures"
TBL = ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;"
       "g=meta.k8s.io,application/json")
AGG = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;"
       "g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")


def fixture(name: str) -> Any:
    text = (FIXTURES / name).read_text()
    if name.endswith(".jsonl"):
        return [json.loads(line) for line in text.splitlines() if line]
    if name.endswith(".json"):
        return json.loads(text)
    return text


class Response:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    def lines(self) -> list[Any]:
        return [json.loads(line) for line in self.body.splitlines() if line.strip()]


def request(sim: Sim, method: str, path: str, body: Any = None, accept: str = "application/json",
            content_type: str = "application/json", token: str | None = None,
            headers: dict[str, str] | None = None, timeout: float = 20) -> Response:
    """One HTTP/1.1 request with the admin token (or `token`), body JSON-encoded."""
    parts = urlsplit(sim.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    h = {"Accept": accept, "Authorization": f"Bearer {token or sim.token}",
         "User-Agent": "ktui-sim-tests"}
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h["Content-Type"] = content_type
    h.update(headers or {})
    conn.request(method, path, body=data, headers=h)
    resp = conn.getresponse()
    out = Response(resp.status, resp.headers, resp.read())
    conn.close()
    return out


def job(name: str, *, annotations: dict[str, str] | None = None, restart: str = "Never",
        backoff: int | None = None, labels: dict[str, str] | None = None,
        resources: dict[str, Any] | None = None, image: str = "python:3.11",
        **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "default", "labels": labels or {}},
        "spec": {
            "template": {
                "metadata": {"labels": labels or {}, "annotations": annotations or {}},
                "spec": {"restartPolicy": restart, "containers": [{
                    "name": "trial", "image": image, "command": ["python", "train.py"],
                    "resources": resources or {"requests": {"cpu": "1", "memory": "1Gi"}}}]},
            },
            **spec,
        },
    }
    if backoff is not None:
        body["spec"]["backoffLimit"] = backoff
    return body


def condition(obj: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    for c in (obj.get("status") or {}).get("conditions") or ():
        if c["type"] == ctype and c["status"] == "True":
            return c
    return None


def job_done(sim: Sim, name: str, ctype: str = "Complete") -> bool:
    obj = sim.get("jobs", "default", name)
    return obj is not None and condition(obj, ctype) is not None


def pods_of(sim: Sim, job_name: str) -> list[dict[str, Any]]:
    return [p for p in sim.objects("pods", "default")
            if p["metadata"].get("labels", {}).get("job-name") == job_name]


def shape(value: Any) -> Any:
    """The structure of a JSON value: dict keys and list element shapes, not the values."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value[:1]]
    return type(value).__name__
