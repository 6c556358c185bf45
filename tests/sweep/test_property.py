"""Whatever a file holds, loading it raises SweepError or nothing."""

from __future__ import annotations

import json

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ktui.sweep import SweepError, loads_sweep

KEYS = ["name", "image", "namespace", "command", "args", "env", "resources", "limits", "retries",
        "restartPolicy", "ttlSecondsAfterFinished", "queue", "metric", "parameters", "grid", "list",
        "random", "zip", "repeat", "trials", "seed", "space", "choice", "uniform", "loguniform",
        "randint", "cpu", "memory", "gpu", "model", "preproc", "params", "lr", "goal"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**20, 10**20),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["2", "8Gi", "-1", "500m", "{lr}", "{", "}", "x=1 y=2", "OnFailure", "a" * 70]),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), children, max_size=6),
    ),
    max_leaves=40,
)


def check(text: str, path: str) -> None:
    try:
        sweep = loads_sweep(text, path=path)
    except SweepError as e:
        assert e.problems and all(str(p).startswith(path) for p in e.problems)
        return
    # A sweep that loads must also render: count and the first trial are consistent.
    if sweep.count():
        sweep.command_line(sweep.trial(0).params)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_arbitrary_yaml_documents(doc):
    check(yaml.safe_dump(doc, allow_unicode=True), "doc.yaml")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_arbitrary_json_documents(doc):
    check(json.dumps(doc), "doc.json")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text(text):
    check(text, "t.yaml")


good = st.one_of(st.integers(0, 5), st.sampled_from(["a", "b", "8Gi", "2"]), st.floats(0.001, 1.0))
value = st.one_of(good, good, scalars)  # mostly valid, sometimes not
values = st.one_of(st.lists(value, min_size=1, max_size=3), st.lists(value, min_size=1, max_size=3), scalars)
dist = st.dictionaries(st.sampled_from(["choice", "uniform", "loguniform", "randint", "normal"]),
                       st.one_of(st.lists(good, min_size=2, max_size=2), values), min_size=1, max_size=1)
near_valid = st.fixed_dictionaries(
    {
        "name": st.just("ok"),
        "image": st.just("img"),
        "parameters": st.one_of(
            st.fixed_dictionaries({"grid": st.dictionaries(st.sampled_from(["lr", "x", "seed"]), values, min_size=1, max_size=2)},
                                  optional={"zip": st.dictionaries(st.sampled_from(["lr", "w"]), values, max_size=2),
                                            "repeat": st.one_of(st.integers(1, 3), scalars)}),
            st.fixed_dictionaries({"list": st.lists(st.dictionaries(st.sampled_from(["lr", "x"]), value, max_size=2), max_size=3)}),
            st.fixed_dictionaries({"random": st.fixed_dictionaries(
                {"trials": st.one_of(st.integers(1, 5), scalars),
                 "space": st.dictionaries(st.sampled_from(["lr", "x"]), dist, min_size=1, max_size=2)},
                optional={"seed": st.one_of(st.integers(0, 9), scalars)})}),
        ),
    },
    optional={
        "args": st.lists(st.sampled_from(["--lr={lr}", "{x}", "{{", "plain", "{seed}"]), max_size=3),
        "resources": st.dictionaries(st.sampled_from(["cpu", "memory", "gpu"]), value, max_size=3),
        "limits": st.dictionaries(st.sampled_from(["cpu", "memory", "gpu"]), value, max_size=3),
    },
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_valid)
def test_near_valid_specs(doc):
    check(yaml.safe_dump(doc, allow_unicode=True), "spec.yaml")
    check(json.dumps(doc), "spec.json")
