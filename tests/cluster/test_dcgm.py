"""dcgm-exporter's /metrics read into per-GPU readings (issue 15, first part), with the lines
real exporters print (shared/k8s-reference/ecosystem-facts.md, section 1.3)."""

from __future__ import annotations

import pytest

from ktui.cluster.dcgm import MIB, DcgmError, by_pod, parse_dcgm

H100 = 'gpu="{i}",UUID="GPU-{i}",pci_bus_id="00000000:8D:00.0",device="nvidia{i}",modelName="NVIDIA H100 80GB HBM3"'

# Issue #490's node, as a 4.5.x build prints it (`Hostname`): GPU 0 held by a pod, GPU 1 free.
OLD = f"""# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{{{H100.format(i=0)},Hostname="node-a",DCGM_FI_DRIVER_VERSION="550.144.03",container="trainer",namespace="default",pod="sw-003-abcde"}} 97
DCGM_FI_DEV_GPU_UTIL{{{H100.format(i=1)},Hostname="node-a",DCGM_FI_DRIVER_VERSION="550.144.03"}} 0
# TYPE DCGM_FI_DEV_FB_USED gauge
DCGM_FI_DEV_FB_USED{{{H100.format(i=0)},Hostname="node-a",container="trainer",namespace="default",pod="sw-003-abcde"}} 61234
DCGM_FI_DEV_FB_USED{{{H100.format(i=1)},Hostname="node-a"}} 0
# TYPE DCGM_FI_DEV_FB_FREE gauge
DCGM_FI_DEV_FB_FREE{{{H100.format(i=0)},Hostname="node-a",container="trainer",namespace="default",pod="sw-003-abcde"}} 20000
DCGM_FI_DEV_FB_FREE{{{H100.format(i=1)},Hostname="node-a"}} 81234
# TYPE DCGM_FI_DEV_GPU_TEMP gauge
DCGM_FI_DEV_GPU_TEMP{{{H100.format(i=0)},Hostname="node-a",container="trainer",namespace="default",pod="sw-003-abcde"}} 61
# TYPE DCGM_FI_DEV_POWER_USAGE gauge
DCGM_FI_DEV_POWER_USAGE{{{H100.format(i=0)},Hostname="node-a",container="trainer",namespace="default",pod="sw-003-abcde"}} 512.338000
"""


def test_an_older_exporter_with_a_held_and_a_free_gpu():
    g0, g1 = parse_dcgm(OLD)
    assert (g0.node, g0.index, g0.model, g0.pod) == ("node-a", 0, "NVIDIA H100 80GB HBM3", ("default", "sw-003-abcde"))
    assert (g0.util, g0.temp, g0.power) == (97.0, 61.0, 512.338)
    assert g0.mem_used == 61234 * MIB and g0.mem_total == (61234 + 20000) * MIB
    assert g1.pod is None and g1.util == 0.0 and g1.temp is None  # a series the board lacks: absent
    assert by_pod([g0, g1]) == {("default", "sw-003-abcde"): [g0]}


def test_a_current_exporter_lowercase_hostname_and_engine_activity_wins():
    text = OLD.replace("Hostname=", "hostname=") + (
        "# TYPE DCGM_FI_PROF_GR_ENGINE_ACTIVE gauge\n"
        f'DCGM_FI_PROF_GR_ENGINE_ACTIVE{{{H100.format(i=0)},hostname="node-a",namespace="default",pod="sw-003-abcde"}}'
        " 0.912345\n")
    g0 = parse_dcgm(text)[0]
    assert g0.node == "node-a" and g0.util == pytest.approx(91.2345)  # the finer measure, as a percent


def test_mig_instances_are_their_own_readings_and_empty_pod_labels_mean_free():
    text = (
        "# TYPE DCGM_FI_PROF_GR_ENGINE_ACTIVE gauge\n"
        'DCGM_FI_PROF_GR_ENGINE_ACTIVE{gpu="0",UUID="GPU-265c",device="nvidia0",modelName="NVIDIA A30",'
        'GPU_I_PROFILE="1g.6gb",GPU_I_ID="3",Hostname="a30-node"} 0.000000\n'
        'DCGM_FI_PROF_GR_ENGINE_ACTIVE{gpu="0",UUID="GPU-265c",device="nvidia0",modelName="NVIDIA A30",'
        'GPU_I_PROFILE="1g.6gb",GPU_I_ID="4",Hostname="a30-node",container="",namespace="",pod=""} 0.5\n')
    a, b = parse_dcgm(text)
    assert (a.mig, b.mig) == ("1g.6gb/3", "1g.6gb/4") and a.key != b.key
    assert a.util == 0.0 and b.util == 50.0 and b.pod is None


def test_not_prometheus_text_is_said():
    with pytest.raises(DcgmError, match="not Prometheus text"):
        parse_dcgm('DCGM_FI_DEV_GPU_UTIL{gpu="0" 5\n')
    assert parse_dcgm("") == []
