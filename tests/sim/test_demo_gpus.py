"""`ktui demo`'s cluster: GPU telemetry on, and one GPU trial that holds its GPUs idle."""

from __future__ import annotations

import kubernetes

from ktui.demo import demo_jobs, start_demo_cluster
from ktui.sim.testing import running_sim

from .gpu_helpers import GPU_OPERATOR, exporter_for, of, scrape


def test_demo_cluster_runs_the_gpu_telemetry() -> None:
    sim = start_demo_cluster(nodes=2, gpus_per_node=8, speed=50.0)
    try:
        assert len(sim.objects("pods", GPU_OPERATOR)) == 2
        assert sim.get("services", "monitoring", "prometheus-operated") is not None
    finally:
        sim.close()


def test_demo_has_one_idle_gpu_trial_and_a_busy_one() -> None:
    with running_sim(nodes=8, gpus_per_node=8, speed=50.0, dcgm_interval=0.2) as sim:
        core = kubernetes.client.CoreV1Api(kubernetes.config.new_client_from_config(str(sim.kubeconfig)))
        jobs = demo_jobs()
        idle = [j["metadata"]["name"] for j in jobs
                if j["spec"]["template"]["metadata"].get("annotations", {}).get("sim.ktui.dev/gpu-util") == "0"]
        assert len(idle) == 1
        for j in jobs:
            sim.create(j)

        def utils() -> dict[str, float]:
            out: dict[str, float] = {}
            for pod in sim.objects("pods", GPU_OPERATOR):
                text = scrape(core, pod["metadata"]["name"])[2]
                for labels, value in of(text, "DCGM_FI_DEV_GPU_UTIL").values():
                    if "pod" in labels:
                        job = labels["pod"].rsplit("-", 1)[0]
                        out[job] = max(out.get(job, 0.0), value)
            return out
        sim.wait_for(lambda s: (u := utils()).get(idle[0]) == 0 and any(v > 0 for v in u.values()), timeout=30)
        assert exporter_for(sim, "sim-node-0001")


def test_demo_runs_a_distributed_sweep_in_which_one_worker_fails() -> None:
    sim = start_demo_cluster(nodes=8, gpus_per_node=8, speed=50.0)
    try:
        names = sorted(o["metadata"]["name"] for o in sim.objects("pytorchjobs", "default"))
        assert names == ["ddp-demo-000", "ddp-demo-001", "ddp-demo-002"]

        def failed(s):  # type: ignore[no-untyped-def]
            obj = s.get("pytorchjobs", "default", "ddp-demo-001") or {}
            return any(c["type"] == "Failed" and c["status"] == "True"
                       for c in (obj.get("status") or {}).get("conditions") or ())
        sim.wait_for(failed, timeout=30)
        pods = [p for p in sim.objects("pods", "default") if p["metadata"]["name"].startswith("ddp-demo-001-")]
        assert len(pods) == 5  # a master and 4 workers
        assert [p["status"]["phase"] for p in pods if p["metadata"]["name"] == "ddp-demo-001-worker-1"] == ["Failed"]
    finally:
        sim.close()
