"""GPU telemetry on a cluster, over real HTTP: the KubeBackend finds the simulator's
dcgm-exporter pods or its Prometheus, reads the nodes it is asked about, and joins the
readings into nodes and trials; a missing source or a refused proxy is one problem line."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from ktui.cluster.dcgm import parse_dcgm
from ktui.cluster.gpuuse import GpuIdleRule
from ktui.sim.testing import running_sim

from .conftest import SPEED, eventually, job_manifest, make_backend


@pytest.fixture
def gpu_sim(request: pytest.FixtureRequest) -> Iterator[Any]:
    opts = getattr(request, "param", {})
    opts = {"dcgm_interval": 0.2, **opts}
    with running_sim(nodes=3, gpus_per_node=4, speed=SPEED, **opts) as s:
        yield s


def gpu_job(name: str, gpus: int, util: int | None = None, duration: float = 60.0) -> dict[str, Any]:
    m = job_manifest(name, trial=int(name[-1]), gpu=gpus, duration=duration)
    if util is not None:
        m["spec"]["template"]["metadata"]["annotations"]["sim.ktui.dev/gpu-util"] = str(util)
    return m


def running_on(backend: Any, name: str) -> str:
    t = eventually(lambda: (t := backend.store.get_trial(("default", name))) and t.phase == "Running" and t.node
                   and t, message=f"{name} never ran")
    return str(t.node)


def backend_for(sim: Any, **kw: Any) -> Any:
    b = make_backend(sim.kubeconfig, gpu_interval=0.2, gpu_idle=GpuIdleRule(5.0, 0.6), **kw)
    b.start()
    return b


def test_dcgm_exporter_readings_reach_nodes_and_trials(gpu_sim):
    gpu_sim.create(gpu_job("busy-0", 2))
    gpu_sim.create(gpu_job("idle-1", 1, util=0))
    b = backend_for(gpu_sim)
    try:
        nodes = {running_on(b, "busy-0"), running_on(b, "idle-1")}
        b.set_gpu_focus(nodes)
        busy = eventually(lambda: (t := b.store.get_trial(("default", "busy-0"))) and t.gpu_util and t,
                          message="no GPU use for busy-0")
        assert busy.gpu_util > 20 and busy.gpu_mem and not busy.gpu_idle
        idle = eventually(lambda: (t := b.store.get_trial(("default", "idle-1"))) and t.gpu_idle and t,
                          message="idle-1 never flagged idle")
        assert idle.gpu_util == 0 and idle.gpu_idle_since is not None
        view = b.store.get_nodes([busy.node])[busy.node]
        held = [d for d in view.devices if d.processes == ("busy-0",)]
        assert len(held) == 2 and all(d.uuid.startswith("GPU-") and d.pod and d.pod.startswith("default/busy-0-")
                                      for d in held)
        assert any(not d.processes for d in view.devices)  # a free GPU is nobody's
        assert b.store.gpu_source == "dcgm-exporter (3 via pods/proxy)"
        assert not [p for p in b.store.problems() if p.resource.startswith("gpu")]
        # Only the nodes asked about were read: one request each per refresh.
        others = {n for n in b.store.keys("nodes")} - nodes
        assert all(not b.store.get_nodes([n])[n].devices for n in others)
    finally:
        b.stop()


def test_a_finished_pods_gpus_are_free_again(gpu_sim):
    gpu_sim.create(gpu_job("short-0", 1, duration=1.0))
    b = backend_for(gpu_sim)
    try:
        node = running_on(b, "short-0")
        b.set_gpu_focus([node])
        eventually(lambda: any(d.processes for d in b.store.get_nodes([node])[node].devices))
        eventually(lambda: b.store.get_trial(("default", "short-0")).phase == "Succeeded")
        eventually(lambda: not any(d.processes for d in b.store.get_nodes([node])[node].devices),
                   message="the finished trial still holds a GPU")
        assert b.store.get_trial(("default", "short-0")).gpu_util is None
    finally:
        b.stop()


@pytest.mark.parametrize("gpu_sim", [{"gpu_telemetry": "prometheus"}], indirect=True)
def test_prometheus_when_there_are_no_exporter_pods(gpu_sim):
    gpu_sim.create(gpu_job("busy-0", 2))
    b = backend_for(gpu_sim)
    try:
        node = running_on(b, "busy-0")
        b.set_gpu_focus([node])
        t = eventually(lambda: (t := b.store.get_trial(("default", "busy-0"))) and t.gpu_util and t)
        assert t.gpu_util > 20
        assert b.store.gpu_source == "Prometheus (monitoring/prometheus-operated:web via services/proxy)"
        devs = b.store.get_nodes([node])[node].devices
        # exported_pod is the trial's pod; the exporter's own pod label is nobody.
        assert sorted(d.processes for d in devs).count(("busy-0",)) == 2
        assert b.gpu is not None and b.gpu.requests <= b.gpu.refreshes  # one query per refresh
    finally:
        b.stop()


@pytest.mark.parametrize("gpu_sim", [{"gpu_telemetry": "none"}], indirect=True)
def test_no_source_is_one_problem_line_saying_what_to_install(gpu_sim):
    b = backend_for(gpu_sim)
    try:
        eventually(lambda: b.store.is_synced("nodes"))
        b.set_gpu_focus(b.store.keys("nodes"))
        p = eventually(lambda: next((p for p in b.store.problems() if p.resource == "gpu"), None))
        assert "no dcgm-exporter or Prometheus found" in p.message and "GPU Operator" in p.message
        assert len("! " + p.message) <= 80  # one line in the header at 80 columns
        assert b.store.gpu_source is None
        # What the GPUs are still shows, from GPU feature discovery's node labels.
        views = b.store.snapshot_nodes().values()
        gpu_nodes = [v for v in views if v.allocatable.gpu]
        assert gpu_nodes and all(v.gpu_product.startswith("NVIDIA-") and v.gpu_memory >= 80_000 * 2**20
                                 for v in gpu_nodes)
    finally:
        b.stop()


def test_forbidden_pod_proxy_falls_back_to_prometheus_and_says_so(gpu_sim):
    gpu_sim.deny("alice", "get", "pods/proxy")
    gpu_sim.create(gpu_job("busy-0", 1))
    b = make_backend(gpu_sim.kubeconfig_for("alice"), gpu_interval=0.2)
    b.start()
    try:
        node = running_on(b, "busy-0")
        b.set_gpu_focus([node])
        eventually(lambda: (t := b.store.get_trial(("default", "busy-0"))) and t.gpu_util)
        p = next(p for p in b.store.problems() if p.resource == "gpu.pods/proxy")
        assert p.code == "forbidden" and "get pods/proxy" in p.message and "alice" in p.message
        assert (b.store.gpu_source or "").startswith("Prometheus")
    finally:
        b.stop()


def test_both_proxies_forbidden_keeps_everything_else_working(gpu_sim):
    gpu_sim.deny("bob", "get", "pods/proxy")
    gpu_sim.deny("bob", "get", "services/proxy")
    gpu_sim.create(gpu_job("busy-0", 1))
    b = make_backend(gpu_sim.kubeconfig_for("bob"), gpu_interval=0.2)
    b.start()
    try:
        node = running_on(b, "busy-0")
        b.set_gpu_focus([node])
        eventually(lambda: any(p.resource == "gpu.services/proxy" for p in b.store.problems()))
        words = {p.resource: p.message for p in b.store.problems()}
        assert "get pods/proxy" in words["gpu.pods/proxy"]
        assert "get services/proxy" in words["gpu.services/proxy"]
        assert b.store.get_trial(("default", "busy-0")).gpu_util is None
        assert b.store.get_trial(("default", "busy-0")).phase == "Running"  # the rest works
    finally:
        b.stop()


@pytest.mark.parametrize("gpu_sim", [{"mig_node": 0}], indirect=True)
def test_mig_instances_are_their_own_devices(gpu_sim):
    b = backend_for(gpu_sim)
    try:
        eventually(lambda: b.store.is_synced("nodes"))
        node = sorted(b.store.keys("nodes"))[0]
        b.set_gpu_focus([node])
        devs = eventually(lambda: b.store.get_nodes([node])[node].devices)
        migs = [d for d in devs if d.mig]
        assert migs and all("/" in d.mig and "g." in d.mig for d in migs)
        assert all(d.mem_total for d in migs)
    finally:
        b.stop()


@pytest.mark.kubectl
@pytest.mark.parametrize("gpu_sim", [{"dcgm_interval": 3.0}], indirect=True)
def test_kubectl_get_raw_shows_what_ktui_shows(gpu_sim):
    gpu_sim.create(gpu_job("busy-0", 2))
    b = backend_for(gpu_sim)
    try:
        node = running_on(b, "busy-0")
        exporter = next(p for p in gpu_sim.objects("pods", "gpu-operator") if p["spec"]["nodeName"] == node)
        name = exporter["metadata"]["name"]

        def same() -> bool:
            b.refresh_gpus([node])
            raw = subprocess.run(
                ["kubectl", "--kubeconfig", str(gpu_sim.kubeconfig), "get", "--raw",
                 f"/api/v1/namespaces/gpu-operator/pods/{name}:9400/proxy/metrics"],
                capture_output=True, text=True, check=True).stdout
            theirs = {(r.uuid, round(r.util) if r.util is not None else None, r.mem_used) for r in parse_dcgm(raw)}
            ours = {(d.uuid, d.util, d.mem_used) for d in b.store.get_nodes([node])[node].devices}
            return theirs == ours
        # (Within one 3 s collection both read the same numbers; retried across a boundary.)
        eventually(same, message="kubectl and ktui disagree")
    finally:
        b.stop()


def test_cli_nodes_and_jobs_json_carry_the_readings(gpu_sim, capsys):
    from ktui.cli import main

    gpu_sim.create(gpu_job("busy-0", 2))
    b = backend_for(gpu_sim)
    try:
        node = running_on(b, "busy-0")
        b.set_gpu_focus([node])  # (until the exporter has collected since the pod started)
        eventually(lambda: (t := b.store.get_trial(("default", "busy-0"))) and t.gpu_util)
    finally:
        b.stop()
    assert main(["nodes", "--kubeconfig", str(gpu_sim.kubeconfig), "-o", "json"]) == 0
    nodes = {n["name"]: n for n in json.loads(capsys.readouterr().out)}
    gpus = nodes[node]["gpus"]
    assert {"index", "uuid", "model", "util", "mem_used", "mem_total", "temp", "power", "pod"} <= set(gpus[0])
    held = [g for g in gpus if g["pod"]]
    assert len(held) == 2 and all(g["pod"].startswith("default/busy-0-") and g["util"] > 0 for g in held)
    assert main(["jobs", "--kubeconfig", str(gpu_sim.kubeconfig), "-o", "json", "--no-metrics"]) == 0
    jobs = {t["name"]: t for t in json.loads(capsys.readouterr().out)}
    assert jobs["busy-0"]["gpu_util"] > 0 and jobs["busy-0"]["gpu_mem"] > 0
    assert main(["nodes", "--kubeconfig", str(gpu_sim.kubeconfig)]) == 0
    table = capsys.readouterr().out
    assert "GPU USED" in table and "USED BY" in table and "busy-0" in table


def test_the_idle_census_finds_idle_trials_off_screen_through_prometheus(gpu_sim):
    gpu_sim.create(gpu_job("shown-0", 4))
    gpu_sim.create(gpu_job("hidden-1", 4, util=0))  # 4 GPUs a node: another node than shown-0
    b = backend_for(gpu_sim)
    assert b.gpu is not None
    b.gpu.census_interval = 0.2
    try:
        shown, hidden = running_on(b, "shown-0"), running_on(b, "hidden-1")
        assert shown != hidden
        b.set_gpu_focus([shown])
        t = eventually(lambda: (t := b.store.get_trial(("default", "hidden-1"))) and t.gpu_idle and t,
                       message="the idle trial off screen was never flagged")
        assert t.gpu_util == 0
        assert not b.store.get_nodes([hidden])[hidden].devices  # its node was not read in full
    finally:
        b.stop()


@pytest.mark.parametrize("gpu_sim", [{"gpu_telemetry": "dcgm"}], indirect=True)  # no census
def test_readings_of_a_node_off_screen_are_forgotten(gpu_sim):
    gpu_sim.create(gpu_job("a-0", 4))
    gpu_sim.create(gpu_job("b-1", 4))
    b = backend_for(gpu_sim)
    try:
        first, second = running_on(b, "a-0"), running_on(b, "b-1")
        b.set_gpu_focus([first])
        eventually(lambda: b.store.get_nodes([first])[first].devices)
        b.set_gpu_focus([second])
        eventually(lambda: b.store.get_nodes([second])[second].devices)
        eventually(lambda: not b.store.get_nodes([first])[first].devices, message="stale readings kept")
        assert b.store.get_trial(("default", "a-0")).gpu_util is None
        assert b.store.get_trial(("default", "b-1")).gpu_util is not None
    finally:
        b.stop()


def test_an_idle_clock_runs_on_when_its_node_leaves_the_screen(gpu_sim):
    gpu_sim.create(gpu_job("idle-0", 4, util=0))
    gpu_sim.create(gpu_job("other-1", 4))
    b = make_backend(gpu_sim.kubeconfig, gpu_interval=0.2, gpu_idle=GpuIdleRule(5.0, 60.0))
    b.start()
    assert b.gpu is not None
    b.gpu.census_interval = 0.2
    try:
        idle_node, other = running_on(b, "idle-0"), running_on(b, "other-1")
        b.set_gpu_focus([idle_node])
        since = eventually(lambda: (t := b.store.get_trial(("default", "idle-0"))) and t.gpu_idle_since)
        b.set_gpu_focus([other])  # scrolled away: its node's rows are forgotten...
        eventually(lambda: not b.store.get_nodes([idle_node])[idle_node].devices)
        census = b.gpu.census_requests
        eventually(lambda: b.gpu.census_requests > census + 1)
        # ... but the census keeps the trial's use, and its idle clock did not restart.
        assert b.store.get_trial(("default", "idle-0")).gpu_idle_since == since
    finally:
        b.stop()
