"""`ktui diff A B` compares any two trials, whatever runs them: one index of an indexed sweep's
Job (its parameters and command line from the Job's ConfigMaps), a Job of its own, a
PyTorchJob's master, a TrainJob's trainer. Over HTTP against the simulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ktui.cli import main
from ktui.cluster.trialview import completion_index, parse_fragment
from ktui.sim.testing import Sim, running_sim
from ktui.sweep.indexed import trial_script

from .conftest import SPEED

SPEC = """\
name: {name}
image: python:3.11-slim
{extra}
args: ["--lr={{lr}}"]
env: {{DATA: /data/x y}}
parameters:
  grid: {{lr: [0.1, 0.001]}}
"""


@pytest.fixture
def csim() -> Iterator[Sim]:
    with running_sim(nodes=4, gpus_per_node=8, speed=SPEED, kubeflow=True, trainer=True) as s:
        yield s


def diff(capsys: Any, sim: Sim, a: str, b: str) -> list[str]:
    capsys.readouterr()
    assert main(["diff", a, b, "--kubeconfig", str(sim.kubeconfig)]) == 0
    return capsys.readouterr().out.splitlines()


def test_diff_of_indexed_distributed_and_plain_trials(csim: Sim, tmp_path: Path, capsys: Any,
                                                       monkeypatch: Any) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    for name, extra in (("ix", "mode: indexed"), ("jb", ""), ("pt", "kind: PyTorchJob\nworkers: 2"),
                        ("tj", "kind: TrainJob\nworkers: 1")):
        f = tmp_path / f"{name}.yaml"
        f.write_text(SPEC.format(name=name, extra=extra))
        assert main(["launch", str(f), "--kubeconfig", str(csim.kubeconfig)]) == 0
    assert diff(capsys, csim, "ix-000", "ix-001") == [
        "ix-000 -> ix-001",
        "parameters:",
        "  lr: 0.1 -> 0.001",
        "settings:",
        "  command line: python train.py --lr=0.1 -> python train.py --lr=0.001",
    ]
    # The same trial in the other mode: the same parameters, command line and environment.
    out = diff(capsys, csim, "ix-001", "jb-001")
    assert "parameters:" not in out and not any("command line" in ln or "env." in ln for ln in out)
    assert "  mode: indexed -> jobs" in out
    out = diff(capsys, csim, "pt-000", "ix-001")
    assert out[:3] == ["pt-000 -> ix-001", "parameters:", "  lr: 0.1 -> 0.001"]
    assert "  kind: PyTorchJob -> (none)" in out
    out = diff(capsys, csim, "tj-001", "pt-000")
    assert out[:3] == ["tj-001 -> pt-000", "parameters:", "  lr: 0.001 -> 0.1"]
    assert "  kind: TrainJob -> PyTorchJob" in out


def test_a_rerun_jobs_index_is_the_trial_it_runs() -> None:
    job = {"metadata": {"annotations": {"ktui.dev/indexes": "3,17"}}, "spec": {"completions": 2}}
    assert [completion_index(job, t) for t in (3, 17, 4)] == [0, 1, None]
    assert completion_index({"spec": {"completions": 5}}, 4) == 4


def test_a_fragment_reads_back_as_written() -> None:
    argv = ["python", "train.py", "--name=it's \"here\"", "$HOME", ""]
    env = [("A", "x y"), ("B", "'q'")]
    assert parse_fragment(trial_script(argv, env)) == (argv, env)
