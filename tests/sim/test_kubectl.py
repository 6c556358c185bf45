"""kubectl as a conformance client: its exact request sequences against the simulator."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
import yaml

from ktui.sim.testing import Sim

from .helpers import job, job_done, pods_of

pytestmark = pytest.mark.kubectl

JOB_YAML = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: ok-job
  labels: {ktui.dev/sweep: ref, ktui.dev/trial: "0"}
spec:
  backoffLimit: 2
  template:
    metadata:
      labels: {ktui.dev/sweep: ref, ktui.dev/trial: "0"}
      annotations: {sim.ktui.dev/duration: "%s"}
    spec:
      restartPolicy: OnFailure
      containers:
      - name: trial
        image: python:3.11
        command: [python, train.py]
        resources:
          requests: {cpu: "2", memory: 8Gi}
          limits: {cpu: "4", memory: 16Gi}
"""


def test_get_nodes_pods_jobs(sim: Sim, kubectl) -> None:
    out = kubectl("get", "nodes").stdout.splitlines()
    assert out[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert [line.split()[:3] for line in out[1:]] == [
        [f"sim-node-000{i}", "Ready", "<none>"] for i in (1, 2, 3)]
    sim.create(job("a", annotations={"sim.ktui.dev/duration": "3"}))
    sim.wait_for(lambda s: job_done(s, "a"))
    jobs = kubectl("get", "jobs", "-A").stdout.splitlines()
    assert jobs[0].split()[:4] == ["NAMESPACE", "NAME", "STATUS", "COMPLETIONS"]
    assert jobs[1].split()[:4] == ["default", "a", "Complete", "1/1"]
    pods = kubectl("get", "pods", "-A", "-o", "wide").stdout.splitlines()
    assert pods[1].split()[3] == "Completed" and "sim-node-000" in pods[1]
    as_json = json.loads(kubectl("get", "pods", "-o", "json").stdout)
    assert as_json["kind"] == "List" and as_json["items"][0]["kind"] == "Pod"
    names = kubectl("get", "pods", "-n", "default", "-o", "name").stdout.split()
    assert names == [f"pod/{pods_of(sim, 'a')[0]['metadata']['name']}"]
    # All namespaces include the GPU telemetry's pods (one exporter per node, Prometheus).
    everywhere = kubectl("get", "pods", "-A", "-o", "name").stdout.split()
    assert len(everywhere) == 1 + 3 + 1
    missing = kubectl("get", "job", "nope", check=False)
    assert missing.returncode == 1
    assert 'Error from server (NotFound): jobs.batch "nope" not found' in missing.stderr


def test_apply_twice_then_configured_and_label(sim: Sim, kubectl, tmp_path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(JOB_YAML % "600")
    dry = kubectl("create", "--dry-run=client", "-f", str(path)).stdout
    assert dry.strip() == "job.batch/ok-job created (dry run)"
    assert sim.objects("jobs") == []
    assert kubectl("apply", "-f", str(path)).stdout.strip() == "job.batch/ok-job created"
    assert kubectl("apply", "-f", str(path)).stdout.strip() == "job.batch/ok-job unchanged"
    doc = yaml.safe_load(path.read_text())
    doc["spec"]["backoffLimit"] = 4
    path.write_text(yaml.safe_dump(doc))
    assert kubectl("apply", "-f", str(path)).stdout.strip() == "job.batch/ok-job configured"
    got = sim.get("jobs", "default", "ok-job")
    assert got["spec"]["backoffLimit"] == 4
    assert "kubectl.kubernetes.io/last-applied-configuration" in got["metadata"]["annotations"]
    kubectl("label", "job", "ok-job", "stage=tuned")
    assert sim.get("jobs", "default", "ok-job")["metadata"]["labels"]["stage"] == "tuned"
    again = kubectl("create", "-f", str(path), check=False)
    assert 'jobs.batch "ok-job" already exists' in again.stderr


def test_describe_logs_and_delete(sim: Sim, kubectl, tmp_path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(JOB_YAML % "5")
    kubectl("create", "-f", str(path))
    sim.wait_for(lambda s: job_done(s, "ok-job"))
    described = kubectl("describe", "job", "ok-job").stdout
    assert "Pods Statuses:    0 Active (0 Ready) / 1 Succeeded / 0 Failed" in described
    assert "SuccessfulCreate" in described and "Completed" in described
    logs = kubectl("logs", "job/ok-job").stdout.splitlines()
    assert logs[0].startswith("starting training") and logs[-1].startswith("training complete")
    tail = kubectl("logs", "job/ok-job", "--tail=2", "--timestamps").stdout.splitlines()
    assert len(tail) == 2 and tail[1].split(" ", 1)[1] == logs[-1]
    pod = pods_of(sim, "ok-job")[0]["metadata"]["name"]
    assert kubectl("logs", pod, "--limit-bytes=10").stdout == "\n".join(logs)[:10]
    out = kubectl("delete", "job", "ok-job").stdout.strip()
    assert out == 'job.batch "ok-job" deleted'
    sim.wait_for(lambda s: s.objects("pods", "default") == [])


def test_logs_follow_ends_when_the_pod_finishes(sim: Sim, kubectl, tmp_path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(JOB_YAML % "100")
    kubectl("create", "-f", str(path))
    sim.wait_for(lambda s: [p["status"]["phase"] for p in pods_of(s, "ok-job")] == ["Running"])
    t0 = time.monotonic()
    out = kubectl("logs", "-f", "job/ok-job", timeout=10).stdout.splitlines()
    assert out[-1].startswith("training complete") and len(out) == 101
    assert time.monotonic() - t0 < 5


def test_get_watch_and_wait(sim: Sim, kubectl, tmp_path) -> None:
    env_args = ["kubectl", f"--cache-dir={tmp_path}/cache", "get", "jobs", "--watch"]
    import os

    proc = subprocess.Popen(env_args, env=dict(os.environ, KUBECONFIG=str(sim.kubeconfig),
                                               HOME=str(tmp_path)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    sim.create(job("watched", annotations={"sim.ktui.dev/duration": "20"}))
    kubectl("wait", "--for=condition=complete", "job/watched", "--timeout=10s")
    time.sleep(0.3)
    proc.terminate()
    out, _ = proc.communicate(timeout=5)
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["NAME", "STATUS"]
    states = [line.split()[1] for line in lines[1:] if line.startswith("watched")]
    assert states[0] == "Running" and states[-1] == "Complete"


def test_events_top_and_namespaces(sim: Sim, kubectl) -> None:
    # (`kubectl create namespace X` sends a protobuf body, which the simulator refuses with
    # 415; manifests go through JSON.)
    kubectl("apply", "-f", "-", input="apiVersion: v1\nkind: Namespace\nmetadata:\n"
            "  name: team-a\n")
    sim.create(job("t", annotations={"sim.ktui.dev/duration": "600"}))
    sim.wait_for(lambda s: [p["status"]["phase"] for p in pods_of(s, "t")] == ["Running"])
    events = kubectl("get", "events").stdout
    assert "Scheduled" in events and "Started" in events and "job/t" in events
    top = kubectl("top", "pods").stdout.splitlines()
    assert top[0].split() == ["NAME", "CPU(cores)", "MEMORY(bytes)"] and len(top) == 2
    assert kubectl("top", "nodes").stdout.count("sim-node-") == 3
    kubectl("delete", "namespace", "team-a")
    assert "team-a" not in kubectl("get", "ns").stdout


def test_configmaps_are_discoverable_and_listed(sim: Sim, kubectl) -> None:
    # ktui's code snapshots travel in ConfigMaps: kubectl sees them as a real cluster shows them.
    sim.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ktui-code-0123456789abcdef"},
                "immutable": True, "binaryData": {"code.tar.gz": "H4sIAAAAAAAAA+3BAQ0AAADCoPdPbQ8HFAAAAAAAAAAAAAAAAAAAAAAAAAAA"}})
    out = kubectl("get", "cm").stdout.splitlines()
    assert out[0].split() == ["NAME", "DATA", "AGE"]
    assert out[1].split()[:2] == ["ktui-code-0123456789abcdef", "1"]
    assert "configmaps" in kubectl("api-resources", "--api-group=").stdout
