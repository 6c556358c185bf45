"""Node and namespace objects of a fresh simulated cluster."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from ktui.sim import clock

GPU_PRODUCTS = ("NVIDIA-H100-80GB-HBM3", "NVIDIA-A100-SXM4-80GB")
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def node_name(i: int, total: int) -> str:
    return f"sim-node-{i + 1:0{max(4, len(str(total)))}d}"


def _h(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def node_ip(i: int) -> str:
    return f"172.{16 + i // 65536}.{(i // 256) % 256}.{i % 256 + 1 if i % 256 < 254 else 254}"


def make_node(i: int, total: int, gpus: int, created: float, seed: int) -> dict[str, Any]:
    name = node_name(i, total)
    h = _h(f"{seed}:{name}")
    cores = (32, 48, 64)[h % 3] if gpus == 0 else (64, 96, 128)[h % 3]
    mem_gi = (256, 384, 512)[(h >> 8) % 3] if gpus == 0 else (1024, 1536, 2048)[(h >> 8) % 3]
    # kubelet reserves a little for the system: allocatable is slightly below capacity.
    alloc_cpu = f"{cores * 1000 - 100 - (h >> 16) % 400}m"
    alloc_mem = f"{(mem_gi * 2**30 - (2 + (h >> 24) % 3) * 2**30) // 1024}Ki"
    labels = {
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
    }
    capacity: dict[str, str] = {"cpu": str(cores), "ephemeral-storage": "500Gi",
                                "hugepages-1Gi": "0", "hugepages-2Mi": "0",
                                "memory": f"{mem_gi}Gi"}
    allocatable: dict[str, str] = {"cpu": alloc_cpu, "ephemeral-storage": "500Gi",
                                   "hugepages-1Gi": "0", "hugepages-2Mi": "0",
                                   "memory": alloc_mem}
    if gpus:
        product = GPU_PRODUCTS[(h >> 32) % len(GPU_PRODUCTS)]
        short = "h100" if "H100" in product else "a100"
        labels["node.kubernetes.io/instance-type"] = f"gpu-{gpus}x{short}"
        labels["nvidia.com/gpu.count"] = str(gpus)
        labels["nvidia.com/gpu.present"] = "true"
        labels["nvidia.com/gpu.product"] = product
        # GPU feature discovery's memory label, in MiB (an H100 80GB reports 81559).
        labels["nvidia.com/gpu.memory"] = "81559" if "H100" in product else "81920"
        labels["nvidia.com/gpu.family"] = "hopper" if "H100" in product else "ampere"
        capacity["nvidia.com/gpu"] = str(gpus)
        allocatable["nvidia.com/gpu"] = str(gpus)
    else:
        labels["node.kubernetes.io/instance-type"] = f"cpu-{cores}"
    capacity["pods"] = "110"
    allocatable["pods"] = "110"
    ts = clock.rfc3339(created)
    machine = hashlib.md5(f"{seed}:{name}".encode()).hexdigest()  # noqa: S324 - an id, not security

    def cond(ctype: str, status: str, reason: str, message: str) -> dict[str, Any]:
        return {"type": ctype, "status": status, "lastHeartbeatTime": ts,
                "lastTransitionTime": ts, "reason": reason, "message": message}

    ip = node_ip(i)
    return {
        "metadata": {
            "name": name,
            "uid": str(uuid.UUID(int=_h(f"uid:{seed}:{name}") << 64 | _h(f"u2:{name}"), version=4)),
            "creationTimestamp": ts,
            "labels": labels,
            "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                            "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
        },
        "spec": {"podCIDR": f"10.{64 + i // 256}.{i % 256}.0/24",
                 "podCIDRs": [f"10.{64 + i // 256}.{i % 256}.0/24"]},
        "status": {
            "capacity": capacity,
            "allocatable": allocatable,
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory",
                     "kubelet has sufficient memory available"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure",
                     "kubelet has no disk pressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID",
                     "kubelet has sufficient PID available"),
                cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [{"type": "InternalIP", "address": ip},
                          {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": machine,
                "systemUUID": str(uuid.UUID(machine)),
                "bootID": str(uuid.UUID(hashlib.md5(f"boot:{machine}".encode()).hexdigest())),  # noqa: S324,E501
                "kernelVersion": "6.8.0-1015-sim",
                "osImage": "Ubuntu 22.04.4 LTS",
                "containerRuntimeVersion": "containerd://1.7.22",
                "kubeletVersion": "v1.32.0",
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }


def make_namespace(name: str, created: float) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "uid": str(uuid.uuid4()),
                     "creationTimestamp": clock.rfc3339(created),
                     "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }
