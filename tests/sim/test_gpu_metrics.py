"""dcgm-exporter on the simulated GPU nodes, scraped through the pod proxy over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import kubernetes
import pytest

from ktui.sim.dcgm import NAMES
from ktui.sim.testing import Sim, running_sim

from .gpu_helpers import GPU_OPERATOR, exporter_for, label_orders, of, samples, scrape
from .helpers import job, job_done, pods_of, request

GPU_ORDER = ["gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname", "DCGM_FI_DRIVER_VERSION"]
POD_ATTRS = ["container", "namespace", "pod"]


@pytest.fixture
def fast() -> Iterator[Sim]:
    # Collections every 0.2 s so a test sees a new pod without waiting 30 s.
    with running_sim(nodes=2, gpus_per_node=8, speed=100.0, dcgm_interval=0.2) as s:
        yield s


def _core(sim: Sim) -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(kubernetes.config.new_client_from_config(str(sim.kubeconfig)))


def _gpu_job(name: str, gpus: int = 2, **annotations: str) -> dict:
    return job(name, annotations={"sim.ktui.dev/duration": "600", **annotations},
               resources={"requests": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": str(gpus)},
                          "limits": {"nvidia.com/gpu": str(gpus)}})


def _running_node(sim: Sim, name: str) -> str:
    sim.wait_for(lambda s: any(p["status"].get("phase") == "Running" for p in pods_of(s, name)))
    return pods_of(sim, name)[0]["spec"]["nodeName"]


def _held(text: str, pod: str) -> dict[str, tuple[dict[str, str], float]]:
    return {k: v for k, v in of(text, "DCGM_FI_DEV_GPU_UTIL").items() if v[0].get("pod") == pod}


def test_exporter_pods_service_and_endpoints(sim: Sim) -> None:
    pods = sim.objects("pods", GPU_OPERATOR)
    assert sorted(p["spec"]["nodeName"] for p in pods) == [n["metadata"]["name"] for n in sim.objects("nodes")]
    for p in pods:
        meta, spec = p["metadata"], p["spec"]
        assert meta["name"].startswith("nvidia-dcgm-exporter-") and len(meta["name"]) == len("nvidia-dcgm-exporter-") + 5
        assert meta["labels"]["app"] == "nvidia-dcgm-exporter"
        assert {"app.kubernetes.io/managed-by", "controller-revision-hash", "pod-template-generation"} <= set(meta["labels"])
        owner = meta["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["controller"]) == ("DaemonSet", "nvidia-dcgm-exporter", True)
        c = spec["containers"][0]
        assert c["name"] == "nvidia-dcgm-exporter"
        assert c["ports"] == [{"name": "metrics", "containerPort": 9400, "protocol": "TCP"}]
        assert any(e["name"] == "NODE_NAME" for e in c["env"])
        assert p["status"]["phase"] == "Running" and p["status"]["podIP"].startswith("10.")
    svc = sim.get("services", GPU_OPERATOR, "nvidia-dcgm-exporter")
    assert svc is not None and svc["spec"]["ports"][0]["name"] == "gpu-metrics"
    assert svc["spec"]["ports"][0]["port"] == 9400
    ep = sim.get("endpoints", GPU_OPERATOR, "nvidia-dcgm-exporter")
    assert ep is not None
    assert sorted(a["ip"] for a in ep["subsets"][0]["addresses"]) == sorted(p["status"]["podIP"] for p in pods)
    # Not in the default namespace, where trials go.
    assert sim.objects("pods", "default") == []
    assert request(sim, "GET", "/api/v1/namespaces/default/pods").json()["items"] == []


def test_metrics_are_the_exporters_text(sim: Sim, core: kubernetes.client.CoreV1Api) -> None:
    pod = exporter_for(sim, "sim-node-0001")
    status, headers, text = scrape(core, pod["metadata"]["name"])
    assert status == 200
    assert headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    fams = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    assert fams == list(NAMES)  # every default counter, in DCGM field id order
    assert sum(line.startswith("# HELP ") for line in text.splitlines()) == len(NAMES)
    parsed = samples(text)
    assert len(parsed) == 8 * len(NAMES)
    for labels in label_orders(text):
        base = [k for k in labels if k not in ("err_code", "err_msg")]
        assert base == GPU_ORDER  # no pod holds a GPU: no pod labels at all
    util = of(text, "DCGM_FI_DEV_GPU_UTIL")
    assert sorted(util, key=int) == [str(i) for i in range(8)]
    assert {lab["Hostname"] for lab, _ in util.values()} == {"sim-node-0001"}
    assert len({lab["UUID"] for lab, _ in util.values()}) == 8
    assert all(v == 0 for _, v in util.values())
    power = of(text, "DCGM_FI_DEV_POWER_USAGE")
    assert all(40 < v < 120 for _, v in power.values())  # idle GPUs draw little
    # %f doubles and %d integers, as the exporter prints them.
    assert any(line.startswith("DCGM_FI_DEV_POWER_USAGE{") and line.rsplit(" ", 1)[1].count(".") == 1
               and len(line.rsplit(".", 1)[1]) == 6 for line in text.splitlines())
    # Without a port the proxy uses the pod's first container port: the same exporter.
    assert scrape(core, pod["metadata"]["name"], port="")[0] == 200


def test_running_gpu_pod_holds_its_gpus(fast: Sim) -> None:
    core = _core(fast)
    fast.create(_gpu_job("train", gpus=2))
    node = _running_node(fast, "train")
    name = pods_of(fast, "train")[0]["metadata"]["name"]
    exporter = exporter_for(fast, node)["metadata"]["name"]
    fast.wait_for(lambda s: len(_held(scrape(core, exporter)[2], name)) == 2, timeout=15)
    fast.wait_for(lambda s: all(v > 0 for _, v in _held(scrape(core, exporter)[2], name).values()), timeout=15)
    text = scrape(core, exporter)[2]
    held = _held(text, name)
    for labels, _ in held.values():
        assert (labels["namespace"], labels["container"]) == ("default", "trial")
    for labels in label_orders(text):
        if "pod" in labels:
            assert [k for k in labels if k not in ("err_code", "err_msg")] == GPU_ORDER + POD_ATTRS
    free = {k: v for k, v in of(text, "DCGM_FI_DEV_GPU_UTIL").items() if k not in held}
    assert len(free) == 6 and all("pod" not in lab and v == 0 for lab, v in free.values())
    used = of(text, "DCGM_FI_DEV_FB_USED")
    assert all(used[k][1] > 1000 for k in held) and all(used[k][1] == 0 for k in free)
    gr = of(text, "DCGM_FI_PROF_GR_ENGINE_ACTIVE")
    for k, (_, util) in held.items():
        assert gr[k][1] == pytest.approx(util / 100, abs=0.006)
    # The same GPUs on every later collection, freed when the pod ends.
    again = _held(scrape(core, exporter)[2], name)
    assert sorted(again) == sorted(held)
    fast.delete("jobs", "default", "train", graceful=True)
    fast.wait_for(lambda s: not _held(scrape(core, exporter)[2], name), timeout=15)


def test_gpu_util_annotation_pins_an_idle_trial(fast: Sim) -> None:
    core = _core(fast)
    fast.create(_gpu_job("idle", gpus=1, **{"sim.ktui.dev/gpu-util": "0"}))
    fast.create(_gpu_job("busy", gpus=1, **{"sim.ktui.dev/gpu-util": "63"}))
    node = _running_node(fast, "idle")
    _running_node(fast, "busy")
    idle = pods_of(fast, "idle")[0]["metadata"]["name"]
    busy = pods_of(fast, "busy")[0]
    exporter = exporter_for(fast, node)["metadata"]["name"]
    fast.wait_for(lambda s: len(_held(scrape(core, exporter)[2], idle)) == 1, timeout=15)
    # Well past the warm-up, the pinned values hold.
    text = scrape(core, exporter)[2]
    [(labels, util)] = _held(text, idle).values()
    assert util == 0 and labels["pod"] == idle
    if busy["spec"]["nodeName"] == node:
        fast.wait_for(lambda s: [v for _, v in _held(scrape(core, exporter)[2], busy["metadata"]["name"]).values()] == [63],
                      timeout=15)


def test_a_collection_holds_for_the_interval() -> None:
    with running_sim(nodes=1, gpus_per_node=8, speed=100.0, dcgm_interval=3600) as sim:
        core = _core(sim)
        exporter = exporter_for(sim, "sim-node-0001")["metadata"]["name"]
        first = scrape(core, exporter)[2]
        sim.create(_gpu_job("late", gpus=4))
        _running_node(sim, "late")
        # A pod started after the collection shows up only at the next one, 30 s (here 1 h) later.
        assert scrape(core, exporter)[2] == first


def test_mig_node() -> None:
    with running_sim(nodes=2, gpus_per_node=8, speed=100.0, mig_node=1, dcgm_interval=0.2) as sim:
        core = _core(sim)
        node = sim.get("nodes", None, "sim-node-0002")
        alloc = node["status"]["allocatable"]
        assert "nvidia.com/gpu" not in alloc
        assert (alloc["nvidia.com/mig-3g.40gb"], alloc["nvidia.com/mig-2g.20gb"], alloc["nvidia.com/mig-1g.10gb"]) == (
            "8", "8", "16")
        assert node["metadata"]["labels"]["nvidia.com/mig.strategy"] == "mixed"
        assert sim.get("nodes", None, "sim-node-0001")["status"]["allocatable"]["nvidia.com/gpu"] == "8"
        sim.create(job("mig", annotations={"sim.ktui.dev/duration": "600"},
                       resources={"requests": {"cpu": "1", "nvidia.com/mig-2g.20gb": "1"},
                                  "limits": {"nvidia.com/mig-2g.20gb": "1"}}))
        assert _running_node(sim, "mig") == "sim-node-0002"
        pod = pods_of(sim, "mig")[0]["metadata"]["name"]
        exporter = exporter_for(sim, "sim-node-0002")["metadata"]["name"]

        def held() -> list[dict[str, str]]:
            return [lab for lab, _ in of(scrape(core, exporter)[2], "DCGM_FI_PROF_GR_ENGINE_ACTIVE").values()
                    if lab.get("pod") == pod]
        sim.wait_for(lambda s: len(held()) == 1, timeout=15)
        [labels] = held()
        assert labels["GPU_I_PROFILE"] == "2g.20gb" and labels["GPU_I_ID"].isdigit()
        text = scrape(core, exporter)[2]
        gr = of(text, "DCGM_FI_PROF_GR_ENGINE_ACTIVE")
        assert len(gr) == 8 * 4  # four instances per GPU
        orders = [o for o in label_orders(text) if "GPU_I_ID" in o]
        assert orders and all(o[:7] == ["gpu", "UUID", "pci_bus_id", "device", "modelName", "GPU_I_PROFILE",
                                        "GPU_I_ID"] for o in orders)
        # GPU_UTIL does not exist per MIG instance: the exporter prints none for this node.
        assert "DCGM_FI_DEV_GPU_UTIL{" not in text
        assert of(text, "DCGM_FI_DEV_GPU_TEMP")  # device-level fields stay, per GPU


def test_telemetry_off_and_prometheus_only() -> None:
    with running_sim(nodes=2, gpu_telemetry="none") as sim:
        assert sim.objects("pods", GPU_OPERATOR) == [] and sim.objects("pods", "monitoring") == []
        assert sim.get("namespaces", None, GPU_OPERATOR) is None
        r = request(sim, "GET", "/api/v1/namespaces/monitoring/services/prometheus-operated:web/proxy/api/v1/query"
                    "?query=up")
        assert r.status == 404 and r.json()["message"] == 'services "prometheus-operated" not found'
    with running_sim(nodes=2, gpu_telemetry="prometheus") as sim:
        assert sim.objects("pods", GPU_OPERATOR) == []
        assert len(sim.objects("pods", "monitoring")) == 1
        r = request(sim, "GET", "/api/v1/namespaces/monitoring/services/prometheus-operated:web/proxy/api/v1/query"
                    "?query=DCGM_FI_DEV_GPU_UTIL")
        assert r.status == 200 and len(r.json()["data"]["result"]) == 16
    with running_sim(nodes=2, gpu_telemetry="dcgm") as sim:
        assert len(sim.objects("pods", GPU_OPERATOR)) == 2
        assert sim.get("namespaces", None, "monitoring") is None
    with pytest.raises(ValueError, match="gpu_telemetry must be one of"), \
            running_sim(nodes=1, gpu_telemetry="dcgm,prometheus"):
        pass


def test_job_completion_unaffected(sim: Sim) -> None:
    sim.create(_gpu_job("quick", gpus=8, **{"sim.ktui.dev/duration": "2"}))
    sim.wait_for(lambda s: job_done(s, "quick"), timeout=15)
