"""Discovery, /version and OpenAPI: what kubectl fetches before anything else."""

from __future__ import annotations

import gzip
import json

from ktui.sim.testing import Sim

from .helpers import AGG, request


def test_version_has_content_length_and_no_cache(sim: Sim) -> None:
    r = request(sim, "GET", "/version")
    assert r.status == 200
    assert r.headers["Content-Type"] == "application/json"
    assert int(r.headers["Content-Length"]) == len(r.body)
    assert r.headers["Cache-Control"] == "no-cache, private"
    assert r.json()["major"] == "1" and r.json()["minor"] == "32"
    assert r.headers["Audit-Id"]


def test_legacy_discovery_names_only_served_resources(sim: Sim) -> None:
    api = request(sim, "GET", "/api").json()
    assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    assert api["serverAddressByClientCIDRs"][0]["serverAddress"].endswith(f":{sim.port}")
    names = {r["name"] for r in request(sim, "GET", "/api/v1").json()["resources"]}
    assert {"pods", "pods/log", "nodes", "namespaces", "events"} <= names
    # Services and Endpoints are served (the service proxy reads them), ConfigMaps (code
    # snapshots); Secrets are not.
    assert {"services", "services/proxy", "endpoints", "pods/proxy", "configmaps"} <= names
    assert "secrets" not in names
    groups = {g["name"] for g in request(sim, "GET", "/apis").json()["groups"]}
    assert groups == {"batch", "metrics.k8s.io"}
    batch = request(sim, "GET", "/apis/batch/v1").json()
    assert [r["name"] for r in batch["resources"]] == ["jobs", "jobs/status"]


def test_aggregated_discovery_with_etag_and_304(sim: Sim) -> None:
    r = request(sim, "GET", "/apis", accept=AGG)
    assert r.status == 200
    assert r.headers["Content-Type"] == (
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
    assert r.headers["Cache-Control"] == "public" and r.headers["Vary"] == "Accept"
    doc = r.json()
    assert doc["kind"] == "APIGroupDiscoveryList" and doc["apiVersion"] == "apidiscovery.k8s.io/v2"
    by_group = {g["metadata"]["name"]: g for g in doc["items"]}
    jobs = by_group["batch"]["versions"][0]["resources"][0]
    assert jobs["resource"] == "jobs" and jobs["scope"] == "Namespaced"
    again = request(sim, "GET", "/apis", accept=AGG, headers={"If-None-Match": r.headers["ETag"]})
    assert again.status == 304 and again.body == b""
    core = request(sim, "GET", "/api", accept=AGG).json()
    assert "pods" in {r["resource"] for r in core["items"][0]["versions"][0]["resources"]}


def test_openapi_v3_index_hash_redirect_and_gzip(sim: Sim) -> None:
    index = request(sim, "GET", "/openapi/v3", accept="application/json, */*")
    assert index.headers["Content-Type"] == "text/plain; charset=utf-8"
    url = index.json()["paths"]["apis/batch/v1"]["serverRelativeURL"]
    doc = request(sim, "GET", url)
    assert doc.status == 200 and doc.headers["Cache-Control"] == "public, immutable"
    schemas = doc.json()["components"]["schemas"]
    assert "io.k8s.api.batch.v1.Job" in schemas
    zipped = request(sim, "GET", url, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(zipped.body)) == doc.json()
    moved = request(sim, "GET", "/openapi/v3/apis/batch/v1?hash=WRONG")
    assert moved.status == 301 and moved.headers["Location"] == url
    assert "api/v1" in index.json()["paths"]


def test_unknown_path_is_a_404_status(sim: Sim) -> None:
    r = request(sim, "GET", "/apis/apps/v1/namespaces/default/deployments")
    assert r.status == 404
    assert r.json()["reason"] == "NotFound"
