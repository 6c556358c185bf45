"""Distributed trials' objects (PyTorchJob, TrainJob) in the store: each kind listed and
watched on its own (its relist reconciles only its own records), joined as a Job is.

A record goes both into its kind's table and into the store's jobs, where the join reads
it (its pods map to it by their controller); the jobs' own relist must not see it, or it
would delete what the Job list did not return. A mixin of Store, under its lock.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from ktui.cluster.records import JobRec, ObjKey

# The store's kinds for them (the resources' plurals, as the reflectors name them).
TRAINING_KINDS = ("pytorchjobs", "trainjobs")


class TrainingFeed:
    _jobs: dict[ObjKey, JobRec]
    _training: dict[str, dict[ObjKey, JobRec]]

    _put_job: Callable[[JobRec, int], int]  # Store's
    _drop_job: Callable[[ObjKey, int], int]

    def _init_training(self) -> None:
        self._training = {k: {} for k in TRAINING_KINDS}

    def _training_handlers(self, kind: str) -> tuple[Any, Any]:
        return partial(self._put_training, self._training[kind]), partial(self._drop_training, self._training[kind])

    def _put_training(self, table: dict[ObjKey, JobRec], rec: JobRec, v: int) -> int:
        key = (rec.namespace, rec.name)
        old = table.get(key)
        if old is not None and rec.rv and old.rv == rec.rv:
            return 0
        table[key] = rec
        return self._put_job(rec, v)

    def _drop_training(self, table: dict[ObjKey, JobRec], key: ObjKey, v: int) -> int:
        if table.pop(key, None) is None:
            return 0
        return self._drop_job(key, v)

    def _batch_jobs(self) -> dict[ObjKey, JobRec]:
        """The jobs table as the Job reflector knows it: without the training objects."""
        if not any(self._training.values()):
            return self._jobs
        theirs = set().union(*self._training.values())
        return {k: r for k, r in self._jobs.items() if k not in theirs}
