"""The main screen's pacing rules, without a terminal (ktui/ui/pacing.py)."""

from __future__ import annotations

from ktui.ui.pacing import AGE_TICKS, LISTING_TICKS, PREBUILT_DELAY, SUMMARY_SECONDS, Pacer, Prebuild, Step


def test_a_first_list_is_held_back_prepared_then_rebuilt_once():
    p = Pacer()
    plans = [p.tick(now=0, narrowing=False, started=True, listing=True) for _ in range(LISTING_TICKS)]
    assert all(pl.step is Step.LISTING for pl in plans)
    assert [pl.prepare for pl in plans] == [True] + [False] * (LISTING_TICKS - 1)  # one worker at a time
    assert [pl.poll_nodes for pl in plans].count(True) == 1  # the nodes once a second
    # The list is in, but the preparing worker has not landed: nothing moves yet.
    assert p.tick(now=0, narrowing=False, started=True, listing=False).step is Step.WAIT
    p.preparing = False
    assert p.tick(now=0, narrowing=False, started=True, listing=False).step is Step.REBUILD
    reset, gen = p.start_rebuild(reset=True)
    assert reset and p.tick(now=0, narrowing=False, started=True, listing=False).step is Step.WAIT
    assert p.installed(gen, listing=False) and p.listed
    assert p.tick(now=0, narrowing=False, started=True, listing=False).step is Step.POLL


def test_a_superseded_reset_build_makes_the_next_build_reset():
    p = Pacer()
    _, first = p.start_rebuild(reset=True)
    reset, second = p.start_rebuild(reset=False)  # a sort while the reset build runs
    assert reset and second != first
    assert not p.installed(first, listing=False)  # stale: its result is dropped
    assert p.rebuilding
    assert p.installed(second, listing=False) and not p.rebuilding
    assert p.start_rebuild(reset=False)[0] is False  # the reset was done by the second


def test_a_sort_during_a_held_list_does_not_end_the_list():
    p = Pacer()
    p.tick(now=0, narrowing=False, started=True, listing=True)
    _, gen = p.start_rebuild(reset=False)
    assert p.installed(gen, listing=False) and not p.listed  # the tick seeing the list in rebuilds
    p.preparing = False
    assert p.tick(now=0, narrowing=False, started=True, listing=False).step is Step.REBUILD


def test_the_list_end_is_seen_once():
    p = Pacer()
    assert not p.polled(listing=True)
    assert p.polled(listing=False)
    assert not p.polled(listing=False)


def test_ages_and_narrowing():
    p = Pacer(listed=True)
    plans = [p.tick(now=0, narrowing=True, started=True, listing=False) for _ in range(AGE_TICKS)]
    assert [pl.ages for pl in plans] == [False] * (AGE_TICKS - 1) + [True]
    assert all(pl.step is Step.NARROW for pl in plans)


def test_the_next_sort_is_built_ahead_after_a_delay_or_right_after_the_frame():
    p = Pacer()
    assert p.want_prebuilt(True, soon=True, now=0) is Prebuild.AFTER_FRAME
    assert p.want_prebuilt(True, soon=False, now=0) is Prebuild.NO  # the delay starts
    assert p.want_prebuilt(True, soon=False, now=PREBUILT_DELAY / 2) is Prebuild.NO
    assert p.want_prebuilt(True, soon=False, now=PREBUILT_DELAY) is Prebuild.NOW
    p.start_rebuild(reset=False)
    assert p.want_prebuilt(True, soon=True, now=1) is Prebuild.NO  # never during a rebuild
    p.rebuilding = False
    assert p.want_prebuilt(False, soon=True, now=1) is Prebuild.NO


def test_an_awaited_prebuilt_build_lands_once_and_only_for_its_generation():
    p = Pacer()
    p.await_prebuilt()
    assert not p.prebuilt_awaited(still_promoted=False)  # the state let go of it
    assert p.prebuilt_awaited(still_promoted=True)
    assert not p.prebuilt_awaited(still_promoted=True)  # once
    p.await_prebuilt()
    p.new_view()  # another sort put a view in place meanwhile
    assert not p.prebuilt_awaited(still_promoted=True)


def test_summaries_and_node_rows_keep_their_pace():
    p = Pacer()
    assert p.flush(0) is None  # nothing changed
    p.nodes_changed({"a"}, False)
    assert p.summaries_due(immediate=False, now=SUMMARY_SECONDS)  # none shown yet
    assert p.flush(SUMMARY_SECONDS) == ({"a"}, False)
    p.nodes_changed({"b"}, True)
    assert not p.summaries_due(immediate=False, now=SUMMARY_SECONDS + 0.5)  # too soon
    assert p.tick(now=SUMMARY_SECONDS + 0.5, narrowing=False, started=True, listing=False).summaries is False
    assert p.tick(now=2 * SUMMARY_SECONDS, narrowing=False, started=True, listing=False).summaries
    assert p.flush(2 * SUMMARY_SECONDS) == ({"b"}, True)
    assert p.summaries_due(immediate=True, now=2 * SUMMARY_SECONDS)  # what the user did: at once
