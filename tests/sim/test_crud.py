"""Create/get/update/patch/delete through real HTTP, compared with kube-apiserver captures."""

from __future__ import annotations

import kubernetes
import pytest

from ktui.sim.testing import Sim

from .helpers import fixture, job, job_done, request, shape


def ok_job() -> dict:
    """The `ok-job` of the captures, as kubectl create sent it."""
    return job("ok-job", restart="OnFailure", backoff=2,
               labels={"ktui.dev/sweep": "ref", "ktui.dev/trial": "0"},
               annotations={"sim.ktui.dev/duration": "45"},
               resources={"limits": {"cpu": "4", "memory": "16Gi"},
                          "requests": {"cpu": "2", "memory": "8Gi"}})


def test_created_job_is_defaulted_like_the_real_server(sim: Sim) -> None:
    body = ok_job()
    body["spec"]["template"]["spec"]["containers"][0]["args"] = ["--lr", "0.01"]
    r = request(sim, "POST", "/apis/batch/v1/namespaces/default/jobs", body)
    assert r.status == 201
    got = r.json()
    ref = fixture("obj-job-ok-job.json")
    uid = got["metadata"]["uid"]
    assert got["kind"] == "Job" and got["apiVersion"] == "batch/v1"
    assert list(got["spec"]) == list(ref["spec"])
    assert got["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    tmpl_labels = got["spec"]["template"]["metadata"]["labels"]
    assert tmpl_labels == {"batch.kubernetes.io/controller-uid": uid,
                           "batch.kubernetes.io/job-name": "ok-job", "controller-uid": uid,
                           "job-name": "ok-job", "ktui.dev/sweep": "ref", "ktui.dev/trial": "0"}
    assert shape(got["spec"]["template"]["spec"]) == shape(ref["spec"]["template"]["spec"])
    assert got["spec"]["template"]["spec"]["containers"][0] == \
        ref["spec"]["template"]["spec"]["containers"][0]
    assert got["metadata"]["generation"] == 1 and got["metadata"]["resourceVersion"].isdigit()
    assert got["metadata"]["labels"] == {"ktui.dev/sweep": "ref", "ktui.dev/trial": "0"}


def test_not_found_already_exists_and_invalid_match_captures(sim: Sim) -> None:
    missing = request(sim, "GET", "/apis/batch/v1/namespaces/default/jobs/no-such-job")
    assert missing.status == 404
    assert missing.json() == fixture("err-404-get-missing-job.json")
    assert int(missing.headers["Content-Length"]) == len(missing.body)
    body = ok_job()
    assert request(sim, "POST", "/apis/batch/v1/namespaces/default/jobs", body).status == 201
    again = request(sim, "POST", "/apis/batch/v1/namespaces/default/jobs", body)
    assert again.status == 409 and again.json() == fixture("err-409-post-ok-job-again.json")
    bad = job("Bad_Name")
    invalid = request(sim, "POST", "/apis/batch/v1/namespaces/default/jobs", bad)
    assert invalid.status == 422 and invalid.json() == fixture("err-422-post-bad-name.json")
    limits = job("bad-limits", resources={"requests": {"cpu": "4"}, "limits": {"cpu": "2"}})
    r = request(sim, "POST", "/apis/batch/v1/namespaces/default/jobs", limits)
    assert r.status == 422 and r.json() == fixture("err-422-post-limits-below-requests.json")
    gone = request(sim, "DELETE", "/api/v1/namespaces/default/pods/no-such-pod")
    assert gone.status == 404 and gone.json() == fixture("err-404-delete-missing-pod.json")


def test_required_fields_restart_policy_and_missing_namespace(sim: Sim) -> None:
    body = job("always", restart="Always")
    del body["spec"]["template"]["spec"]["containers"][0]["image"]
    r = request(sim, "POST", "/apis/batch/v1/namespaces/default/jobs", body)
    assert r.status == 422
    assert r.json()["message"] == (
        'Job.batch "always" is invalid: [spec.template.spec.containers[0].image: Required value, '
        'spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: '
        '"OnFailure", "Never"]')
    mismatch = request(sim, "POST", "/apis/batch/v1/namespaces/nope/jobs", job("x"))
    assert mismatch.status == 400 and "does not match the namespace" in mismatch.json()["message"]
    body = job("x")
    del body["metadata"]["namespace"]
    nowhere = request(sim, "POST", "/apis/batch/v1/namespaces/nope/jobs", body)
    assert nowhere.status == 404 and nowhere.json()["message"] == 'namespaces "nope" not found'
    ns = request(sim, "POST", "/api/v1/namespaces", {"metadata": {"name": "Team_A"}})
    assert ns.status == 422 and "RFC 1123 label" in ns.json()["message"]


def test_generate_name_and_dry_run(sim: Sim) -> None:
    body = job("")
    body["metadata"] = {"generateName": "trial-"}
    r = request(sim, "POST", "/apis/batch/v1/namespaces/default/jobs?dryRun=All", body)
    assert r.status == 201 and r.json()["metadata"]["name"].startswith("trial-")
    assert sim.objects("jobs") == []
    r = request(sim, "POST", "/apis/batch/v1/namespaces/default/jobs", body)
    name = r.json()["metadata"]["name"]
    assert len(name) == len("trial-") + 5 and sim.get("jobs", "default", name) is not None


def test_delete_background_foreground_and_orphan(sim: Sim, batch: kubernetes.client.BatchV1Api) -> None:
    long = {"sim.ktui.dev/duration": "600"}
    for name in ("bg", "fg", "orphan"):
        sim.create(job(name, annotations=long))
    sim.wait_for(lambda s: all(len([p for p in s.objects("pods", "default") if p["metadata"]["labels"]
                                    ["job-name"] == n]) == 1 for n in ("bg", "fg", "orphan")))
    r = request(sim, "DELETE", "/apis/batch/v1/namespaces/default/jobs/bg",
                {"propagationPolicy": "Background"})
    status = r.json()
    ref = fixture("delete-job-background.json")
    assert status.keys() == ref.keys() and status["status"] == "Success"
    assert status["details"]["name"] == "bg" and status["details"]["kind"] == "jobs"
    assert sim.get("jobs", "default", "bg") is None
    fg = request(sim, "DELETE", "/apis/batch/v1/namespaces/default/jobs/fg",
                 {"propagationPolicy": "Foreground"}).json()
    assert fg["kind"] == "Job" and fg["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert fg["metadata"]["deletionGracePeriodSeconds"] == 0
    # No policy on batch/v1 means Orphan, with kube-apiserver's warning.
    orphan = request(sim, "DELETE", "/apis/batch/v1/namespaces/default/jobs/orphan")
    assert "child pods are preserved by default" in orphan.headers["Warning"]
    sim.wait_for(lambda s: all(s.get("jobs", "default", n) is None for n in ("fg", "orphan")))
    sim.wait_for(lambda s: [p["metadata"]["labels"]["job-name"] for p in s.objects("pods", "default")]
                 == ["orphan"], timeout=10)
    left = sim.objects("pods", "default")[0]
    assert "ownerReferences" not in left["metadata"]
    assert left["status"]["phase"] == "Running"


def test_delete_running_pod_returns_it_with_grace(sim: Sim, core: kubernetes.client.CoreV1Api) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare"},
           "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}
    core.create_namespaced_pod("default", pod)
    sim.wait_for(lambda s: (s.get("pods", "default", "bare") or {})["status"]["phase"]
                 == "Running")
    r = request(sim, "DELETE", "/api/v1/namespaces/default/pods/bare")
    out = r.json()
    assert out["kind"] == "Pod" and out["metadata"]["deletionGracePeriodSeconds"] == 30
    assert out["status"]["phase"] == "Running"
    sim.wait_for(lambda s: s.get("pods", "default", "bare") is None)


def test_patch_merge_json_strategic_and_put_conflict(sim: Sim,
                                                     batch: kubernetes.client.BatchV1Api) -> None:
    sim.create(job("p", annotations={"sim.ktui.dev/duration": "600"}, parallelism=1))
    path = "/apis/batch/v1/namespaces/default/jobs/p"
    r = request(sim, "PATCH", path, {"metadata": {"labels": {"a": "1"}}},
                content_type="application/merge-patch+json")
    assert r.status == 200 and r.json()["metadata"]["labels"]["a"] == "1"
    gen = r.json()["metadata"]["generation"]
    r = request(sim, "PATCH", path, [{"op": "replace", "path": "/spec/parallelism", "value": 2}],
                content_type="application/json-patch+json")
    assert r.json()["spec"]["parallelism"] == 2 and r.json()["metadata"]["generation"] == gen + 1
    r = request(sim, "PATCH", path, {"spec": {"template": {"spec": {"containers": [
        {"name": "trial", "image": "python:3.12"}]}}}},
        content_type="application/strategic-merge-patch+json")
    assert r.status == 422 and "spec.template" in r.json()["message"]
    r = request(sim, "PATCH", path, {"spec": {"suspend": True}}, content_type="text/plain")
    assert r.status == 415
    cur = batch.read_namespaced_job("p", "default")
    stale = kubernetes.client.ApiClient().sanitize_for_serialization(cur)
    stale["metadata"]["resourceVersion"] = "1"
    r = request(sim, "PUT", path, stale)
    assert r.status == 409 and r.json()["reason"] == "Conflict"
    # The Job controller writes status concurrently, so a read-modify-write may meet a newer
    # resourceVersion: retry on 409 like any real client must.
    for _ in range(10):
        cur = batch.read_namespaced_job("p", "default")
        cur.spec.parallelism = 3
        try:
            updated = batch.replace_namespaced_job("p", "default", cur)
            break
        except kubernetes.client.exceptions.ApiException as exc:
            assert exc.status == 409
    assert updated.spec.parallelism == 3
    sim.wait_for(lambda s: len([p for p in s.objects("pods", "default") if not p["metadata"].get(
        "deletionTimestamp")]) == 3)


def test_strategic_merge_patch_merges_lists_by_key() -> None:
    from ktui.sim.patch import strategic_merge

    cur = {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}],
                    "finalizers": ["f1"]}}
    out = strategic_merge(cur, {"spec": {
        "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
        "containers": [{"name": "a", "image": "z"}, {"name": "b", "$patch": "delete"}],
        "finalizers": ["f2"]}})
    assert out == {"spec": {"containers": [{"name": "a", "image": "z"}],
                            "finalizers": ["f1", "f2"]}}


@pytest.mark.parametrize("path", ["/apis/batch/v1/namespaces/default/jobs/s/status",
                                  "/apis/batch/v1/namespaces/default/jobs/s"])
def test_status_subresource_and_job_completion(sim: Sim, path: str) -> None:
    sim.create(job("s", annotations={"sim.ktui.dev/duration": "5"}))
    sim.wait_for(lambda s: job_done(s, "s"))
    got = request(sim, "GET", path).json()
    assert got["status"]["succeeded"] == 1 and got["status"]["completionTime"]


def test_delete_collection_by_label_and_patch_dry_run(sim: Sim) -> None:
    for i in range(4):
        sim.create(job(f"c{i}", labels={"ktui.dev/sweep": "a" if i < 3 else "b"}, suspend=True))
    r = request(sim, "PATCH", "/apis/batch/v1/namespaces/default/jobs/c0?dryRun=All",
                {"metadata": {"labels": {"x": "y"}}}, content_type="application/merge-patch+json")
    assert r.status == 200 and r.json()["metadata"]["labels"]["x"] == "y"
    assert "x" not in sim.get("jobs", "default", "c0")["metadata"]["labels"]
    r = request(sim, "DELETE", "/apis/batch/v1/namespaces/default/jobs?labelSelector="
                "ktui.dev%2Fsweep%3Da&propagationPolicy=Background")
    assert r.status == 200 and r.json()["kind"] == "JobList"
    assert sorted(j["metadata"]["name"] for j in r.json()["items"]) == ["c0", "c1", "c2"]
    assert [j["metadata"]["name"] for j in sim.objects("jobs")] == ["c3"]


def test_workload_plan_is_deterministic_from_parameters() -> None:
    from ktui.sim.workload import plan

    def pod(name: str, params: str) -> dict:
        return {"metadata": {"name": name, "annotations": {"ktui.dev/params": params}}}

    a = plan(pod("x-1", '{"lr": 0.01}'), "trial", 0)
    b = plan(pod("y-2", '{"lr": 0.01}'), "trial", 0)
    c = plan(pod("x-1", '{"lr": 0.1}'), "trial", 0)
    assert a.duration == b.duration and a.lines() == b.lines()
    assert 20 <= a.duration <= 60 and 20 <= c.duration <= 60
    assert a.lines() != c.lines()
