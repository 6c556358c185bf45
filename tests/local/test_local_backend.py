"""LocalBackend with real processes: queue, GPUs, retries, OOM, re-attach, cancel, logs."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from ktui.cluster.backend import Backend
from ktui.sweep import load_sweep, render_jobs

from .conftest import NS, ROOT, job, trial, wait_for, wait_phase

# Writes "<start> <end>" (monotonic clock is per-boot, so comparable across processes) to FILE.
STAMP = ("import sys, time; a = time.monotonic(); time.sleep({secs}); "
         "open(sys.argv[1], 'w').write(f'{{a}} {{time.monotonic()}}')")


def test_is_a_backend(make_backend):
    b = make_backend(cpus=3, memory=4 * 2**30)
    assert isinstance(b, Backend)
    assert b.name == "local"
    assert b.location == "this machine (3 cpus, 4 GiB)"
    node = wait_for(lambda: b.store.snapshot_nodes())
    (view,) = node.values()
    assert view.allocatable.cpu_m == 3000 and view.allocatable.memory == 4 * 2**30 and view.ready


@pytest.mark.parametrize("cpu, overlap", [("2", False), ("1", True)])
def test_queue_admits_by_cpu(make_backend, work, cpu, overlap):
    b = make_backend(cpus=2)
    code = STAMP.format(secs=0.6)
    b.submit([job("q-000", code, cpu=cpu, args=[str(work / "a")]),
              job("q-001", code, cpu=cpu, args=[str(work / "b")])])
    if not overlap:
        wait_phase(b, "q-000", "Running")
        waiting = trial(b, "q-001")
        assert waiting.phase == "Pending" and waiting.pod is None
        assert waiting.reason.startswith("Queued: waiting for cpu: needs 2, 0 free"), waiting.reason
        assert b.store.snapshot_nodes()[b.node].requested.cpu_m == 2000
    for name in ("q-000", "q-001"):
        wait_phase(b, name, "Succeeded")
    (a0, a1), (b0, b1) = (map(float, (work / f).read_text().split()) for f in "ab")
    assert (b0 < a1) is overlap, (a0, a1, b0, b1)


def test_trial_larger_than_the_machine_is_unschedulable_and_does_not_block(make_backend):
    b = make_backend(cpus=2)
    b.submit([job("big-000", "pass", cpu="64"), job("big-001", "pass", cpu="1")])
    wait_phase(b, "big-001", "Succeeded")
    t = trial(b, "big-000")
    assert t.phase == "Pending" and t.reason.startswith("Unschedulable: needs 64 cpus"), t.reason


def test_gpus_are_assigned_exclusively(make_backend):
    b = make_backend(cpus=4, gpus=[0, 1])
    code = "import os, time; print('cuda=' + os.environ['CUDA_VISIBLE_DEVICES']); time.sleep(0.5)"
    b.submit([job("g-000", code, gpu=1), job("g-001", code, gpu=1), job("g-002", code, gpu=1),
              job("g-003", code)])
    wait_phase(b, "g-001", "Running")
    assert trial(b, "g-002").phase == "Pending"  # both GPUs taken, so it waits its turn
    assert "GPUs: needs 1, 0 free" in trial(b, "g-002").reason
    seen = {}
    for name in ("g-000", "g-001", "g-002", "g-003"):
        wait_phase(b, name, "Succeeded")
        seen[name] = [ln.text for ln in b.stream_logs((NS, name), follow=False)]
    assert {seen["g-000"][0], seen["g-001"][0]} == {"cuda=0", "cuda=1"}
    assert seen["g-002"][0] in ("cuda=0", "cuda=1")
    assert seen["g-003"] == ["cuda="]  # no GPU requested: none visible
    assert b.store.snapshot_nodes()[b.node].allocatable.gpu == 2


COUNT = "import sys; f = sys.argv[1]; open(f, 'a').write('x'); n = len(open(f).read()); "


def test_retries_up_to_backoff_limit_then_fails_with_exit_code(make_backend, work):
    b = make_backend()
    b.submit([job("r-000", COUNT + "sys.exit(3)", retries=2, args=[str(work / "n")])])
    t = wait_phase(b, "r-000", "Failed")
    assert (work / "n").read_text() == "xxx"  # 1 run + 2 retries
    assert t.reason == "exit code 3"
    assert "BackoffLimitExceeded" in t.message
    assert t.retries == 3
    assert len(b.store.pods_of((NS, "r-000"))) == 3


def test_retry_that_succeeds(make_backend, work):
    b = make_backend()
    b.submit([job("r-001", COUNT + "sys.exit(0 if n >= 2 else 1)", retries=4, args=[str(work / "n")])])
    t = wait_phase(b, "r-001", "Succeeded")
    assert (work / "n").read_text() == "xx"
    assert t.retries == 1 and t.reason is None


@pytest.mark.parametrize("limit, phase", [("200Mi", "Failed"), ("2Gi", "Succeeded")])
def test_memory_limit(make_backend, limit, phase):
    b = make_backend()
    b.submit([job("m-000", "x = bytearray(500 * 1024 * 1024); print(len(x))", mem_limit=limit)])
    t = wait_phase(b, "m-000", "Succeeded", "Failed")
    assert t.phase == phase
    if phase == "Failed":
        assert t.reason == "OOMKilled"
        assert "200.0Mi" in b.store.pods_of((NS, "m-000"))[0].message


def test_env_and_workdir(make_backend, work):
    b = make_backend()
    code = "import os; print(os.getcwd()); print(os.environ['KTUI_JOB'], os.environ['KTUI_ATTEMPT'], os.environ['MINE'])"
    b.submit([job("e-000", code, env={"MINE": "yes"})])
    wait_phase(b, "e-000", "Succeeded")
    lines = [ln.text for ln in b.stream_logs((NS, "e-000"), follow=False)]
    assert lines == [str(work), "e-000 0 yes"]


def test_reattach_to_a_running_trial_without_running_it_again(make_backend, state_dir, work):
    a = make_backend()
    code = ("import sys, time; f = sys.argv[1]; open(f, 'a').write('start\\n'); time.sleep(1.0); "
            "open(f, 'a').write('end\\n'); print('done')")
    a.submit([job("ra-000", code, args=[str(work / "runs")])])
    pod = wait_phase(a, "ra-000", "Running").pod
    a.stop()
    b = make_backend()
    assert wait_phase(b, "ra-000", "Running").pod == pod  # re-attached to the same attempt
    t = wait_phase(b, "ra-000", "Succeeded")
    time.sleep(0.3)  # a few more rounds: nothing may start it again
    assert (work / "runs").read_text() == "start\nend\n"
    assert t.pod == pod and len(b.store.pods_of((NS, "ra-000"))) == 1
    assert [ln.text for ln in b.stream_logs((NS, "ra-000"), follow=False)] == ["done"]


def test_exit_recorded_while_no_ktui_runs(make_backend, work):
    a = make_backend()
    a.submit([job("rb-000", COUNT + "import time; time.sleep(0.3); sys.exit(4)", args=[str(work / "n")])])
    wait_phase(a, "rb-000", "Running")
    a.stop()
    wait_for(lambda: list(Path(a.log_dir).rglob("exit.json")), what="exit.json")
    b = make_backend()
    t = wait_phase(b, "rb-000", "Failed")
    assert t.reason == "exit code 4"
    time.sleep(0.3)
    assert (work / "n").read_text() == "x"


def test_queued_trials_survive_a_restart(make_backend, work):
    a = make_backend(cpus=1)
    code = STAMP.format(secs=0.3)
    a.submit([job("rq-000", code, cpu="1", args=[str(work / "a")]),
              job("rq-001", code, cpu="1", args=[str(work / "b")])])
    wait_phase(a, "rq-000", "Running")
    a.stop()
    b = make_backend(cpus=1)
    wait_phase(b, "rq-001", "Succeeded")
    assert trial(b, "rq-000").phase == "Succeeded"
    (a0, a1), (b0, b1) = (map(float, (work / f).read_text().split()) for f in "ab")
    assert b0 >= a1


def test_cancel_kills_the_process_and_removes_the_trial(make_backend, work):
    b = make_backend(cpus=1)
    pidfile = work / "pid"
    b.submit([job("c-000", "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)",
                  cpu="1", args=[str(pidfile)]),
              job("c-001", "import sys; open(sys.argv[1], 'w').write('ran')", cpu="1", args=[str(work / "ran")])])
    wait_phase(b, "c-000", "Running")
    pid = int(wait_for(lambda: pidfile.exists() and pidfile.read_text()))
    res = b.cancel([(NS, "c-001")])  # queued: must never run
    assert res.done == (f"{NS}/c-001",)
    res = b.cancel(sweep="t")
    assert res.ok and res.done == (f"{NS}/c-000",)
    wait_for(lambda: trial(b, "c-000") is None and trial(b, "c-001") is None, what="trials removed")

    def dead() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "Z"

    wait_for(dead, 5, "the trial process to die")
    time.sleep(0.2)
    assert not (work / "ran").exists()
    assert not b.cancel([(NS, "nope")]).ok


def test_logs_follow_until_the_trial_ends_and_tail(make_backend):
    b = make_backend()
    code = "import time\nfor i in range(5):\n    print(f'line {i}'); time.sleep(0.1)\nprint('tail-no-newline', end='')"
    b.submit([job("l-000", code)])
    with pytest.raises(LookupError):
        b.stream_logs((NS, "nope"))
    wait_for(lambda: b.store.pods_of((NS, "l-000")), what="a pod")
    stream = b.stream_logs((NS, "l-000"), follow=True)
    lines = [ln.text for ln in stream]  # returns only once the trial has ended
    assert lines == [f"line {i}" for i in range(5)] + ["tail-no-newline"]
    assert all(ln.timestamp is None for ln in b.stream_logs((NS, "l-000"), follow=False))
    assert [ln.text for ln in b.stream_logs((NS, "l-000"), follow=False, tail=2)] == ["line 4", "tail-no-newline"]


def test_submit_is_idempotent_per_sweep_and_rerun(make_backend, work):
    b = make_backend()
    m = job("s-000", COUNT + "sys.exit(1 if n == 1 else 0)", args=[str(work / "n")])
    assert b.submit([m]).created == (f"{NS}/s-000",)
    assert b.submit([m]).existing == (f"{NS}/s-000",)
    other = job("s-000", "pass", sweep="other")
    assert not b.submit([other]).ok
    first = wait_phase(b, "s-000", "Failed")
    assert b.rerun(trials=[(NS, "s-001")]).failed  # unknown
    res = b.rerun("t")
    assert res.done == (f"{NS}/s-000",)
    t = wait_phase(b, "s-000", "Succeeded")
    assert t.uid != first.uid and t.retries == 0
    assert (work / "n").read_text() == "xx"
    assert b.rerun("t").done == ()  # nothing failed any more
    assert b.rerun(trials=[(NS, "s-000")]).failed[0].message == "not failed"


def test_describe(make_backend):
    b = make_backend()
    b.submit([job("d-000", "pass")])
    wait_phase(b, "d-000", "Succeeded")
    d = b.describe((NS, "d-000"))
    assert d.trial.name == "d-000" and d.manifest["metadata"]["name"] == "d-000"
    assert [p.phase for p in d.pods] == ["Succeeded"] and d.pods[0].node == b.node


def test_examples_sweep_runs_end_to_end(make_backend):
    sweep = load_sweep(str(ROOT / "examples" / "params.json"))
    manifests = list(render_jobs(sweep, NS))
    for m in manifests:
        m["spec"]["template"]["spec"]["containers"][0]["args"].append("epoch-seconds=0.05")
    b = make_backend(workdir=ROOT / "examples")
    progress = []
    res = b.submit(manifests, progress.append)
    assert len(res.created) == len(manifests) == 4 and progress[-1].done == 4
    for m in manifests:
        wait_phase(b, m["metadata"]["name"], "Succeeded", timeout=20)
    lines = [ln.text for ln in b.stream_logs((NS, "params-000"), follow=False)]
    assert any(ln.startswith("epoch=1 loss=") for ln in lines), lines
    assert json.loads(lines[-1])["final"] is True
    (s,) = b.store.sweeps()
    assert (s.name, s.total, s.succeeded) == ("params", 4, 4)


def test_detached_scheduler_runs_the_queue_after_ktui_exits(make_backend, state_dir, work):
    from ktui.cluster.local.daemon import ensure_scheduler

    a = make_backend(cpus=1, memory=None)
    code = STAMP.format(secs=0.2)
    a.submit([job(f"dq-00{i}", code, cpu=str(a.cpus), args=[str(work / str(i))]) for i in range(2)])
    wait_phase(a, "dq-000", "Running")
    a.stop()  # dq-001 is still queued: nobody would start it
    ensure_scheduler(state_dir)
    ensure_scheduler(state_dir)  # a second runner sees the lock and leaves
    wait_for(lambda: (work / "1").exists(), 15, "the queued trial to run")
    b = make_backend()
    wait_phase(b, "dq-001", "Succeeded")
    assert (work / "0").exists()


def test_cancel_kills_a_trial_that_ignores_sigterm_even_after_ktui_exits(make_backend, work):
    b = make_backend(kill_grace=1.0)
    pidfile = work / "pid"
    code = ("import os, signal, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)")
    b.submit([job("k-000", code, args=[str(pidfile)])])
    pid = int(wait_for(lambda: pidfile.exists() and pidfile.read_text()))
    assert b.cancel([(NS, "k-000")]).ok
    b.stop()  # nobody left to escalate but the wrapper
    time.sleep(0.5)
    os.kill(pid, 0)  # still alive: it ignores SIGTERM, within the grace period

    def dead() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "Z"

    wait_for(dead, 5, "the SIGKILL after the grace period")
