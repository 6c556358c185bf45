"""Recreating a Job from the server's copy, without a server."""

from __future__ import annotations

import json

from ktui.cluster.kube.actions import clean_manifest

from .helpers import fixture


def test_clean_manifest_strips_server_fields():
    job = json.loads(fixture("obj-job-fail-job.json"))
    m = clean_manifest(job)
    meta = m["metadata"]
    for key in ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation"):
        assert key not in meta
    assert "status" not in m
    assert "selector" not in m["spec"] and "manualSelector" not in m["spec"]
    tmeta = m["spec"]["template"]["metadata"]
    assert "creationTimestamp" not in tmeta
    for label in ("controller-uid", "batch.kubernetes.io/controller-uid", "job-name",
                  "batch.kubernetes.io/job-name"):
        assert label not in tmeta["labels"]
    # What makes it the same trial survives.
    assert meta["name"] == "fail-job" and meta["namespace"] == "ref"
    assert meta["labels"] == {"ktui.dev/sweep": "ref", "ktui.dev/trial": "1"}
    assert tmeta["labels"] == {"ktui.dev/sweep": "ref", "ktui.dev/trial": "1"}
    assert m["spec"]["template"]["spec"]["containers"][0]["name"] == "trial"
    assert m["spec"]["backoffLimit"] == 1
    assert (m["apiVersion"], m["kind"]) == ("batch/v1", "Job")
    assert job["metadata"]["uid"]  # the input is not modified


def test_manual_selector_is_kept():
    job = json.loads(fixture("obj-job-ok-job.json"))
    job["spec"]["manualSelector"] = True
    m = clean_manifest(job)
    assert m["spec"]["selector"] == job["spec"]["selector"]
