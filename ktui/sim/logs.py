"""GET .../pods/NAME/log: container logs with the kubelet's options and framing.

Lines are produced by each container run's script (workload.py) and carry nanosecond
timestamps, so sinceTime/sinceSeconds/tailLines/timestamps/limitBytes select exactly. A
reconnecting client that passes the last timestamp it saw as sinceTime gets that line again
(the kubelet's test is timestamp >= sinceTime) and everything after it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ktui.sim import clock, errors, httpio
from ktui.sim.kubelet import Run
from ktui.sim.resources import PODS
from ktui.sim.workload import plan_from_status

if TYPE_CHECKING:
    from ktui.sim.server import SimServer

_WAITING_MESSAGES = {
    "ContainerCreating": "ContainerCreating",
    "PodInitializing": "PodInitializing",
    "ErrImagePull": "trying and failing to pull image",
    "ImagePullBackOff": "image can't be pulled",
}


def _bool(value: str | None) -> bool:
    return (value or "").lower() in ("1", "t", "true")


def _int(query: Any, name: str) -> int | None:
    value = query.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise errors.bad_request(f'invalid value for {name}: "{value}"') from exc


def runs_from_status(pod: dict[str, Any], container: str, speed: float) -> list[Run]:
    """Reconstruct runs of a pod the kubelet never managed (pre-populated history)."""
    for cs in (pod.get("status") or {}).get("containerStatuses") or ():
        if cs.get("name") != container:
            continue
        runs: list[Run] = []
        restarts = cs.get("restartCount", 0)
        last = (cs.get("lastState") or {}).get("terminated")
        if last and last.get("startedAt"):
            r = Run(plan_from_status(pod, container, max(0, restarts - 1), last, speed),
                    clock.parse_rfc3339_ns(last["startedAt"]), last.get("containerID", ""))
            r.end_ns = clock.parse_rfc3339_ns(last.get("finishedAt") or last["startedAt"])
            r.exit_code, r.reason = last.get("exitCode"), last.get("reason")
            runs.append(r)
        state = cs.get("state") or {}
        cur = state.get("running") or state.get("terminated")
        if cur and cur.get("startedAt"):
            r = Run(plan_from_status(pod, container, restarts, state.get("terminated"), speed),
                    clock.parse_rfc3339_ns(cur["startedAt"]),
                    cs.get("containerID", ""))
            if "finishedAt" in cur:
                r.end_ns = clock.parse_rfc3339_ns(cur["finishedAt"])
                r.exit_code, r.reason = cur.get("exitCode"), cur.get("reason")
                r.done.set()
            runs.append(r)
        return runs
    return []


async def serve_log(server: SimServer, request: web.BaseRequest, namespace: str,
                    name: str) -> web.StreamResponse:
    query = request.query
    v = server.cluster.store.get(PODS, namespace, name)
    if v is None:
        raise errors.not_found(PODS, name)
    pod = v.obj()
    spec = pod.get("spec") or {}
    names = [c["name"] for c in spec.get("containers") or ()]
    init_names = [c["name"] for c in spec.get("initContainers") or ()]
    container = query.get("container")
    if not container:
        if len(names) != 1:
            raise errors.bad_request(f"a container name must be specified for pod {name}, "
                                     f"choose one of: [{' '.join(names)}]")
        container = names[0]
    elif container not in names and container not in init_names:
        raise errors.bad_request(f"container {container} is not valid for pod {name}")
    previous = _bool(query.get("previous"))
    follow = _bool(query.get("follow")) and not previous
    timestamps = _bool(query.get("timestamps"))
    tail = _int(query, "tailLines")
    limit_bytes = _int(query, "limitBytes")
    since_seconds = _int(query, "sinceSeconds")
    since_ns: int | None = None
    if query.get("sinceTime"):
        try:
            since_ns = clock.parse_rfc3339_ns(query["sinceTime"])
        except ValueError as exc:
            raise errors.bad_request(f'invalid value for sinceTime: "{query["sinceTime"]}"') from exc
    if since_seconds is not None:
        if since_ns is not None:
            raise errors.ApiError(422, "Invalid", 'PodLogOptions "" is invalid: sinceSeconds: '
                                  "Forbidden: at most one of sinceTime or sinceSeconds may be "
                                  "specified", {"kind": "PodLogOptions"})
        since_ns = clock.now_ns() - since_seconds * 1_000_000_000

    runs = (server.kubelet.runs.get(v.uid) or {}).get(container)
    if runs is None:
        runs = runs_from_status(pod, container, server.cluster.speed)
    status = next((cs for cs in (pod.get("status") or {}).get("containerStatuses") or ()
                   if cs.get("name") == container), None)
    waiting = ((status or {}).get("state") or {}).get("waiting")
    current: Run | None = runs[-1] if runs else None
    prev_run: Run | None = runs[-2] if len(runs) > 1 else None
    if waiting and current is not None and current.end_ns is not None:
        # Between restarts (CrashLoopBackOff): the last run is the previous instance.
        prev_run, current = current, None
    if previous:
        if prev_run is None:
            raise errors.bad_request(
                f'previous terminated container "{container}" in pod "{name}" not found')
        run = prev_run
    else:
        if current is None:
            if not spec.get("nodeName") or status is None:
                return web.Response(status=204, headers=httpio.base_headers())
            reason = (waiting or {}).get("reason", "ContainerCreating")
            raise errors.bad_request(
                f'container "{container}" in pod "{name}" is waiting to start: '
                f'{_WAITING_MESSAGES.get(reason, reason)}')
        run = current

    speed = server.cluster.speed
    visible = run.lines(speed)
    sent = len(visible)
    selected = [(ts, line) for ts, line in visible if since_ns is None or ts >= since_ns]
    if tail is not None:
        selected = selected[-tail:] if tail > 0 else []

    resp = web.StreamResponse(status=200, headers=httpio.base_headers())
    resp.content_type = "text/plain"
    resp.enable_chunked_encoding()
    await httpio.start(resp, request)
    budget = limit_bytes if limit_bytes is not None and limit_bytes > 0 else None

    async def emit(lines: list[tuple[int, bytes]]) -> bool:
        nonlocal budget
        if not lines:
            return True
        data = b"".join((clock.rfc3339_nano(ts).encode() + b" " + line) if timestamps else line
                        for ts, line in lines)
        if budget is not None:
            data = data[:budget]
            budget -= len(data)
        if data:
            await resp.write(data)
        return budget is None or budget > 0

    stream = server.register_stream(request)
    try:
        more = await emit(selected)
        if follow and more:
            all_lines = run.script.lines()
            while True:
                if run.end_ns is not None and sent >= len(run.lines(speed)):
                    break
                wait = 1.0
                if sent < len(all_lines):
                    due = run.start_ns + int(all_lines[sent][0] * 1e9 / speed)
                    wait = max(0.0, (due - clock.now_ns()) / 1e9) + 0.001
                if run.end_ns is None:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(run.done.wait(), min(wait, 5.0))
                now_lines = run.lines(speed)
                fresh = [(ts, line) for ts, line in now_lines[sent:]
                         if since_ns is None or ts >= since_ns]
                sent = len(now_lines)
                if not await emit(fresh):
                    break
                if server.cluster.store.get(PODS, namespace, name) is None and run.end_ns is None:
                    break
        await resp.write_eof()
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        server.unregister_stream(stream)
    return resp
