"""`ktui demo`: an in-process simulated cluster with sweeps that show every kind of trial.

A grid sweep that mostly succeeds (a couple of trials OOMKilled or crashing), and a GPU
sweep where one trial asks for more GPUs than any node has (Unschedulable) and one names
an image that does not exist (ImagePullBackOff). Failures are scripted through the
simulator's pod annotations, so they are the same on every run.

The cluster has the simulator's GPU telemetry (dcgm-exporter pods and a Prometheus): two GPU
trials train long enough to be seen across several 30 s collections, and one of them holds
its GPUs without using them (`sim.ktui.dev/gpu-util: "0"`), the idle trial to spot.

With the simulator's training operator (`--kubeflow`): a distributed sweep of 3 PyTorchJob
trials of a master and 4 workers each, in which one trial's worker-1 crashes.

An indexed sweep (`mode: indexed`) runs 1,000 trials as one Indexed Job, 20 at a time; three
of its indexes fail.

With the simulator's Kueue (`--kueue`): a queued sweep of 10 trials whose ClusterQueue has
quota for two at a time, so the others wait in line and their places go down as trials
finish."""

from __future__ import annotations

from typing import Any

from ktui.sim.config import SimConfig
from ktui.sim.testing import Sim
from ktui.sweep import loads_sweep, render_jobs, render_trials
from ktui.sweep.indexed import render_indexed

GRID = """
name: mnist-grid
image: python:3.11-slim
command: [python, train.py]
args: ["--lr={lr}", "--depth={depth}", "--epochs=20"]
resources: {cpu: "4", memory: 8Gi}
limits: {cpu: "8", memory: 16Gi}
retries: 2
metric: {name: accuracy, goal: maximize}
parameters:
  grid: {lr: [0.1, 0.03, 0.01, 0.003], depth: [2, 3, 4]}
"""

GPU = """
name: resnet-gpu
image: nvcr.io/nvidia/pytorch:24.05-py3
command: [python, train.py]
args: ["model=ResNet-50", "lr={lr}", "batch={batch}"]
resources: {cpu: "8", memory: 32Gi, gpu: 2}
retries: 1
metric: {name: accuracy, goal: maximize}
parameters:
  grid: {batch: [128, 256], lr: [0.1, 0.05, 0.01]}
"""


DDP = """
name: ddp-demo
image: nvcr.io/nvidia/pytorch:24.05-py3
kind: PyTorchJob
workers: 4
command: [torchrun, train.py]
args: ["--lr={lr}"]
resources: {cpu: "4", memory: 16Gi, gpu: 1}
restartPolicy: Never
metric: {name: accuracy, goal: maximize}
parameters:
  grid: {lr: [0.1, 0.01, 0.001]}
"""


def demo_distributed(namespace: str = "default") -> list[dict[str, Any]]:
    """PyTorchJobs (the cluster needs the training operator): trial 1's worker-1 exits 1."""
    ddp = list(render_trials(loads_sweep(DDP, "demo/ddp-demo.yaml"), namespace))
    for i, m in enumerate(ddp):
        for replica, seconds in (("Master", "900"), ("Worker", "850")):
            tmeta = m["spec"]["pytorchReplicaSpecs"][replica]["template"]["metadata"]
            ann = tmeta.setdefault("annotations", {})
            ann["sim.ktui.dev/duration"] = seconds
            if i == 1 and replica == "Worker":
                ann.update({"sim.ktui.dev/duration": "120", "sim.ktui.dev/fail-indexes": "1",
                            "sim.ktui.dev/exit-code": "1"})
    return ddp


INDEXED = """
name: sweep-1k
image: python:3.11-slim
mode: indexed
parallelism: 20
command: [python, train.py]
args: ["--lr={lr}", "--wd={wd}"]
resources: {cpu: "1", memory: 2Gi}
retries: 1
metric: {name: accuracy, goal: maximize}
parameters:
  random: {trials: 1000, seed: 3, space: {lr: {loguniform: [1.0e-4, 1.0e-1]}, wd: {uniform: [0.0, 0.1]}}}
"""


QUEUED = """
name: bert-queue
image: python:3.11-slim
command: [python, train.py]
args: ["model=bert-base", "--lr={lr}", "--seed={seed}"]
resources: {cpu: "4", memory: 8Gi}
queue: user-queue
metric: {name: accuracy, goal: maximize}
parameters:
  grid: {lr: [0.0001, 0.00003], seed: [1, 2, 3, 4, 5]}
"""
# The ClusterQueue's quota: two of the queued sweep's trials at a time (they ask 4 CPUs each).
QUEUE_QUOTA = {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "0"}


def demo_queued(namespace: str = "default") -> list[dict[str, Any]]:
    """Jobs for Kueue's LocalQueue user-queue (the cluster needs Kueue), each running 2
    simulated minutes: 2 admitted, 8 waiting, the line moving as they finish."""
    queued = list(render_jobs(loads_sweep(QUEUED, "demo/bert-queue.yaml"), namespace))
    for job in queued:
        _script(job, duration="120")
    return queued


def _script(job: dict[str, Any], **annotations: str) -> None:
    meta = job["spec"]["template"]["metadata"]
    meta.setdefault("annotations", {}).update({f"sim.ktui.dev/{k}": v for k, v in annotations.items()})


def demo_jobs(namespace: str = "default") -> list[dict[str, Any]]:
    grid = list(render_jobs(loads_sweep(GRID, "demo/mnist-grid.yaml"), namespace))
    _script(grid[4], oom="true")
    _script(grid[7], **{"exit-code": "1"})
    _script(grid[9], duration="600")  # a long runner, to watch its log
    gpu = list(render_jobs(loads_sweep(GPU, "demo/resnet-gpu.yaml"), namespace))
    res = gpu[5]["spec"]["template"]["spec"]["containers"][0]["resources"]
    res["requests"]["nvidia.com/gpu"] = res["limits"]["nvidia.com/gpu"] = "16"
    gpu[3]["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example/does-not-exist:1"
    _script(gpu[0], duration="1200")
    _script(gpu[1], duration="1200", **{"gpu-util": "0"})  # the idle trial
    return grid + gpu


def start_demo_cluster(nodes: int = 8, gpus_per_node: int = 8, speed: float = 4.0) -> Sim:
    sim = Sim(SimConfig(nodes=nodes, gpus_per_node=gpus_per_node, speed=speed,
                        gpu_telemetry="dcgm+prometheus", kubeflow=True, kueue=True,
                        kueue_quota=dict(QUEUE_QUOTA)))
    sim.start()
    for job in demo_jobs() + demo_distributed() + demo_queued():
        sim.create(job)
    indexed = render_indexed(loads_sweep(INDEXED, "demo/sweep-1k.yaml"), "default")
    _script(indexed.job, **{"fail-indexes": "13,77,512"})
    job = sim.create(indexed.job)
    owner = {"apiVersion": "batch/v1", "kind": "Job", "name": job["metadata"]["name"], "uid": job["metadata"]["uid"]}
    for cm in indexed.config_maps:
        sim.create({**cm, "metadata": {**cm["metadata"], "ownerReferences": [owner]}})
    return sim
