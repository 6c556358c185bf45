"""Issue 3's user story end to end: a simulator, `ktui launch`, `ktui jobs`, and kubectl
agreeing with ktui on every Job. Real processes, a real kubeconfig, real HTTP."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ktui.sim.testing import running_sim

ROOT = Path(__file__).resolve().parents[1]


def ktui(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ktui", *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_launch_params_json_then_jobs_until_complete_and_kubectl_agrees():
    with running_sim(nodes=4, gpus_per_node=8, speed=40.0) as sim:
        kc = str(sim.kubeconfig)
        r = ktui("launch", "examples/params.json", "--kubeconfig", kc)
        assert r.returncode == 0, r.stderr
        assert "created 4, existing 0, failed 0" in r.stdout + r.stderr
        # Relaunching maps onto the same Jobs: nothing new is created.
        r = ktui("launch", "examples/params.json", "--kubeconfig", kc)
        assert r.returncode == 0 and "created 0, existing 4, failed 0" in r.stdout + r.stderr

        deadline = time.monotonic() + 60
        while True:
            r = ktui("jobs", "-o", "json", "--kubeconfig", kc)
            assert r.returncode == 0, r.stderr
            trials = {t["name"]: t for t in json.loads(r.stdout)}
            if len(trials) == 4 and all(t["phase"] == "Succeeded" for t in trials.values()):
                break
            assert time.monotonic() < deadline, trials
            time.sleep(0.5)
        assert sorted(trials) == [f"params-00{i}" for i in range(4)]
        assert all(t["node"] and t["node"].startswith("sim-node-") for t in trials.values())
        assert trials["params-002"]["params"] == {"model": "RNN-01", "preproc": "algo-02", "dropout": "0.5", "act": "softmax"}

        if shutil.which("kubectl") is None:
            pytest.skip("kubectl is not installed: the cross-check needs it")
        env = {"KUBECONFIG": kc, "PATH": "/usr/bin:/bin"}
        jobs = json.loads(subprocess.run(["kubectl", "get", "jobs", "-o", "json"], env=env, capture_output=True,
                                         text=True, check=True, timeout=60).stdout)["items"]
        pods = json.loads(subprocess.run(["kubectl", "get", "pods", "-o", "json"], env=env, capture_output=True,
                                         text=True, check=True, timeout=60).stdout)["items"]
        assert sorted(j["metadata"]["name"] for j in jobs) == sorted(trials)
        for j in jobs:
            name = j["metadata"]["name"]
            complete = any(c["type"] == "Complete" and c["status"] == "True" for c in j["status"].get("conditions", []))
            assert complete == (trials[name]["phase"] == "Succeeded"), name
            nodes = {p["spec"].get("nodeName") for p in pods if p["metadata"]["labels"].get("job-name") == name}
            assert nodes == {trials[name]["node"]}, name
