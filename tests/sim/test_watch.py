"""WATCH: framing, replay from a resourceVersion, initial events, bookmarks, 410, Tables."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import kubernetes
from kubernetes import watch

from ktui.sim.testing import Sim, running_sim

from .helpers import TBL, fixture, job, request


class Stream:
    """A raw watch connection read line by line in a thread."""

    def __init__(self, sim: Sim, path: str, accept: str = "application/json") -> None:
        parts = urlsplit(sim.url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        self.conn.request("GET", path, headers={"Accept": accept,
                                                "Authorization": f"Bearer {sim.token}"})
        self.sock = self.conn.sock
        self.resp = self.conn.getresponse()
        self.events: list[dict[str, Any]] = []
        self.raw: list[bytes] = []
        self.done = threading.Event()
        self.error: BaseException | None = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            while True:
                line = self.resp.readline()
                if not line:
                    break
                self.raw.append(line)
                self.events.append(json.loads(line))
        except Exception as exc:  # noqa: BLE001 - recorded for the test to inspect
            self.error = exc
        finally:
            self.done.set()

    def wait(self, pred: Any, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while not pred(self.events):
            if time.monotonic() > deadline:
                raise AssertionError(f"events so far: {[e['type'] for e in self.events]}")
            time.sleep(0.02)

    def close(self) -> None:
        # Shut the socket first: closing the response would wait for the blocked reader.
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.done.wait(5)
        self.conn.close()


def test_watch_from_list_rv_sees_lifecycle_in_order(sim: Sim) -> None:
    rv = request(sim, "GET", "/apis/batch/v1/namespaces/default/jobs").json()["metadata"][
        "resourceVersion"]
    s = Stream(sim, f"/apis/batch/v1/namespaces/default/jobs?watch=1&resourceVersion={rv}"
                    "&timeoutSeconds=5")
    assert s.resp.status == 200 and s.resp.getheader("Transfer-Encoding") == "chunked"
    assert s.resp.getheader("Content-Type") == "application/json"
    sim.create(job("w", annotations={"sim.ktui.dev/duration": "3"}))
    s.wait(lambda ev: any(e["object"]["status"].get("succeeded") for e in ev))
    sim.delete("jobs", "default", "w")
    s.wait(lambda ev: ev[-1]["type"] == "DELETED")
    types = [e["type"] for e in s.events]
    assert types[0] == "ADDED" and types[-1] == "DELETED" and set(types[1:-1]) == {"MODIFIED"}
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in s.events]
    assert rvs == sorted(rvs) and len(set(rvs)) == len(rvs)
    assert s.events[0]["object"]["kind"] == "Job"
    assert all(line.endswith(b"}\n") for line in s.raw)
    s.close()


def test_watch_without_rv_sends_initial_events_then_live(sim: Sim) -> None:
    sim.create(job("a", annotations={"sim.ktui.dev/duration": "600"}))
    sim.wait_for(lambda s: len(s.objects("pods", "default")) == 1)
    s = Stream(sim, "/apis/batch/v1/namespaces/default/jobs?watch=true&timeoutSeconds=5")
    s.wait(lambda ev: len(ev) >= 1)
    assert s.events[0]["type"] == "ADDED" and s.events[0]["object"]["metadata"]["name"] == "a"
    sim.create(job("b", annotations={"sim.ktui.dev/duration": "600"}))
    s.wait(lambda ev: any(e["object"]["metadata"]["name"] == "b" for e in ev))
    s.close()


def test_send_initial_events_ends_with_annotated_bookmark(sim: Sim) -> None:
    sim.create(job("a"))
    s = Stream(sim, "/apis/batch/v1/namespaces/default/jobs?watch=1&sendInitialEvents=true&"
                    "resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=3")
    s.wait(lambda ev: len(ev) >= 2)
    assert s.events[0]["type"] == "ADDED"
    bm = s.events[1]
    assert bm["type"] == "BOOKMARK"
    assert bm["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(bm["object"]["metadata"]["resourceVersion"]) >= int(
        s.events[0]["object"]["metadata"]["resourceVersion"])
    s.close()


def test_periodic_and_final_bookmarks_then_close() -> None:
    with running_sim(nodes=1, speed=100, bookmark_interval=0.5) as sim:
        rv = request(sim, "GET", "/api/v1/pods").json()["metadata"]["resourceVersion"]
        s = Stream(sim, f"/api/v1/pods?watch=1&allowWatchBookmarks=true&resourceVersion={rv}"
                        "&timeoutSeconds=2")
        assert s.done.wait(5), "the server must end the watch at timeoutSeconds"
        assert s.error is None
        types = [e["type"] for e in s.events]
        assert types and set(types) == {"BOOKMARK"} and len(types) >= 3
        bm = s.events[-1]["object"]
        assert bm == {"kind": "Pod", "apiVersion": "v1",
                      "metadata": {"resourceVersion": bm["metadata"]["resourceVersion"],
                                   "creationTimestamp": None},
                      "spec": {"containers": None}, "status": {}}


def test_too_old_resource_version_gets_410_error_event(sim: Sim) -> None:
    sim.create(job("x"))
    sim.compact()
    r = request(sim, "GET", "/apis/batch/v1/namespaces/default/jobs?watch=1&resourceVersion=1&"
                "allowWatchBookmarks=true")
    assert r.status == 200
    events = r.lines()
    ref = fixture("watch-jobs-rv1-410.jsonl")
    assert len(events) == 1 and events[0]["type"] == "ERROR"
    assert events[0]["object"].keys() == ref[0]["object"].keys()
    assert events[0]["object"]["code"] == 410 and events[0]["object"]["reason"] == "Expired"
    assert events[0]["object"]["message"] == f"too old resource version: 1 ({sim.call(lambda: sim.server.cluster.store['jobs'].floor)})"  # noqa: E501


def test_history_window_expires_old_resource_versions() -> None:
    with running_sim(nodes=1, speed=100, history=5) as sim:
        rv = request(sim, "GET", "/api/v1/namespaces").json()["metadata"]["resourceVersion"]
        for i in range(10):
            sim.create({"kind": "Namespace", "metadata": {"name": f"ns{i}"}})
        r = request(sim, "GET", f"/api/v1/namespaces?watch=1&resourceVersion={rv}")
        assert r.lines()[0]["object"]["code"] == 410
        recent = sim.objects("namespaces")[-1]["metadata"]["resourceVersion"]
        s = Stream(sim, f"/api/v1/namespaces?watch=1&resourceVersion={int(recent) - 1}"
                        "&timeoutSeconds=1")
        assert s.done.wait(5)
        assert [e["type"] for e in s.events] == ["ADDED"]


def test_leaving_the_selector_is_a_deletion(sim: Sim) -> None:
    sim.create({"kind": "Pod", "metadata": {"name": "sel", "namespace": "default",
                                            "labels": {"team": "a"}},
                "spec": {"schedulerName": "none", "containers": [{"name": "c", "image": "x:1"}]}})
    rv = request(sim, "GET", "/api/v1/pods").json()["metadata"]["resourceVersion"]
    s = Stream(sim, f"/api/v1/pods?watch=1&labelSelector=team%3Da&resourceVersion={rv}"
                    "&timeoutSeconds=5")
    r = request(sim, "PATCH", "/api/v1/namespaces/default/pods/sel",
                {"metadata": {"labels": {"team": "b"}}},
                content_type="application/merge-patch+json")
    assert r.status == 200
    s.wait(lambda ev: len(ev) >= 1)
    ev = s.events[0]
    assert ev["type"] == "DELETED"
    assert ev["object"]["metadata"]["labels"] == {"team": "a"}
    assert ev["object"]["metadata"]["resourceVersion"] == r.json()["metadata"]["resourceVersion"]
    s.close()


def test_table_watch_sends_column_definitions_once(sim: Sim) -> None:
    sim.create(job("t1"))
    sim.create(job("t2"))
    s = Stream(sim, "/apis/batch/v1/namespaces/default/jobs?watch=true&resourceVersion=0&"
                    "timeoutSeconds=1", accept=TBL)
    assert s.done.wait(5)
    tables = [e["object"] for e in s.events]
    assert {t["kind"] for t in tables} == {"Table"} and len(tables) >= 2
    assert tables[0]["columnDefinitions"] == fixture("table-jobs-ns-ref.json")["columnDefinitions"]
    assert all(t["columnDefinitions"] is None for t in tables[1:])
    assert [t["rows"][0]["cells"][0] for t in tables[:2]] == ["t1", "t2"]
    assert tables[0]["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


def test_python_client_watch_stream(sim: Sim, batch: kubernetes.client.BatchV1Api) -> None:
    rv = batch.list_namespaced_job("default").metadata.resource_version
    sim.create(job("py", annotations={"sim.ktui.dev/duration": "2"}))
    seen = []
    w = watch.Watch()
    for ev in w.stream(batch.list_namespaced_job, "default", resource_version=rv,
                       allow_watch_bookmarks=True, timeout_seconds=5):
        seen.append(ev["type"])
        conds = ev["object"].status.conditions or []
        if any(c.type == "Complete" for c in conds):
            w.stop()
    assert seen[0] == "ADDED" and "MODIFIED" in seen
