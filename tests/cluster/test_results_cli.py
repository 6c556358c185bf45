"""`ktui results` and the metrics of `ktui jobs`, against the simulator over real HTTP:
each trial's log holds what a framework prints; results survive the Job's deletion."""

from __future__ import annotations

import json

from ktui.cli import main
from ktui.cluster.resultcache import ResultCache
from ktui.wire.names import METRIC_ANNOTATION

from .conftest import eventually, job_manifest

LOGS = {
    # Keras: an epoch header, then the epoch's summary line
    0: "Epoch 1/2\n938/938 [====] - 3s - loss: 0.40 - acc: 0.81\nEpoch 2/2\n938/938 [====] - 3s - loss: 0.30 - acc: 0.86\n",
    # Hugging Face Trainer dicts
    1: "{'loss': 0.35, 'acc': 0.90, 'epoch': 1.0}\n{'loss': 0.25, 'acc': 0.88, 'epoch': 2.0}\n",
    # key=value, and a line that is not a metric
    2: "Using device: cuda:0\nepoch=1 loss=0.5 acc=0.70\nepoch=2 loss=0.45 acc=0.75\n",
}


def _trials(sim) -> None:
    for i, log in LOGS.items():
        m = job_manifest(f"r-{i:03d}", sweep="r", trial=i, duration=0.2, log=log,
                         params={"lr": [0.1, 0.01, 0.001][i], "batch": 64})
        m["metadata"]["annotations"][METRIC_ANNOTATION] = json.dumps({"name": "acc", "goal": "maximize"})
        sim.create(m)
    eventually(lambda: sum(1 for j in sim.objects("jobs") if (j.get("status") or {}).get("succeeded")) == 3,
               timeout=20)


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_results_rank_every_trial_by_the_sweeps_metric(sim, capsys):
    _trials(sim)
    kc = str(sim.kubeconfig)
    rc, out, err = _run(capsys, "results", "r", "--kubeconfig", kc)
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["TRIAL", "LR", "PHASE", "DURATION", "ACC", "BEST", "LOSS", "EPOCH"]  # most reported first
    # best acc first: r-001 (0.90 at epoch 1), r-000 (0.86), r-002 (0.75); only lr varies
    assert [ln.split()[0] for ln in lines[1:]] == ["r-001", "r-000", "r-002"]
    assert lines[1].split()[4:6] == ["0.88", "0.9"]  # last, best
    assert "cuda" not in out

    rc, out, err = _run(capsys, "results", "r", "--kubeconfig", kc, "-o", "json")
    rows = json.loads(out)
    assert rows[0]["trial"] == "r-001" and rows[0]["params"] == {"lr": 0.01}
    assert rows[0]["metrics"]["acc"] == {"last": 0.88, "best": 0.9}
    assert rows[0]["metrics"]["loss"] == {"last": 0.25, "best": 0.25}  # loss: lower is better

    rc, out, err = _run(capsys, "results", "r", "--kubeconfig", kc, "-o", "csv", "--sort", "loss")
    header, *body = out.splitlines()
    assert header.split(",")[:4] == ["trial", "lr", "phase", "duration_s"]
    assert [b.split(",")[0] for b in body] == ["r-001", "r-000", "r-002"]

    rc, out, err = _run(capsys, "jobs", "--kubeconfig", kc, "--sweep", "r", "-o", "json")
    by_name = {r["name"]: r for r in json.loads(out)}
    assert by_name["r-002"]["metric"] == 0.75
    assert by_name["r-002"]["metrics"] == {"epoch": 2.0, "loss": 0.45, "acc": 0.75}
    rc, out, err = _run(capsys, "jobs", "--kubeconfig", kc, "--sweep", "r")
    assert "METRIC" in out.splitlines()[0] and " 0.75 " in out


def test_results_outlive_the_job_through_the_cache(sim, capsys):
    _trials(sim)
    kc = str(sim.kubeconfig)
    assert _run(capsys, "results", "r", "--kubeconfig", kc)[0] == 0  # read once, kept
    assert {r.name for r in ResultCache().of_sweep("default", "r")} == {"r-000", "r-001", "r-002"}
    # r-000's pod is gone (its log cannot be read), r-001's Job too (a TTL, a cancel)
    pod = next(p for p in sim.objects("pods") if p["metadata"]["name"].startswith("r-000-"))
    sim.delete("pods", "default", pod["metadata"]["name"])
    sim.delete("jobs", "default", "r-001")
    eventually(lambda: not any(j["metadata"]["name"] == "r-001" for j in sim.objects("jobs")), timeout=10)
    rc, out, err = _run(capsys, "results", "r", "--kubeconfig", kc)
    assert rc == 0, err
    rows = {ln.split()[0]: ln for ln in out.splitlines()[1:]}
    assert set(rows) == {"r-001", "r-000", "r-002"}
    assert "(gone)" in rows["r-001"] and "0.9" in rows["r-001"]
    assert "0.86" in rows["r-000"]  # from the cache: its log is gone


def test_results_of_an_unknown_sweep_is_one_line(sim, capsys):
    rc, out, err = _run(capsys, "results", "nope", "--kubeconfig", str(sim.kubeconfig))
    assert rc == 1 and err.strip() == "ktui: no sweep nope in namespace default"


def test_logs_that_cannot_be_read_are_said_once_and_the_trials_still_listed(sim, capsys):
    _trials(sim)
    sim.deny("viewer", "get", "pods/log")
    kc = sim.kubeconfig_for("viewer", namespace="default")
    rc, out, err = _run(capsys, "results", "r", "--kubeconfig", str(kc))
    assert rc == 0
    assert sorted(ln.split()[0] for ln in out.splitlines()[1:]) == ["r-000", "r-001", "r-002"]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ktui: warning: could not read the logs of 3 trials")
    assert "Forbidden" in lines[0]
