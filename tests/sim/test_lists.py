"""LIST: selectors, paging with continue tokens, resourceVersion semantics, 400/410/422."""

from __future__ import annotations

import base64
import json

import kubernetes
import pytest

from ktui.sim.testing import Sim

from .helpers import fixture, job, request


def make_pods(sim: Sim, n: int, ns: str = "default") -> None:
    for i in range(n):
        sim.create({"kind": "Pod", "metadata": {
            "name": f"p{i:02d}", "namespace": ns,
            "labels": {"app": "web" if i % 2 else "db", "tier": str(i % 3)}},
            "spec": {"schedulerName": "none", "containers": [{"name": "c", "image": "x:1"}]}})


def decode_token(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))


def test_paging_tokens_and_remaining_count(sim: Sim) -> None:
    make_pods(sim, 7)
    page = request(sim, "GET", "/api/v1/namespaces/default/pods?limit=3").json()
    ref = fixture("list-pods-limit2-page1.json")["metadata"]
    assert page["kind"] == "PodList" and "kind" not in page["items"][0]
    assert list(page["metadata"]) == list(ref)
    token = decode_token(page["metadata"]["continue"])
    assert token == {"v": "meta.k8s.io/v1", "rv": int(page["metadata"]["resourceVersion"]),
                     "start": "p02\u0000"}
    assert "=" not in page["metadata"]["continue"]
    assert page["metadata"]["remainingItemCount"] == 4
    names = [p["metadata"]["name"] for p in page["items"]]
    while page["metadata"].get("continue"):
        page = request(sim, "GET", "/api/v1/namespaces/default/pods?limit=3&continue="
                       + page["metadata"]["continue"]).json()
        names += [p["metadata"]["name"] for p in page["items"]]
    assert names == [f"p{i:02d}" for i in range(7)]
    assert "remainingItemCount" not in page["metadata"]
    all_ns = request(sim, "GET", "/api/v1/pods?limit=2").json()
    assert decode_token(all_ns["metadata"]["continue"])["start"] == "default/p01\u0000"


def test_later_pages_are_served_at_the_first_pages_resource_version(sim: Sim) -> None:
    make_pods(sim, 6)
    first = request(sim, "GET", "/api/v1/namespaces/default/pods?limit=2").json()
    sim.delete("pods", "default", "p04")
    sim.create({"kind": "Pod", "metadata": {"name": "p03a", "namespace": "default"},
                "spec": {"schedulerName": "none", "containers": [{"name": "c", "image": "x:1"}]}})
    rest = request(sim, "GET", "/api/v1/namespaces/default/pods?limit=10&continue="
                   + first["metadata"]["continue"]).json()
    assert rest["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert [p["metadata"]["name"] for p in rest["items"]] == ["p02", "p03", "p04", "p05"]


def test_bad_and_expired_continue_tokens(sim: Sim) -> None:
    r = request(sim, "GET", "/apis/batch/v1/namespaces/default/jobs?limit=500&continue=garbage-token")
    assert r.status == 400 and r.json() == fixture("err-400-list-garbage-continue.json")
    make_pods(sim, 3)
    page = request(sim, "GET", "/api/v1/namespaces/default/pods?limit=1").json()
    sim.create({"kind": "Pod", "metadata": {"name": "q", "namespace": "default"},
                "spec": {"schedulerName": "none", "containers": [{"name": "c", "image": "x:1"}]}})
    sim.compact()
    r = request(sim, "GET", "/api/v1/namespaces/default/pods?limit=1&continue="
                + page["metadata"]["continue"])
    ref = fixture("err-410-list-expired-continue.json")
    assert r.status == 410
    body = r.json()
    assert body["message"] == ref["message"] and body["reason"] == "Expired"
    assert decode_token(body["metadata"]["continue"]) == {"v": "meta.k8s.io/v1", "rv": -1,
                                                          "start": "p00\u0000"}
    # The fresh token from the 410 continues from the current state.
    r = request(sim, "GET", "/api/v1/namespaces/default/pods?continue="
                + body["metadata"]["continue"])
    assert [p["metadata"]["name"] for p in r.json()["items"]] == ["p01", "p02", "q"]
    exact = request(sim, "GET", "/apis/batch/v1/namespaces/default/jobs?resourceVersion=1&"
                    "resourceVersionMatch=Exact")
    assert exact.status == 410 and exact.json() == fixture("err-410-list-rv1-exact.json")


@pytest.mark.parametrize(("selector", "expected"), [
    ("app=web", [1, 3, 5]),
    ("app==web,tier=0", [3]),
    ("app!=web", [0, 2, 4]),
    ("tier in (0,1)", [0, 1, 3, 4]),
    ("tier notin (0,1)", [2, 5]),
    ("tier", [0, 1, 2, 3, 4, 5]),
    ("!tier", []),
    ("app=web,tier notin (2)", [1, 3]),
])
def test_label_selectors(sim: Sim, core: kubernetes.client.CoreV1Api, selector: str,
                         expected: list[int]) -> None:
    make_pods(sim, 6)
    got = core.list_namespaced_pod("default", label_selector=selector).items
    assert [p.metadata.name for p in got] == [f"p{i:02d}" for i in expected]


def test_field_selectors(sim: Sim, core: kubernetes.client.CoreV1Api) -> None:
    sim.create(job("fs", annotations={"sim.ktui.dev/duration": "600"}))
    make_pods(sim, 2)
    sim.wait_for(lambda s: any(p["status"]["phase"] == "Running" for p in s.objects("pods", "default")))
    # In "default": the GPU telemetry's pods run in their own namespaces.
    running = core.list_namespaced_pod("default", field_selector="status.phase=Running").items
    assert [p.metadata.labels["job-name"] for p in running] == ["fs"]
    node = running[0].spec.node_name
    on_node = core.list_namespaced_pod("default", field_selector=f"spec.nodeName={node}").items
    assert [p.metadata.name for p in on_node] == [running[0].metadata.name]
    pending = core.list_namespaced_pod("default",
                                       field_selector="status.phase!=Running,metadata.name!=p00")
    assert [p.metadata.name for p in pending.items] == ["p01"]
    one = core.list_namespaced_pod("default", field_selector="metadata.name=p01").items
    assert [p.metadata.name for p in one] == ["p01"]
    events = core.list_namespaced_event(
        "default", field_selector="involvedObject.kind=Job,involvedObject.name=fs").items
    assert [e.reason for e in events] == ["SuccessfulCreate"]
    r = request(sim, "GET", "/api/v1/pods?fieldSelector=spec.bogus%3D1")
    assert r.status == 400 and r.json()["message"] == "field label not supported: spec.bogus"


def test_list_option_validation_matches_captures(sim: Sim) -> None:
    r = request(sim, "GET", "/api/v1/namespaces/default/pods?sendInitialEvents=true&"
                "resourceVersionMatch=NotOlderThan")
    assert r.status == 422 and r.json() == fixture("err-list-sendInitialEvents-without-watch.json")
    r = request(sim, "GET", "/api/v1/namespaces/default/pods?watch=1&sendInitialEvents=true&"
                "allowWatchBookmarks=true&timeoutSeconds=2")
    assert r.status == 422 and r.json() == fixture("err-watchlist-no-rvmatch.json")


def test_resource_versions_increase_across_kinds(sim: Sim) -> None:
    a = int(request(sim, "GET", "/api/v1/nodes").json()["metadata"]["resourceVersion"])
    sim.create(job("rv"))
    b = int(request(sim, "GET", "/apis/batch/v1/jobs").json()["metadata"]["resourceVersion"])
    c = int(request(sim, "GET", "/api/v1/pods").json()["metadata"]["resourceVersion"])
    assert a < b <= c
