"""Pod logs: options, framing, follow, exact bytes, and the error answers."""

from __future__ import annotations

import re
import threading
import time

import kubernetes

from ktui.sim import clock
from ktui.sim.testing import Sim, running_sim

from .helpers import fixture, job, job_done, pods_of, request

TS = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z ")


def finished_pod(sim: Sim, name: str, **annotations: str) -> str:
    sim.create(job(name, annotations={"sim.ktui.dev/duration": "8", **annotations}))
    sim.wait_for(lambda s: job_done(s, name) or job_done(s, name, "Failed"))
    return pods_of(sim, name)[0]["metadata"]["name"]


def test_full_tail_and_timestamps(sim: Sim) -> None:
    pod = finished_pod(sim, "l", **{"ktui.dev/params": '{"lr": 0.003, "layers": 4}'})
    base = f"/api/v1/namespaces/default/pods/{pod}/log"
    full = request(sim, "GET", base + "?container=trial", accept="application/json, */*")
    assert full.status == 200 and full.headers["Content-Type"] == "text/plain"
    assert full.headers["Transfer-Encoding"] == "chunked"
    lines = full.body.decode().splitlines()
    assert lines[0] == 'starting training params={"lr":0.003,"layers":4}'
    assert re.fullmatch(r"epoch=1 loss=\d+\.\d{3} accuracy=\d\.\d{3}", lines[1])
    assert lines[-1].startswith("training complete")
    assert len(lines) == 9
    tail = request(sim, "GET", base + "?tailLines=3").body.decode().splitlines()
    assert tail == lines[-3:]
    stamped = request(sim, "GET", base + "?timestamps=true").body.splitlines(keepends=True)
    assert all(TS.match(line) for line in stamped)
    ref = fixture("log-ok-job-timestamps.txt").splitlines()[0]
    assert TS.match(ref.encode())
    assert [line.split(b" ", 1)[1] for line in stamped] == full.body.splitlines(keepends=True)


def test_since_time_is_exact_and_inclusive(sim: Sim) -> None:
    pod = finished_pod(sim, "st")
    base = f"/api/v1/namespaces/default/pods/{pod}/log"
    stamped = request(sim, "GET", base + "?timestamps=true").body.splitlines(keepends=True)
    cut = stamped[4].split(b" ", 1)[0].decode()
    after = request(sim, "GET", base + f"?timestamps=true&sinceTime={cut}").body
    assert after.splitlines(keepends=True) == stamped[4:]
    sec = request(sim, "GET", base + "?sinceSeconds=3600").body
    assert len(sec.splitlines()) == len(stamped)
    limited = request(sim, "GET", base + "?limitBytes=10").body
    assert len(limited) == 10


def test_literal_log_annotation_is_byte_exact(sim: Sim) -> None:
    text = "plain\n\x1b[31mred\x1b[0m\r progress 50%\r progress 100%\n\ttabs \u00e9\u4e2d\nno newline"
    pod = finished_pod(sim, "lit", **{"sim.ktui.dev/log": text})
    body = request(sim, "GET", f"/api/v1/namespaces/default/pods/{pod}/log").body
    assert body == text.encode()
    tail = request(sim, "GET", f"/api/v1/namespaces/default/pods/{pod}/log?tailLines=1").body
    assert tail == b"no newline"


def test_follow_streams_and_closes_when_the_container_exits(sim: Sim) -> None:
    sim.create(job("f", annotations={"sim.ktui.dev/duration": "150"}))
    sim.wait_for(lambda s: [p["status"]["phase"] for p in pods_of(s, "f")] == ["Running"])
    pod = pods_of(sim, "f")[0]["metadata"]["name"]
    api = kubernetes.config.new_client_from_config(str(sim.kubeconfig))
    core = kubernetes.client.CoreV1Api(api)
    t0 = time.monotonic()
    resp = core.read_namespaced_pod_log(pod, "default", follow=True, _preload_content=False)
    chunks = []
    arrival = []
    for chunk in resp.stream(64):
        chunks.append(chunk)
        arrival.append(time.monotonic() - t0)
    data = b"".join(chunks)
    assert data.endswith(b"training complete best_accuracy=" + data.rsplit(b"=", 1)[1])
    assert arrival[-1] > 0.5, "lines must arrive as they are produced, not all at once"
    assert len(data.splitlines()) == 151
    api.close()


def test_previous_after_a_restart(sim: Sim) -> None:
    sim.create(job("prev", restart="OnFailure", backoff=5,
                   annotations={"sim.ktui.dev/duration": "3", "sim.ktui.dev/fail-attempts": "1"}))
    sim.wait_for(lambda s: job_done(s, "prev"), timeout=15)
    pod = pods_of(sim, "prev")[0]
    assert pod["status"]["containerStatuses"][0]["restartCount"] == 1
    base = f"/api/v1/namespaces/default/pods/{pod['metadata']['name']}/log"
    prev = request(sim, "GET", base + "?previous=true").body.decode()
    cur = request(sim, "GET", base).body.decode()
    assert "RuntimeError: simulated failure (exit code 1)" in prev
    assert cur.splitlines()[-1].startswith("training complete")


def test_log_errors_match_captures(sim: Sim) -> None:
    pod = finished_pod(sim, "e")
    r = request(sim, "GET", f"/api/v1/namespaces/default/pods/{pod}/log?container=nope")
    ref = fixture("err-log-missing-container.json")
    assert r.status == 400 and r.json()["message"] == f"container nope is not valid for pod {pod}"
    assert r.json().keys() == ref.keys()
    r = request(sim, "GET", "/api/v1/namespaces/default/pods/no-such-pod/log")
    assert r.status == 404 and r.json() == fixture("err-log-missing-pod.json")
    r = request(sim, "GET", f"/api/v1/namespaces/default/pods/{pod}/log?previous=true")
    assert r.status == 400 and "previous terminated container" in r.json()["message"]
    sim.create(job("big", resources={"requests": {"nvidia.com/gpu": "64"},
                                     "limits": {"nvidia.com/gpu": "64"}}))
    sim.wait_for(lambda s: len(pods_of(s, "big")) == 1)
    pending = pods_of(sim, "big")[0]["metadata"]["name"]
    r = request(sim, "GET", f"/api/v1/namespaces/default/pods/{pending}/log")
    assert r.status == 204 and r.body == b"" and "Content-Type" not in r.headers


def test_logs_of_prepopulated_pods() -> None:
    with running_sim(nodes=4, speed=100, pods=300) as sim:
        done = next(p for p in sim.objects("pods") if p["status"]["phase"] == "Succeeded")
        ns, name = done["metadata"]["namespace"], done["metadata"]["name"]
        body = request(sim, "GET", f"/api/v1/namespaces/{ns}/pods/{name}/log").body
        lines = body.decode().splitlines()
        assert lines[0].startswith("starting training params={")
        assert lines[-1].startswith("training complete")
        stamped = request(sim, "GET", f"/api/v1/namespaces/{ns}/pods/{name}/log?timestamps=true")
        first = stamped.body.split(b" ", 1)[0].decode()
        started = done["status"]["containerStatuses"][0]["state"]["terminated"]["startedAt"]
        assert clock.parse_rfc3339(first) == clock.parse_rfc3339(started)


def test_log_follow_of_many_clients(sim: Sim) -> None:
    sim.create(job("m", annotations={"sim.ktui.dev/duration": "60"}))
    sim.wait_for(lambda s: [p["status"]["phase"] for p in pods_of(s, "m")] == ["Running"])
    pod = pods_of(sim, "m")[0]["metadata"]["name"]
    results: list[bytes] = []

    def follow() -> None:
        results.append(request(sim, "GET", f"/api/v1/namespaces/default/pods/{pod}/log"
                               "?follow=true").body)

    threads = [threading.Thread(target=follow) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == 5 and len(set(results)) == 1
    assert results[0].rstrip().splitlines()[-1].startswith(b"training complete")
