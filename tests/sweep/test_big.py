"""Issue 14 item 7: big sweep files load, and the value limit follows --max-trials.

Speed is measured by benchmarks/bench_sweep_load.py; these tests check what loads and what
is refused, and that a refusal says how to lift it."""

from __future__ import annotations

import json

import yaml

from ktui.sweep import Overrides, load_sweep
from ktui.sweep.source import values_limit
from tests.sweep.helpers import error_of

PARAMS = 25


def entries(n: int) -> list[dict[str, object]]:
    return [{f"p{j:02d}": (i * 31 + j) % 97 / 10 if j % 3 == 0 else (f"v{i % 13}" if j % 3 == 1 else i + j)
             for j in range(PARAMS)} for i in range(n)]


def spec(n: int) -> dict[str, object]:
    return {"name": "big", "image": "python:3.11-slim", "args": ["--p00={p00}", "--p24={p24}"],
            "parameters": {"list": entries(n)}}


def test_10000_trial_list_sweep_in_yaml_loads(tmp_path):
    p = tmp_path / "big.yaml"
    p.write_text(yaml.safe_dump(spec(10_000), sort_keys=False, default_flow_style=False))
    sweep = load_sweep(p)
    assert sweep.count() == 10_000
    assert sweep.trial(9_999).params == entries(10_000)[9_999]
    assert sweep.command_line(sweep.trial(3).params)[1] == ["--p00=9.3", "--p24=2.0"]


def test_10000_trial_list_sweep_in_json_loads(tmp_path):
    p = tmp_path / "big.json"
    p.write_text(json.dumps(spec(10_000), indent=1))
    assert load_sweep(p).count() == 10_000


def test_10000_trial_params_json_loads(tmp_path):
    p = tmp_path / "params.json"
    p.write_text(json.dumps([{"model": f"m{i}", "preproc": "pp", "params": [" ".join(f"k{j}={i * j}" for j in range(23))]}
                             for i in range(10_000)]))
    sweep = load_sweep(p)
    assert sweep.count() == 10_000 and len(sweep.trial(0).params) == 25


def test_the_value_limit_follows_max_trials(tmp_path):
    text = yaml.safe_dump(spec(400), sort_keys=False)
    e = error_of(tmp_path, text, max_trials=10)
    limit = values_limit(10)
    assert str(e.first).endswith(f": document too large: more than {limit:,} values after aliases, the limit "
                                 "for --max-trials 10 (raise --max-trials to allow more)")
    p = tmp_path / "s.yaml"
    assert load_sweep(p, Overrides(max_trials=400)).count() == 400


def test_alias_bomb_is_refused_and_names_the_flag(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 12):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    e = error_of(tmp_path, "\n".join(lines) + "\n")
    assert "document too large" in str(e.first) and "raise --max-trials" in str(e.first)
