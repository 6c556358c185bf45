"""The kinds of API object that run a trial (batch/v1 Job, Kubeflow's PyTorchJob and TrainJob): where
each lives and how it is decoded, for the actions that write them and the reads that find
one trial's object."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ktui.cluster.kube.decode import JOB_CODEC, Codec
from ktui.cluster.kube.decode_training import PYTORCHJOB_CODEC, TRAINJOB_CODEC
from ktui.cluster.records import JobRec
from ktui.wire.training import JOB, PYTORCHJOB, PYTORCHJOB_API, TRAINJOB, TRAINJOB_API, kind_of


@dataclass(frozen=True)
class Kind:
    kind: str  # "Job", "PyTorchJob"
    api_version: str  # "batch/v1"
    plural: str  # "jobs"
    codec: Codec[Any, JobRec]

    def collection(self, namespace: str | None) -> str:
        if namespace:
            return f"/apis/{self.api_version}/namespaces/{namespace}/{self.plural}"
        return f"/apis/{self.api_version}/{self.plural}"

    def item(self, namespace: str, name: str) -> str:
        return f"{self.collection(namespace)}/{name}"

    @property
    def word(self) -> str:
        """How a message names one: "job", "pytorchjob"."""
        return self.kind.lower()


JOB_KIND = Kind(JOB, "batch/v1", "jobs", JOB_CODEC)
PYTORCHJOB_KIND = Kind(PYTORCHJOB, PYTORCHJOB_API, "pytorchjobs", PYTORCHJOB_CODEC)
TRAINJOB_KIND = Kind(TRAINJOB, TRAINJOB_API, "trainjobs", TRAINJOB_CODEC)
# Those a cluster may lack (served only with their CRD), in the order they are looked for.
OPTIONAL: tuple[Kind, ...] = (PYTORCHJOB_KIND, TRAINJOB_KIND)
BY_KIND: dict[str, Kind] = {k.kind: k for k in (JOB_KIND, *OPTIONAL)}


def of(obj: Mapping[str, Any]) -> Kind:
    """The kind of a manifest or an object as the server returned it."""
    return BY_KIND.get(kind_of(obj), JOB_KIND)
