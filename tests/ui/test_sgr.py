"""SGR styles: ``change`` takes a terminal from one style to another, as the terminal model
(tests/ui/terminal_model.py, its own SGR reading) sees it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ktui.ui.sgr import DEFAULT, apply, change
from tests.ui.terminal_model import _sgr

colour = st.one_of(
    st.integers(30, 37).map(str), st.integers(90, 97).map(str),
    st.integers(0, 255).map(lambda n: f"38;5;{n}"),
    st.tuples(*[st.integers(0, 255)] * 3).map(lambda t: "38;2;{};{};{}".format(*t)))
background = st.one_of(
    st.integers(40, 47).map(str), st.integers(0, 255).map(lambda n: f"48;5;{n}"),
    st.tuples(*[st.integers(0, 255)] * 3).map(lambda t: "48;2;{};{};{}".format(*t)))
style = st.tuples(st.none() | colour, st.none() | background,
                  st.sets(st.sampled_from(["1", "2", "3", "4", "5", "7", "9", "53"]), max_size=3)).map(
    lambda t: ";".join([*(p for p in t[:2] if p), *sorted(t[2])]))
# Changes on top of a style, and the "off" codes, as a stream may hold them.
step = st.one_of(style, st.sampled_from(["0", "", "22", "23", "24", "27", "29", "39", "49", "1", "4;31", "0;7"]))


@settings(max_examples=400)
@given(st.lists(step, min_size=1, max_size=5), style)
def test_change_takes_the_terminal_from_one_style_to_the_next(steps, target):
    ours, model = DEFAULT, {}
    for params in steps:
        ours = apply(params, ours)
        model = _sgr(model, params)
    assert ours is not None
    new = apply(target, DEFAULT)
    assert new is not None
    diff = change(ours, new)
    after = _sgr(model, diff) if diff else model
    assert after == _sgr({}, target)
    assert len(diff) <= len(target) + 2  # never longer than a reset and the style whole


def test_what_is_not_understood_reads_as_not_known():
    assert apply("4:3", DEFAULT) is None  # a colon sub-parameter (curly underline)
    assert apply("38;5", DEFAULT) is None  # cut short
    assert apply("31", None) is None  # a change on top of a style not known
    assert apply("0;31", None) == apply("31", DEFAULT)  # a reset makes it known again
    assert change(apply("31;1", DEFAULT), apply("31", DEFAULT)) == "0;31"  # 22 would not do
