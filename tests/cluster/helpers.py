"""Shared helpers for the cluster tests: fixture bytes and hand-made records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ktui.cluster.records import EventRec, JobRec, NodeRec, PodRec

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def pod(name: str = "p", *, ns: str = "default", job: str | None = "j", rv: str = "1", **kw: Any) -> PodRec:
    base: dict[str, Any] = dict(
        namespace=ns,
        name=name,
        rv=rv,
        job=job,
        job_uid=None,
        node=None,
        phase="Pending",
        created=1000.0,
        started=None,
        finished=None,
        deleting=False,
        cpu_m=0,
        memory=0,
        gpu=0,
        restarts=0,
    )
    base.update(kw)
    return PodRec(**base)


def job(name: str = "j", *, ns: str = "default", rv: str = "1", **kw: Any) -> JobRec:
    base: dict[str, Any] = dict(
        namespace=ns,
        name=name,
        uid=f"uid-{name}",
        rv=rv,
        created=1000.0,
        started=None,
        completed=None,
        sweep=None,
        trial=None,
        params=None,
        suspended=False,
        active=0,
        ready=0,
        succeeded=0,
        failed=0,
        outcome=None,
        reason=None,
        message=None,
    )
    base.update(kw)
    return JobRec(**base)


def node(name: str = "n1", *, rv: str = "1", **kw: Any) -> NodeRec:
    base: dict[str, Any] = dict(
        name=name,
        rv=rv,
        created=1000.0,
        cpu_m=16000,
        memory=64 * 2**30,
        gpu=8,
        max_pods=110,
        unschedulable=False,
        taints=(),
        conditions=(),
    )
    base.update(kw)
    return NodeRec(**base)


def event(name: str = "e", *, ns: str = "default", kind: str = "Pod", obj: str = "p", **kw: Any) -> EventRec:
    base: dict[str, Any] = dict(
        namespace=ns,
        name=name,
        rv="1",
        kind=kind,
        obj=obj,
        type="Warning",
        reason="FailedScheduling",
        message="0/3 nodes are available",
        count=1,
        last=1000.0,
    )
    base.update(kw)
    return EventRec(**base)
