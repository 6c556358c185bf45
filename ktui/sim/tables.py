"""meta.k8s.io Table rendering, with the columns and cell rules of kube-apiserver's printers."""

from __future__ import annotations

from functools import cache
from typing import Any

from ktui.sim import clock, crds, data
from ktui.sim.resources import ResourceInfo

TABLE_V1 = "meta.k8s.io/v1"
TABLE_V1BETA1 = "meta.k8s.io/v1beta1"


@cache
def column_definitions(plural: str) -> list[dict[str, Any]]:
    if plural in crds.CRDS:
        return crds.columns(plural)
    columns: list[dict[str, Any]] = data.load("table-columns")[plural]
    return columns


def has_columns(plural: str) -> bool:
    return plural in data.load("table-columns")


def _has_condition(conditions: list[dict[str, Any]] | None, ctype: str) -> bool:
    return any(c.get("type") == ctype and c.get("status") == "True" for c in conditions or ())


def job_cells(job: dict[str, Any], now: float) -> list[Any]:
    spec = job.get("spec") or {}
    status = job.get("status") or {}
    succeeded = status.get("succeeded") or 0
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif (spec.get("parallelism") or 0) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    start, end = status.get("startTime"), status.get("completionTime")
    if not start:
        duration = ""
    elif not end:
        duration = clock.human_duration(now - clock.parse_rfc3339(start))
    else:
        duration = clock.human_duration(clock.parse_rfc3339(end) - clock.parse_rfc3339(start))
    conds = status.get("conditions")
    if _has_condition(conds, "Complete"):
        state = "Complete"
    elif _has_condition(conds, "Failed"):
        state = "Failed"
    elif job["metadata"].get("deletionTimestamp"):
        state = "Terminating"
    elif _has_condition(conds, "Suspended"):
        state = "Suspended"
    elif _has_condition(conds, "FailureTarget"):
        state = "FailureTarget"
    elif _has_condition(conds, "SuccessCriteriaMet"):
        state = "SuccessCriteriaMet"
    else:
        state = "Running"
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    names = ",".join(c.get("name", "") for c in containers)
    images = ",".join(c.get("image", "") for c in containers)
    selector = _format_selector(spec.get("selector"))
    return [job["metadata"]["name"], state, completions, duration,
            clock.since(job["metadata"].get("creationTimestamp"), now), names, images, selector]


def _format_selector(sel: dict[str, Any] | None) -> str:
    if not sel:
        return "<none>"
    parts = [f"{k}={v}" for k, v in (sel.get("matchLabels") or {}).items()]
    for expr in sel.get("matchExpressions") or ():
        op = expr.get("operator", "")
        values = ",".join(expr.get("values") or ())
        if op == "In":
            parts.append(f"{expr['key']} in ({values})")
        elif op == "NotIn":
            parts.append(f"{expr['key']} notin ({values})")
        elif op == "Exists":
            parts.append(expr["key"])
        elif op == "DoesNotExist":
            parts.append("!" + expr["key"])
    return ",".join(parts) if parts else "<none>"


def pod_cells(pod: dict[str, Any], now: float) -> list[Any]:
    meta = pod["metadata"]
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    total = len(spec.get("containers") or ())
    ready = 0
    restarts = 0
    last_restart = 0.0
    reason = status.get("reason") or status.get("phase") or ""
    initializing = False
    init_statuses = status.get("initContainerStatuses") or []
    for i, cs in enumerate(init_statuses):
        restarts += cs.get("restartCount", 0)
        term = (cs.get("state") or {}).get("terminated")
        waiting = (cs.get("state") or {}).get("waiting")
        if term and term.get("exitCode") == 0:
            continue
        if term:
            reason = "Init:" + (term.get("reason") or f"ExitCode:{term.get('exitCode')}")
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{i}/{len(spec.get('initContainers') or ())}"
        initializing = True
        break
    if not initializing:
        restarts = 0
        has_running = False
        for cs in reversed(statuses):
            restarts += cs.get("restartCount", 0)
            last_term = (cs.get("lastState") or {}).get("terminated")
            if last_term and last_term.get("finishedAt"):
                last_restart = max(last_restart, clock.parse_rfc3339(last_term["finishedAt"]))
            state = cs.get("state") or {}
            waiting, term = state.get("waiting"), state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif term and term.get("reason"):
                reason = term["reason"]
            elif term:
                reason = (f"Signal:{term['signal']}" if term.get("signal")
                          else f"ExitCode:{term.get('exitCode', 0)}")
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _has_condition(status.get("conditions"), "Ready") else "NotReady"
    phase = status.get("phase")
    if meta.get("deletionTimestamp") and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif meta.get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    restarts_text = str(restarts)
    if restarts and last_restart:
        restarts_text = f"{restarts} ({clock.human_duration(now - last_restart)} ago)"
    ips = status.get("podIPs") or []
    pod_ip = (ips[0].get("ip") if ips else "") or "<none>"
    gates = spec.get("readinessGates")
    if gates:
        true_types = {c.get("type") for c in status.get("conditions") or ()
                      if c.get("status") == "True"}
        ok = sum(1 for g in gates if g.get("conditionType") in true_types)
        gates_text = f"{ok}/{len(gates)}"
    else:
        gates_text = "<none>"
    return [meta["name"], f"{ready}/{total}", reason, restarts_text,
            clock.since(meta.get("creationTimestamp"), now), pod_ip,
            spec.get("nodeName") or "<none>", status.get("nominatedNodeName") or "<none>",
            gates_text]


def pod_row_conditions(pod: dict[str, Any]) -> list[dict[str, str]] | None:
    phase = (pod.get("status") or {}).get("phase")
    if phase == "Succeeded":
        return [{"type": "Completed", "status": "True", "reason": "Succeeded",
                 "message": "The pod has completed successfully."}]
    if phase == "Failed":
        return [{"type": "Completed", "status": "True", "reason": "Failed",
                 "message": "The pod failed."}]
    return None


def node_cells(node: dict[str, Any], now: float) -> list[Any]:
    meta = node["metadata"]
    status = node.get("status") or {}
    states = []
    for c in status.get("conditions") or ():
        if c.get("type") == "Ready":
            states.append("Ready" if c.get("status") == "True" else "NotReady")
    if not states:
        states.append("Unknown")
    if (node.get("spec") or {}).get("unschedulable"):
        states.append("SchedulingDisabled")
    roles = sorted({k.split("/", 1)[1] for k in (meta.get("labels") or {})
                    if k.startswith("node-role.kubernetes.io/") and "/" in k}
                   | {v for k, v in (meta.get("labels") or {}).items()
                      if k == "kubernetes.io/role"})
    info = status.get("nodeInfo") or {}
    addrs = status.get("addresses") or []
    internal = next((a["address"] for a in addrs if a.get("type") == "InternalIP"), "<none>")
    external = next((a["address"] for a in addrs if a.get("type") == "ExternalIP"), "<none>")
    return [meta["name"], ",".join(states), ",".join(roles) or "<none>",
            clock.since(meta.get("creationTimestamp"), now), info.get("kubeletVersion", ""),
            internal, external, info.get("osImage") or "<unknown>",
            info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>"]


def namespace_cells(ns: dict[str, Any], now: float) -> list[Any]:
    meta = ns["metadata"]
    return [meta["name"], (ns.get("status") or {}).get("phase", ""),
            clock.since(meta.get("creationTimestamp"), now)]


def event_cells(ev: dict[str, Any], now: float) -> list[Any]:
    def micro_since(ts: str | None) -> str:
        return clock.since(ts, now) if ts else "<unknown>"

    first = (clock.since(ev["firstTimestamp"], now) if ev.get("firstTimestamp")
             else micro_since(ev.get("eventTime")))
    last = clock.since(ev["lastTimestamp"], now) if ev.get("lastTimestamp") else first
    count = ev.get("count") or 0
    series = ev.get("series")
    if series:
        last = micro_since(series.get("lastObservedTime"))
        count = series.get("count", 0)
    elif not count:
        count = 1
    inv = ev.get("involvedObject") or {}
    kind = (inv.get("kind") or "").lower()
    target = f"{kind}/{inv['name']}" if inv.get("name") else kind
    src = ev.get("source") or {}
    component = src.get("component") or ev.get("reportingComponent") or ""
    host = src.get("host") or ev.get("reportingInstance") or ""
    source = f"{component}, {host}" if host else component
    return [last, ev.get("type", ""), ev.get("reason", ""), target, inv.get("fieldPath", ""),
            source, (ev.get("message") or "").strip(), first, count, ev["metadata"]["name"]]


def service_cells(svc: dict[str, Any], now: float) -> list[Any]:
    meta, spec = svc["metadata"], svc.get("spec") or {}
    ports = []
    for p in spec.get("ports") or ():
        text = f"{p.get('port')}/{p.get('protocol', 'TCP')}"
        if p.get("nodePort"):
            text = f"{p.get('port')}:{p['nodePort']}/{p.get('protocol', 'TCP')}"
        ports.append(text)
    external = ",".join(spec.get("externalIPs") or ()) or "<none>"
    selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items()))
    return [meta["name"], spec.get("type", "ClusterIP"), spec.get("clusterIP") or "<none>",
            external, ",".join(ports) or "<none>",
            clock.since(meta.get("creationTimestamp"), now), selector or "<none>"]


def endpoints_cells(ep: dict[str, Any], now: float) -> list[Any]:
    meta = ep["metadata"]
    pairs = [f"{a.get('ip')}:{p.get('port')}"
             for ss in ep.get("subsets") or () for p in ss.get("ports") or ()
             for a in ss.get("addresses") or ()]
    # kube's printer shows three and counts the rest.
    text = ",".join(pairs[:3]) + (f" + {len(pairs) - 3} more..." if len(pairs) > 3 else "")
    return [meta["name"], text or "<none>", clock.since(meta.get("creationTimestamp"), now)]


def configmap_cells(cm: dict[str, Any], now: float) -> list[Any]:
    """kubectl's columns: NAME, DATA (keys in data and binaryData), AGE."""
    meta = cm["metadata"]
    return [meta["name"], len(cm.get("data") or {}) + len(cm.get("binaryData") or {}),
            clock.since(meta.get("creationTimestamp"), now)]


_CELLS = {
    "configmaps": configmap_cells,
    "services": service_cells,
    "endpoints": endpoints_cells,
    "jobs": job_cells,
    "pods": pod_cells,
    "nodes": node_cells,
    "namespaces": namespace_cells,
    "events": event_cells,
}


def row(info: ResourceInfo, obj: dict[str, Any], now: float, include_object: str,
        full_object: bytes | None = None) -> dict[str, Any]:
    if info.plural in crds.CRDS:
        out: dict[str, Any] = {"cells": crds.cells(info.plural, obj, now)}
    else:
        out = {"cells": _CELLS[info.plural](obj, now)}
    if info.plural == "pods":
        conds = pod_row_conditions(obj)
        if conds:
            out["conditions"] = conds
    if include_object == "Object":
        full = {"kind": info.kind, "apiVersion": info.api_version}
        full.update(obj)
        out["object"] = full
    elif include_object != "None":
        out["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                         "metadata": obj["metadata"]}
    return out


def table(info: ResourceInfo, api_version: str, metadata: dict[str, Any],
          rows: list[dict[str, Any]], with_columns: bool = True) -> dict[str, Any]:
    return {
        "kind": "Table",
        "apiVersion": api_version,
        "metadata": metadata,
        "columnDefinitions": column_definitions(info.plural) if with_columns else None,
        "rows": rows,
    }
