"""`kind: PyTorchJob` on this machine: each trial runs as one process, its master (rank 0 of
one node), with the training operator's env pointing at this machine and a free port."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ktui.sweep import Overrides, load_sweep, render_trials

from .conftest import NS, wait_phase

SPEC = """\
name: ddp
kind: PyTorchJob
workers: 3
nprocPerNode: 2
command: [{python}, -c, "import json, os; print(json.dumps(dict((k, os.environ.get(k)) for k in
  ('MASTER_ADDR', 'MASTER_PORT', 'WORLD_SIZE', 'RANK', 'PET_NNODES', 'KTUI_TRIAL', 'KTUI_PARAM_LR'))))"]
args: []
retries: 1
parameters:
  list: [{{lr: 0.1}}, {{lr: 0.2}}]
"""


def test_a_pytorchjob_trial_runs_here_as_its_master_with_a_free_port(make_backend, tmp_path: Path) -> None:
    path = tmp_path / "ddp.yaml"
    path.write_text(SPEC.format(python=json.dumps(sys.executable)))
    sweep = load_sweep(path, Overrides(image_required=False))
    b = make_backend()
    res = b.submit(list(render_trials(sweep, NS)))
    assert len(res.created) == 2 and not res.failed
    envs = []
    for name in ("ddp-000", "ddp-001"):
        wait_phase(b, name, "Succeeded")
        (line,) = [ln.text for ln in b.stream_logs((NS, name), follow=False)]
        envs.append(json.loads(line))
    for i, env in enumerate(envs):
        assert env["MASTER_ADDR"] == "127.0.0.1" and env["RANK"] == "0" and env["PET_NNODES"] == "1"
        assert env["WORLD_SIZE"] == "2" and env["MASTER_PORT"].isdigit() and int(env["MASTER_PORT"]) > 0
        assert env["KTUI_TRIAL"] == str(i)
    assert [e["KTUI_PARAM_LR"] for e in envs] == ["0.1", "0.2"]
    assert list(b.stream_logs((NS, "ddp-000"), follow=False, replica="master"))
    with pytest.raises(LookupError, match="one process"):
        b.stream_logs((NS, "ddp-000"), follow=False, replica="worker-0")
    # Relaunching the same sweep here finds the same trials.
    again = b.submit(list(render_trials(sweep, NS)))
    assert set(again.existing) == {"default/ddp-000", "default/ddp-001"} and not again.created
