"""`ktui logs|cancel|rerun --local`: the same commands, through the same Backend path as on a cluster."""

from __future__ import annotations

from ktui.cli import main
from ktui.cluster.local.backend import LocalBackend
from tests.local.conftest import job, wait_for


def test_logs_rerun_and_cancel_on_this_machine(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    monkeypatch.setenv("KTUI_RUNNER_IDLE_EXIT", "0.3")
    b = LocalBackend(tmp_path, state_dir=tmp_path / "ktui", cpus=2, poll_interval=0.05)
    b.start()
    try:
        b.submit([job("s-000", "print('fine')", sweep="s"), job("s-001", "print('bad'); raise SystemExit(4)", sweep="s")])
        wait_for(lambda: {t.phase for t in b.store.snapshot_trials().values()} == {"Succeeded", "Failed"}, 30,
                 "one trial ok, one failed")
    finally:
        b.stop()
    assert main(["logs", "s-001", "--local"]) == 0
    assert capsys.readouterr().out == "bad\n"
    assert main(["logs", "nope", "--local"]) == 1
    assert "no job or pod named nope in namespace default on this machine" in capsys.readouterr().err
    assert main(["rerun", "s", "--failed", "--local"]) == 0
    assert capsys.readouterr().out.strip() == "reran 1 job"
    assert main(["cancel", "s", "--local"]) == 1  # no terminal to confirm on
    assert "--yes" in capsys.readouterr().err
    assert main(["cancel", "s", "--yes", "--local"]) == 0
    assert capsys.readouterr().out.strip() == "deleted 2 jobs"
    assert main(["cancel", "s", "--yes", "--local"]) == 1
    assert "no sweep or job named s in namespace default on this machine" in capsys.readouterr().err
