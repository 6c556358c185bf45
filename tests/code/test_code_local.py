"""`code:` on this machine: each trial runs in its own unpacked copy of the snapshot taken at
launch, so editing the code after launching changes nothing queued; the copy and the
snapshot go with the trials."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ktui.cli import main
from ktui.cluster.local import backend as local_backend
from ktui.cluster.local.backend import LocalBackend
from tests.local.conftest import wait_for

TRAIN = """\
import os, pathlib, time
gate = pathlib.Path(os.environ["GATE"])
while not gate.exists():
    time.sleep(0.02)
print(open("lib.py").read().strip(), "in", os.getcwd())
"""

SPEC = """\
name: loc
command: [{python}, train.py]
args: []
env: {{GATE: "{gate}"}}
code: .
parameters:
  grid: {{x: [1, 2]}}
"""


def test_edits_after_launch_change_nothing_queued(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("KTUI_RUNNER_IDLE_EXIT", "0.3")
    monkeypatch.setattr(local_backend, "CODE_GRACE", 0.0)
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "train.py").write_text(TRAIN)
    (proj / "lib.py").write_text("version 1\n")
    gate = tmp_path / "go"
    f = proj / "sweep.yaml"
    f.write_text(SPEC.format(python=sys.executable, gate=gate))
    rc = main(["launch", str(f), "--local"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "ktui: code: 3 files" in err and "each in its own copy of the code" in err
    (proj / "lib.py").write_text("version 2\n")  # after the launch, before the trials read it
    gate.write_text("")
    state = tmp_path / "xdg" / "ktui"
    b = LocalBackend(proj, state_dir=state, cpus=2, poll_interval=0.05)
    b.start()
    try:
        wait_for(lambda: len(b.store.snapshot_trials()) == 2
                 and {t.phase for t in b.store.snapshot_trials().values()} == {"Succeeded"}, 60, "both done")
        for name in ("loc-000", "loc-001"):
            assert main(["logs", name, "--local"]) == 0
            line = capsys.readouterr().out.strip()
            assert line.startswith("version 1 in "), line
            workspace = Path(line.split(" in ", 1)[1])
            assert state in workspace.parents and workspace.name == "workspace"
            assert (workspace / "lib.py").read_text() == "version 1\n"
        archives = list((state / "code").glob("*.tar.gz"))
        assert len(archives) == 1
        assert main(["jobs", "--local", "-o", "json"]) == 0
        rows = json.loads(capsys.readouterr().out)
        assert all(r["provenance"]["code"]["files"] == 3 for r in rows)
        assert main(["diff", "loc-000", "loc-001", "--local"]) == 0
        assert capsys.readouterr().out.splitlines()[1:] == ["parameters:", "  x: 1 -> 2"]  # the same code
        # deleting the sweep deletes the copies and, with the last trial, the snapshot
        assert main(["cancel", "loc", "--yes", "--local"]) == 0
        capsys.readouterr()
        assert not workspace.exists()
        assert list((state / "code").glob("*.tar.gz")) == []
    finally:
        b.stop()
