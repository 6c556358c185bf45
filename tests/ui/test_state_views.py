"""UiState's trial views: the speculative next sort, filter narrowing and the str sort keys
must give exactly what a fresh sort of every record would."""

from __future__ import annotations

import random

import msgspec
import pytest

from ktui.cluster.model import Changes, Trial
from ktui.ui.sortkeys import NONE_LAST as _NONE_LAST
from ktui.ui.sortkeys import PHASE_RANK as _PHASE_RANK
from ktui.ui.sortkeys import TRIAL_SORTS, next_column
from ktui.ui.state import UiState

PHASES = ["Pending", "Running", "Succeeded", "Failed", "Suspended", "Unknown"]


class FakeStore:
    """Just what UiState reads: trials with a change log."""

    def __init__(self) -> None:
        self.version = 1
        self.trials: dict = {}
        self.log: list = []

    def put(self, t: Trial) -> None:
        self.version += 1
        self.trials[(t.namespace, t.name)] = t
        self.log.append((self.version, (t.namespace, t.name)))

    def remove(self, key) -> None:  # type: ignore[no-untyped-def]
        self.version += 1
        self.trials.pop(key, None)
        self.log.append((self.version, key))

    def changes_since(self, version: int) -> Changes:
        keys = {k for v, k in self.log if v > version}
        return Changes(version=self.version, trials=frozenset(k for k in keys if k in self.trials),
                       removed_trials=frozenset(k for k in keys if k not in self.trials))

    def get_trials(self, keys):  # type: ignore[no-untyped-def]
        return {k: self.trials[k] for k in keys if k in self.trials}

    def snapshot_trials(self) -> dict:
        return dict(self.trials)

    def get_nodes(self, names):  # type: ignore[no-untyped-def]
        return {}

    def snapshot_nodes(self) -> dict:
        return {}

    def sweeps(self) -> list:
        return []

    def problems(self) -> tuple:
        return ()

    def list_progress(self) -> dict:
        return {}


def trial(rng: random.Random, i: int) -> Trial:
    sweep = rng.choice([None, "", "alpha", "beta", "beta-2", "gamma"])
    metric = {"name": "loss", "goal": rng.choice(["minimize", "maximize"])} if rng.random() < 0.7 else None
    return Trial(
        rng.choice(["default", "team-a", "team-b"]), f"{sweep or 'job'}-{i:04d}", f"u{i}", sweep,
        rng.choice([None, -3, -1, 0, 1, 2, 9, 10, 11, 99, 100, 5000, 123456]), '{"lr": 0.1}',
        rng.choice(PHASES), f"p{i}", "Running", rng.choice([None, "", "node-a", "node-b", "node-b2"]),
        rng.choice([None, 0.0, 1.7e9, 1.7e9 + 0.5, 1.7e9 + 86400.25, 1.6e9]), None, None,
        rng.choice([0, 0, 1, 2, 10, 4100]), rng.choice([None, "", "OOMKilled", "exit code 1", "exit code 137", "Évicted"]),
        None, metric=metric, gpu_util=rng.choice([None, None, 0.0, 2.5, 50.0, 99.75, 100.0]))


def legacy_key(state: UiState, column: str):  # type: ignore[no-untyped-def]
    """The sort keys as tuples (before they became strs): the order users know."""
    if column == "name":
        return lambda t: (t.namespace, t.name)
    if column == "phase":
        return lambda t: (_PHASE_RANK.get(t.phase, 9), t.sweep or _NONE_LAST, t.index if t.index is not None else -1, t.name)
    if column == "node":
        return lambda t: (t.node or _NONE_LAST, t.name)
    if column == "age":
        return lambda t: (-(t.created or 0.0), t.name)
    if column == "retries":
        return lambda t: (-t.retries, t.name)
    if column == "reason":
        return lambda t: (t.reason or _NONE_LAST, t.name)
    if column == "gpu":
        return lambda t: (0, t.gpu_util, t.name) if t.gpu_util is not None else (1, 0.0, t.name)
    if column == "metric":
        def metric_key(t):  # type: ignore[no-untyped-def]
            m, goal = state.metric_of(t), state.goal_of(t)
            if m is None or goal is None:
                return (1, 0.0, t.name)
            return (0, -m[1] if goal[1] == "maximize" else m[1], t.name)
        return metric_key
    return lambda t: (t.sweep or _NONE_LAST, t.namespace, t.index if t.index is not None else -1, t.name)


@pytest.mark.parametrize("column", list(TRIAL_SORTS))
def test_str_sort_keys_order_rows_as_the_tuples_did(column):
    rng = random.Random(column)
    state = UiState(FakeStore())  # type: ignore[arg-type]
    trials = [trial(rng, i) for i in range(3000)]
    trials += [msgspec.structs.replace(t, namespace="other") for t in trials[:200]]  # equal names
    for t in trials:
        if rng.random() < 0.6:
            state.metrics[(t.namespace, t.name)] = {"loss": rng.choice([0.0, -0.0, 0.5, -2.25, 1e-9, 3.0, 1e6])}
    new, old = state.trial_sort_key(column), legacy_key(state, column)
    # Stable sorts of the same input agree iff the keys order (and tie) rows alike.
    assert [t.key for t in sorted(trials, key=new)] == [t.key for t in sorted(trials, key=old)]


def expected(state: UiState, store: FakeStore) -> list:
    words = state.filter_text.lower().split()
    rows = [t for t in store.trials.values()
            if (state.sweep_filter is None or t.sweep == state.sweep_filter)
            and all(w in state._search_text(t) for w in words)]
    rows.sort(key=state.trial_sort_key(state.trial_sort))
    keys = [(t.namespace, t.name) for t in rows]
    return keys[::-1] if state.trial_reverse else keys


def start(n: int, seed: int) -> tuple[UiState, FakeStore, random.Random]:
    rng = random.Random(seed)
    store = FakeStore()
    for i in range(n):
        store.put(trial(rng, i))
    state = UiState(store)  # type: ignore[arg-type]
    assert state.poll().reset
    state.install(state.rebuild(True))
    return state, store, rng


def churn(state: UiState, store: FakeStore, rng: random.Random, n: int, metrics: bool = True) -> None:
    keys = list(store.trials)
    for _ in range(n):
        r = rng.random()
        if r < 0.15:
            store.remove(rng.choice(keys))
        elif r < 0.3:
            store.put(trial(rng, rng.randrange(10000)))  # new (or an old name again)
        else:
            t = store.trials.get(rng.choice(keys))
            if t is not None:
                store.put(msgspec.structs.replace(t, phase=rng.choice(PHASES), retries=t.retries + rng.randrange(2),
                                                  reason=rng.choice([None, "OOMKilled"]), node=rng.choice([None, "node-c"])))
    state.poll()
    if metrics:
        keys = list(store.trials)
        state.set_metrics({rng.choice(keys): {"loss": rng.uniform(-1, 1)} for _ in range(5)})


def test_speculative_next_sort_equals_a_fresh_sort_after_churn():
    state, store, rng = start(400, 1)
    for step in range(2 * len(TRIAL_SORTS)):
        if step % 3 == 1:
            state.set_filter(rng.choice(["", "beta", "oom", "team-a 00"]))
            state.refilter()
        assert state.prebuilt_wanted()
        token = state.start_prebuilt()
        view = state.build_prebuilt(token)
        churn(state, store, rng, 30)  # while it was being built: caught up on install
        assert state.install_prebuilt(token, view)
        assert not state.prebuilt_wanted()
        for _ in range(3):
            churn(state, store, rng, 20)  # kept current tick by tick
        nxt = next_column(state.trial_sort)
        assert state.sort_trials(nxt) is True  # swapped in, no rebuild
        assert state.trial_sort == nxt
        assert list(state.trials.keys) == expected(state, store)
        churn(state, store, rng, 20)
        assert list(state.trials.keys) == expected(state, store)


def test_a_tick_with_too_many_changes_leaves_the_speculative_view_to_catch_up():
    import ktui.ui.prebuilt as mod
    for via in ("key", "worker"):
        state, store, rng = start(300, 2)
        token = state.start_prebuilt()
        assert state.install_prebuilt(token, state.build_prebuilt(token))
        old, mod.MAX_CHANGES = mod.MAX_CHANGES, 10
        try:
            churn(state, store, rng, 50, metrics=False)  # one big tick: noted, not applied
            assert state.prebuilt.view is not None and state.prebuilt.dirty
            churn(state, store, rng, 5)  # small ones after it are noted too (they follow it)
        finally:
            mod.MAX_CHANGES = old
        # Not caught up while the storm may go on.
        assert not state.prebuilt_wanted()
        state.prebuilt.churn_at -= mod.CALM
        if via == "worker":  # calm: a worker catches it up, from the same view
            assert state.prebuilt_wanted()
            view = state.prebuilt.view
            token = state.start_prebuilt()
            churn(state, store, rng, 10)  # meanwhile: applied at install
            assert state.build_prebuilt(token) is view
            assert state.install_prebuilt(token, view) and not state.prebuilt_wanted()
        assert state.sort_trials(next_column(state.trial_sort)) is True  # `s` catches up what is left
        assert list(state.trials.keys) == expected(state, store)


def test_usage_bursts_leave_the_speculative_view_current_and_its_records_fresh():
    state, store, rng = start(300, 14)
    token = state.start_prebuilt()
    view = state.build_prebuilt(token)
    for t in list(store.trials.values())[:50]:  # while it is built: not a sort change
        store.put(msgspec.structs.replace(t, cpu_used=7, message="built"))
    state.poll()
    assert state.install_prebuilt(token, view)
    import ktui.ui.prebuilt as mod
    old, mod.MAX_CHANGES = mod.MAX_CHANGES, 10
    try:
        for t in list(store.trials.values()):  # every trial's usage: one burst
            store.put(msgspec.structs.replace(t, cpu_used=(t.cpu_used or 0) + 250))
        state.poll()
    finally:
        mod.MAX_CHANGES = old
    assert state.prebuilt.dirty is None and state.prebuilt.current(token)  # nothing to catch up
    assert state.sort_trials(next_column(state.trial_sort)) is True
    assert list(state.trials.keys) == expected(state, store)
    for k, t in store.trials.items():  # what the rows show is the latest record
        assert state.trials.record(k) is t


def test_a_long_storm_drops_the_speculative_view():
    state, store, rng = start(300, 9)
    token = state.start_prebuilt()
    state.install_prebuilt(token, state.build_prebuilt(token))
    import ktui.ui.prebuilt as mod
    old = mod.MAX_CHANGES, mod.STALE_MAX
    mod.MAX_CHANGES, mod.STALE_MAX = 10, 60
    try:
        for _ in range(4):
            churn(state, store, rng, 30, metrics=False)
    finally:
        mod.MAX_CHANGES, mod.STALE_MAX = old
    assert state.prebuilt.view is None and state.prebuilt.column is None
    state.prebuilt.churn_at -= mod.CALM
    assert state.prebuilt_wanted()
    assert state.sort_trials(next_column(state.trial_sort)) is False  # the caller rebuilds
    state.install(state.rebuild(False))
    assert list(state.trials.keys) == expected(state, store)


def test_a_storm_while_the_speculative_view_is_built_abandons_it():
    state, store, rng = start(300, 10)
    token = state.start_prebuilt()
    import ktui.ui.prebuilt as mod
    old = mod.MAX_CHANGES, mod.STALE_MAX
    mod.MAX_CHANGES, mod.STALE_MAX = 10, 20
    try:
        churn(state, store, rng, 8, metrics=False)  # a few changes: noted for the install
        assert state.prebuilt.current(token)
        churn(state, store, rng, 30, metrics=False)  # then too many: the build is void
    finally:
        mod.MAX_CHANGES, mod.STALE_MAX = old
    assert not state.prebuilt.current(token)
    assert not state.install_prebuilt(token, state.build_prebuilt(token))
    assert not state.prebuilt_wanted()


def test_sorting_to_the_column_being_built_ahead_lands_that_build():
    state, store, rng = start(400, 11)
    state.set_filter("beta")
    state.refilter()
    token = state.start_prebuilt()
    nxt = next_column(state.trial_sort)
    assert state.sort_trials(nxt, reverse=True) is False  # not built yet: it is awaited
    assert state.prebuilt.promoted and state.prebuilt.current(token)
    assert state.trial_sort == nxt and state.trial_reverse
    view = state.build_prebuilt(token)
    assert state.install_prebuilt(token, view)
    assert not state.prebuilt.promoted and state.trials.reverse
    assert list(state.trials.keys) == expected(state, store)
    churn(state, store, rng, 20)
    assert list(state.trials.keys) == expected(state, store)


def test_another_sort_while_a_build_is_awaited_voids_it():
    state, store, rng = start(200, 12)
    token = state.start_prebuilt()
    assert state.sort_trials(next_column(state.trial_sort)) is False and state.prebuilt.promoted
    assert state.sort_trials("name", fast=False) is False  # a rebuild is under way
    assert not state.prebuilt.promoted and not state.prebuilt.current(token)
    assert not state.install_prebuilt(token, state.build_prebuilt(token))
    state.install(state.rebuild(False))
    assert state.trial_sort == "name" and list(state.trials.keys) == expected(state, store)


def test_the_end_of_the_first_list_is_not_a_storm():
    state, store, rng = start(100, 13)
    import ktui.ui.prebuilt as mod
    old, mod.MAX_CHANGES = mod.MAX_CHANGES, 10
    try:
        churn(state, store, rng, 50, metrics=False)  # a list arriving looks like a storm
    finally:
        mod.MAX_CHANGES = old
    assert not state.prebuilt_wanted()
    state.prebuilt.end_churn()
    assert state.prebuilt_wanted()


def test_a_stale_speculative_build_is_not_installed():
    state, store, rng = start(100, 3)
    token = state.start_prebuilt()
    view = state.build_prebuilt(token)
    state.sort_trials("name")  # elsewhere: the speculation is void
    assert not state.install_prebuilt(token, view)


def test_filter_narrowing_equals_a_full_rebuild_as_rows_enter_and_leave():
    state, store, rng = start(500, 4)
    for text, sweep in [("", False), ("b", False), ("be", False), ("beta 00", False), ("be", False),
                        ("", "alpha"), ("oom", "alpha"), ("oom", None), ("exit code", False), ("", False)]:
        state.set_filter(text, sweep)
        state.refilter()
        assert list(state.trials.keys) == expected(state, store)
        for _ in range(3):
            churn(state, store, rng, 25)
            assert list(state.trials.keys) == expected(state, store)
        assert state.trials.total == len(store.trials)


def test_reversing_the_sort_is_immediate():
    state, store, rng = start(200, 5)
    state.set_filter("beta")
    state.refilter()
    assert state.sort_trials(state.trial_sort, True) is True
    assert list(state.trials.keys) == expected(state, store)
    churn(state, store, rng, 30)
    assert list(state.trials.keys) == expected(state, store)


def test_sort_to_another_column_rebuilds_and_keeps_the_filter():
    state, store, rng = start(300, 6)
    state.set_filter("oom")
    state.refilter()
    assert state.sort_trials("reason", True) is False
    state.install(state.rebuild(False))
    assert list(state.trials.keys) == expected(state, store)
    churn(state, store, rng, 40)
    assert list(state.trials.keys) == expected(state, store)


def test_a_burst_of_new_trials_is_merged_in_order():
    state, store, rng = start(100, 7)
    state.set_filter("node")  # a narrowed view too: both take the burst
    state.refilter()
    # A cluster still listing: thousands of trials the view has never seen (merged in, not
    # inserted one list-memmove at a time), with updates and removals in the same tick.
    for i in range(1000, 4000):
        store.put(trial(rng, i))
    for t in list(store.trials.values())[:50]:
        store.put(msgspec.structs.replace(t, retries=t.retries + 3, phase="Failed"))
    for k in list(store.trials)[60:90]:
        store.remove(k)
    tick = state.poll()
    assert not tick.reset and tick.trials_moved
    assert list(state.trials.keys) == expected(state, store)
    state.set_filter("")
    state.refilter()
    assert list(state.trials.keys) == expected(state, store)
    # And the incremental path after it still agrees.
    churn(state, store, rng, 40, metrics=False)
    assert list(state.trials.keys) == expected(state, store)


@pytest.mark.parametrize("reverse", [False, True])
def test_a_filter_scanned_in_steps_shows_the_top_of_the_final_view_at_once(reverse):
    state, store, rng = start(2000, 8)
    state.sort_trials(state.trial_sort, reverse)
    state.narrow_step_rows, state.narrow_budget = 97, 600.0  # rows, not time, decide here
    anchor = list(state.trials.keys)[1200]  # the cursor's row, deep down
    for text in ["beta", "a", "node-b 00", "zzz-nothing"]:
        state.set_filter(text)
        want = expected(state, store)
        state.refilter(rows=10, anchor=anchor)
        first = list(state.trials.keys)
        if state.narrowing:
            assert len(first) < len(want)
        assert first == want[:len(first)]  # exactly the top of the final view
        if anchor in want:
            assert anchor in first  # the cursor keeps its row
        assert len(first) >= min(len(want), want.index(anchor) + 1 + 10 if anchor in want else 10)
        steps = 0
        while state.narrowing:
            state.narrow_step()
            steps += 1
            shown = list(state.trials.keys)
            assert shown == want[:len(shown)]
        assert list(state.trials.keys) == want
        assert steps <= 2000 // 97 + 1


def test_changes_during_a_filter_scan_finish_it_first():
    state, store, rng = start(1500, 9)
    state.narrow_step_rows = 50
    state.set_filter("beta")
    state.refilter(rows=5)
    assert state.narrowing
    churn(state, store, rng, 40)  # poll applies changes: the scan is finished before
    assert not state.narrowing
    assert list(state.trials.keys) == expected(state, store)
    state.set_filter("a")
    state.refilter(rows=5)
    assert state.narrowing
    assert state.sort_trials(state.trial_sort, True) is True  # reversing mid-scan
    assert not state.narrowing
    assert list(state.trials.keys) == expected(state, store)
