from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from ktui.ui.sortedview import SortedView


def make(records, reverse=False, matches=lambda r: True):
    v = SortedView(lambda r: (r[0], r[1]), matches, reverse)
    v.reset(records)
    return v


def expected(records, reverse=False, matches=lambda r: True):
    items = sorted(((r[0], r[1]), k) for k, r in records.items() if matches(r))
    keys = [k for _, k in items]
    return keys[::-1] if reverse else keys


def test_incremental_updates_match_a_full_sort():
    rng = random.Random(3)
    records = {f"k{i}": (rng.choice("abc"), rng.randrange(100)) for i in range(500)}
    view = make(records, matches=lambda r: r[0] != "c")
    for _ in range(300):
        changed = {f"k{rng.randrange(600)}": (rng.choice("abc"), rng.randrange(100)) for _ in range(5)}
        removed = [f"k{rng.randrange(600)}" for _ in range(2)]
        removed = [k for k in removed if k not in changed]
        view.update(changed, removed)
        for k in removed:
            records.pop(k, None)
        records.update(changed)
    keys = list(view.keys)
    exp = expected(records, matches=lambda r: r[0] != "c")
    # ties in the sort key may keep arrival order: compare sort keys, then membership
    assert [records[k][:2] for k in keys] == [records[k][:2] for k in exp]
    assert set(keys) == set(exp)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 3), st.integers(0, 3), st.booleans()), max_size=60),
       st.booleans())
def test_property_view_equals_sorted_filter(ops, reverse):
    records = {}
    view = make({}, reverse=reverse, matches=lambda r: r[1] != 0)
    for key, a, b, delete in ops:
        if delete:
            view.update({}, [key])
            records.pop(key, None)
        else:
            view.update({key: (a, b)})
            records[key] = (a, b)
    got = list(view.keys)
    exp = expected(records, reverse, lambda r: r[1] != 0)
    assert [records[k] for k in got] == [records[k] for k in exp]
    assert sorted(got) == sorted(exp)
    if got:
        assert view.keys.index(got[-1]) == len(got) - 1


def test_unchanged_sort_key_reports_no_move():
    view = make({"a": (1, 1), "b": (2, 2)})
    assert view.update({"a": (1, 1)}) is False
    assert view.update({"a": (3, 0)}) is True
    assert list(view.keys) == ["b", "a"]
