"""The store's warning events: the few newest per involved object (enough to explain why a
trial is stuck), indexed by that object, each marking the trial it belongs to. Normal
events are not kept (Scheduled, Pulled, Started...: they would triple the store at scale;
describe fetches the full list on demand).

A half of Store (its base class), under the store's lock.
"""

from __future__ import annotations

from collections.abc import Callable

from ktui.cluster.model import TrialKey
from ktui.cluster.records import EventRec, ObjKey, PodRec

# Warning events kept per involved object: enough to explain why it is stuck.
_EVENTS_PER_OBJECT = 4


class EventIndex:
    _pods: dict[ObjKey, PodRec]
    _events: dict[ObjKey, EventRec]
    _obj_events: dict[tuple[str, str, str], tuple[str, ...]]
    _mark_trial: Callable[[TrialKey, int], None]  # Store's
    _trials_of_object: Callable[[ObjKey], tuple[TrialKey, ...]]  # TrialJoin's: an indexed Job's trials

    def _event_owner(self, ev: EventRec) -> TrialKey | None:
        if ev.kind == "Job":
            return (ev.namespace, ev.obj)
        if ev.kind == "Pod":
            pod = self._pods.get((ev.namespace, ev.obj))
            if pod is not None and pod.job is not None:
                return (pod.namespace, pod.job)
        return None

    def _put_event(self, rec: EventRec, v: int) -> int:
        # Only warnings explain failures; normal events (Scheduled, Pulled, Started...) would
        # triple the store at scale. describe() fetches the full list on demand.
        key = (rec.namespace, rec.name)
        if rec.type != "Warning":
            return self._drop_event(key, v)
        old = self._events.get(key)
        if old is not None and rec.rv and old.rv == rec.rv:
            return 0
        self._events[key] = rec
        okey = (rec.namespace, rec.kind, rec.obj)
        names = self._obj_events.get(okey, ())
        if rec.name not in names:
            names = (*names, rec.name)
            if len(names) > _EVENTS_PER_OBJECT:
                evs = sorted(
                    (self._events[(rec.namespace, n)] for n in names),
                    key=lambda e: (e.last or 0.0, e.name),
                )
                for stale in evs[: len(names) - _EVENTS_PER_OBJECT]:
                    del self._events[(stale.namespace, stale.name)]
                names = tuple(e.name for e in evs[len(names) - _EVENTS_PER_OBJECT :])
            self._obj_events[okey] = names
        owner = self._event_owner(rec)
        if owner is not None:
            for key in self._trials_of_object(owner):
                self._mark_trial(key, v)
        return 1

    def _drop_event(self, key: ObjKey, v: int) -> int:
        old = self._events.pop(key, None)
        if old is None:
            return 0
        okey = (old.namespace, old.kind, old.obj)
        names = tuple(n for n in self._obj_events.get(okey, ()) if n != old.name)
        if names:
            self._obj_events[okey] = names
        else:
            self._obj_events.pop(okey, None)
        owner = self._event_owner(old)
        if owner is not None:
            for key in self._trials_of_object(owner):
                self._mark_trial(key, v)
        return 1

    def _events_of(self, namespace: str, kind: str, name: str) -> list[EventRec]:
        names = self._obj_events.get((namespace, kind, name), ())
        return [self._events[(namespace, n)] for n in names]
