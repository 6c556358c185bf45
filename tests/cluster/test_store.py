"""The store's join, incremental accounting and change feed, with hand-made records."""

from __future__ import annotations

import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from ktui.cluster.join import build_trial, owned_pods
from ktui.cluster.model import Problem
from ktui.cluster.store import Store

from .helpers import event, job, node, pod


def synced_store() -> Store:
    s = Store()
    s.mark_synced("pods")
    return s


def test_trial_join_phase_and_node():
    s = synced_store()
    s.apply("jobs", [job("j", active=1, sweep="sw", trial=2, params='{"lr": 0.1}')])
    t = s.get_trial(("default", "j"))
    assert t is not None and t.phase == "Pending" and t.pod is None
    assert (t.sweep, t.index, t.params) == ("sw", 2, {"lr": 0.1})

    s.apply("pods", [pod("j-1", node="n1", phase="Running", started=1005.0)])
    t = s.get_trial(("default", "j"))
    assert t is not None
    assert (t.phase, t.pod, t.pod_phase, t.node, t.started) == ("Running", "j-1", "Running", "n1", 1005.0)


def test_pods_of_a_recreated_job_are_not_mixed_up():
    s = synced_store()
    s.apply("jobs", [job("j", uid="new", active=1)])
    s.apply("pods", [
        pod("old-pod", job_uid="old", phase="Failed", reason="exit code 1", created=1.0),
        pod("new-pod", job_uid="new", phase="Running", node="n1", created=2.0),
    ])
    t = s.get_trial(("default", "j"))
    assert t is not None and t.pod == "new-pod" and t.retries == 0 and t.reason is None
    assert [p.name for p in s.pods_of(("default", "j"))] == ["new-pod"]


def test_failure_reasons():
    # Pods carry the specific cause; the Job condition explains the outcome.
    j = job("j", outcome="Failed", reason="BackoffLimitExceeded", message="limit", failed=2)
    pods = [pod("a", phase="Failed", reason="exit code 1", created=1.0),
            pod("b", phase="Failed", reason="OOMKilled", created=2.0)]
    t = build_trial(j, pods)
    assert (t.phase, t.reason, t.retries) == ("Failed", "OOMKilled", 2)
    assert t.message == "BackoffLimitExceeded: limit"

    # Pods already garbage-collected: the Job's own reason.
    assert build_trial(j, []).reason == "BackoffLimitExceeded"

    # A deadline kills the pods; their exit codes are not the story.
    d = job("d", outcome="Failed", reason="DeadlineExceeded", message="too long")
    assert build_trial(d, [pod("x", phase="Failed", reason="exit code 137")]).reason == "DeadlineExceeded"

    # Stuck pending: the scheduler's words.
    p = job("p", active=1)
    stuck = pod("p-1", reason="Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.")
    t = build_trial(p, [stuck])
    assert t.phase == "Pending" and t.reason is not None and t.reason.startswith("Unschedulable: 0/3")

    # No pod at all (quota...): the Job's warning event.
    t = build_trial(p, [], job_events=[event(kind="Job", obj="p", reason="FailedCreate",
                                              message='pods "p-1" is forbidden: exceeded quota')])
    assert t.reason == 'FailedCreate: pods "p-1" is forbidden: exceeded quota'

    # Succeeded and suspended trials have nothing to explain.
    assert build_trial(job("s", outcome="Complete"), []).phase == "Succeeded"
    assert build_trial(job("s", suspended=True), []).phase == "Suspended"


def test_retries_count_restarts_and_failed_pods():
    j = job("j", active=1, failed=1)
    pods = [pod("a", phase="Failed", created=1.0), pod("b", phase="Running", restarts=3, created=2.0)]
    assert build_trial(j, pods).retries == 4


def test_phase_without_pod_visibility():
    j = job("j", active=1)
    assert build_trial(j, [], pods_known=False).phase == "Running"
    assert build_trial(j, [], pods_known=True).phase == "Pending"
    s = Store()  # pods never synced (e.g. forbidden)
    s.apply("jobs", [j])
    t = s.get_trial(("default", "j"))
    assert t is not None and t.phase == "Running"


def test_params_that_are_not_an_object():
    assert build_trial(job(params="[1, 2]"), []).params == {"": "[1, 2]"}
    assert build_trial(job(params="{oops"), []).params == {"": "{oops"}


def test_node_requests_are_incremental():
    s = Store()
    s.apply("nodes", [node("n1"), node("n2")])
    s.apply("pods", [pod("a", node="n1", phase="Running", cpu_m=1000, memory=10, gpu=1),
                     pod("b", node="n1", phase="Pending", cpu_m=500, memory=5, gpu=0)])
    v = s.snapshot_nodes()["n1"]
    assert (v.requested.cpu_m, v.requested.memory, v.requested.gpu, v.pods) == (1500, 15, 1, 2)
    assert v.used is None

    s.apply("pods", [pod("a", rv="2", node="n1", phase="Succeeded", cpu_m=1000, memory=10, gpu=1)])
    assert s.snapshot_nodes()["n1"].requested.cpu_m == 500
    s.apply("pods", [pod("b", rv="2", node="n2", phase="Running", cpu_m=500, memory=5)])
    nodes = s.snapshot_nodes()
    assert nodes["n1"].pods == 0 and nodes["n1"].requested.cpu_m == 0
    assert nodes["n2"].requested.cpu_m == 500
    s.apply("pods", deletes=[("default", "b")])
    assert s.snapshot_nodes()["n2"].pods == 0


def test_pods_arriving_before_their_node():
    s = Store()
    s.apply("pods", [pod("a", node="late", phase="Running", cpu_m=300)])
    assert s.snapshot_nodes() == {}
    s.apply("nodes", [node("late")])
    assert s.snapshot_nodes()["late"].requested.cpu_m == 300


pod_ops = st.lists(
    st.tuples(
        st.sampled_from(["put", "put", "put", "del"]),
        st.integers(0, 7),  # pod index
        st.sampled_from([None, "n1", "n2", "n3"]),
        st.sampled_from(["Pending", "Running", "Succeeded", "Failed"]),
        st.integers(0, 4000),
        st.sampled_from([None, "j0", "j1", "j2"]),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(pod_ops)
def test_incremental_state_equals_a_rescan(ops):
    """Whatever the order of updates, the incremental sums and joined trials equal what a
    full rescan of the final pods gives."""
    s = synced_store()
    s.apply("nodes", [node("n1"), node("n2"), node("n3")])
    s.apply("jobs", [job("j0", active=1), job("j1", active=1), job("j2", active=1, sweep="sw")])
    final: dict[str, object] = {}
    for i, (op, idx, nd, phase, cpu, jb) in enumerate(ops):
        name = f"p{idx}"
        if op == "del":
            s.apply("pods", deletes=[("default", name)])
            final.pop(name, None)
        else:
            rec = pod(name, rv=str(i), node=nd, phase=phase, cpu_m=cpu, job=jb, created=float(idx))
            s.apply("pods", [rec])
            final[name] = rec
        if i % 7 == 0:
            s.snapshot_nodes()  # interleave reads: lazy joins must not go stale
    views = s.snapshot_nodes()
    for n in ("n1", "n2", "n3"):
        live = [p for p in final.values() if p.node == n and not p.terminated]  # type: ignore[attr-defined]
        assert views[n].requested.cpu_m == sum(p.cpu_m for p in live)  # type: ignore[attr-defined]
        assert views[n].pods == len(live)
    trials = s.snapshot_trials()
    for j in ("j0", "j1", "j2"):
        jrec = s.job(("default", j))
        assert jrec is not None
        mine = owned_pods(jrec, [p for p in final.values() if p.job == j])  # type: ignore[attr-defined]
        assert trials[("default", j)] == build_trial(jrec, mine)
    sweeps = s.sweeps()
    assert len(sweeps) == 1 and sweeps[0].total == 1


def test_change_feed():
    s = Store()
    v0 = s.version
    s.apply("jobs", [job("a"), job("b")])
    s.apply("nodes", [node("n1")])
    ch = s.changes_since(v0)
    assert ch.trials == {("default", "a"), ("default", "b")} and ch.nodes == {"n1"}
    assert not ch.removed_trials and not ch.reset and ch

    v1 = ch.version
    assert not s.changes_since(v1)  # nothing new: falsy
    s.apply("jobs", [job("a")])  # same resourceVersion: not a change
    assert s.version == v1

    s.apply("jobs", [job("a", rv="2")])  # a new resourceVersion, nothing ktui keeps changed
    assert s.version == v1
    s.apply("jobs", [job("a", rv="3", active=1)])
    s.apply("jobs", [job("a", rv="4", active=1, ready=1)])  # coalesces
    s.apply("jobs", deletes=[("default", "b")])
    ch = s.changes_since(v1)
    assert ch.trials == {("default", "a")} and ch.removed_trials == {("default", "b")}
    assert s.changes_since(ch.version).trials == frozenset()


def test_change_feed_sweeps_and_problems():
    s = Store()
    v = s.version
    s.apply("jobs", [job("a", sweep="sw")])
    ch = s.changes_since(v)
    assert ch.sweeps and not ch.problems
    assert [(x.name, x.total, x.pending) for x in s.sweeps()] == [("sw", 1, 1)]
    v = ch.version
    assert s.report_problem(Problem("forbidden", "pods", "cannot list pods: Forbidden"))
    assert not s.report_problem(Problem("forbidden", "pods", "cannot list pods: Forbidden"))
    ch = s.changes_since(v)
    assert ch.problems and not ch.sweeps
    s.clear_problem("forbidden", "pods")
    assert s.problems() == ()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.sampled_from(["a", "b"]), st.sampled_from([None, "", "s1", "s2"]),
                          st.sampled_from([None, "Complete", "Failed"]), st.booleans()), max_size=40))
def test_sweep_members_follow_every_change(ops):
    s = synced_store()
    for i, (n, ns, sweep, outcome, delete) in enumerate(ops):
        if delete:
            s.apply("jobs", deletes=[(ns, f"j{n}")])
        else:
            s.apply("jobs", [job(f"j{n}", ns=ns, rv=str(i + 2), sweep=sweep, outcome=outcome)])
        trials = s.snapshot_trials()
        for pair in [(x, y) for x in ("a", "b") for y in ("s1", "s2")]:
            want = sorted(k for k, t in trials.items() if (t.namespace, t.sweep) == pair)
            assert sorted(s.sweep_members([pair])) == want
    assert sorted(s.sweep_members([("a", "s1"), ("b", "s2")])) == sorted(
        k for k, t in s.snapshot_trials().items() if (t.namespace, t.sweep) in {("a", "s1"), ("b", "s2")})


def test_change_feed_reset_after_pruning():
    s = Store()
    v0 = s.version
    s.apply("jobs", [job("keep")])
    n = 25_000
    s.apply("jobs", [job(f"t{i}") for i in range(n)])
    s.apply("jobs", deletes=[("default", f"t{i}") for i in range(n)])
    s.snapshot_trials()  # flush prunes the tombstones
    ch = s.changes_since(v0)
    assert ch.reset
    recent = s.version
    s.apply("jobs", deletes=[("default", "keep")])
    ch = s.changes_since(recent)
    assert not ch.reset and ch.removed_trials == {("default", "keep")}


def test_retain_reconciles_after_relist():
    s = Store()
    s.apply("pods", [pod("a", node="n1", phase="Running", cpu_m=100), pod("b"), pod("c")])
    s.apply("nodes", [node("n1")])
    s.retain("pods", {("default", "b")})
    assert s.keys("pods") == {("default", "b")}
    assert s.snapshot_nodes()["n1"].requested.cpu_m == 0


def test_events_keep_only_recent_warnings():
    s = synced_store()
    s.apply("jobs", [job("j", active=1)])
    s.apply("pods", [pod("j-1")])
    s.apply("events", [event("normal", type="Normal", obj="j-1")])
    assert s.counts()["events"] == 0
    s.apply("events", [event(f"w{i}", obj="j-1", last=float(i), reason=f"R{i}") for i in range(10)])
    evs = s.events_of("default", "Pod", "j-1")
    assert sorted(e.name for e in evs) == ["w6", "w7", "w8", "w9"]
    t = s.get_trial(("default", "j"))
    assert t is not None and t.reason is not None and t.reason.startswith("R9: ")


def test_usage_and_fallback():
    from ktui.cluster.records import NodeUsage

    s = Store()
    s.apply("nodes", [node("n1")])
    s.set_usage({"n1": NodeUsage("n1", 1200, 99)})
    used = s.snapshot_nodes()["n1"].used
    assert used is not None and (used.cpu_m, used.memory) == (1200, 99)
    s.set_usage(None)
    assert s.snapshot_nodes()["n1"].used is None


def test_wait_synced_counts_blocked_kinds():
    s = Store()
    assert not s.wait_synced(["jobs", "pods"], timeout=0.01)
    s.mark_synced("jobs")
    s.report_problem(Problem("forbidden", "pods", "cannot list pods: Forbidden"))
    assert s.wait_synced(["jobs", "pods"], timeout=0.01)


def test_concurrent_writers_and_reader():
    s = synced_store()
    s.apply("nodes", [node("n1")])
    s.apply("jobs", [job(f"j{i}", active=1) for i in range(50)])
    stop = threading.Event()
    seen_versions: list[int] = []

    def reader():
        v = 0
        while not stop.is_set():
            ch = s.changes_since(v)
            assert ch.version >= v
            v = ch.version
            seen_versions.append(v)
            s.get_trials(ch.trials)

    def writer(offset: int):
        for r in range(200):
            s.apply("pods", [pod(f"p{offset}-{i}", rv=str(r), job=f"j{i}", node="n1",
                                 phase="Running", cpu_m=10) for i in range(50)])

    t = threading.Thread(target=reader)
    t.start()
    writers = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    t.join()
    assert seen_versions == sorted(seen_versions)
    assert s.snapshot_nodes()["n1"].requested.cpu_m == 3 * 50 * 10
    assert all(t.phase == "Running" for t in s.snapshot_trials().values())


def test_resync_deletes_what_the_relist_did_not_return():
    s = Store()
    s.apply("pods", [pod("a"), pod("b"), pod("c", rv="1")])
    s.apply("nodes", [node("n1"), node("n2")])
    v = s.version
    s.begin_resync("pods")
    s.begin_resync("nodes")
    s.apply("pods", [pod("c", rv="2")])  # changed
    s.apply("pods", [pod("a")])  # unchanged: no change reported
    s.apply("nodes", [node("n2")])
    assert s.keys("pods") == {("default", "a"), ("default", "b"), ("default", "c")}  # not yet
    assert s.end_resync("pods") == 1 and s.end_resync("nodes") == 1
    assert s.keys("pods") == {("default", "a"), ("default", "c")}
    assert s.keys("nodes") == {"n2"}
    assert s.record("pods", ("default", "c")).rv == "2"
    # An aborted resync deletes nothing.
    s.begin_resync("pods")
    assert s.end_resync("pods", commit=False) == 0
    assert len(s.keys("pods")) == 2
    assert s.changes_since(v).removed_nodes == {"n1"}


def test_listing_until_jobs_and_pods_are_synced_or_blocked():

    s = Store()
    assert s.listing()
    s.mark_synced("jobs")
    assert s.listing()  # pods still arriving
    s.report_problem(Problem("forbidden", "pods", "cannot list pods: Forbidden"))
    assert not s.listing()  # pods will not come: nothing to wait for
    s2 = Store()
    s2.mark_synced("jobs")
    s2.mark_synced("pods")
    assert not s2.listing()


def test_rv_only_pod_changes_mark_nothing_but_keep_the_new_rv():
    s = Store()
    s.apply("jobs", [job("a")])
    s.apply("pods", [pod("a-x", job="a", node="n1", phase="Running", cpu_m=100)])
    s.apply("nodes", [node("n1")])
    v = s.changes_since(0).version
    assert s.apply("pods", [pod("a-x", job="a", node="n1", phase="Running", cpu_m=100, rv="9")]) == 0
    assert not s.changes_since(v)
    # The stored record has the new rv: a relist that re-delivers it is not a change.
    assert s.apply("pods", [pod("a-x", job="a", node="n1", phase="Running", cpu_m=100, rv="9")]) == 0
    assert s.snapshot_nodes()["n1"].requested.cpu_m == 100  # accounted once
    assert s.apply("pods", [pod("a-x", job="a", node="n1", phase="Succeeded", cpu_m=100, rv="10")]) == 1
    assert s.changes_since(v).trials == {("default", "a")}


first_list_ops = st.lists(st.tuples(st.sampled_from(["job", "pod", "join", "read", "sync_jobs", "sync_pods"]),
                                    st.integers(0, 5), st.sampled_from(["Pending", "Running", "Succeeded", "Failed"]),
                                    st.integers(0, 2), st.sampled_from([None, "Complete", "Failed"])),
                          max_size=40)


@settings(max_examples=300)
@given(first_list_ops)
def test_trials_joined_ahead_during_a_first_list_equal_a_fresh_join(ops):
    """join_ready (run while the first lists arrive) and the narrower re-mark when pods are
    known leave every trial as a fresh join of the final records gives."""
    s = Store()
    jobs: dict[str, object] = {}
    pods: dict[str, object] = {}
    for i, (op, n, phase, active, outcome) in enumerate(ops):
        if op == "job":
            rec = job(f"j{n}", rv=str(i), active=active, outcome=outcome, sweep="sw")
            jobs[f"j{n}"] = rec
            s.apply("jobs", [rec])
        elif op == "pod":
            rec = pod(f"j{n}-p", rv=str(i), job=f"j{n}", job_uid=f"uid-j{n}", phase=phase, node="n1")
            pods[f"j{n}-p"] = rec
            s.apply("pods", [rec])
        elif op == "join":
            joined = s.join_ready(chunk=2)
            assert all(k[1] in jobs for k in joined)
        elif op == "read":
            s.snapshot_trials()  # a reader joins everything pending (a log opened, say)
        else:
            s.mark_synced(op.removeprefix("sync_"))
    s.mark_synced("jobs")
    s.mark_synced("pods")
    trials = s.snapshot_trials()
    assert set(trials) == {("default", n) for n in jobs}
    for name, jrec in jobs.items():
        mine = owned_pods(jrec, [p for p in pods.values() if p.job == name])  # type: ignore[attr-defined]
        assert trials[("default", name)] == build_trial(jrec, mine)  # type: ignore[arg-type]
    counts = {sw.name: sw.total for sw in s.sweeps()}
    assert counts == ({"sw": len(jobs)} if jobs else {})


def test_join_ready_leaves_a_trial_whose_pods_have_not_come():
    s = Store()
    s.apply("jobs", [job("a", outcome="Complete"), job("b", active=1)])
    s.apply("pods", [pod("a-1", job="a", phase="Succeeded", node="n1")])
    assert set(s.join_ready()) == {("default", "a")}  # b: joined now, it would be again
    assert s.join_ready() == {}
    s.apply("jobs", [job("c", outcome="Complete")])
    assert s.join_ready() == {}  # passed over: its pod is not in
    s.apply("pods", [pod("c-1", job="c", phase="Succeeded", node="n1")])
    assert set(s.join_ready()) == {("default", "c")}  # its pod came: marked again, joined
    # Every pod is in, and b has none. Only a Job counting active pods reads differently
    # now (a, done, is not joined again).
    s.mark_synced("pods")
    assert set(s.join_ready()) == {("default", "b")}
    assert s.get_trial(("default", "b")).phase == "Pending"  # type: ignore[union-attr]


def test_list_progress_until_synced_and_node_changes_alone():
    s = Store()
    s.note_listed("pods", 500, 150_000)
    s.note_listed("jobs", 500, None)
    assert s.list_progress() == {"pods": (500, 150_000), "jobs": (500, None)}
    s.mark_synced("jobs")
    assert s.list_progress() == {"pods": (500, 150_000)}
    s.report_problem(Problem("forbidden", "pods", "cannot list pods: Forbidden"))
    assert s.list_progress() == {}  # it will not go on: no progress to show
    v = s.version
    s.apply("jobs", [job("j", active=1)])
    s.apply("nodes", [node("n1")])
    s.apply("pods", [pod("j-1", job="j", node="n1", phase="Running", cpu_m=500)])
    ch = s.node_changes_since(v)
    assert ch is not None and ch[0] == s.version and ch[1] == {"n1"} and not ch[2]
    assert s.get_nodes(["n1"])["n1"].requested.cpu_m == 500
    assert s._dirty_trials  # the nodes were read without joining the trial


def test_joining_ahead_keeps_every_trial_in_the_change_feed():
    # Joined ahead, half the trials are in the joined index and half are not: the others
    # must not be taken for tombstones (pruned, their changes lost, the feed reset).
    from ktui.cluster import trialjoin as store_module

    s = Store()
    v0 = s.version
    n = store_module._TOMBSTONE_SLACK * 2 + 10
    s.apply("jobs", [job(f"t{i}", outcome="Complete") for i in range(n)])
    s.apply("pods", [pod(f"t{i}-p", job=f"t{i}", phase="Succeeded") for i in range(0, n, 2)])
    assert len(s.join_ready()) == len(range(0, n, 2))
    ch = s.changes_since(v0)
    assert not ch.reset and len(ch.trials) == n
