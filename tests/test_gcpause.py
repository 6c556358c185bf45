import gc

from ktui.gcpause import IdleCollector


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_full_collections_wait_for_an_idle_user_but_not_forever():
    clock = Clock()
    c = IdleCollector(every=10, idle=1, at_most=60, clock=clock)
    before = gc.get_threshold()
    c.start()
    try:
        assert gc.get_threshold()[:2] == before[:2] and gc.get_threshold()[2] > before[2]  # no automatic full ones
        clock.now += 5
        assert not c.maybe_collect(last_input=0.0)  # too soon after the last
        clock.now += 6
        assert not c.maybe_collect(last_input=clock.now - 0.2)  # the user is typing
        assert c.maybe_collect(last_input=clock.now - 1.5)  # idle for a second: now
        assert c.collections == 1
        for _ in range(59):  # typing on and on: at most a minute without one
            clock.now += 1
            assert not c.maybe_collect(last_input=clock.now)
        clock.now += 1
        assert c.maybe_collect(last_input=clock.now)
    finally:
        c.stop()
    assert gc.get_threshold() == before
    assert not c.maybe_collect(last_input=0.0)  # stopped: the collector decides again


def test_an_idle_collection_frees_cycles():
    clock = Clock()
    c = IdleCollector(every=0, idle=0, clock=clock)
    c.start()
    try:
        class Node:
            pass

        a, b = Node(), Node()
        a.other, b.other = b, a  # type: ignore[attr-defined]
        import weakref
        ref = weakref.ref(a)
        del a, b
        assert ref() is not None  # a cycle: reference counting cannot free it
        clock.now += 1
        assert c.maybe_collect(last_input=0.0)
        assert ref() is None
    finally:
        c.stop()


def test_age_young_moves_a_new_big_container_out_of_the_young_walks():
    from ktui.gcpause import age_young

    gc.disable()  # (building it must not trigger the young collections under test)
    try:
        rows = [(f"ns-{i}", f"job-{i}") for i in range(10_000)]  # a view's list, just built
        assert not any(o is rows for o in gc.get_objects(2))
    finally:
        gc.enable()
    age_young()
    assert any(o is rows for o in gc.get_objects(2))  # young collections no longer walk it
