"""`ktui launch --dry-run` as a user runs it: a real process, real files, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def ktui(*args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ktui", *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=60)


@pytest.mark.parametrize("name", ["params.json", "grid.yaml", "random.yaml", "gpu.yaml"])
def test_every_example_dry_runs(name):
    r = ktui("launch", str(EXAMPLES / name), "--dry-run")
    assert r.returncode == 0, r.stderr
    docs = list(yaml.safe_load_all(r.stdout))
    assert docs and all(d["kind"] == "Job" and d["apiVersion"] == "batch/v1" for d in docs)
    assert "Traceback" not in r.stderr


def test_json_output_is_a_list_for_kubectl_apply():
    r = ktui("launch", str(EXAMPLES / "grid.yaml"), "--dry-run", "-o", "json")
    doc = json.loads(r.stdout)
    assert doc["kind"] == "List" and [i["metadata"]["name"] for i in doc["items"]] == [f"mnist-grid-00{i}" for i in range(6)]


def test_table_output_and_overrides():
    r = ktui("launch", str(EXAMPLES / "params.json"), "--dry-run", "-o", "table", "--name", "exp", "--image", "me/t:1")
    assert r.returncode == 0
    assert r.stdout.splitlines() == [
        "TRIAL  JOB      PARAMETERS",
        "    0  exp-000  model=CNN-01 preproc=algo-01 weight=0.5 depth=2",
        "    1  exp-001  model=CNN-01 preproc=algo-01 weight=0.3 depth=3",
        "    2  exp-002  model=RNN-01 preproc=algo-02 dropout=0.5 act=softmax",
        "    3  exp-003  model=RNN-01 preproc=algo-02 dropout=0.7 act=tanh",
    ]
    assert r.stderr == ""


def test_command_after_double_dash_and_namespace():
    r = ktui("launch", str(EXAMPLES / "grid.yaml"), "--dry-run", "-o", "json", "-n", "team", "--",
             "python", "other.py", "--lr={lr}", "-v")
    job = json.loads(r.stdout)["items"][0]
    c = job["spec"]["template"]["spec"]["containers"][0]
    assert job["metadata"]["namespace"] == "team"
    assert c["command"] == ["python", "other.py", "--lr=0.1", "-v"] and "args" not in c


def test_namespace_comes_from_kubeconfig_context(tmp_path):
    kc = tmp_path / "config"
    kc.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", "namespace": "research"}}],
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
    }))
    r = ktui("launch", str(EXAMPLES / "grid.yaml"), "--dry-run", "-o", "json", "--kubeconfig", str(kc))
    assert json.loads(r.stdout)["items"][0]["metadata"]["namespace"] == "research"
    r = ktui("launch", str(EXAMPLES / "gpu.yaml"), "--dry-run", "-o", "json", "--kubeconfig", str(kc))
    assert json.loads(r.stdout)["items"][0]["metadata"]["namespace"] == "ml"  # the file wins


def test_bad_file_exits_2_with_one_line_per_problem(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: s\nimage: i\nresources: {gpu: two}\nparameters: {grid: {lr: [1]}}\nargs: ['{lrr}']\n")
    r = ktui("launch", str(bad), "--dry-run")
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.splitlines() == [f"{bad}:3:18: resources.gpu must be a whole number of GPUs, got 'two'",
                                     f"{bad}:5:8: placeholder {{lrr}} names no parameter (did you mean 'lr'?)"]
    assert "Traceback" not in r.stderr


def test_too_many_trials_and_max_trials_flag(tmp_path):
    f = tmp_path / "big.yaml"
    f.write_text("name: big\nimage: i\nparameters:\n  grid: {a: [" + ",".join(map(str, range(200))) + "], b: [" + ",".join(map(str, range(100))) + "]}\n")
    r = ktui("launch", str(f), "--dry-run", "-o", "table")
    assert r.returncode == 2 and "sweep has 20,000 trials, more than the limit of 10,000 (raise it with --max-trials)" in r.stderr
    r = ktui("launch", str(f), "--dry-run", "-o", "table", "--max-trials", "20000")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 20_001


def test_version_and_help():
    assert ktui("--version").stdout.strip().startswith("ktui ")
    h = ktui("--help").stdout
    assert "launch" in h
    assert "--dry-run" in ktui("launch", "--help").stdout


def test_trailing_args_refused_where_meaningless():
    r = ktui("--", "x")
    assert r.returncode == 2


INDEXED = """\
name: ix
image: python:3.11-slim
mode: indexed
args: ["--lr={lr}"]
parameters: {grid: {lr: [0.1, 0.2, 0.3]}}
"""


def test_indexed_dry_run_prints_the_configmaps_then_the_job(tmp_path):
    f = tmp_path / "ix.yaml"
    f.write_text(INDEXED)
    r = ktui("launch", str(f), "--dry-run")
    assert r.returncode == 0, r.stderr
    docs = list(yaml.safe_load_all(r.stdout))
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [("ConfigMap", "ix-params-0"), ("Job", "ix")]
    assert docs[1]["spec"]["completions"] == 3
    assert "ktui: note: mode: indexed: one Indexed Job ix runs the 3 trials, 3 at a time" in r.stderr
    # This machine runs each trial as its own process: one Job per trial, as mode: jobs.
    r = ktui("launch", str(f), "--dry-run", "--local", "-o", "json", env={"XDG_STATE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    assert [i["metadata"]["name"] for i in json.loads(r.stdout)["items"]] == ["ix-000", "ix-001", "ix-002"]
    assert "mode: indexed runs each trial as its own process on this machine" in r.stderr


def test_indexed_trial_over_a_configmap_is_refused(tmp_path):
    f = tmp_path / "big.json"
    f.write_text(json.dumps({"name": "big", "image": "i", "mode": "indexed", "args": ["{x}", "{x}", "{x}"],
                             "parameters": {"list": [{"x": "y" * 400_000}]}}))
    r = ktui("launch", str(f), "--dry-run")
    assert r.returncode == 2 and r.stdout == ""
    assert "ktui: trial 0 (big-000): its command line, environment and parameters take" in r.stderr
    assert "nothing was created" in r.stderr
