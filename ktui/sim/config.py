"""Knobs of one simulated cluster, shared by the CLI and the test harness."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SimConfig:
    nodes: int = 3
    gpus_per_node: int = 8
    # Simulated seconds per wall second: workload durations, kubelet and controller delays
    # are divided by it. Timestamps stay wall-clock so clients compute sane ages.
    speed: float = 1.0
    # Watch events kept per resource; a watch (or paged list) from an older
    # resourceVersion gets 410 Expired.
    history: int = 10_000
    # Pre-populated pods (finished sweep trials plus some running ones) and their Jobs.
    pods: int = 0
    seed: int = 1
    host: str = "127.0.0.1"
    port: int = 0
    # Wall seconds between periodic BOOKMARK events on watches with allowWatchBookmarks.
    bookmark_interval: float = 60.0
    # Default watch duration when the client gives no timeoutSeconds (None: until it leaves).
    watch_timeout: float | None = None
    # GPU telemetry: "dcgm+prometheus" | "dcgm" | "prometheus" | "none" (ktui/sim/telemetry.py).
    gpu_telemetry: str = "dcgm+prometheus"
    # Index of the node whose GPUs are MIG-partitioned (None: no MIG).
    mig_node: int | None = None
    # Wall seconds between dcgm-exporter collections (the exporter's default, 30 s).
    dcgm_interval: float = 30.0
    # Serve kubeflow.org/v1 PyTorchJobs with a training-operator (ktui/sim/kubeflow.py).
    kubeflow: bool = False
    # Serve kueue.x-k8s.io (v1beta2 + v1beta1) and its visibility API, admitting queued Jobs
    # (ktui/sim/kueue.py); quota of the ClusterQueue created at start.
    kueue: bool = False
    kueue_quota: dict[str, str] | None = None
    # Serve Kubeflow Trainer v2 (trainer.kubeflow.org TrainJob, [Cluster]TrainingRuntime) and
    # jobset.x-k8s.io JobSet, with their controllers (ktui/sim/trainer.py).
    trainer: bool = False
