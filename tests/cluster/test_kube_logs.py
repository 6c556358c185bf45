"""Log streaming over real HTTP: tail, follow, and resume without duplicates or gaps."""

from __future__ import annotations

import threading
import time

from ktui.cluster.model import LogLine

from .conftest import eventually, job_manifest


def _collect(stream, out: list[LogLine]) -> threading.Thread:
    def run() -> None:
        for line in stream:
            out.append(line)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _wait_running(b, name: str):
    return eventually(lambda: (t := b.store.get_trial(("default", name))) and t.pod_phase == "Running" and t,
                      timeout=10)


def _full_log(b, name: str) -> list[str]:
    return [ln.text for ln in b.stream_logs(("default", name), follow=False)]


def test_tail_and_literal_log(sim, backend_factory):
    text = "first line\nsecond \x1b[1mbold\x1b[0m\nthird ünïcode\n"
    sim.create(job_manifest("lit", log=text, duration=0.2))
    b = backend_factory(sim.kubeconfig)
    b.start()
    eventually(lambda: (t := b.store.get_trial(("default", "lit"))) and t.phase == "Succeeded", timeout=10)
    lines = _full_log(b, "lit")
    assert [ln.text for ln in b.stream_logs(("default", "lit"), follow=False, tail=1)] == lines[-1:]
    assert "second \x1b[1mbold\x1b[0m" in lines and "third ünïcode" in lines
    assert all(ln.timestamp for ln in b.stream_logs(("default", "lit"), follow=False))


def test_follow_until_the_trial_ends(sim, backend_factory):
    sim.create(job_manifest("f", duration=2.0))
    b = backend_factory(sim.kubeconfig)
    b.start()
    _wait_running(b, "f")
    got: list[LogLine] = []
    t = _collect(b.stream_logs(("default", "f"), follow=True), got)
    t.join(20)
    assert not t.is_alive(), "follow did not end with the trial"
    assert [ln.text for ln in got] == _full_log(b, "f")
    assert any("loss=" in ln.text for ln in got)


def test_follow_survives_drops_and_restart_without_dups_or_gaps(sim, backend_factory):
    sim.create(job_manifest("d", duration=4.0))
    b = backend_factory(sim.kubeconfig)
    b.start()
    _wait_running(b, "d")
    got: list[LogLine] = []
    stream = b.stream_logs(("default", "d"), follow=True)
    t = _collect(stream, got)
    for _ in range(3):
        time.sleep(0.4)
        sim.faults.drop_watches()
    time.sleep(0.3)
    sim.restart()
    t.join(30)
    assert not t.is_alive()
    assert stream.reconnects >= 1
    full = _full_log(b, "d")
    assert [ln.text for ln in got] == full
    stamps = [ln.timestamp for ln in got]
    assert len(stamps) == len(full)


def test_close_stops_a_follow_promptly(sim, backend_factory):
    sim.create(job_manifest("long", duration=60))
    b = backend_factory(sim.kubeconfig)
    b.start()
    _wait_running(b, "long")
    got: list[LogLine] = []
    stream = b.stream_logs(("default", "long"), follow=True)
    t = _collect(stream, got)
    time.sleep(0.3)
    t0 = time.monotonic()
    stream.close()
    t.join(3)
    assert not t.is_alive() and time.monotonic() - t0 < 2


def test_which_pod_without_a_store(sim, backend_factory):
    sim.create(job_manifest("p", exit_code=1, duration=0.1, backoff_limit=1))
    b = backend_factory(sim.kubeconfig, resources=())
    eventually(lambda: len([p for p in sim.objects("pods") if p["metadata"]["name"].startswith("p-")]) == 2,
               timeout=15)
    pods = {p["metadata"]["name"]: p["metadata"]["creationTimestamp"]
            for p in sim.objects("pods") if p["metadata"]["name"].startswith("p-")}
    chosen = b.pod_for(("default", "p"))
    assert chosen in pods and pods[chosen] == max(pods.values())
