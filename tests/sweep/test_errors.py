"""Every kind of bad sweep file gets one line `FILE:LINE:COL: what is wrong`."""

from __future__ import annotations

import pytest

from ktui.sweep import SweepError, loads_sweep
from tests.sweep.helpers import error_of

G = "parameters: {grid: {lr: [0.1]}}\n"

CASES = [
    # (id, file name, content, expected first problem without the path prefix)
    ("broken-json", "p.json", '[{"model": "a", "preproc": "b", "params": ["x=1",]}]',
     "1:50: invalid JSON: Expecting value"),
    ("broken-yaml", "s.yaml", "name: s\nimage: [oops\n" + G,
     "3:11: invalid YAML: expected ',' or ']', but got ':' (while parsing a flow sequence)"),
    ("unknown-key", "s.yaml", "name: s\nimage: i\nimgae: j\n" + G,
     "3:1: unknown key 'imgae' in the sweep spec (did you mean 'image'?)"),
    ("unknown-param-key", "s.yaml", "name: s\nimage: i\nparameters: {gird: {lr: [1]}}\n",
     "3:14: unknown key 'gird' in parameters (did you mean 'grid'?)"),
    ("duplicate-key", "s.yaml", "name: s\nimage: i\nname: t\n" + G,
     "3:1: duplicate key 'name' (first at line 1)"),
    ("duplicate-json-key", "s.json", '{"name": "s",\n "image": "i",\n "name": "t"}',
     "3:2: duplicate key 'name' (first at line 1)"),
    ("wrong-type-retries", "s.yaml", "name: s\nimage: i\nretries: many\n" + G,
     "3:10: retries must be a whole number, not string 'many'"),
    ("wrong-type-grid", "s.yaml", "name: s\nimage: i\nparameters: {grid: {lr: 0.1}}\n",
     "3:25: grid.lr must be a list, not number"),
    ("gpu-two", "s.yaml", "name: s\nimage: i\nresources: {gpu: two}\n" + G,
     "3:18: resources.gpu must be a whole number of GPUs, got 'two'"),
    ("negative-memory", "s.yaml", "name: s\nimage: i\nresources: {memory: -8Gi}\n" + G,
     "3:21: resources.memory: '-8Gi' must not be negative"),
    ("bad-quantity", "s.yaml", "name: s\nimage: i\nresources: {cpu: 2 cores}\n" + G,
     "3:18: resources.cpu: '2 cores' is not a quantity (examples: 2, 500m, 8Gi, 512Mi)"),
    ("limits-below-requests", "s.yaml", "name: s\nimage: i\nresources: {cpu: 4}\nlimits: {cpu: 2}\n" + G,
     "4:15: limits.cpu 2 is below the request resources cpu 4; a limit must be at least the request"),
    ("not-dns1123", "s.yaml", "name: My_Sweep\nimage: i\n" + G,
     "1:7: name 'My_Sweep' is not a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit"),
    ("early-stopping-without-metric", "s.yaml", "name: s\nimage: i\nearlyStopping: {rule: median}\n" + G,
     "3:16: earlyStopping needs the sweep's 'metric' (what it compares the trials by)"),
    ("early-stopping-rule", "s.yaml", "name: s\nimage: i\nmetric: acc\nearlyStopping: {rule: mean}\n" + G,
     "4:23: earlyStopping.rule must be median, not 'mean'"),
    ("early-stopping-min-trials", "s.yaml", "name: s\nimage: i\nmetric: acc\nearlyStopping: {minTrials: 0}\n" + G,
     "4:28: earlyStopping.minTrials must be at least 1, got 0"),
    ("placeholder", "s.yaml", "name: s\nimage: i\nargs: ['--lr={lrr}']\n" + G,
     "3:8: placeholder {lrr} names no parameter (did you mean 'lr'?)"),
    ("empty-values", "s.yaml", "name: s\nimage: i\nparameters: {grid: {lr: []}}\n",
     "3:25: grid.lr must not be empty"),
    ("empty-list-mode", "s.yaml", "name: s\nimage: i\nparameters: {list: []}\n",
     "3:20: parameters.list must not be empty"),
    ("two-modes", "s.yaml", "name: s\nimage: i\nparameters: {grid: {a: [1]}, list: [{a: 1}]}\n",
     "3:30: parameters: give one of grid, list or random, not both grid and list"),
    ("zip-lengths", "s.yaml", "name: s\nimage: i\nparameters: {zip: {a: [1, 2], b: [1]}}\n",
     "3:34: zip.b has 1 values but zip.a has 2; zipped lists pair up, so they must be the same length"),
    ("missing-name", "s.yaml", "image: i\n" + G,
     "1:1: missing 'name': every sweep needs a name (a DNS-1123 label)"),
    ("missing-image", "s.yaml", "name: s\n" + G,
     "1:1: no 'image': name the container image that holds your code, or pass --image"),
    ("restart-always", "s.yaml", "name: s\nimage: i\nrestartPolicy: Always\n" + G,
     "3:16: restartPolicy must be OnFailure or Never, not 'Always' (a Job's pods must not restart Always)"),
    ("loguniform-low", "s.yaml", "name: s\nimage: i\nparameters: {random: {trials: 2, space: {lr: {loguniform: [0, 1]}}}}\n",
     "3:60: random.space.lr.loguniform: low must be above 0, got 0"),
    ("unknown-distribution", "s.yaml", "name: s\nimage: i\nparameters: {random: {trials: 2, space: {lr: {logunifrom: [1, 2]}}}}\n",
     "3:47: unknown distribution 'logunifrom' in random.space.lr (did you mean 'loguniform'?)"),
    ("seed-with-repeat", "s.yaml", "name: s\nimage: i\nparameters: {grid: {seed: [1]}, repeat: 2}\n",
     "3:21: parameter 'seed' clashes with repeat, which adds seed=0..N-1 itself"),
    ("value-not-scalar", "s.yaml", "name: s\nimage: i\nparameters: {grid: {lr: [[1]]}}\n",
     "3:26: grid.lr[0] must be a single value (string, number or boolean), not list"),
    ("origin-not-kv", "p.json", '[{"model": "a", "preproc": "b", "params": ["weight=0.5 2"]}]',
     "1:56: entry 1: params[0]: '2' is not key=value"),
    ("origin-unknown-key", "p.json", '[{"model": "a", "preproc": "b", "parms": ["x=1"]}]',
     "1:33: unknown key 'parms' in entry 1 (did you mean 'params'?)"),
    ("top-level-scalar", "s.yaml", "just a string\n",
     "1:1: expected a sweep spec (a mapping) or a params.json list, not string"),
    ("multi-doc", "s.yaml", "name: a\n---\nname: b\n",
     "3:1: expected one document, found several (---)"),
    ("merge-key", "s.yaml", "base: &b {a: 1}\nname: s\n<<: *b\n",
     "3:1: YAML merge keys (<<) are not supported; write the keys out"),
    ("env-reserved", "s.yaml", "name: s\nimage: i\nenv: {KTUI_SWEEP: x}\n" + G,
     "3:7: env name 'KTUI_SWEEP' is reserved: ktui sets KTUI_* variables itself"),
    ("metric-goal", "s.yaml", "name: s\nimage: i\nmetric: {name: acc, goal: maximise}\n" + G,
     "3:27: metric.goal must be maximize or minimize, not 'maximise' (did you mean 'maximize'?)"),
]


@pytest.mark.parametrize(("name", "content", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error_points_at_file_line_col(tmp_path, name, content, expected):
    e = error_of(tmp_path, content, name=name)
    assert str(e.first) == f"{tmp_path / name}:{expected}"
    assert "\n" not in str(e.first)


def test_empty_file(tmp_path):
    assert str(error_of(tmp_path, "  \n\n").first).endswith("s.yaml: empty file: expected a sweep spec or a params.json list")


def test_comment_only_file_is_empty(tmp_path):
    assert "empty file" in str(error_of(tmp_path, "# nothing here\n").first)


def test_binary_file(tmp_path):
    e = error_of(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", name="img.yaml")
    assert str(e.first) == f"{tmp_path / 'img.yaml'}: binary file: expected YAML or JSON text"


def test_non_utf8_file(tmp_path):
    e = error_of(tmp_path, b"name: s\nimage: \xff\xfe\n", name="x.yaml")
    assert str(e.first) == f"{tmp_path / 'x.yaml'}:2:8: not UTF-8 text (binary file?): expected YAML or JSON"


def test_missing_file(tmp_path):
    from ktui.sweep import load_sweep

    with pytest.raises(SweepError) as info:
        load_sweep(tmp_path / "nope.yaml")
    assert str(info.value) == f"{tmp_path / 'nope.yaml'}: no such file"


def test_all_problems_are_reported_not_just_the_first(tmp_path):
    e = error_of(tmp_path, "name: s\nimage: i\nretries: -1\nrestartPolicy: Sometimes\nparameters: {grid: {lr: []}}\n")
    lines = str(e).splitlines()
    assert [ln.split(":", 3)[1] for ln in lines] == ["3", "4", "5"]


def test_flag_errors_name_the_flag(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("name: s\nimage: i\nlimits: {cpu: 1}\n" + G)
    from ktui.sweep import Overrides, load_sweep

    with pytest.raises(SweepError) as info:
        load_sweep(p, Overrides(name="Bad_Name", cpu="2"))
    assert str(info.value).splitlines() == [
        f"{p}: --name 'Bad_Name' is not a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit",
        f"{p}:3:15: limits.cpu 1 is below the request --cpu cpu 2; a limit must be at least the request",
    ]


def test_name_too_long_for_job_names(tmp_path):
    e = error_of(tmp_path, f"name: {'a' * 60}\nimage: i\n" + G)
    assert str(e.first).endswith(f"1:7: name '{'a' * 60}' is too long: its Job names ({'a' * 60}-000) must fit in 63 characters; use at most 59")


def test_alias_bomb_is_refused_quickly(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    e = error_of(tmp_path, "\n".join(lines) + "\n")
    assert "document too large" in str(e.first)


def test_recursive_alias(tmp_path):
    assert "recursive alias" in str(error_of(tmp_path, "a: &x [*x]\n").first)


def test_loads_sweep_reports_the_given_path():
    with pytest.raises(SweepError) as info:
        loads_sweep("name: s\n", path="form.yaml")
    assert str(info.value.first).startswith("form.yaml:")
