from __future__ import annotations

from ktui.cluster.format import human_duration, render_table, short_params, trial_row
from ktui.cluster.join import build_trial

from .helpers import job


def test_human_duration():
    cases = {None: "-", 0: "0s", 45: "45s", 119: "119s", 192: "3m12s", 3900: "65m",
             3 * 3600 + 300: "3h5m", 30 * 3600: "30h", 3 * 86400 + 4 * 3600: "3d4h",
             20 * 86400: "20d", 800 * 86400: "2y70d", 9 * 365 * 86400: "9y", -30: "0s"}
    assert {k: human_duration(k) for k in cases} == cases


def test_short_params():
    assert short_params({"lr": 0.001, "opt": "adam", "layers": [1, 2]}) == "lr=0.001 opt=adam layers=[1,2]"
    assert short_params({"x": "y" * 100}, 10) == "x=yyyyyyy…"


def test_trial_row_and_table():
    t = build_trial(job("sw-003", sweep="sw", trial=3, params='{"lr": 0.1}', created=100.0,
                        started=110.0, completed=170.0, outcome="Complete"), [])
    row = trial_row(t, now=400.0, namespace=True)
    assert row == ["default", "sw-003", "sw", "3", "Succeeded", "-", "60s", "5m", "0", "-", "-", "-", "lr=0.1"]
    assert trial_row(t, now=400.0, metrics={"epoch": 3.0, "loss": 0.25})[10] == "loss=0.25 epoch=3"
    lines, widths = render_table(["A", "BB"], [["xxx", "y"]])
    assert lines == ["A     BB", "xxx   y"] and widths == [3, 2]


def test_a_distributed_trial_shows_its_pods_only_while_they_matter():
    running = build_trial(job("d-000", kind="PyTorchJob", replicas=4, active=3, ready=3), [], pods_known=False)
    done = build_trial(job("d-001", kind="PyTorchJob", replicas=4, outcome="Complete", completed=1100.0), [])
    assert trial_row(running, now=2000.0)[3] == "Running 3/4"
    assert trial_row(done, now=2000.0)[3] == "Succeeded"



def test_a_job_kueue_holds_is_pending_even_before_its_workload_says_why():
    from ktui.cluster.model import QueueInfo

    held = job("q-000", suspended=True)
    admitted = QueueInfo(workload="job-q-000-abcde", local_queue="user-queue", state="Admitted")
    t = build_trial(held, [], queue=admitted)
    assert (t.phase, t.reason) == ("Pending", "held by Kueue in user-queue")
    # Not Kueue's: a suspended Job stays Suspended.
    assert build_trial(held, []).phase == "Suspended"
