"""The resources ktui lists and watches: where each lives in the API, how its objects are
decoded, and the server-side filter it is watched with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ktui.cluster.kube.decode import EVENT_CODEC, JOB_CODEC, NODE_CODEC, POD_CODEC, Codec
from ktui.cluster.kube.decode_training import PYTORCHJOB_CODEC, TRAINJOB_CODEC


@dataclass(frozen=True)
class Resource:
    kind: str  # the store's kind, and the plural in messages
    codec: Codec[Any, Any]
    group_path: str  # "/api/v1" or "/apis/batch/v1"
    namespaced: bool = True
    # Server-side filter. Events: only warnings explain failures, and a busy cluster has
    # several Normal events per pod (the store drops any that slip through).
    field_selector: str | None = None

    def path(self, namespace: str | None) -> str:
        if self.namespaced and namespace:
            return f"{self.group_path}/namespaces/{namespace}/{self.kind}"
        return f"{self.group_path}/{self.kind}"


RESOURCES: dict[str, Resource] = {
    "nodes": Resource("nodes", NODE_CODEC, "/api/v1", namespaced=False),
    "pods": Resource("pods", POD_CODEC, "/api/v1"),
    "jobs": Resource("jobs", JOB_CODEC, "/apis/batch/v1"),
    "events": Resource("events", EVENT_CODEC, "/api/v1", field_selector="type=Warning"),
    # Watched only where discovery finds them served (kube/training.py).
    "pytorchjobs": Resource("pytorchjobs", PYTORCHJOB_CODEC, "/apis/kubeflow.org/v1"),
    "trainjobs": Resource("trainjobs", TRAINJOB_CODEC, "/apis/trainer.kubeflow.org/v1alpha1"),
}
