"""ConfigMaps as kube-apiserver serves them (captured answers in fixtures/): immutable ones
refuse changes, the 1 MiB limit, binaryData; and the simulated kubelet mounts them: a
missing one keeps the pod ContainerCreating with FailedMount, init containers run first."""

from __future__ import annotations

import base64
import gzip
import io
import tarfile

from .helpers import fixture, job, request

NS = "/api/v1/namespaces/default/configmaps"


def cm(name: str, **kw) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}, **kw}


def test_immutable_configmap_refuses_put_and_patch_as_captured(sim):
    r = request(sim, "POST", NS, cm("sweep-code", immutable=True, data={"entrypoint": "python train.py --lr 0.001"},
                                    binaryData={"code.tar.gz": base64.b64encode(b"abc").decode()}))
    assert r.status == 201, r.body
    body = r.json()
    assert body["immutable"] is True and base64.b64decode(body["binaryData"]["code.tar.gz"]) == b"abc"
    changed = dict(body, data={"entrypoint": "other"})
    r = request(sim, "PUT", f"{NS}/sweep-code", changed)
    assert r.status == 422 and r.json() == fixture("err-422-configmap-immutable-update-put-error.json")
    r = request(sim, "PATCH", f"{NS}/sweep-code", {"immutable": False},
                content_type="application/merge-patch+json")
    assert r.status == 422 and r.json() == fixture("err-422-configmap-immutable-patch-immutable-false-error.json")
    # labels may still change
    r = request(sim, "PATCH", f"{NS}/sweep-code", {"metadata": {"labels": {"a": "b"}}},
                content_type="application/merge-patch+json")
    assert r.status == 200, r.body


def test_over_one_mib_is_refused_as_captured(sim):
    big = base64.b64encode(b"\0" * (1024 * 1024 + 1)).decode()
    r = request(sim, "POST", NS, cm("sweep-code-big", binaryData={"code.tar.gz": big}))
    assert r.status == 422 and r.json() == fixture("err-422-configmap-too-large-1.1MiB-error.json")
    exact = base64.b64encode(b"\0" * (1024 * 1024)).decode()
    assert request(sim, "POST", NS, cm("at-the-limit", binaryData={"k": exact})).status == 201


def _archive(files: dict[str, bytes]) -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
    return base64.b64encode(gzip.compress(buf.getvalue())).decode()


def _code_job(name: str, cm_name: str) -> dict:
    body = job(name, annotations={"sim.ktui.dev/duration": "5"})
    pod = body["spec"]["template"]["spec"]
    pod["volumes"] = [{"name": "code", "configMap": {"name": cm_name}}, {"name": "workspace", "emptyDir": {}}]
    pod["initContainers"] = [{"name": "unpack-code", "image": "python:3.11",
                              "command": ["tar", "-xzf", "/ktui/code/code.tar.gz", "-C", "/workspace"],
                              "volumeMounts": [{"name": "code", "mountPath": "/ktui/code", "readOnly": True},
                                               {"name": "workspace", "mountPath": "/workspace"}]}]
    pod["containers"][0]["workingDir"] = "/workspace"
    pod["containers"][0]["volumeMounts"] = [{"name": "workspace", "mountPath": "/workspace"}]
    return body


def _pod(sim, job_name: str) -> dict | None:
    pods = [p for p in sim.objects("pods") if p["metadata"]["labels"].get("job-name") == job_name]
    return pods[0] if pods else None


def test_missing_configmap_keeps_the_pod_creating_with_failedmount_until_it_appears(sim):
    assert request(sim, "POST", "/apis/batch/v1/namespaces/default/jobs", _code_job("j", "ktui-code-x")).status == 201
    sim.wait_for(lambda s: any(e.get("reason") == "FailedMount" for e in s.objects("events")), timeout=20)
    ev = next(e for e in sim.objects("events") if e.get("reason") == "FailedMount")
    assert ev["type"] == "Warning"
    assert ev["message"] == 'MountVolume.SetUp failed for volume "code" : configmap "ktui-code-x" not found'
    pod = _pod(sim, "j")
    assert pod is not None and pod["status"]["phase"] == "Pending"
    assert pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing"
    assert "initContainerStatuses" not in pod["status"] or not any(
        "running" in s["state"] for s in pod["status"]["initContainerStatuses"])
    archive = _archive({"train.py": b"print(1)\n", "data/x.csv": b"1,2\n"})
    assert request(sim, "POST", NS, cm("ktui-code-x", binaryData={"code.tar.gz": archive}, immutable=True)).status == 201
    sim.wait_for(lambda s: (_pod(s, "j") or {}).get("status", {}).get("phase") == "Succeeded", timeout=30)
    pod = _pod(sim, "j")
    assert pod is not None
    (init,) = pod["status"]["initContainerStatuses"]
    assert init["state"]["terminated"]["exitCode"] == 0
    log = request(sim, "GET", f"/api/v1/namespaces/default/pods/{pod['metadata']['name']}/log?container=trial")
    assert log.body.decode().splitlines()[0] == "ktui-sim: /workspace: data/x.csv (4 B), train.py (9 B)"


def test_an_archive_tar_cannot_read_fails_the_init_container(sim):
    request(sim, "POST", NS, cm("bad", binaryData={"code.tar.gz": base64.b64encode(b"not gzip").decode()}))
    assert request(sim, "POST", "/apis/batch/v1/namespaces/default/jobs", _code_job("jb", "bad")).status == 201
    sim.wait_for(lambda s: (_pod(s, "jb") or {}).get("status", {}).get("phase") == "Failed", timeout=30)
    pod = _pod(sim, "jb")
    assert pod is not None
    (init,) = pod["status"]["initContainerStatuses"]
    assert init["state"]["terminated"]["exitCode"] == 2
    log = request(sim, "GET", f"/api/v1/namespaces/default/pods/{pod['metadata']['name']}/log?container=unpack-code")
    assert b"not in gzip format" in log.body
