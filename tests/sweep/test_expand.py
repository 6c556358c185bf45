"""Each input format and each expansion mode produces the trials a user expects."""

from __future__ import annotations

import time

from ktui.sweep import Overrides, load_sweep
from tests.sweep.helpers import EXAMPLES, error_of, load_text

BASE = "name: s\nimage: img\n"


def test_origin_params_json_crosses_entries_with_strings():
    s = load_sweep(EXAMPLES / "params.json")
    assert s.format == "params.json"
    assert s.count() == 4
    assert [t.params for t in s.trials()] == [
        {"model": "CNN-01", "preproc": "algo-01", "weight": "0.5", "depth": "2"},
        {"model": "CNN-01", "preproc": "algo-01", "weight": "0.3", "depth": "3"},
        {"model": "RNN-01", "preproc": "algo-02", "dropout": "0.5", "act": "softmax"},
        {"model": "RNN-01", "preproc": "algo-02", "dropout": "0.7", "act": "tanh"},
    ]
    assert s.command == ("python", "train.py")
    cmd, args = s.command_line(s.trial(0).params)
    assert cmd == ["python", "train.py"]
    assert args == ["model=CNN-01", "preproc=algo-01", "weight=0.5", "depth=2"]
    assert s.name == "params"
    assert any("--image" in n for n in s.notes)


def test_origin_overrides_image_name_and_command():
    s = load_sweep(EXAMPLES / "params.json", Overrides(image="me/train:1", name="exp", command=("python", "run.py", "--fast")))
    assert s.image == "me/train:1" and s.name == "exp" and not s.notes
    assert s.trial(3).job_name == "exp-003"
    assert s.command_line(s.trial(0).params) == (
        ["python", "run.py", "--fast"],
        ["model=CNN-01", "preproc=algo-01", "weight=0.5", "depth=2"],
    )


def test_command_override_with_placeholders_is_the_whole_line(tmp_path):
    s = load_text(tmp_path, BASE + "args: ['--x={lr}']\nparameters: {grid: {lr: [1, 2]}}\n",
                  command=("python", "t.py", "--lr={lr}"))
    assert s.command_line(s.trial(1).params) == (["python", "t.py", "--lr=2"], [])


def test_grid_is_a_product_with_last_axis_fastest(tmp_path):
    s = load_text(tmp_path, BASE + "parameters:\n  grid: {lr: [0.1, 0.01], depth: [2, 3, 4]}\n")
    assert s.count() == 6
    assert [tuple(t.params.values()) for t in s.trials()] == [
        (0.1, 2), (0.1, 3), (0.1, 4), (0.01, 2), (0.01, 3), (0.01, 4)]


def test_yaml_keeps_exponents_numbers_and_yes_no_strings(tmp_path):
    s = load_text(tmp_path, BASE + "parameters:\n  grid: {lr: [1e-3, 1.0e-4, .5], act: [on, no, 'yes'], n: [0x10, 7]}\n")
    assert s.space.base.axes == (("lr", (0.001, 0.0001, 0.5)), ("act", ("on", "no", "yes")), ("n", (16, 7)))


def test_list_mode_keeps_entries_in_order(tmp_path):
    s = load_text(tmp_path, BASE + "parameters:\n  list:\n    - {lr: 0.1, depth: 2}\n    - {lr: 0.01, depth: 3}\n")
    assert [t.params for t in s.trials()] == [{"lr": 0.1, "depth": 2}, {"lr": 0.01, "depth": 3}]


def test_random_is_deterministic_in_range_and_random_access(tmp_path):
    text = BASE + (
        "parameters:\n  random:\n    trials: 50\n    seed: 7\n    space:\n"
        "      lr: {loguniform: [1.0e-4, 1.0e-1]}\n      act: {choice: [relu, tanh]}\n"
        "      layers: {randint: [2, 6]}\n      drop: {uniform: [0.1, 0.5]}\n")
    a = load_text(tmp_path, text)
    b = load_text(tmp_path, text)
    trials = [t.params for t in a.trials()]
    assert trials == [t.params for t in b.trials()]
    assert a.trial(37).params == trials[37]
    assert all(1e-4 <= t["lr"] <= 1e-1 and t["act"] in ("relu", "tanh") and 2 <= t["layers"] <= 6
               and 0.1 <= t["drop"] <= 0.5 for t in trials)
    assert {t["layers"] for t in trials} == {2, 3, 4, 5, 6}
    assert len({t["lr"] for t in trials}) == 50
    other_seed = load_text(tmp_path, text.replace("seed: 7", "seed: 8"))
    assert [t.params for t in other_seed.trials()] != trials


def test_zip_pairs_values_and_crosses_with_grid(tmp_path):
    s = load_text(tmp_path, BASE + "parameters:\n  grid: {batch: [128, 256]}\n  zip: {lr: [0.1, 0.01], warmup: [100, 500]}\n")
    assert [t.params for t in s.trials()] == [
        {"batch": 128, "lr": 0.1, "warmup": 100}, {"batch": 128, "lr": 0.01, "warmup": 500},
        {"batch": 256, "lr": 0.1, "warmup": 100}, {"batch": 256, "lr": 0.01, "warmup": 500}]


def test_zip_alone_and_repeat_adds_seed(tmp_path):
    s = load_text(tmp_path, BASE + "parameters:\n  zip: {lr: [0.1, 0.01], warmup: [100, 500]}\n  repeat: 3\n")
    assert s.count() == 6
    assert [t.params for t in s.trials()][:4] == [
        {"lr": 0.1, "warmup": 100, "seed": 0}, {"lr": 0.1, "warmup": 100, "seed": 1},
        {"lr": 0.1, "warmup": 100, "seed": 2}, {"lr": 0.01, "warmup": 500, "seed": 0}]


def test_args_default_to_key_value_and_placeholders_fill(tmp_path):
    s = load_text(tmp_path, BASE + "command: python train.py --fast\nparameters: {grid: {lr: [0.5]}, repeat: 1}\n")
    assert s.command_line(s.trial(0).params) == (["python", "train.py", "--fast"], ["lr=0.5", "seed=0"])
    s = load_text(tmp_path, BASE + "args: ['--lr={lr}', '{{literal}}', '--on={flag}']\nparameters: {grid: {lr: [0.5], flag: [true]}}\n")
    assert s.command_line(s.trial(0).params)[1] == ["--lr=0.5", "{literal}", "--on=true"]


def test_json_spec_is_accepted(tmp_path):
    s = load_text(tmp_path, '{"name": "j", "image": "i", "parameters": {"grid": {"lr": [1e-3, 2]}}}', name="s.json")
    assert s.space.base.axes == (("lr", (0.001, 2)),)


def test_job_names_are_zero_padded_and_deterministic(tmp_path):
    s = load_text(tmp_path, BASE + "parameters: {grid: {a: [" + ",".join(map(str, range(1500))) + "]}}\n")
    assert s.trial(0).job_name == "s-0000" and s.trial(1499).job_name == "s-1499"
    assert load_text(tmp_path, BASE + "parameters: {grid: {a: [1,2]}}\n").trial(1).job_name == "s-001"


def test_huge_grid_is_refused_without_expanding(tmp_path):
    values = "[" + ",".join(str(i) for i in range(100)) + "]"
    text = BASE + "parameters:\n  grid:\n" + "".join(f"    p{i}: {values}\n" for i in range(6))
    t0 = time.perf_counter()
    e = error_of(tmp_path, text)
    elapsed = time.perf_counter() - t0
    assert str(e.first) == f"{tmp_path / 's.yaml'}:3:1: sweep has 1,000,000,000,000 trials, more than the limit of 10,000 (raise it with --max-trials)"
    assert elapsed < 0.5
    assert load_text(tmp_path, BASE + "parameters: {grid: {a: " + values + ", b: " + values + ", c: [1, 2]}}\n",
                     max_trials=20_000).count() == 20_000


def test_resources_and_overrides(tmp_path):
    s = load_text(tmp_path, BASE + "resources: {cpu: 2, memory: 8Gi, gpu: 1}\nlimits: {cpu: '4', memory: 16Gi}\nparameters: {grid: {a: [1]}}\n",
                  cpu="3", namespace="ml")
    assert (s.requests.cpu, s.requests.memory, s.requests.gpu) == ("3", "8Gi", 1)
    assert (s.limits.cpu, s.limits.memory) == ("4", "16Gi")
    assert s.namespace == "ml"
