"""`ktui jobs|nodes|logs|cancel|rerun` and `launch`'s submit path against the simulator."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from ktui.cli import main
from ktui.cli.submit import submit_manifests

from .conftest import eventually, job_manifest


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_jobs_table_and_json(sim, capsys):
    sim.create(job_manifest("sw-000", sweep="sw", trial=0, duration=0.2, params={"lr": 0.01}))
    sim.create(job_manifest("sw-001", sweep="sw", trial=1, duration=0.2, exit_code=4))
    sim.create(job_manifest("other", sweep="o", trial=0, duration=60))
    kc = str(sim.kubeconfig)
    eventually(lambda: sum(1 for j in sim.objects("jobs") if (j.get("status") or {}).get("conditions")) >= 2,
               timeout=15)
    rc, out, err = _run(capsys, "jobs", "--kubeconfig", kc, "--sweep", "sw")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["NAME", "SWEEP", "TRIAL", "PHASE", "NODE"]
    assert "REASON" in lines[0] and "PARAMS" in lines[0]
    assert len(lines) == 3
    assert lines[1].split()[:4] == ["sw-000", "sw", "0", "Succeeded"] and "lr=0.01" in lines[1]
    assert lines[2].split()[:4] == ["sw-001", "sw", "1", "Failed"] and "exit code 4" in lines[2]

    rc, out, err = _run(capsys, "jobs", "--kubeconfig", kc, "-A", "-o", "json")
    assert rc == 0, err
    rows = json.loads(out)
    assert {r["name"] for r in rows} == {"sw-000", "sw-001", "other"}
    assert all(set(r) >= {"namespace", "phase", "params", "retries", "reason"} for r in rows)

    rc, out, _ = _run(capsys, "jobs", "--kubeconfig", kc, "-A")
    assert out.splitlines()[0].startswith("NAMESPACE")


def test_jobs_watch_prints_changes(sim):
    kc = str(sim.kubeconfig)
    proc = subprocess.Popen([sys.executable, "-m", "ktui", "jobs", "--kubeconfig", kc, "--watch"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        header = proc.stdout.readline()
        assert header.startswith("NAME")
        sim.create(job_manifest("w-0", sweep="w", duration=0.5))
        seen = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            seen.append(line)
            if "Succeeded" in line:
                break
        assert any(ln.startswith("w-0") for ln in seen)
        assert any("Succeeded" in ln for ln in seen), seen
    finally:
        proc.terminate()
        proc.wait(5)


def test_nodes_table(sim, capsys):
    sim.create(job_manifest("g", gpu=3, duration=30))
    eventually(lambda: any(p.get("spec", {}).get("nodeName") for p in sim.objects("pods", "default")), timeout=10)
    rc, out, err = _run(capsys, "nodes", "--kubeconfig", str(sim.kubeconfig))
    assert rc == 0, err
    nodes, _, gpus = out.partition("\n\n")
    lines = nodes.splitlines()
    assert lines[0].startswith("NAME") and "GPU REQ/ALLOC" in lines[0] and "GPU USED" in lines[0]
    assert len(lines) == 4
    assert any("3/8" in ln for ln in lines[1:])
    # Then one row per GPU, from the simulator's dcgm-exporter: the trial's three are its.
    gpu_lines = gpus.splitlines()
    assert gpu_lines[0].split()[:3] == ["NODE", "GPU", "MODEL"] and len(gpu_lines) == 1 + 3 * 8
    assert sum(1 for ln in gpu_lines if ln.endswith(" g")) == 3
    rc, out, _ = _run(capsys, "nodes", "--kubeconfig", str(sim.kubeconfig), "-o", "json")
    nodes = json.loads(out)
    assert sum(n["requested"]["gpu"] for n in nodes) == 3


def test_logs_command(sim, capsys):
    sim.create(job_manifest("l", log="alpha\nbeta\ngamma\n", duration=0.2))
    eventually(lambda: any((p.get("status") or {}).get("phase") == "Succeeded" for p in sim.objects("pods")),
               timeout=10)
    rc, out, err = _run(capsys, "logs", "l", "--kubeconfig", str(sim.kubeconfig))
    assert rc == 0, err
    assert "alpha\nbeta\ngamma\n" in out
    rc, out, _ = _run(capsys, "logs", "l", "--tail", "1", "--kubeconfig", str(sim.kubeconfig))
    assert out == out.splitlines()[-1] + "\n" and len(out.splitlines()) == 1
    rc, out, err = _run(capsys, "logs", "nope", "--kubeconfig", str(sim.kubeconfig))
    assert rc == 1 and err.strip() == "ktui: no job or pod named nope in namespace default"


def test_cancel_and_rerun_commands(sim, capsys):
    kc = str(sim.kubeconfig)
    for i in range(3):
        sim.create(job_manifest(f"c-{i}", sweep="c", trial=i, duration=0.2, exit_code=1 if i else None))
    eventually(lambda: sum(1 for j in sim.objects("jobs") if (j.get("status") or {}).get("conditions")) == 3,
               timeout=15)
    rc, out, err = _run(capsys, "rerun", "c", "--failed", "--kubeconfig", kc)
    assert rc == 0, err
    assert out.strip() == "reran 2 jobs"
    rc, out, err = _run(capsys, "cancel", "c", "--kubeconfig", kc)
    assert rc == 1 and "--yes" in err  # no terminal to confirm on
    rc, out, err = _run(capsys, "cancel", "c", "--yes", "--kubeconfig", kc)
    assert rc == 0 and out.strip() == "deleted 3 jobs"
    eventually(lambda: not sim.objects("jobs"), timeout=10)
    rc, out, err = _run(capsys, "cancel", "c", "--yes", "--kubeconfig", kc)
    assert rc == 1 and "no sweep or job named c" in err


def test_unreachable_and_missing_config_are_one_line(tmp_path, capsys, monkeypatch):
    kc = tmp_path / "kc"
    kc.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t0ps3cret}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
    )
    rc, out, err = _run(capsys, "jobs", "--kubeconfig", str(kc))
    assert rc == 1 and out == ""
    assert err == "ktui: cannot reach the cluster at https://127.0.0.1:1: connection refused\n"
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    rc, out, err = _run(capsys, "nodes")
    assert rc == 1 and err.startswith("ktui: no kubeconfig found (looked in ")
    assert "t0ps3cret" not in err and len(err.splitlines()) == 1


def test_forbidden_jobs_is_one_line(sim, capsys):
    sim.deny("viewer", "list", "jobs")
    kc = sim.kubeconfig_for("viewer", namespace="default")
    rc, out, err = _run(capsys, "jobs", "--kubeconfig", str(kc))
    assert rc == 1
    assert err.strip() == "ktui: cannot list jobs in namespace default: Forbidden (user viewer)"


def test_submit_manifests_summary(sim, capsys):
    args = argparse.Namespace(kubeconfig=str(sim.kubeconfig), context=None)
    manifests = [job_manifest(f"s-{i}", sweep="s", trial=i, duration=5) for i in range(5)]
    assert submit_manifests(args, manifests[:2]) == 0
    capsys.readouterr()
    sim.create(job_manifest("s-x", sweep="other"))
    rc = submit_manifests(args, [*manifests, job_manifest("s-x", sweep="s")])
    out, err = capsys.readouterr()
    assert rc == 1
    assert out.strip() == "created 3, existing 2, failed 1"
    assert err.strip().startswith("ktui: failed default/s-x: conflict")


def test_jobs_without_pod_access_warns_and_lists(sim, capsys):
    sim.create(job_manifest("np", sweep="np", duration=60))
    sim.deny("viewer", "list", "pods")
    kc = sim.kubeconfig_for("viewer", namespace="default")
    rc, out, err = _run(capsys, "jobs", "--kubeconfig", str(kc))
    assert rc == 0
    assert out.splitlines()[1].split()[:2] == ["np", "np"]
    assert err.strip() == "ktui: warning: cannot list pods in namespace default: Forbidden (user viewer)"


def test_backend_satisfies_the_protocol(sim):
    from ktui.cluster.backend import Backend, LogStream
    from ktui.cluster.kube.backend import KubeBackend
    from ktui.cluster.kube.logs import KubeLogStream

    b = KubeBackend.connect(str(sim.kubeconfig))
    try:
        assert isinstance(b, Backend)
        assert b.location.startswith(sim.url) and "namespace default" in b.location
        assert issubclass(KubeLogStream, LogStream)
    finally:
        b.stop()


def test_each_forbidden_list_is_said_once(sim):
    """Issue 14, item 16: the same 403 was printed by the logger and again as a warning."""
    for resource in ("pods", "events"):
        sim.deny("viewer", "list", resource)
    r = subprocess.run([sys.executable, "-m", "ktui", "jobs", "--kubeconfig", str(sim.kubeconfig_for("viewer"))],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    lines = sorted(r.stderr.splitlines())  # (the two lists end in either order)
    assert lines == sorted(["ktui: warning: cannot list pods in namespace default: Forbidden (user viewer)",
                     "ktui: warning: cannot list events in namespace default: Forbidden (user viewer)",
                     "No jobs found in namespace default."]), lines  # (on stderr, as kubectl says it)
