"""One simulated cluster: store, controllers and the aiohttp server, on one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiohttp import web

from ktui.sim import nodes as node_objects
from ktui.sim.api import Api
from ktui.sim.auth import Auth
from ktui.sim.cluster import Cluster
from ktui.sim.config import SimConfig
from ktui.sim.controllers.gc import GarbageCollector
from ktui.sim.controllers.job import JobController
from ktui.sim.controllers.namespace import NamespaceController
from ktui.sim.crds import CustomResources
from ktui.sim.discovery import Discovery
from ktui.sim.events import EventRecorder
from ktui.sim.faults import Faults
from ktui.sim.kubeflow import TrainingOperator
from ktui.sim.kubelet import Kubelet
from ktui.sim.kueue import Kueue, default_quota
from ktui.sim.metrics import Metrics
from ktui.sim.resources import NAMESPACES, NODES
from ktui.sim.scheduler import Scheduler
from ktui.sim.store import Watcher
from ktui.sim.telemetry import GpuTelemetry
from ktui.sim.trainer import TrainerControllers

log = logging.getLogger("ktui.sim")

EVENT_EXPIRY_PERIOD = 60.0


class SimServer:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.auth = Auth()
        self.faults = Faults(seed=config.seed)
        self.faults._drop_watches = self.drop_watches
        self.open_watches: set[Watcher] = set()
        # Open log-follow streams: id -> transport, so a restart can cut them.
        self._streams: dict[int, Any] = {}
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self.port = config.port
        self.started_at = time.time()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        cfg = self.config
        self.cluster = Cluster(cfg, loop)
        self.events = EventRecorder(self.cluster)
        self.kubelet = Kubelet(self.cluster, self.events)
        self.scheduler = Scheduler(self.cluster, self.events)
        self.jobs = JobController(self.cluster, self.events, self.kubelet)
        self.gc = GarbageCollector(self.cluster)
        self.namespaces = NamespaceController(self.cluster)
        self.metrics = Metrics(self.cluster.store, self.kubelet, cfg.speed)
        self.telemetry = GpuTelemetry(self)
        self.crds = CustomResources(cfg)
        self.kubeflow = TrainingOperator(self.cluster, self.events) if cfg.kubeflow else None
        self._bootstrap()
        self.kueue = None
        if cfg.kueue:
            self.kueue = Kueue(self.cluster, self.events, cfg.kueue_quota or default_quota(
                cfg.nodes, cfg.gpus_per_node))
            self.kueue.bootstrap()
        self.trainer = TrainerControllers(self.cluster, self.events) if cfg.trainer else None
        if self.trainer is not None:
            self.trainer.bootstrap()
        if cfg.pods:
            from ktui.sim.populate import populate

            populate(self, cfg.pods)
            self.telemetry.allocator.rebuild()
        self.admin_token = self.auth.token_for("admin")
        await self.start_http()
        self._tasks.append(loop.create_task(self._housekeeping()))

    def _bootstrap(self) -> None:
        store = self.cluster.store
        created = time.time() - 3 * 86400
        for name in node_objects.SYSTEM_NAMESPACES:
            store.add(NAMESPACES, node_objects.make_namespace(name, created))
        for i in range(self.config.nodes):
            node = node_objects.make_node(i, self.config.nodes, self.config.gpus_per_node,
                                          created, self.config.seed)
            self.telemetry.decorate_node(i, node)
            store.add(NODES, node)
        self.telemetry.bootstrap()

    async def start_http(self) -> None:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        self.api = Api(self)
        app.router.add_post("/sim/storm", self._storm)  # not Kubernetes: a benchmark's lever
        app.router.add_route("*", "/{tail:.*}", self.api.handle)
        runner = web.AppRunner(app, handle_signals=False, access_log=None,
                               handler_cancellation=True, shutdown_timeout=0.2)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.port, reuse_address=True)
        await site.start()
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        self.discovery = Discovery(f"{self.config.host}:{self.port}", self.crds)
        self._runner, self._site = runner, site

    async def _storm(self, request: web.Request) -> web.Response:
        """``POST /sim/storm?resource=pods&count=N[&touch=restarts|rv]``: N MODIFIED events,
        as fast as the watchers take them, cycling over the existing objects (a new
        resourceVersion each; controllers are not woken). For measuring how many watch
        events a client absorbs per second."""
        from ktui.sim.store import ObjVersion, WatchEvent

        plural = request.query.get("resource", "pods")
        count = int(request.query.get("count", "10000"))
        # touch=restarts (pods): each event also flips the first container's restartCount
        # between 0 and 1, a change clients keep (a trial's retries); touch=rv: only the
        # resourceVersion moves, which a client may recognise as no change at all.
        flip = request.query.get("touch", "restarts") == "restarts" and plural == "pods"
        store = self.cluster.store
        if plural not in store.resources:
            return web.json_response({"error": f"no resource {plural}"}, status=404)
        rs = store.resources[plural]
        keys = list(rs.objects)
        if not keys:
            return web.json_response({"events": 0, "seconds": 0.0, "resourceVersion": str(store.rv)})
        t0 = time.perf_counter()
        for i in range(count):
            key = keys[i % len(keys)]
            prev = rs.objects[key]
            rv = store.next_rv()
            v = prev.with_rv(rv)
            if flip:
                raw = v.raw
                if b'"restartCount":0' in raw:
                    raw = raw.replace(b'"restartCount":0', b'"restartCount":1', 1)
                else:
                    raw = raw.replace(b'"restartCount":1', b'"restartCount":0', 1)
                v = ObjVersion(v.key, v.namespace, v.name, v.uid, v.rv, raw, v.labels, v.fields, v.owner,
                               v.deleting)
            rs.objects[key] = v
            rs._record(WatchEvent("MODIFIED", rv, v, prev))
            if i % 500 == 499:
                await asyncio.sleep(0)  # let the watch streams write
        return web.json_response({"events": count, "seconds": time.perf_counter() - t0,
                                  "resourceVersion": str(store.rv)})

    async def stop_http(self) -> None:
        self.drop_watches()
        for transport in list(self._streams.values()):
            if transport is not None:
                transport.abort()
        self._streams.clear()
        if self._runner is not None:
            with contextlib.suppress(Exception):
                await self._runner.cleanup()
        self._runner = self._site = None

    async def restart_http(self) -> None:
        await self.stop_http()
        await self.start_http()

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await self.stop_http()
        self.cluster.stop_timers()

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(EVENT_EXPIRY_PERIOD)
            try:
                self.events.expire()
            except Exception:  # noqa: BLE001 - housekeeping must not die
                log.exception("event expiry failed")

    # ------------------------------------------------------------------ streams

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    def drop_watches(self) -> int:
        watchers = list(self.open_watches)
        for w in watchers:
            w.kill()
        self.open_watches.clear()
        return len(watchers)

    def register_stream(self, request: web.BaseRequest) -> int:
        self._streams[id(request)] = request.transport
        return id(request)

    def unregister_stream(self, stream: int) -> None:
        self._streams.pop(stream, None)
