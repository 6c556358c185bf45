"""The median stopping rule, and its enforcement over the simulator (real HTTP)."""

from __future__ import annotations

import json

import pytest

from ktui.cluster.earlystop import Enforcer, EnforcerLoop, Policy, Verdict, describe, judge
from ktui.cluster.logmetrics import LogMetrics
from ktui.wire.names import EARLY_STOPPED_ANNOTATION, EARLY_STOPPING_ANNOTATION, METRIC_ANNOTATION

from .conftest import eventually, job_manifest

P = Policy("median", 3, 2)
GOOD = [[(s, 0.5 + 0.1 * s) for s in range(1, 6)] for _ in range(3)]  # averages at 3: 0.7


def curve(*values: float) -> list[tuple[float, float]]:
    return [(float(i + 1), v) for i, v in enumerate(values)]


def test_a_trial_worse_than_the_median_of_running_averages_is_stopped():
    v = judge(P, True, curve(0.1, 0.2, 0.3), GOOD)
    assert v == Verdict(3.0, 0.3, pytest.approx(0.7), 3, True)
    assert judge(P, True, curve(0.1, 0.2, 0.75), GOOD) is None  # its best beats the median


def test_not_before_the_start_step_nor_without_enough_peers_at_that_step():
    assert judge(P, True, curve(0.1), GOOD) is None  # step 1 < startStep 2
    short = [curve(0.9, 0.9)] * 3  # they never reached step 3
    assert judge(P, True, curve(0.1, 0.1, 0.1), short) is None
    assert judge(Policy("median", 4, 2), True, curve(0.1, 0.1, 0.1), GOOD) is None  # 3 < minTrials 4


def test_minimize_and_judged_at_every_new_step():
    losses = [[(s, 1.0 / s) for s in range(1, 11)] for _ in range(3)]  # averages: 0.75 at 2, 0.52 at 4
    running = [(1.0, 0.9), (2.0, 0.6)]
    assert judge(P, False, running, losses) is None  # best 0.6, lower than 0.75: better
    later = running + [(3.0, 0.58), (4.0, 0.55)]
    v = judge(P, False, later, losses)  # judged again at step 4: 0.55 is worse than 0.52
    assert v is not None and v.step == 4.0 and v.best == 0.55 and not v.maximize
    assert v.median == pytest.approx((1 + 0.5 + 1 / 3 + 0.25) / 4)


def test_policy_and_wording():
    assert Policy.of({"rule": "median", "minTrials": 5, "startStep": 10}) == Policy("median", 5, 10.0)
    assert Policy.of({"rule": "mean"}) is None and Policy.of(None) is None
    note = json.loads(Verdict(12, 0.71, 0.8, 5, True).to_json(at=100.0))
    assert describe(note) == "step 12: best 0.71 < median 0.8 of 5 completed trials" and note["at"] == 100.0


def test_the_enforcer_asks_once_per_trial():
    from tests.ui.fakes import FakeBackend  # trials whose phases are set by hand

    asked = []
    series = {("default", f"t-{i}"): c for i, c in enumerate([*GOOD, curve(0.1, 0.2, 0.3)])}
    enforcer = Enforcer(lambda k, m: series.get(k), lambda k, v: asked.append(k) or True)
    b = FakeBackend()
    for i in range(3):
        b.add_trial("t", i, "Succeeded")
    b.add_trial("t", 3, "Running")
    trials = []
    for t in b.store.snapshot_trials().values():
        import msgspec
        trials.append(msgspec.structs.replace(t, name=f"t-{t.index}", metric={"name": "acc"},
                                              early_stopping={"rule": "median", "minTrials": 3, "startStep": 2}))
    assert [k for k, _ in enforcer.check(trials)] == [("default", "t-3")]
    assert enforcer.check(trials) == [] and asked == [("default", "t-3")]


def _sweep(sim, running_log: str) -> None:
    ann = {METRIC_ANNOTATION: json.dumps({"name": "acc", "goal": "maximize"}),
           EARLY_STOPPING_ANNOTATION: json.dumps({"rule": "median", "minTrials": 3, "startStep": 1})}
    for i in range(3):
        m = job_manifest(f"es-{i:03d}", sweep="es", trial=i, duration=0.2,
                         log="".join(f"step={s} acc={0.5 + 0.1 * s}\n" for s in range(1, 6)))
        m["metadata"]["annotations"].update(ann)
        sim.create(m)
    m = job_manifest("es-003", sweep="es", trial=3, duration=600, log=running_log)
    m["metadata"]["annotations"].update(ann)
    sim.create(m)


def test_a_losing_trial_is_suspended_marked_and_shown_early_stopped(sim, backend_factory):
    # (the simulator spreads a scripted log over the run: the running trial has shown its
    # first line when it is judged)
    _sweep(sim, "step=1 acc=0.1\nstep=2 acc=0.2\nstep=3 acc=0.3\n")
    b = backend_factory(sim.kubeconfig)
    b.start()
    eventually(lambda: sum(1 for t in b.store.snapshot_trials().values() if t.phase == "Succeeded") == 3
               and (t := b.store.get_trial(("default", "es-003"))) is not None and t.phase == "Running", timeout=20)
    lm = LogMetrics(b, poll_seconds=0.05)
    loop = EnforcerLoop(b, lm, interval=0.1)
    lm.start()
    try:
        lm.want([("default", f"es-{i:03d}") for i in range(4)])
        loop.watch([("default", "es")])
        loop.start()
        eventually(lambda: (t := b.store.get_trial(("default", "es-003"))) is not None and t.phase == "EarlyStopped",
                   timeout=20)
    finally:
        loop.stop()
        lm.stop()
    job = next(j for j in sim.objects("jobs") if j["metadata"]["name"] == "es-003")
    assert job["spec"]["suspend"] is True
    note = json.loads(job["metadata"]["annotations"][EARLY_STOPPED_ANNOTATION])
    assert note["step"] == 1.0 and note["best"] == 0.1 and note["median"] == pytest.approx(0.6) and note["peers"] == 3
    t = b.store.get_trial(("default", "es-003"))
    assert t.reason == "EarlyStopped" and "step 1: best 0.1 < median 0.6 of 3" in t.message
    eventually(lambda: not any(p["metadata"]["name"].startswith("es-003-") for p in sim.objects("pods")), timeout=10)
    sweep = next(s for s in b.store.sweeps() if s.name == "es")
    assert (sweep.stopped, sweep.failed, sweep.succeeded) == (1, 0, 3)


def test_two_enforcers_never_both_act(sim, backend_factory):
    _sweep(sim, "step=1 acc=0.1\n")
    b = backend_factory(sim.kubeconfig)
    b.start()
    key = ("default", "es-003")
    eventually(lambda: (t := b.store.get_trial(key)) is not None and t.phase == "Running", timeout=20)
    first = b.stop_early(key, Verdict(3, 0.3, 0.7, 3, True).to_json())
    second = b.stop_early(key, Verdict(3, 0.3, 0.7, 3, True).to_json())
    assert first.done == ("default/es-003",) and not second.done
    assert second.failed[0].message == "already stopped early"


def test_ktui_supervise_stops_the_loser_and_exits_when_nothing_is_left(sim, capsys):
    from ktui.cli import main

    _sweep(sim, "step=1 acc=0.1\nstep=2 acc=0.2\n")
    eventually(lambda: sum(1 for j in sim.objects("jobs") if (j.get("status") or {}).get("succeeded")) == 3,
               timeout=20)
    rc = main(["supervise", "es", "--kubeconfig", str(sim.kubeconfig), "--interval", "0.2"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert out.strip() == "default/es-003 stopped early: step 1: best 0.1 < median 0.6 of 3 completed trials"
    assert "nothing left to run" in err
    job = next(j for j in sim.objects("jobs") if j["metadata"]["name"] == "es-003")
    assert job["spec"]["suspend"] is True and EARLY_STOPPED_ANNOTATION in job["metadata"]["annotations"]


def test_ktui_supervise_manifest_runs_it_in_the_cluster_with_the_rights_it_needs(capsys):
    import yaml

    from ktui.cli import main

    assert main(["supervise", "es", "--manifest", "-n", "ml"]) == 1
    assert "--manifest needs --image" in capsys.readouterr().err
    assert main(["supervise", "es", "--manifest", "-n", "ml", "--image", "reg/ktui:1"]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d["kind"] for d in docs] == ["ServiceAccount", "Role", "RoleBinding", "Deployment"]
    rules = {(tuple(r["apiGroups"]), tuple(r["resources"])): set(r["verbs"]) for r in docs[1]["rules"]}
    assert "patch" in rules[(("batch",), ("jobs",))] and rules[(("",), ("pods/log",))] == {"get"}
    c = docs[3]["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "reg/ktui:1" and c["command"][:3] == ["ktui", "supervise", "es"]
    assert "--keep-running" in c["command"] and docs[3]["metadata"]["namespace"] == "ml"


def test_ktui_jobs_watch_enforces_the_rule_too(sim):
    import subprocess
    import sys
    import time

    _sweep(sim, "step=1 acc=0.1\n")
    eventually(lambda: sum(1 for j in sim.objects("jobs") if (j.get("status") or {}).get("succeeded")) == 3,
               timeout=20)
    proc = subprocess.Popen([sys.executable, "-m", "ktui", "jobs", "--kubeconfig", str(sim.kubeconfig), "--watch",
                             "--sweep", "es"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("es-003") and "EarlyStopped" in line:
                break
        else:
            raise AssertionError("es-003 was not stopped by `ktui jobs --watch`")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
