"""Simulated kubelets: run bound pods through Pending -> Running -> Succeeded/Failed.

One `Kubelet` object serves every node. Work is driven by timers per pod (container start,
exit, restart back-off, image-pull retries, graceful kill), so the cost is proportional to
state changes, not to the number of pods. Container runs are kept per pod uid for logs.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ktui.sim import clock, trialparams, volumes
from ktui.sim.cluster import Cluster
from ktui.sim.events import EventRecorder
from ktui.sim.resources import CONFIGMAPS, NODES, PODS, ResourceInfo
from ktui.sim.store import WatchEvent
from ktui.sim.workload import Script, image_pull_fails, plan

# Simulated seconds for the kubelet's own steps.
ADMIT_DELAY = 0.3
START_DELAY = 1.5
KILL_DELAY = 0.6
FINALIZE_DELAY = 0.1
BACKOFF_BASE = 10.0
BACKOFF_MAX = 300.0
INIT_SECONDS = 1.0  # an init container's run (unpacking a snapshot)
MOUNT_RETRY = 2.0  # first retry of a failed volume mount; doubles up to MOUNT_RETRY_MAX
MOUNT_RETRY_MAX = 60.0


def normalize_image(image: str) -> str:
    name = image
    last = name.rsplit("/", 1)[-1]
    if "@" not in name and ":" not in last:
        name += ":latest"
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = "docker.io/library/" + name
    elif "." not in first and ":" not in first and first != "localhost":
        name = "docker.io/" + name
    return name


def image_id(image: str) -> str:
    full = normalize_image(image)
    repo = full.split("@", 1)[0].rsplit(":", 1)[0] if ":" in full.rsplit("/", 1)[-1] else full
    return f"{repo}@sha256:{hashlib.sha256(full.encode()).hexdigest()}"


def container_id() -> str:
    return "containerd://" + secrets.token_hex(32)


@dataclass
class Run:
    """One execution of one container (a restart starts a new Run)."""

    script: Script
    start_ns: int
    container_id: str
    end_ns: int | None = None
    exit_code: int | None = None
    reason: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def terminated(self) -> dict[str, Any]:
        return {"exitCode": self.exit_code, "reason": self.reason,
                "startedAt": clock.rfc3339(self.start_ns / 1e9),
                "finishedAt": clock.rfc3339((self.end_ns or self.start_ns) / 1e9),
                "containerID": self.container_id}

    def lines(self, speed: float, until_ns: int | None = None) -> list[tuple[int, bytes]]:
        limit = clock.now_ns() if until_ns is None else until_ns
        if self.end_ns is not None:
            limit = min(limit, self.end_ns)
        return self.script.visible(self.start_ns, speed, limit)


@dataclass
class ContainerRT:
    name: str
    image: str
    state: str = "waiting"  # waiting | running | terminated
    reason: str = "ContainerCreating"
    message: str = ""
    runs: list[Run] = field(default_factory=list)
    restart_count: int = 0
    pull_failures: int = 0
    timer: asyncio.TimerHandle | None = None


@dataclass
class PodRT:
    key: str
    uid: str
    node: str
    restart_policy: str
    containers: dict[str, ContainerRT]
    host_ip: str
    pod_ip: str = ""
    start_time: str = ""
    sandbox: bool = False
    terminal: bool = False
    deleting: bool = False
    attempt_base: int = 0
    timers: list[asyncio.TimerHandle] = field(default_factory=list)
    # Init containers, run one after another before the containers (initContainerStatuses).
    inits: list[ContainerRT] = field(default_factory=list)
    init_failed: bool = False
    mount_failures: int = 0
    vols: volumes.Volumes | None = None


class Kubelet:
    def __init__(self, cluster: Cluster, events: EventRecorder) -> None:
        self.cluster = cluster
        self.events = events
        self.pods: dict[str, PodRT] = {}
        # pod uid -> container -> runs; kept while the pod exists, for logs.
        self.runs: dict[str, dict[str, list[Run]]] = {}
        self._pending: set[str] = set()
        self._node_ips: dict[str, str] = {}
        self._node_index: dict[str, int] = {}
        self._ip_counter: dict[str, int] = {}
        # Set by the job controller: which attempt a new pod of a Never-policy Job is.
        self.attempts: dict[str, int] = {}
        cluster.store.listeners.append(self._on_event)

    # ------------------------------------------------------------------ watch reaction

    def _on_event(self, info: ResourceInfo, ev: WatchEvent) -> None:
        if info is NODES:
            self._node_ips.pop(ev.obj.name, None)
            return
        if info is not PODS:
            return
        v = ev.obj
        if ev.type == "DELETED":
            rt = self.pods.pop(v.key, None)
            if rt is not None:
                self._stop(rt)
            self.runs.pop(v.uid, None)
            self.attempts.pop(v.uid, None)
            return
        rt = self.pods.get(v.key)
        if rt is None:
            if (v.fields.get("spec.nodeName") and v.key not in self._pending
                    and v.fields.get("status.phase") not in ("Succeeded", "Failed")):
                self._pending.add(v.key)
                self.cluster.after(ADMIT_DELAY, partial(self._admit, v.key))
        elif v.deleting and not rt.deleting:
            rt.deleting = True
            self._later(rt, KILL_DELAY, lambda: self._kill(rt))

    def _later(self, rt: PodRT, sim_seconds: float, fn: Any) -> asyncio.TimerHandle:
        handle = self.cluster.after(sim_seconds, fn)
        rt.timers.append(handle)
        if len(rt.timers) > 32:
            rt.timers = [h for h in rt.timers if not h.cancelled()]
        return handle

    def _stop(self, rt: PodRT) -> None:
        for h in rt.timers:
            h.cancel()
        for c in [*rt.inits, *rt.containers.values()]:
            if c.timer:
                c.timer.cancel()
            for run in c.runs:
                if run.end_ns is None:
                    run.end_ns = clock.now_ns()
                    run.exit_code, run.reason = 137, "Error"
                run.done.set()

    # ------------------------------------------------------------------ helpers

    def node_ip(self, node: str) -> str:
        ip = self._node_ips.get(node)
        if ip is None:
            v = self.cluster.store.get(NODES, None, node)
            ip = ""
            if v is not None:
                for a in (v.obj().get("status") or {}).get("addresses") or ():
                    if a.get("type") == "InternalIP":
                        ip = a.get("address", "")
            self._node_ips[node] = ip
        return ip

    def _alloc_pod_ip(self, node: str) -> str:
        idx = self._node_index.setdefault(node, len(self._node_index))
        n = self._ip_counter.get(node, 0)
        self._ip_counter[node] = n + 1
        return f"10.{64 + idx // 256}.{idx % 256}.{n % 254 + 1}"

    def reserve_pod_ip(self, node: str) -> str:
        return self._alloc_pod_ip(node)

    def _pod(self, key: str) -> dict[str, Any] | None:
        v = self.cluster.store["pods"].objects.get(key)
        return v.obj() if v is not None else None

    # ------------------------------------------------------------------ lifecycle

    def _admit(self, key: str) -> None:
        self._pending.discard(key)
        pod = self._pod(key)
        if pod is None or key in self.pods:
            return
        spec = pod.get("spec") or {}
        node = spec.get("nodeName")
        if not node or self.cluster.store.get(NODES, None, node) is None:
            return
        status = pod.get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed"):
            return
        meta = pod["metadata"]
        containers = {c["name"]: ContainerRT(c["name"], c.get("image", ""))
                      for c in spec.get("containers") or ()}
        rt = PodRT(key, meta["uid"], node, spec.get("restartPolicy", "Always"), containers,
                   self.node_ip(node), attempt_base=self.attempts.get(meta["uid"], 0))
        rt.inits = [ContainerRT(c["name"], c.get("image", "")) for c in spec.get("initContainers") or ()]
        if rt.inits:
            for c in containers.values():
                c.reason = "PodInitializing"
        rt.start_time = clock.rfc3339(clock.now())
        self.pods[key] = rt
        self.runs[rt.uid] = {name: c.runs for name, c in containers.items()}
        self.runs[rt.uid].update({c.name: c.runs for c in rt.inits})
        self._write(rt)
        if meta.get("deletionTimestamp"):
            rt.deleting = True
            self._later(rt, KILL_DELAY, lambda: self._kill(rt))
            return
        self._later(rt, START_DELAY, lambda: self._start_all(rt))

    def adopt_running(self, pod: dict[str, Any]) -> None:
        """Take over a pre-populated Running pod: resume its containers' timers."""
        meta, spec, status = pod["metadata"], pod["spec"], pod.get("status") or {}
        key = f"{meta['namespace']}/{meta['name']}"
        containers: dict[str, ContainerRT] = {}
        rt = PodRT(key, meta["uid"], spec["nodeName"], spec.get("restartPolicy", "Always"),
                   containers, status.get("hostIP", ""), pod_ip=status.get("podIP", ""),
                   start_time=status.get("startTime", ""), sandbox=True)
        for cs in status.get("containerStatuses") or ():
            c = ContainerRT(cs["name"], next((x.get("image", "") for x in spec["containers"]
                                              if x["name"] == cs["name"]), ""))
            c.restart_count = cs.get("restartCount", 0)
            running = (cs.get("state") or {}).get("running")
            if running:
                start_ns = clock.parse_rfc3339_ns(running["startedAt"])
                run = Run(plan(pod, c.name, c.restart_count), start_ns,
                          cs.get("containerID") or container_id())
                c.runs.append(run)
                c.state = "running"
                remaining = run.script.duration - (clock.now_ns() - start_ns) / 1e9 * self.cluster.speed  # noqa: E501
                c.timer = self.cluster.after(max(0.0, remaining), partial(self._finish, rt, c))
            containers[c.name] = c
        self.pods[key] = rt
        self.runs[rt.uid] = {name: c.runs for name, c in containers.items()}

    def _start_all(self, rt: PodRT) -> None:
        if self.pods.get(rt.key) is not rt or rt.deleting:
            return
        pod = self._pod(rt.key)
        if pod is None:
            return
        missing = volumes.missing_config_maps(pod, self._config_map_exists)
        if missing:
            # As a kubelet: the pod stays ContainerCreating, a FailedMount warning says why,
            # and the mount is tried again (with back-off) until the ConfigMap appears.
            for vol, cm in missing:
                self.events.kubelet(pod["metadata"], rt.node, "Warning", "FailedMount",
                                    f'MountVolume.SetUp failed for volume "{vol}" : configmap "{cm}" not found')
            rt.mount_failures += 1
            delay = min(MOUNT_RETRY * 2 ** (rt.mount_failures - 1), MOUNT_RETRY_MAX)
            self._later(rt, delay, lambda: self._start_all(rt))
            return
        rt.vols = volumes.mount(pod, self._config_map)
        rt.sandbox = True
        rt.pod_ip = rt.pod_ip or self._alloc_pod_ip(rt.node)
        if rt.inits:
            self._start_init(rt, 0, pod)
        else:
            for c in rt.containers.values():
                self._start(rt, c, pod)
        self._write(rt)

    def _config_map_exists(self, namespace: str | None, name: str) -> bool:
        return self.cluster.store.get(CONFIGMAPS, namespace, name) is not None

    def _config_map(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        v = self.cluster.store.get(CONFIGMAPS, namespace, name)
        return v.obj() if v is not None else None

    def _start_init(self, rt: PodRT, index: int, pod: dict[str, Any]) -> None:
        """Run init container ``index``; the next one, or the containers, when it succeeds."""
        c = rt.inits[index]
        spec: dict[str, Any] = next((x for x in (pod.get("spec") or {}).get("initContainers") or () if x.get("name") == c.name), {})
        code, log = volumes.run_unpack(rt.vols or volumes.Volumes(), spec)
        meta = pod["metadata"]
        if not c.runs:
            self.events.kubelet(meta, rt.node, "Normal", "Pulled",
                                f'Container image "{c.image}" already present on machine', c.name)
        script = Script(INIT_SECONDS, code, "Completed" if code == 0 else "Error", None, 0, 0.0, log, spread=False)
        c.runs.append(Run(script, clock.now_ns(), container_id()))
        c.state, c.reason, c.message = "running", "", ""
        self.events.kubelet(meta, rt.node, "Normal", "Created", f"Created container: {c.name}", c.name)
        self.events.kubelet(meta, rt.node, "Normal", "Started", f"Started container {c.name}", c.name)
        c.timer = self.cluster.after(script.duration, lambda: self._finish_init(rt, index))

    def _finish_init(self, rt: PodRT, index: int) -> None:
        c = rt.inits[index]
        if self.pods.get(rt.key) is not rt or c.state != "running" or rt.deleting:
            return
        run = c.runs[-1]
        run.end_ns = clock.now_ns()
        run.exit_code, run.reason = run.script.exit_code, run.script.reason
        run.done.set()
        c.timer = None
        pod = self._pod(rt.key)
        if pod is None:
            return
        if run.exit_code == 0:
            c.state = "terminated"
            if index + 1 < len(rt.inits):
                self._start_init(rt, index + 1, pod)
            else:
                for main in rt.containers.values():
                    self._start(rt, main, pod)
        elif rt.restart_policy == "Never":
            c.state = "terminated"
            rt.init_failed = rt.terminal = True
            for main in rt.containers.values():
                main.state = "terminated"
        else:  # the kubelet restarts a failed init container with back-off (Init:CrashLoopBackOff)
            c.restart_count += 1
            c.state, c.reason = "waiting", "CrashLoopBackOff"
            delay = min(BACKOFF_BASE * 2 ** (c.restart_count - 1), BACKOFF_MAX)
            self.events.kubelet(pod["metadata"], rt.node, "Warning", "BackOff",
                                f"Back-off restarting failed container {c.name} in pod "
                                f"{pod['metadata']['name']}_{pod['metadata']['namespace']}({rt.uid})", c.name)
            c.timer = self.cluster.after(delay, lambda: self._restart_init(rt, index))
        self._write(rt)

    def _restart_init(self, rt: PodRT, index: int) -> None:
        if self.pods.get(rt.key) is not rt or rt.deleting:
            return
        pod = self._pod(rt.key)
        if pod is not None:
            self._start_init(rt, index, pod)
            self._write(rt)

    def _start(self, rt: PodRT, c: ContainerRT, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        if image_pull_fails(c.image):
            c.pull_failures += 1
            c.state, c.reason = "waiting", "ErrImagePull"
            ref = normalize_image(c.image)
            c.message = (f'failed to pull and unpack image "{ref}": failed to resolve reference '
                         f'"{ref}": {ref}: not found')
            if c.pull_failures == 1:
                self.events.kubelet(meta, rt.node, "Normal", "Pulling",
                                    f'Pulling image "{c.image}"', c.name)
            self.events.kubelet(meta, rt.node, "Warning", "Failed",
                                f'Failed to pull image "{c.image}": {c.message}', c.name)
            self.events.kubelet(meta, rt.node, "Warning", "Failed", "Error: ErrImagePull", c.name)
            self._later(rt, 1.0, lambda: self._pull_backoff(rt, c))
            return
        if not c.runs:
            self.events.kubelet(meta, rt.node, "Normal", "Pulled",
                                f'Container image "{c.image}" already present on machine',
                                c.name)
        cspec: dict[str, Any] = next((x for x in (pod.get("spec") or {}).get("containers") or () if x.get("name") == c.name), {})
        found = trialparams.read(pod, cspec, rt.vols) if rt.vols is not None else trialparams.NOTHING
        script = found.failure or plan(pod, c.name, rt.attempt_base + c.restart_count, found.params)
        if rt.vols is not None:
            script.preamble = volumes.listing(rt.vols, cspec)
        run = Run(script, clock.now_ns(), container_id())
        c.runs.append(run)
        c.state, c.reason, c.message = "running", "", ""
        self.events.kubelet(meta, rt.node, "Normal", "Created", f"Created container: {c.name}",
                            c.name)
        self.events.kubelet(meta, rt.node, "Normal", "Started", f"Started container {c.name}",
                            c.name)
        c.timer = self.cluster.after(script.duration, lambda: self._finish(rt, c))

    def _pull_backoff(self, rt: PodRT, c: ContainerRT) -> None:
        if self.pods.get(rt.key) is not rt or rt.deleting:
            return
        pod = self._pod(rt.key)
        if pod is None:
            return
        c.reason = "ImagePullBackOff"
        c.message = f'Back-off pulling image "{c.image}"'
        self.events.kubelet(pod["metadata"], rt.node, "Normal", "BackOff", c.message, c.name)
        self.events.kubelet(pod["metadata"], rt.node, "Warning", "Failed",
                            "Error: ImagePullBackOff", c.name)
        self._write(rt)
        delay = min(BACKOFF_BASE * 2 ** (c.pull_failures - 1), BACKOFF_MAX)
        self._later(rt, delay, lambda: self._retry_pull(rt, c))

    def _retry_pull(self, rt: PodRT, c: ContainerRT) -> None:
        if self.pods.get(rt.key) is not rt or rt.deleting:
            return
        pod = self._pod(rt.key)
        if pod is not None:
            self._start(rt, c, pod)
            self._write(rt)

    def _finish(self, rt: PodRT, c: ContainerRT, exit_code: int | None = None,
                reason: str | None = None) -> None:
        if self.pods.get(rt.key) is not rt or c.state != "running":
            return
        run = c.runs[-1]
        run.end_ns = clock.now_ns()
        run.exit_code = run.script.exit_code if exit_code is None else exit_code
        run.reason = run.script.reason if reason is None else reason
        run.done.set()
        c.timer = None
        restart = not rt.deleting and (
            rt.restart_policy == "Always"
            or (rt.restart_policy == "OnFailure" and run.exit_code != 0))
        if restart:
            c.restart_count += 1
            c.state, c.reason = "waiting", "CrashLoopBackOff"
            delay = min(BACKOFF_BASE * 2 ** (c.restart_count - 1), BACKOFF_MAX)
            pod = self._pod(rt.key)
            if pod is not None:
                meta = pod["metadata"]
                c.message = (f"back-off {int(delay)}s restarting failed container={c.name} "
                             f"pod={meta['name']}_{meta['namespace']}({rt.uid})")
                self.events.kubelet(meta, rt.node, "Warning", "BackOff",
                                    f"Back-off restarting failed container {c.name} in pod "
                                    f"{meta['name']}_{meta['namespace']}({rt.uid})", c.name)
            c.timer = self.cluster.after(delay, lambda: self._restart(rt, c))
        else:
            c.state = "terminated"
        if all(x.state == "terminated" for x in rt.containers.values()):
            rt.terminal = True
        self._write(rt)

    def _restart(self, rt: PodRT, c: ContainerRT) -> None:
        if self.pods.get(rt.key) is not rt or rt.deleting or c.state != "waiting":
            return
        pod = self._pod(rt.key)
        if pod is not None:
            self._start(rt, c, pod)
            self._write(rt)

    def _kill(self, rt: PodRT) -> None:
        """Graceful deletion: stop containers (SIGTERM -> exit 143), then confirm deletion."""
        if self.pods.get(rt.key) is not rt:
            if rt.terminal:
                # Its containers exited on their own between the deletion and this kill:
                # only the confirmation is left (without it the pod stays, deleting, forever).
                self._later(rt, FINALIZE_DELAY, lambda: self._confirm_deletion(rt))
            return
        pod = self._pod(rt.key)
        if pod is None:
            return
        for c in rt.inits:
            if c.timer:
                c.timer.cancel()
            if c.state == "running":
                run = c.runs[-1]
                run.end_ns, run.exit_code, run.reason = clock.now_ns(), 143, "Error"
                run.done.set()
            c.state = "terminated" if c.runs else c.state
        for c in rt.containers.values():
            if c.state == "running":
                self.events.kubelet(pod["metadata"], rt.node, "Normal", "Killing",
                                    f"Stopping container {c.name}", c.name)
                if c.timer:
                    c.timer.cancel()
                self._finish(rt, c, 143, "Error")
            elif c.state == "waiting":
                if c.timer:
                    c.timer.cancel()
                c.state = "terminated"
        rt.terminal = True
        self._write(rt)
        self._later(rt, FINALIZE_DELAY, lambda: self._confirm_deletion(rt))

    def _confirm_deletion(self, rt: PodRT) -> None:
        def zero_grace(pod: dict[str, Any]) -> bool | None:
            meta = pod["metadata"]
            if not meta.get("deletionTimestamp") or meta.get("uid") != rt.uid:
                return False
            meta["deletionTimestamp"] = clock.rfc3339(clock.now())
            meta["deletionGracePeriodSeconds"] = 0
            return None

        self.cluster.mutate(PODS, rt.key, zero_grace)

    # ------------------------------------------------------------------ status

    def _write(self, rt: PodRT) -> None:
        self.cluster.mutate(PODS, rt.key, lambda pod: self._render(pod, rt))
        if rt.terminal and self.pods.get(rt.key) is rt:
            # Terminal pods need no kubelet any more; their runs stay for logs.
            del self.pods[rt.key]

    def _container_status(self, c: ContainerRT) -> dict[str, Any]:
        last: dict[str, Any] = {}
        cur = c.runs[-1] if c.runs else None
        if c.state == "running" and cur is not None:
            state = {"running": {"startedAt": clock.rfc3339(cur.start_ns / 1e9)}}
            if len(c.runs) > 1:
                last = {"terminated": c.runs[-2].terminated()}
        elif c.state == "terminated" and cur is not None and cur.end_ns is not None:
            state = {"terminated": cur.terminated()}
            if len(c.runs) > 1:
                last = {"terminated": c.runs[-2].terminated()}
        else:
            waiting: dict[str, Any] = {"reason": c.reason}
            if c.message:
                waiting["message"] = c.message
            state = {"waiting": waiting}
            if cur is not None and cur.end_ns is not None:
                last = {"terminated": cur.terminated()}
        ran = cur is not None
        out: dict[str, Any] = {
            "name": c.name,
            "state": state,
            "lastState": last,
            "ready": c.state == "running",
            "restartCount": c.restart_count,
            "image": normalize_image(c.image) if ran else c.image,
            "imageID": image_id(c.image) if ran else "",
        }
        if cur is not None:
            out["containerID"] = cur.container_id
        out["started"] = c.state == "running"
        return out

    def _render(self, pod: dict[str, Any], rt: PodRT) -> bool | None:
        now = clock.rfc3339(clock.now())
        status = pod.get("status") or {}
        old = {c.get("type"): c for c in status.get("conditions") or ()}
        statuses = [self._container_status(c) for c in rt.containers.values()]
        init_statuses = [self._container_status(c) for c in rt.inits]
        initialized = all(c.state == "terminated" and c.runs and c.runs[-1].exit_code == 0 for c in rt.inits)
        if rt.init_failed:
            phase = "Failed"
        elif rt.terminal:
            # A container that never ran (the pod was deleted while it started) did not
            # succeed: the kubelet ends such a pod Failed, so no Job counts it a success.
            failed = any(((s["state"].get("terminated") or {}).get("exitCode", 1) or 0) != 0
                         for s in statuses)
            phase = "Failed" if failed else "Succeeded"
        elif any(c.runs for c in rt.containers.values()):
            phase = "Running"
        else:
            phase = "Pending"

        def cond(ctype: str, ok: bool, reason: str | None = None,
                 message: str | None = None) -> dict[str, Any]:
            prev = old.get(ctype)
            value = "True" if ok else "False"
            when = (prev.get("lastTransitionTime") if prev and prev.get("status") == value
                    else now)
            c: dict[str, Any] = {"type": ctype, "status": value, "lastProbeTime": None,
                                 "lastTransitionTime": when}
            if reason:
                c["reason"] = reason
            if message:
                c["message"] = message
            return c

        unready = [s["name"] for s in statuses if not s["ready"]]
        if phase in ("Succeeded", "Failed"):
            why = "PodCompleted" if phase == "Succeeded" else "PodFailed"
            conditions = [
                cond("PodReadyToStartContainers", False),
                cond("Initialized", True, "PodCompleted" if phase == "Succeeded" else None),
                cond("Ready", False, why),
                cond("ContainersReady", False, why),
            ]
        else:
            msg = f"containers with unready status: [{' '.join(unready)}]" if unready else None
            pending_inits = [c.name for c in rt.inits if not (c.state == "terminated" and c.runs
                                                              and c.runs[-1].exit_code == 0)]
            conditions = [
                cond("PodReadyToStartContainers", rt.sandbox),
                cond("Initialized", initialized, None if initialized else "ContainersNotInitialized",
                     None if initialized else f"containers with incomplete status: [{' '.join(pending_inits)}]"),
                cond("Ready", not unready, "ContainersNotReady" if unready else None, msg),
                cond("ContainersReady", not unready, "ContainersNotReady" if unready else None,
                     msg),
            ]
        conditions.append(old.get("PodScheduled") or cond("PodScheduled", True))
        new_status: dict[str, Any] = {"phase": phase, "conditions": conditions}
        if rt.host_ip:
            new_status["hostIP"] = rt.host_ip
            new_status["hostIPs"] = [{"ip": rt.host_ip}]
        if rt.pod_ip:
            new_status["podIP"] = rt.pod_ip
            new_status["podIPs"] = [{"ip": rt.pod_ip}]
        new_status["startTime"] = rt.start_time or status.get("startTime") or now
        if init_statuses:
            new_status["initContainerStatuses"] = init_statuses
        new_status["containerStatuses"] = statuses
        new_status["qosClass"] = status.get("qosClass", "BestEffort")
        if new_status == status:
            return False
        pod["status"] = new_status
        return None
