"""A Job manifest, read as a local trial: what to run and what it needs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from ktui.wire.names import (
    CODE_ANNOTATION,
    EARLY_STOPPING_ANNOTATION,
    GPU_RESOURCE,
    METRIC_ANNOTATION,
    PARAMS_ANNOTATION,
    SWEEP_LABEL,
    TRIAL_LABEL,
    parse_object,
    provenance_of,
)
from ktui.wire.quantity import cpu_millis, to_int
from ktui.wire.training import DISTRIBUTED_KINDS, job_view

DEFAULT_BACKOFF_LIMIT = 6  # Kubernetes' default
DEFAULT_CPU_M = 1000  # a trial that requests nothing counts as one cpu


class SpecError(ValueError):
    pass


class TrialSpec(msgspec.Struct, frozen=True):
    namespace: str
    name: str
    sweep: str | None
    trial: int | None
    params: str | None  # the ktui.dev/params annotation text
    metric: str | None  # the ktui.dev/metric annotation text
    argv: list[str]
    env: dict[str, str]
    cpu_m: int
    memory: int  # request, bytes
    memory_limit: int  # limits.memory in bytes; 0: none
    gpu: int
    backoff_limit: int
    ttl: int | None = None  # ttlSecondsAfterFinished: delete the finished trial after this
    early_stopping: str | None = None  # the ktui.dev/early-stopping annotation text
    code: str | None = None  # sha256 of the code snapshot it runs in (ktui.dev/code), if any
    provenance: dict[str, Any] | None = None  # ktui.wire.names.provenance_of its annotations
    # Env vars set to one free TCP port when it starts (a PyTorchJob's MASTER_PORT here).
    free_port_env: tuple[str, ...] = ()


def _container(manifest: Mapping[str, Any]) -> Mapping[str, Any]:
    pod = ((manifest.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = pod.get("containers") or []
    if not containers:
        raise SpecError("the Job has no container")
    for c in containers:
        if c.get("name") in ("trial", "pytorch", "node"):
            return c  # type: ignore[no-any-return]
    return containers[0]  # type: ignore[no-any-return]


def parse_manifest(manifest: Mapping[str, Any], default_namespace: str = "default") -> TrialSpec:
    kind = manifest.get("kind", "Job")
    if kind not in ("Job", *DISTRIBUTED_KINDS):
        raise SpecError(f"not a Job: {kind!r}")
    # A PyTorchJob (TrainJob) runs here as its master alone (see local_rendezvous).
    rendezvous = local_rendezvous(manifest) if kind in DISTRIBUTED_KINDS else None
    manifest = job_view(manifest)
    meta = manifest.get("metadata") or {}
    name = meta.get("name")
    if not name:
        raise SpecError("the Job has no metadata.name")
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    c = _container(manifest)
    argv = [str(a) for a in (c.get("command") or [])] + [str(a) for a in (c.get("args") or [])]
    if not argv:
        raise SpecError("the container has no command (a local trial cannot fall back to the image's)")
    env: dict[str, str] = {}
    for e in c.get("env") or []:
        if "value" in e and e.get("name"):
            env[str(e["name"])] = str(e["value"])
    if rendezvous is not None:
        env.update(rendezvous)
    res = c.get("resources") or {}
    requests = res.get("requests") or {}
    limits = res.get("limits") or {}
    cpu = requests.get("cpu", limits.get("cpu"))
    mem = requests.get("memory", limits.get("memory"))
    gpu = requests.get(GPU_RESOURCE, limits.get(GPU_RESOURCE))
    trial = labels.get(TRIAL_LABEL)
    spec = (manifest.get("spec") or {})
    backoff = spec.get("backoffLimit")
    return TrialSpec(
        namespace=str(meta.get("namespace") or default_namespace),
        name=str(name),
        sweep=labels.get(SWEEP_LABEL),
        trial=int(trial) if trial is not None and str(trial).isdigit() else None,
        params=annotations.get(PARAMS_ANNOTATION),
        metric=annotations.get(METRIC_ANNOTATION),
        argv=argv,
        env=env,
        cpu_m=cpu_millis(cpu) if cpu is not None else DEFAULT_CPU_M,
        memory=to_int(mem) if mem is not None else 0,
        memory_limit=to_int(limits.get("memory")) if limits.get("memory") is not None else 0,
        gpu=to_int(gpu) if gpu is not None else 0,
        backoff_limit=int(backoff) if backoff is not None else DEFAULT_BACKOFF_LIMIT,
        ttl=int(spec["ttlSecondsAfterFinished"]) if spec.get("ttlSecondsAfterFinished") is not None else None,
        early_stopping=annotations.get(EARLY_STOPPING_ANNOTATION),
        code=_code_sha(annotations.get(CODE_ANNOTATION)),
        provenance=provenance_of(annotations, c.get("image")),
        free_port_env=("MASTER_PORT", "PET_MASTER_PORT") if rendezvous is not None else (),
    )


def local_rendezvous(manifest: Mapping[str, Any]) -> dict[str, str]:
    """The training operator's env for a PyTorchJob (TrainJob) of one node, this machine: its
    master alone (rank 0 of 1 node; its workers are not started), MASTER_ADDR 127.0.0.1, and
    MASTER_PORT a free port chosen when it starts."""
    spec = manifest.get("spec") or {}
    nproc = str(spec.get("nprocPerNode") or (spec.get("trainer") or {}).get("numProcPerNode") or "auto")
    return {"MASTER_ADDR": "127.0.0.1", "PET_MASTER_ADDR": "127.0.0.1",
            "WORLD_SIZE": nproc if nproc.isdigit() else "1", "RANK": "0",
            "PET_NNODES": "1", "PET_NODE_RANK": "0", "PET_NPROC_PER_NODE": nproc}


def _code_sha(raw: str | None) -> str | None:
    code = parse_object(raw)
    sha = code.get("sha256") if code else None
    return sha if isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha) else None
