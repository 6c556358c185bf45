"""Pre-populated clusters and metrics.k8s.io."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

from ktui.sim.testing import Sim, running_sim

from .helpers import job, pods_of, request


def test_prepopulated_sweeps_are_consistent() -> None:
    with running_sim(nodes=20, gpus_per_node=8, speed=1, pods=2000, seed=7) as sim:
        # The trials: every pod but the GPU telemetry's (exporters, Prometheus).
        pods = [p for p in sim.objects("pods") if p["metadata"]["namespace"] not in ("gpu-operator", "monitoring")]
        jobs = sim.objects("jobs")
        assert len(pods) == 2000
        phases = Counter(p["status"]["phase"] for p in pods)
        assert phases["Succeeded"] > phases["Failed"] > 0 and phases["Running"] > 0
        assert set(phases) == {"Succeeded", "Failed", "Running"}
        by_uid = {j["metadata"]["uid"]: j for j in jobs}
        for p in pods:
            owner = p["metadata"]["ownerReferences"][0]["uid"]
            j = by_uid[owner]
            assert j["metadata"]["labels"]["ktui.dev/sweep"] == p["metadata"]["labels"][
                "ktui.dev/sweep"]
            json.loads(p["metadata"]["annotations"]["ktui.dev/params"])
            if p["status"]["phase"] == "Running":
                assert j["status"]["active"] == 1
            elif p["status"]["phase"] == "Succeeded":
                assert j["status"]["succeeded"] == 1
        namespaces = {p["metadata"]["namespace"] for p in pods}
        assert len(namespaces) >= 3
        # Running pods fit their nodes: the scheduler's books balance.
        used = Counter(p["spec"]["nodeName"] for p in pods if p["status"]["phase"] == "Running")
        assert max(used.values()) <= 8
        # Paging through everything, as `kubectl get pods -A` does.
        names = []
        token = ""
        while True:
            page = request(sim, "GET", f"/api/v1/pods?limit=500&continue={token}").json()
            names += [p["metadata"]["name"] for p in page["items"]]
            token = page["metadata"].get("continue", "")
            if not token:
                break
        # The API also lists the GPU telemetry: 20 exporter pods and a Prometheus.
        assert len(names) == 2021 == len(set(names))
        assert sum(n.startswith("nvidia-dcgm-exporter-") for n in names) == 20


def test_new_jobs_run_on_a_prepopulated_cluster() -> None:
    with running_sim(nodes=4, gpus_per_node=8, speed=100, pods=300) as sim:
        sim.create(job("fresh", annotations={"sim.ktui.dev/duration": "2"}))
        sim.wait_for(lambda s: (s.get("jobs", "default", "fresh") or {}).get("status", {})
                     .get("succeeded") == 1)
        assert len(pods_of(sim, "fresh")) == 1


def test_node_and_pod_metrics(sim: Sim) -> None:
    sim.create(job("m", annotations={"sim.ktui.dev/duration": "600"},
                   resources={"requests": {"cpu": "2", "memory": "4Gi"}}))
    sim.wait_for(lambda s: [p["status"]["phase"] for p in pods_of(s, "m")] == ["Running"])
    pods = request(sim, "GET", "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods").json()
    assert pods["kind"] == "PodMetricsList" and len(pods["items"]) == 1
    usage = pods["items"][0]["containers"][0]["usage"]
    cpu_n = int(usage["cpu"].rstrip("n"))
    assert 0.40 * 2e9 <= cpu_n <= 0.95 * 2e9
    mem = int(usage["memory"].rstrip("Ki")) * 1024
    assert 0.25 * 4 * 2**30 <= mem <= 4 * 2**30
    nodes = request(sim, "GET", "/apis/metrics.k8s.io/v1beta1/nodes").json()
    assert [n["metadata"]["name"] for n in nodes["items"]] == [
        "sim-node-0001", "sim-node-0002", "sim-node-0003"]
    node = pods_of(sim, "m")[0]["spec"]["nodeName"]
    one = request(sim, "GET", f"/apis/metrics.k8s.io/v1beta1/nodes/{node}").json()
    assert one["kind"] == "NodeMetrics" and int(one["usage"]["cpu"].rstrip("n")) > cpu_n
    assert request(sim, "GET", "/apis/metrics.k8s.io/v1beta1/nodes/nope").status == 404


def test_metrics_lists_let_other_requests_in_while_they_are_built(monkeypatch) -> None:
    # A kube-apiserver serves concurrently and metrics-server is its own process: a log
    # request must not wait behind a metrics list of thousands of running pods.
    from ktui.sim import metrics as sim_metrics

    monkeypatch.setattr(sim_metrics, "STEP_S", 0.0)
    with running_sim(nodes=20, gpus_per_node=8, speed=1, pods=2000, seed=7) as sim:
        m = sim.server.metrics

        async def overlapping(make_list) -> tuple[int, int]:
            listing = asyncio.ensure_future(make_list())
            seen_running = 0
            while not listing.done():
                await asyncio.sleep(0)
                seen_running += not listing.done()
            return seen_running, len((await listing)["items"])

        pods_running, n_pods = sim.run(lambda: overlapping(lambda: m.pod_list(None)))
        nodes_running, n_nodes = sim.run(lambda: overlapping(lambda: m.node_list()))
        assert n_pods > 64 and pods_running >= 1
        assert n_nodes == 20 and nodes_running >= 1


def test_pod_metrics_follow_pods_that_stop_running(sim: Sim) -> None:
    sim.create(job("short", annotations={"sim.ktui.dev/duration": "600"}))
    sim.wait_for(lambda s: [p["status"]["phase"] for p in pods_of(s, "short")] == ["Running"])
    path = "/apis/metrics.k8s.io/v1beta1/namespaces/default/pods"
    assert [i["metadata"]["name"] for i in request(sim, "GET", path).json()["items"]] == [
        pods_of(sim, "short")[0]["metadata"]["name"]]
    sim.delete("jobs", "default", "short", propagation="Foreground")
    sim.wait_for(lambda s: not pods_of(s, "short"))
    assert request(sim, "GET", path).json()["items"] == []
    # What the simulator read of the pod is let go with it.
    assert sim.server.metrics._pods == {}
