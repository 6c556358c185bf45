"""The simulated control plane: store plus the write paths every client goes through.

HTTP handlers, controllers and the test harness all create, update, patch and delete
through `Cluster`, so validation, finalizers, graceful deletion and garbage-collection
policies behave the same whichever way a change comes in. Runs on the event loop thread.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from typing import Any

from ktui.sim import clock, errors, validate
from ktui.sim.config import SimConfig
from ktui.sim.patch import APPLY_PATCH
from ktui.sim.patch import apply as apply_patch
from ktui.sim.resources import BY_PLURAL, JOBS, NAMESPACES, PODS, ResourceInfo
from ktui.sim.store import ObjVersion, Store, WatchEvent, key_of

POLICIES = ("Background", "Foreground", "Orphan")
JOB_TRACKING = "batch.kubernetes.io/job-tracking"


class Cluster:
    def __init__(self, config: SimConfig, loop: asyncio.AbstractEventLoop) -> None:
        self.config = config
        self.loop = loop
        self.store = Store(config.history)
        # owner uid -> keys of pods it controls; shared by the job controller and the GC.
        self.pods_by_owner: dict[str, set[str]] = {}
        self.store.listeners.append(self._index_owner)
        self.timers: set[asyncio.TimerHandle] = set()
        # Mutating admission webhooks (Kueue's): called on each new object before it is stored.
        self.mutators: list[Callable[[ResourceInfo, dict[str, Any]], None]] = []

    # ------------------------------------------------------------------ time

    @property
    def speed(self) -> float:
        return self.config.speed

    def after(self, sim_seconds: float, fn: Callable[[], Any]) -> asyncio.TimerHandle:
        """Run `fn` on the loop after `sim_seconds` of simulated time."""
        handle: asyncio.TimerHandle

        def run() -> None:
            self.timers.discard(handle)
            fn()

        handle = self.loop.call_later(max(0.0, sim_seconds) / self.speed, run)
        self.timers.add(handle)
        return handle

    def stop_timers(self) -> None:
        for h in list(self.timers):
            h.cancel()
        self.timers.clear()

    # ------------------------------------------------------------------ indexes

    def _index_owner(self, info: ResourceInfo, ev: WatchEvent) -> None:
        if info is not PODS:
            return
        if ev.type == "DELETED":
            if ev.obj.owner:
                keys = self.pods_by_owner.get(ev.obj.owner)
                if keys is not None:
                    keys.discard(ev.obj.key)
                    if not keys:
                        del self.pods_by_owner[ev.obj.owner]
            return
        if ev.prev is not None and ev.prev.owner and ev.prev.owner != ev.obj.owner:
            keys = self.pods_by_owner.get(ev.prev.owner)
            if keys is not None:
                keys.discard(ev.obj.key)
                if not keys:
                    del self.pods_by_owner[ev.prev.owner]
        if ev.obj.owner:
            self.pods_by_owner.setdefault(ev.obj.owner, set()).add(ev.obj.key)

    def rebuild_owner_index(self) -> None:
        self.pods_by_owner.clear()
        for v in self.store["pods"].objects.values():
            if v.owner:
                self.pods_by_owner.setdefault(v.owner, set()).add(v.key)

    def pods_of(self, owner_uid: str) -> list[ObjVersion]:
        objects = self.store["pods"].objects
        return [objects[k] for k in sorted(self.pods_by_owner.get(owner_uid, ())) if k in objects]

    # ------------------------------------------------------------------ reads

    def get(self, info: ResourceInfo, namespace: str | None, name: str) -> ObjVersion:
        v = self.store.get(info, namespace, name)
        if v is None:
            raise errors.not_found(info, name)
        return v

    def _require_namespace(self, info: ResourceInfo, namespace: str | None) -> None:
        if not info.namespaced:
            return
        ns = self.store.get(NAMESPACES, None, namespace or "")
        if ns is None:
            raise errors.not_found(NAMESPACES, namespace or "")
        if ns.fields.get("status.phase") == "Terminating":
            raise errors.ApiError(
                403, "Forbidden",
                f"{info.qualified} \"{''}\" is forbidden: unable to create new content in "
                f"namespace {namespace} because it is being terminated",
                {"kind": info.plural} | ({"group": info.group} if info.group else {}))

    # ------------------------------------------------------------------ writes

    def create(self, info: ResourceInfo, body: dict[str, Any], namespace: str | None,
               dry_run: bool = False) -> ObjVersion | dict[str, Any]:
        obj = validate.prepare_create(info, body, namespace, clock.now())
        for mutate in self.mutators:
            mutate(info, obj)
        self._require_namespace(info, obj["metadata"].get("namespace"))
        key = key_of(info, obj["metadata"].get("namespace"), obj["metadata"]["name"])
        if key in self.store[info.plural].objects:
            raise errors.already_exists(info, obj["metadata"]["name"])
        if dry_run:
            return obj
        return self.store.add(info, obj)

    def write(self, info: ResourceInfo, obj: dict[str, Any]) -> ObjVersion:
        """Store an updated object, completing a pending deletion once nothing holds it."""
        v = self.store.replace(info, obj)
        meta = obj["metadata"]
        if (meta.get("deletionTimestamp") and not meta.get("finalizers")
                and not meta.get("deletionGracePeriodSeconds")
                and not (info is NAMESPACES and (obj.get("spec") or {}).get("finalizers"))):
            return self.store.remove(info, v.key)
        return v

    def mutate(self, info: ResourceInfo, key: str,
               fn: Callable[[dict[str, Any]], bool | None]) -> ObjVersion | None:
        """Decode the current version, let `fn` edit it (return False: no change), store it."""
        cur = self.store[info.plural].objects.get(key)
        if cur is None:
            return None
        obj = cur.obj()
        if fn(obj) is False:
            return cur
        return self.write(info, obj)

    def update(self, info: ResourceInfo, namespace: str | None, name: str,
               body: dict[str, Any], subresource: str | None = None,
               dry_run: bool = False) -> ObjVersion | dict[str, Any]:
        """PUT: optimistic concurrency on metadata.resourceVersion when the client sends one."""
        cur = self.get(info, namespace, name)
        old = cur.obj()
        if not isinstance(body, dict):
            raise errors.bad_request("the body of the request was not an object")
        body_meta = body.get("metadata") or {}
        if body_meta.get("name") not in (None, name):
            raise errors.bad_request("the name of the object ({}) does not match the name on "
                                     "the URL ({})".format(body_meta.get("name"), name))
        want_rv = body_meta.get("resourceVersion")
        if want_rv not in (None, "") and str(want_rv) != str(cur.rv):
            raise errors.conflict(info, name, "the object has been modified; please apply your "
                                  "changes to the latest version and try again")
        new = copy.deepcopy(body)
        new.pop("kind", None)
        new.pop("apiVersion", None)
        return self._finish_update(info, old, new, subresource, dry_run)

    def patch(self, info: ResourceInfo, namespace: str | None, name: str, patch_type: str,
              body: Any, subresource: str | None = None, dry_run: bool = False,
              field_manager: str | None = None) -> ObjVersion | dict[str, Any]:
        cur = self.store.get(info, namespace, name)
        if cur is None:
            if patch_type == APPLY_PATCH:
                # Server-side apply creates missing objects.
                if not isinstance(body, dict):
                    raise errors.bad_request("apply patch must be an object")
                return self.create(info, body, namespace, dry_run)
            raise errors.not_found(info, name)
        old = cur.obj()
        if isinstance(body, dict):
            body = {k: v for k, v in body.items() if k not in ("kind", "apiVersion")}
            # A resourceVersion in the patch is a precondition, as for an update.
            want_rv = (body.get("metadata") or {}).get("resourceVersion") if patch_type != APPLY_PATCH else None
            if want_rv and str(want_rv) != str(cur.rv):
                raise errors.conflict(info, name, "the object has been modified; please apply your "
                                      "changes to the latest version and try again")
        new = apply_patch(patch_type, old, body)
        new.pop("kind", None)
        new.pop("apiVersion", None)
        return self._finish_update(info, cur.obj(), new, subresource, dry_run)

    def _finish_update(self, info: ResourceInfo, old: dict[str, Any], new: dict[str, Any],
                       subresource: str | None, dry_run: bool) -> ObjVersion | dict[str, Any]:
        new_meta = new.setdefault("metadata", {})
        old_meta = old["metadata"]
        if subresource == "status":
            # Only status may change through /status.
            merged = copy.deepcopy(old)
            merged["status"] = new.get("status", {})
            new = merged
            new_meta = new["metadata"]
        else:
            # Status is owned by controllers: a main-resource write keeps the stored one.
            if "status" in old:
                new["status"] = old["status"]
        # System fields are not the client's to change.
        for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                  "namespace", "generation"):
            if k in old_meta:
                new_meta[k] = old_meta[k]
            else:
                new_meta.pop(k, None)
        new_meta["name"] = old_meta["name"]
        if subresource != "status":
            validate.default_update(info, new)
            validate.validate_update(info, old, new)
        validate.new_generation(info, old, new)
        new_meta["resourceVersion"] = old_meta.get("resourceVersion")
        if self._same(old, new):
            # A no-op update does not bump the resourceVersion or emit a watch event.
            return self.store.get(info, old_meta.get("namespace"), old_meta["name"])  # type: ignore[return-value]  # noqa: E501
        if dry_run:
            return new
        return self.write(info, new)

    @staticmethod
    def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
        return a == b

    # ------------------------------------------------------------------ delete

    def delete(self, info: ResourceInfo, namespace: str | None, name: str,
               options: dict[str, Any] | None = None, dry_run: bool = False,
               ) -> tuple[ObjVersion | dict[str, Any], bool]:
        """Returns (object or its final version, still_exists)."""
        options = options or {}
        cur = self.get(info, namespace, name)
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != cur.uid:
            raise errors.conflict(info, name, f"Precondition failed: UID in precondition: "
                                  f"{pre['uid']}, UID in object meta: {cur.uid}")
        if pre.get("resourceVersion") and str(pre["resourceVersion"]) != str(cur.rv):
            raise errors.conflict(info, name, "Precondition failed: ResourceVersion in "
                                  f"precondition: {pre['resourceVersion']}, ResourceVersion in "
                                  f"object meta: {cur.rv}")
        policy = options.get("propagationPolicy")
        if policy is None and options.get("orphanDependents") is not None:
            policy = "Orphan" if options["orphanDependents"] else "Background"
        if policy is not None and policy not in POLICIES:
            raise errors.ApiError(422, "Invalid", f'DeleteOptions.meta.k8s.io "" is invalid: '
                                  f'propagationPolicy: Unsupported value: "{policy}": supported '
                                  'values: "Foreground", "Background", "Orphan", "nil"')
        if policy is None:
            # batch/v1 keeps orphaning by default for backwards compatibility.
            policy = "Orphan" if info is JOBS else "Background"
        obj = cur.obj()
        meta = obj["metadata"]
        now = clock.now()
        if dry_run:
            return obj, True
        if meta.get("deletionTimestamp"):
            # Already being deleted: a second delete may only shorten a pod's grace period.
            if info is PODS and options.get("gracePeriodSeconds") == 0:
                return self._finish_pod_now(cur), cur.key in self.store["pods"].objects
            return cur, True
        finalizers = list(meta.get("finalizers") or ())
        if info is PODS:
            grace = options.get("gracePeriodSeconds")
            if grace is None:
                grace = (obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
            phase = (obj.get("status") or {}).get("phase")
            if not (obj.get("spec") or {}).get("nodeName") or phase in ("Succeeded", "Failed"):
                grace = 0
            meta["deletionTimestamp"] = clock.rfc3339(now + grace)
            meta["deletionGracePeriodSeconds"] = grace
            if grace == 0 and not finalizers:
                return self.store.remove(info, cur.key), False
            return self.store.replace(info, obj), True
        if policy == "Orphan" and info is JOBS:
            finalizers.append("orphan")
        elif policy == "Foreground":
            finalizers.append("foregroundDeletion")
        if finalizers or info is NAMESPACES:
            meta["deletionTimestamp"] = clock.rfc3339(now)
            meta["deletionGracePeriodSeconds"] = 0
            if finalizers:
                meta["finalizers"] = finalizers
            if info is NAMESPACES:
                obj["status"] = {"phase": "Terminating"}
            validate.new_generation(info, cur.obj(), obj)
            return self.store.replace(info, obj), True
        gone = self.store.remove(info, cur.key)
        return gone, False

    def _finish_pod_now(self, cur: ObjVersion) -> ObjVersion:
        obj = cur.obj()
        obj["metadata"]["deletionGracePeriodSeconds"] = 0
        return self.write(PODS, obj)

    def info(self, plural: str) -> ResourceInfo:
        return BY_PLURAL[plural]
