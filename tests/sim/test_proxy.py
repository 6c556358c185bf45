"""pods/proxy and services/proxy against kube-apiserver's captured answers, and the
simulated Prometheus behind its Services."""

from __future__ import annotations

import http.client
import shutil
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

from ktui.sim.testing import Sim, running_sim

from .gpu_helpers import GPU_OPERATOR, capture, exporter_for, variant
from .helpers import job, pods_of, request

NS = "/api/v1/namespaces/default"
QUERY = "/api/v1/namespaces/monitoring/services/prometheus-operated:web/proxy/api/v1/query"


def _status(body: dict[str, Any], **renames: str) -> dict[str, Any]:
    """A captured Status with the capture's names replaced by this test's."""
    out = dict(body)
    for old, new in renames.items():
        out["message"] = out["message"].replace(old, new)
        if "details" in out:
            out["details"] = {k: (new if v == old else v) for k, v in out["details"].items()}
    return out


def _fake_dcgm(sim: Sim, endpoints: dict[str, Any] | None) -> None:
    """The captures' selector-less Service `fake-dcgm` (port gpu-metrics 9400), in default."""
    sim.create({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "fake-dcgm", "namespace": "default"},
                "spec": {"ports": [{"name": "gpu-metrics", "port": 9400, "targetPort": 9400}]}})
    if endpoints is not None:
        sim.create({"apiVersion": "v1", "kind": "Endpoints",
                    "metadata": {"name": "fake-dcgm", "namespace": "default"}, **endpoints})


def _same(r: Any, name: str, **renames: str) -> None:
    status, headers, body = capture(name)
    assert r.status == status
    assert r.headers["Content-Type"] == headers["Content-Type"]
    assert r.headers["Cache-Control"] == headers["Cache-Control"]
    if isinstance(body, dict):
        assert r.json() == _status(body, **renames)
    else:
        assert r.body.decode() == body


def test_service_without_endpoints_object_is_not_found(sim: Sim) -> None:
    _fake_dcgm(sim, None)
    _same(request(sim, "GET", f"{NS}/services/fake-dcgm:9400/proxy/metrics"),
          "service-proxy-no-endpoints-object-port-number-404.http.txt")
    _same(request(sim, "GET", f"{NS}/services/fake-dcgm:gpu-metrics/proxy/metrics"),
          "service-proxy-no-endpoints-object-port-name-404.http.txt")
    status, body = variant("GET /api/v1/namespaces/cap-proxy/services/no-such-svc:9400/proxy/metrics")
    r = request(sim, "GET", f"{NS}/services/no-such-svc:9400/proxy/metrics")
    assert (r.status, r.json()) == (status, body)


def test_service_with_empty_endpoints(sim: Sim) -> None:
    _fake_dcgm(sim, {})
    _same(request(sim, "GET", f"{NS}/services/fake-dcgm:gpu-metrics/proxy/metrics"),
          "service-proxy-empty-endpoints-port-name-503.http.txt")
    status, body = variant("GET /api/v1/namespaces/cap-proxy/services/fake-dcgm:9999/proxy/metrics")
    r = request(sim, "GET", f"{NS}/services/fake-dcgm:9999/proxy/metrics")
    assert (r.status, r.json()) == (status, body)


def test_endpoint_address_without_pod_is_skipped(sim: Sim) -> None:
    _fake_dcgm(sim, {"subsets": [{"addresses": [{"ip": "192.0.2.2"}],
                                  "ports": [{"name": "gpu-metrics", "port": 9400}]}]})
    _same(request(sim, "GET", f"{NS}/services/fake-dcgm:9400/proxy/metrics"),
          "service-proxy-endpoints-without-targetref-port-number-503.http.txt")
    _same(request(sim, "GET", f"{NS}/services/fake-dcgm:gpu-metrics/proxy/metrics"),
          "service-proxy-endpoints-without-targetref-port-name-503.http.txt")
    for path, line in ((f"{NS}/services/fake-dcgm/proxy/metrics", "fake-dcgm/proxy/metrics"),
                       (f"{NS}/services/fake-dcgm:metrics/proxy/metrics", "fake-dcgm:metrics/proxy/metrics")):
        status, body = variant(f"GET /api/v1/namespaces/cap-proxy/services/{line}")
        r = request(sim, "GET", path)
        assert (r.status, r.json()) == (status, body)


def test_service_proxy_reaches_the_exporter(sim: Sim) -> None:
    base = f"/api/v1/namespaces/{GPU_OPERATOR}/services"
    for ident in ("nvidia-dcgm-exporter:9400", "nvidia-dcgm-exporter:gpu-metrics", "http:nvidia-dcgm-exporter:9400"):
        r = request(sim, "GET", f"{base}/{ident}/proxy/metrics")
        assert r.status == 200 and r.body.startswith(b"# HELP DCGM_FI_DEV_SM_CLOCK")
        assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    _same(request(sim, "GET", f"{base}/nvidia-dcgm-exporter:9400/proxy/no-such-path"),
          "service-proxy-backend-404-passthrough.http.txt")
    status, body = variant("GET /api/v1/namespaces/cap-proxy/services/https:fake-dcgm:9400/proxy/metrics")
    r = request(sim, "GET", f"{base}/https:nvidia-dcgm-exporter:9400/proxy/metrics")
    assert (r.status, r.json()) == (status, body)
    r = request(sim, "GET", f"{base}/nvidia-dcgm-exporter:9400/proxy")
    assert r.status == 301
    assert r.headers["Location"] == f"{base}/nvidia-dcgm-exporter:9400/proxy/"


def test_backend_down(sim: Sim) -> None:
    pod = exporter_for(sim, "sim-node-0002")
    name, ip = pod["metadata"]["name"], pod["status"]["podIP"]
    sim.delete("pods", GPU_OPERATOR, name)
    sim.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": GPU_OPERATOR},
                "spec": {"nodeName": "sim-node-0002", "containers": [{"name": "x", "image": "busybox"}]}})
    # A pod that holds no listening process: connection refused, at the IP the kubelet gave it.
    sim.wait_for(lambda s: (s.get("pods", GPU_OPERATOR, name) or {}).get("status", {}).get("podIP"))
    new_ip = sim.get("pods", GPU_OPERATOR, name)["status"]["podIP"]
    assert new_ip != ip
    _status_code, _, body = capture("service-proxy-backend-down-503.http.txt")
    r = request(sim, "GET", f"/api/v1/namespaces/{GPU_OPERATOR}/pods/{name}:9400/proxy/metrics")
    assert r.status == 503
    assert r.json() == _status(body, **{"192.0.2.2:9400": f"{new_ip}:9400"})


def test_pod_proxy_errors(sim: Sim) -> None:
    sim.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "gated", "namespace": "default"},
                "spec": {"schedulingGates": [{"name": "example.com/hold"}],
                         "containers": [{"name": "exporter", "image": "busybox",
                                         "ports": [{"name": "metrics", "containerPort": 9400}]}]}})
    _same(request(sim, "GET", f"{NS}/pods/gated:9400/proxy/metrics"), "pod-proxy-pending-pod-no-ip-400.http.txt")
    status, body = variant("GET /api/v1/namespaces/cap-proxy/pods/no-such-pod:9400/proxy/metrics")
    r = request(sim, "GET", f"{NS}/pods/no-such-pod:9400/proxy/metrics")
    assert (r.status, r.json()) == (status, body)


def test_named_pod_port_gets_no_response(sim: Sim) -> None:
    name = exporter_for(sim, "sim-node-0001")["metadata"]["name"]
    parts = urlsplit(sim.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", f"/api/v1/namespaces/{GPU_OPERATOR}/pods/{name}:metrics/proxy/metrics",
                 headers={"Authorization": f"Bearer {sim.token}"})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        conn.getresponse()
    conn.close()
    assert request(sim, "GET", "/version").status == 200  # the server stays healthy


def test_denied_proxy_is_forbidden(sim: Sim) -> None:
    name = exporter_for(sim, "sim-node-0001")["metadata"]["name"]
    sim.deny("viewer", "get", "pods/proxy")
    sim.deny("viewer", "get", "services/proxy")
    token = sim.token_for("viewer")
    r = request(sim, "GET", f"/api/v1/namespaces/{GPU_OPERATOR}/pods/{name}:9400/proxy/metrics", token=token)
    assert r.status == 403
    assert r.json() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": f'pods "{name}:9400" is forbidden: User "viewer" cannot get resource "pods/proxy" in API '
                   f'group "" in the namespace "gpu-operator"',
        "reason": "Forbidden", "details": {"name": f"{name}:9400", "kind": "pods"}, "code": 403}
    r = request(sim, "GET", f"{QUERY}?query=up", token=token)
    assert r.status == 403 and r.json()["message"] == (
        'services "prometheus-operated:web" is forbidden: User "viewer" cannot get resource "services/proxy" '
        'in API group "" in the namespace "monitoring"')
    # A POSTed query is the verb create, which is still allowed.
    r = request(sim, "POST", QUERY, body=b"query=DCGM_FI_DEV_GPU_TEMP", token=token,
                content_type="application/x-www-form-urlencoded")
    assert r.status == 200
    assert request(sim, "GET", f"/api/v1/namespaces/{GPU_OPERATOR}/pods/{name}:9400/proxy/metrics").status == 200


def _query(sim: Sim, q: str, path: str = QUERY) -> Any:
    return request(sim, "GET", f"{path}?query={quote(q)}")


@pytest.fixture
def fast() -> Iterator[Sim]:
    with running_sim(nodes=3, gpus_per_node=8, speed=100.0, dcgm_interval=0.2) as s:
        yield s


def test_prometheus_answers_with_relabelled_series(fast: Sim) -> None:
    sim = fast
    sim.create(job("p", annotations={"sim.ktui.dev/duration": "600"},
                   resources={"requests": {"cpu": "1", "nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": "1"}}))
    sim.wait_for(lambda s: any(p["status"].get("phase") == "Running" for p in pods_of(s, "p")))
    pod = pods_of(sim, "p")[0]
    node = pod["spec"]["nodeName"]
    exporter = exporter_for(sim, node)
    r = _query(sim, f'DCGM_FI_DEV_GPU_UTIL{{Hostname=~"{node}|sim-node-0009"}}')
    assert r.status == 200 and r.headers["Content-Type"] == "application/json"
    doc = r.json()
    assert doc["status"] == "success" and doc["data"]["resultType"] == "vector"
    result = doc["data"]["result"]
    assert len(result) == 8
    for item in result:
        m = item["metric"]
        assert list(m) == sorted(m)
        assert (m["__name__"], m["Hostname"], m["namespace"], m["pod"], m["container"]) == (
            "DCGM_FI_DEV_GPU_UTIL", node, "gpu-operator", exporter["metadata"]["name"], "nvidia-dcgm-exporter")
        assert (m["job"], m["service"], m["endpoint"]) == ("nvidia-dcgm-exporter",) * 2 + ("gpu-metrics",)
        assert m["instance"] == f"{exporter['status']['podIP']}:9400"
        ts, value = item["value"]
        assert isinstance(ts, float) and isinstance(value, str)
    # A collection after the pod started attributes its GPU (collections every 0.2 s here).
    exported = f'DCGM_FI_DEV_GPU_UTIL{{exported_pod="{pod["metadata"]["name"]}"}}'
    sim.wait_for(lambda s: len(_query(s, exported).json()["data"]["result"]) == 1, timeout=15)
    [held] = _query(sim, exported).json()["data"]["result"]
    assert (held["metric"]["exported_namespace"], held["metric"]["exported_container"]) == ("default", "trial")
    assert "exported_pod" not in result[0]["metric"] or result[0]["metric"]["exported_pod"] == pod["metadata"]["name"]
    # Several names at once, through both Services and the port number.
    both = '{__name__=~"DCGM_FI_DEV_GPU_UTIL|DCGM_FI_DEV_FB_USED", Hostname="sim-node-0001"}'
    for path in (QUERY, QUERY.replace("prometheus-operated:web", "kube-prometheus-stack-prometheus:http-web"),
                 QUERY.replace("prometheus-operated:web", "kube-prometheus-stack-prometheus:9090")):
        result = _query(sim, both, path).json()["data"]["result"]
        assert sorted({i["metric"]["__name__"] for i in result}) == ["DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_GPU_UTIL"]
        assert len(result) == 16
    # `or` drops right-hand series whose labels (name aside) match the left's, as Prometheus does.
    either = _query(sim, 'DCGM_FI_DEV_GPU_UTIL{Hostname="sim-node-0001"} or DCGM_FI_DEV_FB_USED').json()
    names = [i["metric"]["__name__"] for i in either["data"]["result"]]
    assert names.count("DCGM_FI_DEV_GPU_UTIL") == 8 and names.count("DCGM_FI_DEV_FB_USED") == 16


@pytest.mark.parametrize("query, error", [
    ("sum(DCGM_FI_DEV_GPU_UTIL)", "the simulated Prometheus supports only vector selectors"),
    ('DCGM_FI_DEV_GPU_UTIL{Hostname="a"', "1:34: parse error: unexpected end of input inside braces"),
    ("", "1:1: parse error: no expression found in input"),
    ('{Hostname=~".*"}', "vector selector must contain at least one non-empty matcher"),
])
def test_prometheus_rejects_what_it_does_not_support(sim: Sim, query: str, error: str) -> None:
    r = _query(sim, query)
    assert r.status == 400
    doc = r.json()
    assert (doc["status"], doc["errorType"]) == ("error", "bad_data")
    assert doc["error"].startswith('invalid parameter "query": ') and error in doc["error"]


@pytest.mark.kubectl
def test_kubectl_get_raw_shows_the_exporter(sim: Sim, kubectl: Any) -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    name = exporter_for(sim, "sim-node-0003")["metadata"]["name"]
    out = kubectl("get", "--raw", f"/api/v1/namespaces/gpu-operator/pods/{name}:9400/proxy/metrics").stdout
    direct = request(sim, "GET", f"/api/v1/namespaces/gpu-operator/pods/{name}:9400/proxy/metrics")
    assert out == direct.body.decode()  # the same collection, byte for byte
    assert 'Hostname="sim-node-0003"' in out
    svc = kubectl("get", "svc", "-n", "monitoring").stdout.splitlines()
    assert svc[0].split() == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert [line.split()[0] for line in svc[1:]] == ["kube-prometheus-stack-prometheus", "prometheus-operated"]
    pods = kubectl("get", "pods", "-n", "gpu-operator", "-o", "name").stdout.split()
    assert len(pods) == 3
