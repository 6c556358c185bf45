"""Issue 14 item 10: near misses of the origin format (params.json) are recognised as such,
and the first line says what to change."""

from __future__ import annotations

import pytest

from tests.sweep.helpers import error_of

ENTRY = '{"model": "CNN-01", "preproc": "algo-01", "params": ["weight=0.5 depth=2"]}'

CASES = [
    ("one-object", ENTRY,
     "1:1: a params.json file must be a JSON list of experiments, not one object: wrap it in [ ]"),
    ("one-object-multiline", '{\n  "model": "CNN-01",\n  "params": ["weight=0.5"]\n}',
     "1:1: a params.json file must be a JSON list of experiments, not one object: wrap it in [ ]"),
    ("params-a-string", '[{"model": "CNN-01", "preproc": "algo-01", "params": "weight=0.5 depth=2"}]',
     "1:54: entry 1: params must be a list of strings, not one string: write [\"weight=0.5 depth=2\"]"),
    ("list-of-strings", '["weight=0.5 depth=2", "weight=0.3 depth=3"]',
     "1:2: a params.json list holds experiments, not strings: write "
     "[{\"model\": ..., \"preproc\": ..., \"params\": [\"weight=0.5 depth=2\", ...]}]"),
    ("param-misspelt", '[{"model": "CNN-01", "preproc": "algo-01", "param": ["weight=0.5"]}]',
     "1:44: unknown key 'param' in entry 1 (did you mean 'params'?)"),
    ("no-equals", '[{"model": "CNN-01", "preproc": "algo-01", "params": ["weight 0.5 depth 2"]}]',
     "1:55: entry 1: params[0]: 'weight 0.5 depth 2' has no key=value tokens: write \"weight=0.5 depth=2\""),
    ("colon", '[{"model": "CNN-01", "preproc": "algo-01", "params": ["weight:0.5"]}]',
     "1:56: entry 1: params[0]: 'weight:0.5' is not key=value: write 'weight=0.5'"),
    ("space-around-equals", '[{"model": "CNN-01", "preproc": "algo-01", "params": ["weight = 0.5"]}]',
     "1:55: entry 1: params[0]: 'weight = 0.5' has spaces around '=': write 'weight=0.5'"),
    ("list-of-lists", '[["weight=0.5", "depth=2"]]',
     "1:2: entry 1 is a list; each experiment is a mapping: "
     "{\"model\": ..., \"preproc\": ..., \"params\": [\"weight=0.5 depth=2\", ...]}"),
]


@pytest.mark.parametrize(("content", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_near_miss_names_the_fix_first(tmp_path, content, expected):
    e = error_of(tmp_path, content, name="params.json")
    assert str(e.first) == f"{tmp_path / 'params.json'}:{expected}"


def test_misspelt_params_is_one_problem(tmp_path):
    e = error_of(tmp_path, '[{"model": "a", "preproc": "b", "param": ["x=1"]}]', name="params.json")
    assert len(e.problems) == 1


def test_a_spec_is_still_a_spec(tmp_path):
    e = error_of(tmp_path, '{"name": "s", "image": "i", "model": "x"}', name="s.json")
    assert "unknown key 'model' in the sweep spec" in str(e)


def test_a_spec_with_a_misspelt_parameters_key_is_still_a_spec(tmp_path):
    e = error_of(tmp_path, "name: s\nimage: i\nparamters: {grid: {lr: [1]}}\n")
    assert "unknown key 'paramters' in the sweep spec (did you mean 'parameters'?)" in str(e)
    e = error_of(tmp_path, "paramters: {grid: {lr: [1]}}\n")
    assert "JSON list" not in str(e)
