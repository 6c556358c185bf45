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


def test_results_and_job_metrics_on_this_machine(tmp_path, monkeypatch, capsys):
    import json

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    b = LocalBackend(tmp_path, state_dir=tmp_path / "ktui", cpus=2, poll_interval=0.05)
    b.start()
    try:
        ms = [job(f"m-{i:03d}", f"print('epoch=1 loss=0.{9 - i}'); print('epoch=2 loss=0.{5 - i}')", sweep="m")
              for i in range(2)]
        for i, m in enumerate(ms):
            m["metadata"]["annotations"]["ktui.dev/params"] = json.dumps({"lr": [0.1, 0.01][i]})
            m["metadata"]["annotations"]["ktui.dev/metric"] = json.dumps({"name": "loss", "goal": "minimize"})
        b.submit(ms)
        wait_for(lambda: {t.phase for t in b.store.snapshot_trials().values()} == {"Succeeded"}, 30, "both done")
    finally:
        b.stop()
    assert main(["results", "m", "--local"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:6] == ["TRIAL", "LR", "PHASE", "DURATION", "LOSS", "BEST"]
    assert [ln.split()[0] for ln in lines[1:]] == ["m-001", "m-000"]  # lower loss first
    assert main(["jobs", "--local", "--sweep", "m", "-o", "json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["m-000"]["metric"] == 0.5 and rows["m-001"]["metrics"] == {"epoch": 2.0, "loss": 0.4}
