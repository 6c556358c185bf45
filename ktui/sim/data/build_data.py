"""Regenerate the gzipped reference data the simulator serves at runtime.

Run once by hand against a folder of captures from a real kube-apiserver:

    python -m ktui.sim.data.build_data /path/to/k8s-reference

The simulator never reads that folder: CI runs on a clean clone, so everything it needs
(discovery trimmed to the resources it implements, the OpenAPI v3 documents kubectl fetches
for create/apply, Table column definitions) is written next to this file.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent

# Resources the simulator implements; discovery must not advertise others or kubectl
# would happily send requests we answer with 404.
CORE = {"events", "namespaces", "nodes", "pods", "pods/log", "pods/status", "nodes/status",
        "namespaces/status", "pods/proxy", "services", "services/status", "services/proxy",
        "endpoints", "configmaps"}
BATCH = {"jobs", "jobs/status"}
AGG_CORE_SUB = {"pods": {"log", "status", "proxy"}, "nodes": {"status"},
                "namespaces": {"status"}, "services": {"status", "proxy"}, "endpoints": set(),
                "configmaps": set()}


def _load(ref: Path, name: str) -> Any:
    return json.loads((ref / name).read_text())


def _write(name: str, obj: object) -> None:
    raw = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    (HERE / f"{name}.json.gz").write_bytes(gzip.compress(raw, 9, mtime=0))


def _metrics_agg_group() -> dict[str, Any]:
    def res(name: str, kind: str, singular: str, scope: str) -> dict[str, Any]:
        return {"resource": name,
                "responseKind": {"group": "", "version": "", "kind": kind},
                "scope": scope, "singularResource": singular, "verbs": ["get", "list"]}
    return {"metadata": {"name": "metrics.k8s.io", "creationTimestamp": None},
            "versions": [{"version": "v1beta1",
                          "resources": [res("nodes", "NodeMetrics", "", "Cluster"),
                                        res("pods", "PodMetrics", "", "Namespaced")],
                          "freshness": "Current"}]}


def main(ref: Path) -> None:
    agg_api = _load(ref, "disc-api-aggregated.json")
    for version in agg_api["items"][0]["versions"]:
        kept = []
        for r in version["resources"]:
            if r["resource"] in AGG_CORE_SUB or r["resource"] == "events":
                subs = AGG_CORE_SUB.get(r["resource"], set())
                if "subresources" in r:
                    r["subresources"] = [s for s in r["subresources"] if s["subresource"] in subs]
                    if not r["subresources"]:
                        del r["subresources"]
                kept.append(r)
        version["resources"] = kept
    _write("disc-api-aggregated", agg_api)

    agg_apis = _load(ref, "disc-apis-aggregated.json")
    items = []
    for group in agg_apis["items"]:
        if group["metadata"]["name"] == "batch":
            for version in group["versions"]:
                version["resources"] = [r for r in version["resources"] if r["resource"] == "jobs"]
            items.append(group)
    items.append(_metrics_agg_group())
    agg_apis["items"] = items
    _write("disc-apis-aggregated", agg_apis)

    api_v1 = _load(ref, "disc-api-v1.json")
    api_v1["resources"] = [r for r in api_v1["resources"] if r["name"] in CORE]
    _write("disc-api-v1", api_v1)

    batch_v1 = _load(ref, "disc-apis-batch-v1.json")
    batch_v1["resources"] = [r for r in batch_v1["resources"] if r["name"] in BATCH]
    _write("disc-apis-batch-v1", batch_v1)
    _write("disc-apis-batch", _load(ref, "disc-apis-batch.json"))
    _write("disc-version", _load(ref, "disc-version.json"))

    _write("openapi-v3-api-v1", _load(ref, "openapi-v3-api-v1.json"))
    _write("openapi-v3-apis-batch-v1", _load(ref, "openapi-v3-apis-batch-v1.json"))

    columns = {}
    for kind, name in (("jobs", "table-jobs-ns-ref.json"), ("pods", "table-pods-ns-ref.json"),
                       ("nodes", "table-nodes.json")):
        columns[kind] = _load(ref, name)["columnDefinitions"]
    name_col, age_col = columns["nodes"][0], columns["nodes"][3]
    columns["namespaces"] = [
        name_col,
        {"name": "Status", "type": "string", "format": "",
         "description": "The status of the namespace", "priority": 0},
        age_col,
    ]
    schemas = _load(ref, "openapi-v3-api-v1.json")["components"]["schemas"]
    ev = schemas["io.k8s.api.core.v1.Event"]["properties"]
    ref_props = schemas["io.k8s.api.core.v1.ObjectReference"]["properties"]

    def col(title: str, desc: str, priority: int = 0, fmt: str = "") -> dict[str, Any]:
        return {"name": title, "type": "string", "format": fmt, "description": desc,
                "priority": priority}
    svc = schemas["io.k8s.api.core.v1.ServiceSpec"]["properties"]
    columns["services"] = [
        name_col,
        col("Type", svc["type"]["description"]),
        col("Cluster-IP", svc["clusterIP"]["description"]),
        col("External-IP", "List of IP addresses for which nodes in the cluster will also "
            "accept traffic for this service."),
        col("Port(s)", "The port(s) on which this service is exposed."),
        age_col,
        col("Selector", svc["selector"]["description"], 1),
    ]
    columns["endpoints"] = [
        name_col,
        col("Endpoints", "Endpoints of the service."),
        age_col,
    ]
    columns["configmaps"] = [
        name_col,
        {"name": "Data", "type": "integer", "format": "", "description": "", "priority": 0},
        age_col,
    ]
    columns["events"] = [
        col("Last Seen", ev["lastTimestamp"]["description"]),
        col("Type", ev["type"]["description"]),
        col("Reason", ev["reason"]["description"]),
        col("Object", ev["involvedObject"]["description"]),
        col("Subobject", ref_props["fieldPath"]["description"], 1),
        col("Source", ev["source"]["description"], 1),
        col("Message", ev["message"]["description"]),
        col("First Seen", ev["firstTimestamp"]["description"], 1),
        col("Count", ev["count"]["description"], 1),
        dict(name_col, priority=1),
    ]
    _write("table-columns", columns)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
