"""Submit, cancel and rerun against the simulator."""

from __future__ import annotations

import threading

from ktui.cluster.kube.actions import Actions
from ktui.cluster.kube.config import load
from ktui.cluster.kube.transport import Transport

from .conftest import assert_converged, eventually, job_manifest


def _actions(sim, **kw) -> Actions:
    cfg = load(str(sim.kubeconfig))
    opts = dict(backoff_base=0.05, backoff_cap=0.3)
    opts.update(kw)
    return Actions(Transport(cfg.api_client), cfg.namespace, **opts)


def _jobs(sim) -> dict[str, dict]:
    return {j["metadata"]["name"]: j for j in sim.objects("jobs")}


def test_submit_then_relaunch_creates_only_the_missing(sim):
    manifests = [job_manifest(f"sw-{i:03d}", sweep="sw", trial=i, duration=5) for i in range(20)]
    progress = []
    first = _actions(sim).submit(manifests[:8], progress.append)
    assert len(first.created) == 8 and first.ok
    assert progress[-1].done == 8 and progress[-1].created == 8
    again = _actions(sim).submit(manifests)
    assert (len(again.created), len(again.existing), len(again.failed)) == (12, 8, 0)
    assert sorted(_jobs(sim)) == [f"sw-{i:03d}" for i in range(20)]


def test_killed_submit_then_relaunch(sim):
    manifests = [job_manifest(f"k-{i:03d}", sweep="k", trial=i, duration=5) for i in range(30)]
    sim.faults.set_latency(0.05)
    actions = _actions(sim, concurrency=4)
    done = threading.Event()
    t = threading.Thread(target=lambda: (actions.submit(manifests), done.set()))
    t.start()
    eventually(lambda: len(sim.objects("jobs")) >= 5, timeout=10)
    actions.stop.set()  # what Ctrl-C does
    t.join(10)
    partial = len(sim.objects("jobs"))
    assert 5 <= partial < 30
    sim.faults.clear()
    result = _actions(sim).submit(manifests)
    assert len(result.created) == 30 - partial and len(result.existing) == partial and result.ok
    assert sorted(_jobs(sim)) == [f"k-{i:03d}" for i in range(30)]


def test_submit_through_errors_and_throttling(sim):
    manifests = [job_manifest(f"e-{i:03d}", sweep="e", trial=i, duration=5) for i in range(15)]
    sim.faults.set_error_rate(share=0.3, status=500)
    r1 = _actions(sim).submit(manifests[:8])
    sim.faults.set_error_rate(share=0.3, status=429, retry_after=1)
    r2 = _actions(sim).submit(manifests[8:])
    sim.faults.clear()
    assert r1.ok and r2.ok
    assert len(r1.created) + len(r1.existing) == 8 and len(r2.created) + len(r2.existing) == 7
    assert sorted(_jobs(sim)) == [f"e-{i:03d}" for i in range(15)]


def test_conflict_with_another_sweep_and_bad_manifest(sim):
    sim.create(job_manifest("taken", sweep="other"))
    bad = job_manifest("Bad_Name", sweep="mine")
    result = _actions(sim).submit([job_manifest("taken", sweep="mine"), bad, job_manifest("fine", sweep="mine")])
    assert result.created == ("default/fine",)
    msgs = {f.name: f.message for f in result.failed}
    assert "conflict" in msgs["default/taken"] and "other" in msgs["default/taken"]
    assert "default/Bad_Name" in msgs and "Invalid" in msgs["default/Bad_Name"]
    assert _jobs(sim)["taken"]["metadata"]["labels"]["ktui.dev/sweep"] == "other"


def test_cancel_job_and_sweep(sim, backend_factory):
    for i in range(4):
        sim.create(job_manifest(f"c-{i}", sweep="c", trial=i, duration=30))
    sim.create(job_manifest("keep", sweep="k", duration=30))
    b = backend_factory(sim.kubeconfig)
    b.start()
    assert b.store.wait_synced(("jobs",), 10)
    r = b.cancel([("default", "c-0")])
    assert r.done == ("default/c-0",) and r.ok
    r = b.cancel(sweep="c")
    assert sorted(r.done) == ["default/c-1", "default/c-2", "default/c-3"]
    eventually(lambda: set(_jobs(sim)) == {"keep"}, timeout=10)
    assert_converged(sim, b, ("jobs",))
    assert [t.name for t in b.store.snapshot_trials().values()] == ["keep"]
    # Cancelling what is already gone is not an error.
    assert b.cancel([("default", "c-0")]).ok


def test_rerun_failed_trials(sim, backend_factory):
    sim.create(job_manifest("r-0", sweep="r", trial=0, duration=0.2))
    sim.create(job_manifest("r-1", sweep="r", trial=1, duration=0.2, exit_code=2))
    sim.create(job_manifest("r-2", sweep="r", trial=2, duration=0.2, exit_code=1))
    b = backend_factory(sim.kubeconfig)
    b.start()
    eventually(lambda: sorted(t.phase for t in b.store.trials_of_sweep("r"))
               == ["Failed", "Failed", "Succeeded"], timeout=15)
    before = {n: j["metadata"]["uid"] for n, j in _jobs(sim).items()}
    r = b.rerun("r", failed_only=True)
    assert sorted(r.done) == ["default/r-1", "default/r-2"] and r.ok
    after = _jobs(sim)
    assert after["r-0"]["metadata"]["uid"] == before["r-0"]
    for n in ("r-1", "r-2"):
        j = after[n]
        assert j["metadata"]["uid"] != before[n]
        assert j["metadata"]["labels"]["ktui.dev/sweep"] == "r"
        assert j["metadata"]["annotations"]["ktui.dev/params"]
        sel = j["spec"]["selector"]["matchLabels"]
        assert before[n] not in str(sel)
    # The new incarnations run (and fail again, as scripted); old pods do not confuse the join.
    eventually(lambda: all(t.uid != before[t.name] and t.phase == "Failed"
                           for t in b.store.trials_of_sweep("r") if t.name != "r-0"), timeout=15)
    assert_converged(sim, b, ("jobs", "pods"))  # (waits until the store equals the server)
