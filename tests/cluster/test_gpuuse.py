"""Per-pod GPU use and the idle rule, and Prometheus' answer read into readings."""

from __future__ import annotations

import pytest

from ktui.cluster.dcgm import DcgmError, parse_prometheus_vector
from ktui.cluster.gpuuse import GpuCounts, GpuIdleRule, count, device_of, held_devices, pod_use
from ktui.cluster.kube.gpu import prometheus_query
from ktui.cluster.model import GpuDevice

RULE = GpuIdleRule(util=5.0, after=300.0)
GiB = 2**30


def dev(i: int, util: int | None, pod: str | None = None, mem: int = GiB) -> GpuDevice:
    return GpuDevice(i, "NVIDIA H100", util, mem, 80 * GiB, pod=pod, processes=(pod.split("/")[1],) if pod else ())


def test_a_pod_over_several_gpus_gets_their_mean_use_and_summed_memory():
    held = held_devices("n1", [dev(0, 90, "team/a"), dev(1, 70, "team/a"), dev(2, 0), dev(3, 50, "team/b")])
    use = pod_use(held, {}, RULE, now=1000.0)
    assert set(use) == {("team", "a"), ("team", "b")}  # the free GPU is nobody's
    a = use[("team", "a")]
    assert (a.node, a.gpus, a.util, a.mem) == ("n1", 2, 80.0, 2 * GiB)
    assert a.idle_since is None and not a.idle


def test_idle_only_after_the_rules_duration_and_the_clock_resets_when_busy():
    held = held_devices("n1", [dev(0, 2, "team/a")])
    first = pod_use(held, {}, RULE, now=1000.0)
    assert first[("team", "a")].idle_since == 1000.0 and not first[("team", "a")].idle
    later = pod_use(held, first, RULE, now=1299.0)
    assert later[("team", "a")].idle_since == 1000.0 and not later[("team", "a")].idle
    later = pod_use(held, later, RULE, now=1300.0)
    assert later[("team", "a")].idle  # five minutes under 5 %
    busy = pod_use(held_devices("n1", [dev(0, 40, "team/a")]), later, RULE, now=1310.0)
    assert busy[("team", "a")].idle_since is None and not busy[("team", "a")].idle
    again = pod_use(held, busy, RULE, now=1320.0)
    assert again[("team", "a")].idle_since == 1320.0  # a new idle spell starts from now


def test_unknown_util_is_not_idle():
    use = pod_use(held_devices("n1", [dev(0, None, "team/a")]), {}, RULE, now=1.0)
    assert use[("team", "a")].util is None and use[("team", "a")].idle_since is None


def test_counts_busy_and_allocated_idle():
    c = count(3, [dev(0, 90, "t/a"), dev(1, 1, "t/b"), dev(2, 0), dev(3, 2, "t/c")], RULE)
    assert c == GpuCounts(allocated=3, read=4, busy=1, idle=2)
    assert c + GpuCounts(1, 1, 1, 0) == GpuCounts(4, 5, 2, 2)


def _vector(*series: tuple[dict[str, str], str]) -> dict:
    return {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": m, "value": [1700000000.5, v]} for m, v in series]}}


GPU0 = {"gpu": "0", "UUID": "GPU-0", "modelName": "NVIDIA H100 80GB HBM3", "Hostname": "n1"}
TARGET = {"pod": "nvidia-dcgm-exporter-abcde", "namespace": "gpu-operator", "container": "nvidia-dcgm-exporter",
          "endpoint": "gpu-metrics", "job": "nvidia-dcgm-exporter", "instance": "10.0.0.5:9400"}


def test_prometheus_answer_takes_the_workload_from_exported_labels():
    held = {**GPU0, **TARGET, "exported_pod": "trial-0-xyz", "exported_namespace": "team",
            "exported_container": "trial"}
    free = {**GPU0, **TARGET, "gpu": "1", "UUID": "GPU-1"}
    readings = parse_prometheus_vector(_vector(
        ({"__name__": "DCGM_FI_DEV_GPU_UTIL", **held}, "93"),
        ({"__name__": "DCGM_FI_DEV_FB_USED", **held}, "1024"),
        ({"__name__": "DCGM_FI_DEV_FB_FREE", **held}, "1024"),
        ({"__name__": "DCGM_FI_DEV_GPU_UTIL", **free}, "0"),
    ))
    by_uuid = {r.uuid: r for r in readings}
    assert by_uuid["GPU-0"].pod == ("team", "trial-0-xyz")
    assert by_uuid["GPU-0"].util == 93 and by_uuid["GPU-0"].mem_total == 2048 * 2**20
    assert by_uuid["GPU-1"].pod is None  # the exporter's own pod label is not a workload
    d = device_of(by_uuid["GPU-0"], {("team", "trial-0-xyz"): "trial-0"})
    assert d.processes == ("trial-0",) and d.pod == "team/trial-0-xyz" and d.uuid == "GPU-0"


def test_prometheus_errors_are_named():
    with pytest.raises(DcgmError, match="bad_data.*|parse error"):
        parse_prometheus_vector({"status": "error", "errorType": "bad_data", "error": "parse error at char 3"})
    with pytest.raises(DcgmError, match="matrix"):
        parse_prometheus_vector({"status": "success", "data": {"resultType": "matrix", "result": []}})


def test_one_query_names_every_node_under_both_spellings_of_hostname():
    q = prometheus_query(["n2", "n1", "n1"])
    assert q.count('=~"n1|n2"') == 2
    assert 'Hostname=~"n1|n2"' in q and 'hostname=~"n1|n2"' in q and " or " in q
    assert "DCGM_FI_DEV_GPU_UTIL" in q and "DCGM_FI_PROF_GR_ENGINE_ACTIVE" in q


def test_dots_in_node_names_are_escaped_for_the_regex_and_the_string():
    from ktui.sim import promql  # the simulator's PromQL reader: Go string escapes, as Prometheus

    q = prometheus_query(["ip-10-0-0-1.ec2.internal"])
    assert r'Hostname=~"ip-10-0-0-1\\.ec2\\.internal"' in q
    assert [s.literals("Hostname") for s in promql.parse(q)][0] == ["ip-10-0-0-1.ec2.internal"]
