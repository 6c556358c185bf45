"""RBAC denials, injected faults, compaction and server restarts."""

from __future__ import annotations

import socket
import time

import kubernetes
import pytest
import urllib3

from ktui.sim.testing import Sim

from .helpers import job, request
from .test_watch import Stream


def test_forbidden_matches_kube_apiserver(sim: Sim) -> None:
    sim.deny("viewer", "list", "pods")
    sim.deny("viewer", "create", "jobs", namespace="default")
    sim.deny("viewer", "get", "pods/log")
    token = sim.token_for("viewer")
    r = request(sim, "GET", "/api/v1/pods", token=token)
    assert r.status == 403
    assert r.json() == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'pods is forbidden: User "viewer" cannot list resource "pods" in API group "" '
                   "at the cluster scope",
        "reason": "Forbidden", "details": {"kind": "pods"}, "code": 403}
    r = request(sim, "POST", "/apis/batch/v1/namespaces/default/jobs", job("x"), token=token)
    assert r.json()["message"] == ('jobs.batch is forbidden: User "viewer" cannot create '
                                   'resource "jobs" in API group "batch" in the namespace '
                                   '"default"')
    assert r.json()["details"] == {"group": "batch", "kind": "jobs"}
    r = request(sim, "GET", "/api/v1/namespaces/default/pods/p/log", token=token)
    assert r.status == 403 and 'cannot get resource "pods/log"' in r.json()["message"]
    assert request(sim, "GET", "/api/v1/nodes", token=token).status == 200
    assert request(sim, "GET", "/api/v1/pods").status == 200


def test_forbidden_through_the_python_client(sim: Sim) -> None:
    sim.deny("viewer", "*", "jobs")
    api = kubernetes.config.new_client_from_config(str(sim.kubeconfig_for("viewer")))
    batch = kubernetes.client.BatchV1Api(api)
    with pytest.raises(kubernetes.client.ApiException) as err:
        batch.list_namespaced_job("default")
    assert err.value.status == 403
    kubernetes.client.CoreV1Api(api).list_namespaced_pod("default")
    api.close()


def test_error_rate_with_retry_after(sim: Sim) -> None:
    sim.faults.set_error_rate(share=1.0, status=429, retry_after=2)
    r = request(sim, "GET", "/api/v1/pods")
    assert r.status == 429 and r.headers["Retry-After"] == "2"
    assert r.json()["reason"] == "TooManyRequests"
    assert r.json()["details"] == {"retryAfterSeconds": 2}
    assert request(sim, "GET", "/version").status == 200
    sim.faults.set_error_rate(share=0.5, status=500)
    statuses = {request(sim, "GET", "/api/v1/nodes").status for _ in range(40)}
    assert statuses == {200, 500}
    sim.faults.clear()
    assert all(request(sim, "GET", "/api/v1/nodes").status == 200 for _ in range(10))


def test_latency(sim: Sim) -> None:
    sim.faults.set_latency(0.2)
    t0 = time.monotonic()
    request(sim, "GET", "/api/v1/nodes")
    assert time.monotonic() - t0 >= 0.2
    sim.faults.clear()
    t0 = time.monotonic()
    request(sim, "GET", "/api/v1/nodes")
    assert time.monotonic() - t0 < 0.2


def raw_watch(sim: Sim, path: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", sim.port), timeout=10)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {sim.token}\r\n"
                 "Accept: application/json\r\n\r\n".encode())
    return sock


def read_all(sock: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
        if data.endswith(b"\r\n0\r\n\r\n"):
            break  # complete chunked body; the connection itself stays open (keep-alive)
    return data


def test_drop_watches_cuts_streams_mid_chunk(sim: Sim) -> None:
    sim.create(job("d"))
    sock = raw_watch(sim, "/apis/batch/v1/jobs?watch=1&resourceVersion=0")
    time.sleep(0.2)
    assert sim.faults.drop_watches() == 1
    data = read_all(sock)
    assert b"Transfer-Encoding: chunked" in data and b'"type":"ADDED"' in data
    # No terminating zero-length chunk: the client sees the stream break, not end.
    assert not data.endswith(b"0\r\n\r\n")
    # A watch that ends normally does terminate its chunked body.
    ended = read_all(raw_watch(sim, "/apis/batch/v1/jobs?watch=1&resourceVersion=0&"
                               "timeoutSeconds=1"))
    assert ended.endswith(b"0\r\n\r\n")


def test_expire_next_watches(sim: Sim) -> None:
    sim.faults.expire_next_watches(n=2)
    rv = request(sim, "GET", "/api/v1/pods").json()["metadata"]["resourceVersion"]
    for _ in range(2):
        ev = request(sim, "GET", f"/api/v1/pods?watch=1&resourceVersion={rv}").lines()
        assert [e["type"] for e in ev] == ["ERROR"] and ev[0]["object"]["code"] == 410
    s = Stream(sim, f"/api/v1/pods?watch=1&resourceVersion={rv}&timeoutSeconds=1")
    assert s.done.wait(5) and s.events == []


def test_restart_keeps_state_and_resource_versions(sim: Sim) -> None:
    sim.create(job("r", annotations={"sim.ktui.dev/duration": "600"}))
    before = request(sim, "GET", "/api/v1/pods").json()
    rv = int(before["metadata"]["resourceVersion"])
    s = Stream(sim, f"/api/v1/pods?watch=1&resourceVersion={rv}")
    time.sleep(0.1)
    port = sim.port
    sim.restart()
    assert s.done.wait(5)
    assert sim.port == port
    after = request(sim, "GET", "/api/v1/pods").json()
    assert [p["metadata"]["uid"] for p in after["items"]] == \
        [p["metadata"]["uid"] for p in before["items"]]
    assert int(after["metadata"]["resourceVersion"]) >= rv
    sim.create(job("r2"))
    assert int(request(sim, "GET", "/apis/batch/v1/jobs").json()["metadata"]
               ["resourceVersion"]) > rv
    # Watching from the old resourceVersion still works: history survives a restart.
    ev = request(sim, "GET", f"/apis/batch/v1/jobs?watch=1&resourceVersion={rv}"
                 "&timeoutSeconds=1").lines()
    assert any(e["object"]["metadata"]["name"] == "r2" for e in ev)


def test_restart_breaks_python_client_requests_only_briefly(sim: Sim) -> None:
    api = kubernetes.config.new_client_from_config(str(sim.kubeconfig))
    core = kubernetes.client.CoreV1Api(api)
    core.list_node()
    sim.restart()
    for _ in range(20):
        try:
            assert len(core.list_node().items) == 3
            break
        except urllib3.exceptions.HTTPError:
            time.sleep(0.05)
    else:
        pytest.fail("the restarted server never answered")
    api.close()
