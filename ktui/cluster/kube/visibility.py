"""Places in line from Kueue's visibility API (`visibility.kueue.x-k8s.io`, on demand).

Workloads do not carry their position; the visibility server computes it when asked:
`GET .../namespaces/<ns>/localqueues/<lq>/pendingworkloads` lists a LocalQueue's pending
Workloads with their 0-based positions in it and in its ClusterQueue (so one namespaced
request per LocalQueue gives both, with the rights a namespace's user has). Only the
LocalQueues that hold a waiting Workload in view are read (those of the trials on screen
when the UI says which, else every one that has a waiter), every few seconds.

Refused (403) or not served (404): one line in the header, through the store's problems, and
a slower retry; everything else goes on without positions.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection

import msgspec

from ktui.cluster.kube.transport import ApiError, Transport, Unreachable
from ktui.cluster.model import Problem
from ktui.cluster.queuefeed import Position
from ktui.cluster.records import ObjKey
from ktui.cluster.store import Store

log = logging.getLogger(__name__)

RESOURCE = "queue positions"  # the problems' resource
LIMIT = 1000  # Kueue's default page: a trial further back shows no number
MAX_QUEUES = 16  # LocalQueues read per round (the rest wait for a later one)


class _Meta(msgspec.Struct, gc=False):
    name: str = ""
    namespace: str = ""


class _Item(msgspec.Struct, gc=False):
    metadata: _Meta = msgspec.field(default_factory=_Meta)
    positionInLocalQueue: int | None = None
    positionInClusterQueue: int | None = None


class _Summary(msgspec.Struct, gc=False):
    items: list[_Item] | None = None


_SUMMARY = msgspec.json.Decoder(_Summary)


class VisibilityPoller:
    def __init__(self, transport: Transport, store: Store, group_version: str, *,
                 interval: float = 3.0, refused_interval: float = 60.0) -> None:
        """``group_version``: the visibility API as discovery found it
        ("visibility.kueue.x-k8s.io/v1beta2")."""
        self.transport = transport
        self.store = store
        self.group_version = group_version
        self.interval = interval
        self.refused_interval = refused_interval
        self.refused = False
        self.polls = 0
        self._focus: frozenset[ObjKey] | None = None
        self._next = 0  # where the next round starts in the sorted queues
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ktui-queues", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def set_focus(self, queues: Collection[ObjKey] | None) -> None:
        """The (namespace, LocalQueue) pairs of the waiting trials on screen; None: all."""
        focus = frozenset(queues) if queues is not None else None
        if focus != self._focus:
            grew = focus is None or self._focus is None or not focus <= self._focus
            self._focus = focus
            if grew:
                self._wake.set()  # a queue not read yet: read it now

    def path(self, namespace: str, queue: str) -> str:
        return (f"/apis/{self.group_version}/namespaces/{namespace}/localqueues/{queue}"
                "/pendingworkloads")

    def poll_once(self) -> bool:
        """One round; False when the API refused or is not there (its problem reported)."""
        self.polls += 1
        waiting = sorted(self.store.waiting_queues() if self._focus is None
                         else self.store.waiting_queues() & self._focus)
        # More than a round's worth: the next round goes on where this one stops.
        start = self._next % len(waiting) if waiting else 0
        queues = (waiting[start:] + waiting[:start])[:MAX_QUEUES]
        self._next = start + len(queues)
        positions: dict[ObjKey, Position] = {}
        read: list[ObjKey] = []
        for ns, queue in queues:
            try:
                data = self.transport.get(self.path(ns, queue), [("limit", LIMIT)],
                                          timeout=(5.0, 15.0))
                items = _SUMMARY.decode(data).items or ()
            except ApiError as exc:
                if exc.status in (401, 403, 404):
                    self._refused(exc, ns)
                    return False
                log.info("queue positions of %s/%s: %s", ns, queue, exc)
                continue
            except (Unreachable, msgspec.DecodeError) as exc:
                log.info("queue positions of %s/%s: %s", ns, queue, exc)
                continue
            for it in items:
                positions[(it.metadata.namespace or ns, it.metadata.name)] = (
                    it.positionInLocalQueue, it.positionInClusterQueue)
            read.append((ns, queue))
        if read:
            self.store.connection_ok()
            self.store.set_queue_positions(positions, read)
        if self.refused:
            self.refused = False
            self.store.clear_problem("forbidden", RESOURCE)
            self.store.clear_problem("error", RESOURCE)
        return True

    def _refused(self, exc: ApiError, namespace: str) -> None:
        self.refused = True
        if exc.status == 404:
            msg = (f"queue positions: {self.group_version} does not serve localqueues/"
                   "pendingworkloads (404); queued trials show no place in line")
            code = "error"
        else:
            word = "Forbidden" if exc.status == 403 else "Unauthorized"
            msg = (f"queue positions: {word}: get localqueues/pendingworkloads in {namespace} "
                   f"({self.group_version.split('/')[0]}); queued trials show no place in line")
            code = "forbidden"
        if self.store.report_problem(Problem(code, RESOURCE, msg)):
            log.info("%s", msg)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            self._wake.wait(self.refused_interval if self.refused else self.interval)
            self._wake.clear()
