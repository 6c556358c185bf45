"""A bin-packing scheduler: first fit over nodes in name order by cpu, memory, GPUs and pods.

Honours nodeSelector, cordoned nodes and NoSchedule/NoExecute taints with tolerations. A pod
that fits nowhere gets PodScheduled=False/Unschedulable with kube-scheduler's message and a
FailedScheduling event, and is retried only against nodes whose free capacity grew, which
keeps a large backlog of pending pods cheap.
"""

from __future__ import annotations

from bisect import insort
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from ktui.sim import clock
from ktui.sim.cluster import Cluster
from ktui.sim.events import EventRecorder
from ktui.sim.resources import NODES, PODS, ResourceInfo
from ktui.sim.store import WatchEvent
from ktui.wire import quantity

# MIG devices (the MIG node's `mixed` strategy resources) are extended resources like GPUs.
RESOURCES = ("cpu", "memory", "nvidia.com/gpu", "nvidia.com/mig-1g.10gb",
             "nvidia.com/mig-2g.20gb", "nvidia.com/mig-3g.40gb")


@dataclass
class NodeState:
    name: str
    alloc: dict[str, int]
    max_pods: int
    labels: dict[str, str]
    taints: list[dict[str, Any]]
    unschedulable: bool
    ready: bool
    used: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RESOURCES, 0))
    pods: int = 0


@dataclass
class PodReq:
    key: str
    req: dict[str, int]
    node_selector: dict[str, str]
    tolerations: list[dict[str, Any]]


def pod_requests(spec: dict[str, Any]) -> dict[str, int]:
    """Effective requests: sum over containers, max with each init container (like the scheduler)."""  # noqa: E501
    total = dict.fromkeys(RESOURCES, 0)
    for c in spec.get("containers") or ():
        req = (c.get("resources") or {}).get("requests") or {}
        for r in RESOURCES:
            if r in req:
                total[r] += quantity.milli(req[r]) if r == "cpu" else quantity.whole(req[r])
    for c in spec.get("initContainers") or ():
        req = (c.get("resources") or {}).get("requests") or {}
        for r in RESOURCES:
            if r in req:
                v = quantity.milli(req[r]) if r == "cpu" else quantity.whole(req[r])
                total[r] = max(total[r], v)
    return total


def _tolerates(tolerations: list[dict[str, Any]], taint: dict[str, Any]) -> bool:
    for t in tolerations:
        if t.get("effect") and t.get("effect") != taint.get("effect"):
            continue
        op = t.get("operator", "Equal")
        if op == "Exists":
            if not t.get("key") or t.get("key") == taint.get("key"):
                return True
        elif t.get("key") == taint.get("key") and t.get("value", "") == taint.get("value", ""):
            return True
    return False


class Scheduler:
    def __init__(self, cluster: Cluster, events: EventRecorder) -> None:
        self.cluster = cluster
        self.events = events
        self.nodes: dict[str, NodeState] = {}
        self._order: list[str] = []
        # pod key -> (node, requests) for bound pods that are not terminal.
        self.usage: dict[str, tuple[str, dict[str, int]]] = {}
        self.pending: OrderedDict[str, PodReq] = OrderedDict()
        self.unschedulable: OrderedDict[str, PodReq] = OrderedDict()
        self._freed: set[str] = set()
        self._scheduled = False
        cluster.store.listeners.append(self._on_event)

    # ------------------------------------------------------------------ bookkeeping

    def _kick(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            self.cluster.loop.call_soon(self._run)

    def _node_from(self, obj: dict[str, Any]) -> NodeState:
        status = obj.get("status") or {}
        alloc = status.get("allocatable") or status.get("capacity") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                    for c in status.get("conditions") or ())
        spec = obj.get("spec") or {}
        return NodeState(
            obj["metadata"]["name"],
            {r: quantity.milli(alloc.get(r, 0)) if r == "cpu" else quantity.whole(alloc.get(r, 0))
             for r in RESOURCES},
            quantity.whole(alloc.get("pods", 110)),
            obj["metadata"].get("labels") or {},
            list(spec.get("taints") or ()),
            bool(spec.get("unschedulable")),
            ready,
        )

    def _set_node(self, state: NodeState) -> None:
        old = self.nodes.get(state.name)
        if old is not None:
            state.used, state.pods = old.used, old.pods
        else:
            insort(self._order, state.name)
        self.nodes[state.name] = state
        self._freed.add(state.name)

    def _release(self, key: str) -> None:
        entry = self.usage.pop(key, None)
        if entry is None:
            return
        node, req = entry
        st = self.nodes.get(node)
        if st is not None:
            for r in RESOURCES:
                st.used[r] -= req[r]
            st.pods -= 1
            self._freed.add(node)

    def _account(self, key: str, node: str, req: dict[str, int]) -> None:
        self.usage[key] = (node, req)
        st = self.nodes.get(node)
        if st is not None:
            for r in RESOURCES:
                st.used[r] += req[r]
            st.pods += 1

    def rebuild(self) -> None:
        """Recompute nodes and usage from the store (after pre-population)."""
        self.nodes.clear()
        self._order.clear()
        self.usage.clear()
        for v in self.cluster.store["nodes"].objects.values():
            self._set_node(self._node_from(v.obj()))
        for v in self.cluster.store["pods"].objects.values():
            phase = v.fields.get("status.phase")
            if phase in ("Succeeded", "Failed"):
                continue
            node = v.fields.get("spec.nodeName")
            if node:
                self._account(v.key, node, pod_requests(v.obj().get("spec") or {}))
            else:
                self._queue(v.obj())
        self._kick()

    def _queue(self, pod: dict[str, Any]) -> None:
        spec = pod.get("spec") or {}
        if spec.get("schedulerName", "default-scheduler") != "default-scheduler":
            return
        meta = pod["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        self.pending[key] = PodReq(key, pod_requests(spec), spec.get("nodeSelector") or {},
                                   list(spec.get("tolerations") or ()))
        self._kick()

    def _on_event(self, info: ResourceInfo, ev: WatchEvent) -> None:
        if info is NODES:
            if ev.type == "DELETED":
                self.nodes.pop(ev.obj.name, None)
                if ev.obj.name in self._order:
                    self._order.remove(ev.obj.name)
            else:
                self._set_node(self._node_from(ev.obj.obj()))
                self._kick()
            return
        if info is not PODS:
            return
        v = ev.obj
        if ev.type == "DELETED":
            self._release(v.key)
            self.pending.pop(v.key, None)
            self.unschedulable.pop(v.key, None)
            self._kick()
            return
        phase = v.fields.get("status.phase")
        node = v.fields.get("spec.nodeName")
        if phase in ("Succeeded", "Failed"):
            if v.key in self.usage:
                self._release(v.key)
                self._kick()
            return
        if node:
            if v.key not in self.usage:
                # Bound by someone else (e.g. a pod created with spec.nodeName).
                self._account(v.key, node, pod_requests(v.obj().get("spec") or {}))
            return
        if v.deleting:
            self.pending.pop(v.key, None)
            self.unschedulable.pop(v.key, None)
            return
        if ev.type == "ADDED" and v.key not in self.pending:
            self._queue(v.obj())

    # ------------------------------------------------------------------ scheduling

    def _fits(self, p: PodReq, st: NodeState) -> bool:
        if st.unschedulable or not st.ready or st.pods >= st.max_pods:
            return False
        for r in RESOURCES:
            if p.req[r] and st.used[r] + p.req[r] > st.alloc[r]:
                return False
        for k, val in p.node_selector.items():
            if st.labels.get(k) != val:
                return False
        for t in st.taints:
            if t.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(p.tolerations, t):  # noqa: E501
                return False
        return True

    def _reasons(self, p: PodReq, st: NodeState) -> tuple[list[str], bool]:
        """Filter failure reasons of one node, and whether preemption could help there."""
        if st.unschedulable:
            return ["node(s) were unschedulable"], False
        for t in st.taints:
            if t.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(p.tolerations, t):  # noqa: E501
                value = t.get("value", "")
                return [f"node(s) had untolerated taint {{{t.get('key')}: {value}}}"], False
        if not st.ready:
            return ["node(s) had untolerated taint {node.kubernetes.io/not-ready: }"], False
        for k, val in p.node_selector.items():
            if st.labels.get(k) != val:
                return ["node(s) didn't match Pod's node affinity/selector"], False
        out = []
        if st.pods >= st.max_pods:
            out.append("Too many pods")
        for r in RESOURCES:
            if p.req[r] and st.used[r] + p.req[r] > st.alloc[r]:
                out.append(f"Insufficient {r}")
        return out, True

    def _message(self, p: PodReq) -> str:
        counts: dict[str, int] = {}
        victims = helpless = 0
        for name in self._order:
            reasons, resolvable = self._reasons(p, self.nodes[name])
            for r in reasons:
                counts[r] = counts.get(r, 0) + 1
            if resolvable:
                victims += 1
            else:
                helpless += 1
        n = len(self._order)
        msg = f"0/{n} nodes are available"
        parts = sorted(f"{c} {r}" for r, c in counts.items())
        if parts:
            msg += ": " + ", ".join(parts) + "."
        else:
            msg += "."
        pre = []
        if victims:
            pre.append(f"{victims} No preemption victims found for incoming pod")
        if helpless:
            pre.append(f"{helpless} Preemption is not helpful for scheduling")
        if n:
            msg += f" preemption: 0/{n} nodes are available: {', '.join(sorted(pre))}."
        return msg

    def _bind(self, p: PodReq, node: str) -> None:
        self._account(p.key, node, p.req)
        now = clock.rfc3339(clock.now())

        def bind(pod: dict[str, Any]) -> bool | None:
            if pod["spec"].get("nodeName") or pod["metadata"].get("deletionTimestamp"):
                return False
            pod["spec"]["nodeName"] = node
            status = pod.setdefault("status", {})
            conds = [c for c in status.get("conditions") or () if c.get("type") != "PodScheduled"]
            conds.append({"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                          "lastTransitionTime": now})
            status["conditions"] = conds
            return None

        v = self.cluster.mutate(PODS, p.key, bind)
        if v is None or v.fields.get("spec.nodeName") != node:
            self._release(p.key)
            return
        meta = v.obj()["metadata"]
        self.events.scheduler(meta, "Normal", "Scheduled",
                              f"Successfully assigned {meta['namespace']}/{meta['name']} to "
                              f"{node}", "Binding")

    def _mark_unschedulable(self, p: PodReq) -> None:
        message = self._message(p)
        now = clock.rfc3339(clock.now())

        def mark(pod: dict[str, Any]) -> bool | None:
            status = pod.setdefault("status", {})
            conds = status.get("conditions") or []
            for c in conds:
                if (c.get("type") == "PodScheduled" and c.get("message") == message
                        and c.get("status") == "False"):
                    return False
            conds = [c for c in conds if c.get("type") != "PodScheduled"]
            conds.append({"type": "PodScheduled", "status": "False", "lastProbeTime": None,
                          "lastTransitionTime": now, "reason": "Unschedulable",
                          "message": message})
            status["conditions"] = conds
            return None

        v = self.cluster.mutate(PODS, p.key, mark)
        if v is not None:
            self.events.scheduler(v.obj()["metadata"], "Warning", "FailedScheduling", message,
                                  "Scheduling")

    def _run(self) -> None:
        self._scheduled = False
        freed, self._freed = self._freed, set()
        if freed and self.unschedulable:
            for name in sorted(freed):
                st = self.nodes.get(name)
                if st is None:
                    continue
                for key, p in list(self.unschedulable.items()):
                    if self._fits(p, st):
                        del self.unschedulable[key]
                        self._bind(p, name)
        while self.pending:
            key, p = self.pending.popitem(last=False)
            if key not in self.cluster.store["pods"].objects:
                continue
            target = next((n for n in self._order if self._fits(p, self.nodes[n])), None)
            if target is None:
                self.unschedulable[key] = p
                self._mark_unschedulable(p)
            else:
                self._bind(p, target)
