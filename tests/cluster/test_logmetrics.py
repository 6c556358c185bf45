"""Metrics read from trial logs on demand, over real HTTP against the simulator."""

from __future__ import annotations

from ktui.cluster.logmetrics import LogMetrics

from .conftest import eventually, job_manifest


def test_finished_trials_are_read_once_and_running_ones_followed(sim, backend_factory):
    sim.create(job_manifest("done", sweep="s", log="epoch=1 loss=0.9\nepoch=2 loss=0.5 accuracy=0.91\nbye\n",
                            duration=0.2))
    sim.create(job_manifest("live", sweep="s", trial=1, duration=30))
    sim.create(job_manifest("unwanted", sweep="s", trial=2, log="loss=0.1\n", duration=0.2))
    b = backend_factory(sim.kubeconfig)
    b.start()
    eventually(lambda: (t := b.store.get_trial(("default", "done"))) is not None and t.phase == "Succeeded", timeout=15)
    lm = LogMetrics(b, poll_seconds=0.05)
    lm.start()
    try:
        lm.want([("default", "done"), ("default", "live")])
        eventually(lambda: ("default", "done") in lm.changes_since(0)[1], timeout=10)
        v, got = lm.changes_since(0)
        assert got[("default", "done")] == {"epoch": 2.0, "loss": 0.5, "accuracy": 0.91}
        # The running trial's values move while it runs.
        eventually(lambda: ("default", "live") in lm.changes_since(0)[1], timeout=10)
        first = lm.changes_since(0)[1][("default", "live")]["epoch"]
        eventually(lambda: lm.changes_since(0)[1][("default", "live")]["epoch"] > first, timeout=10)
        # Only changes after a version are returned; nobody asked for "unwanted".
        eventually(lambda: lm.changes_since(v)[0] > v, timeout=5)
        v2, later = lm.changes_since(v)
        assert ("default", "done") not in later and ("default", "live") in later
        assert ("default", "unwanted") not in lm.changes_since(0)[1]
    finally:
        lm.stop()


def test_a_hold_starts_no_read_until_it_ends():
    # The user opened a log: background reads wait, so that log's request goes first.
    import time

    from tests.ui.fakes import demo_backend

    b = demo_backend()
    b.start()
    key = ("default", "mnist-001")
    lm = LogMetrics(b, poll_seconds=0.02)
    lm.hold(60.0)
    lm.start()
    try:
        lm.want([key])
        time.sleep(0.3)
        assert lm.changes_since(0)[1] == {}  # held: nothing read
        lm._hold_until = 0.0  # the hold ends
        eventually(lambda: key in lm.changes_since(0)[1], timeout=5)
    finally:
        lm.stop()


def test_a_follow_opened_while_stopping_is_closed_not_left_running():
    # stop() closes the streams it finds; one opened at that moment must not be missed
    # (it followed a stopped server, and the process could not exit until it gave up).
    import threading

    from ktui.cluster.model import Trial

    class Stream:
        def __init__(self) -> None:
            self.closed = threading.Event()

        def batches(self):  # type: ignore[no-untyped-def]
            self.closed.wait(30)  # a follow: blocks until closed
            return iter(())

        def close(self) -> None:
            self.closed.set()

    stream = Stream()

    class Backend:
        store = None

        def stream_logs(self, key, follow, tail):  # type: ignore[no-untyped-def]
            lm.stop()  # the app stops while this stream is being opened
            return stream

    lm = LogMetrics(Backend())  # type: ignore[arg-type]
    t = Trial("default", "j", "u", None, None, None, "Running", "p", "Running", None, None, None, None, 0, None, None)
    done = threading.Event()
    threading.Thread(target=lambda: (lm._read(("default", "j"), t, None, True), done.set()), daemon=True).start()  # type: ignore[arg-type]
    assert done.wait(5), "the read kept following after stop()"
    assert stream.closed.is_set()


def test_a_finished_trial_is_kept_in_the_cache_and_read_from_it_after_its_pod_is_gone(sim, backend_factory):
    from ktui.cluster.resultcache import ResultCache

    sim.create(job_manifest("kept", sweep="s", log="step=1 loss=0.9\nstep=2 loss=0.4\n", duration=0.2))
    b = backend_factory(sim.kubeconfig)
    b.start()
    key = ("default", "kept")
    eventually(lambda: (t := b.store.get_trial(key)) is not None and t.phase == "Succeeded", timeout=15)
    uid = b.store.get_trial(key).uid
    lm = LogMetrics(b, poll_seconds=0.05, cache=ResultCache())
    lm.start()
    try:
        lm.want([key])
        eventually(lambda: ResultCache().get(uid) is not None, timeout=10)
        assert lm.history(key)["loss"] == [(1.0, 0.9), (2.0, 0.4)]
    finally:
        lm.stop()
    pod = next(p for p in sim.objects("pods") if p["metadata"]["name"].startswith("kept-"))
    sim.delete("pods", "default", pod["metadata"]["name"])
    eventually(lambda: b.store.get_trial(key).pod is None, timeout=10)
    again = LogMetrics(b, poll_seconds=0.05, cache=ResultCache())  # a ktui opened later
    again.start()
    try:
        again.want([key])
        eventually(lambda: key in again.changes_since(0)[1], timeout=10)
        assert again.changes_since(0)[1][key] == {"step": 2.0, "loss": 0.4}
        assert again.history(key)["loss"] == [(1.0, 0.9), (2.0, 0.4)]
    finally:
        again.stop()


def test_reading_a_log_again_does_not_count_its_lines_twice():
    # A running trial's follow that ends (a restart, a cut stream) is read again from the
    # start: its history holds each line once.
    import time

    from tests.ui.fakes import demo_backend

    b = demo_backend()  # mnist-001 runs; its stream ends after its 9 lines
    b.start()
    key = ("default", "mnist-001")
    lm = LogMetrics(b, poll_seconds=0.02)
    lm.start()
    try:
        lm.want([key])
        eventually(lambda: len(lm.history(key).get("loss", ())) == 9, timeout=5)
        time.sleep(0.5)  # several more reads of the same log
        assert [s for s, _ in lm.history(key)["loss"]] == [float(i) for i in range(1, 10)]
    finally:
        lm.stop()
