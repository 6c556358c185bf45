"""Issue 14 item 9: every independent problem in a file is reported in one run, sorted by
position: a type error does not hide a placeholder error, `.inf`/`.nan` do not hide a
resource error, and every duplicate key is reported, not only the first."""

from __future__ import annotations

from tests.sweep.helpers import error_of

MANY = """\
name: s
image: i
retries: many
args: ['--lr={lr}', '--x={nope}', '--y={y']
resources: {cpu: 4, memory: 8, gpu: .nan}
limits: {cpu: 2}
env: {LR: '{lrr}'}
name: t
image: j
ttlSecondsAfterFinished: -.inf
parameters:
  grid:
    lr: [.inf, 0.1]
    depth: many
    lr: [1]
"""


def test_many_problems_are_all_reported_sorted(tmp_path):
    e = error_of(tmp_path, MANY)
    got = [str(p).split(":", 1)[1] for p in e.problems]
    assert got == [
        "3:10: retries must be a whole number, not string 'many'",
        "4:21: placeholder {nope} names no parameter",
        "4:35: args[2]: '--y={y' has a '{' that is never closed (a placeholder is {name}; write {{ for a literal brace)",
        "5:29: resources.memory: 8 means 8 bytes; write a unit, e.g. 8Gi",
        "5:37: resources.gpu must be a whole number of GPUs, got 'nan'",
        "6:15: limits.cpu 2 is below the request resources cpu 4; a limit must be at least the request",
        "7:11: placeholder {lrr} names no parameter (did you mean 'lr'?)",
        "8:1: duplicate key 'name' (first at line 1)",
        "9:1: duplicate key 'image' (first at line 2)",
        "10:26: ttlSecondsAfterFinished must be a whole number, not number -inf",
        "13:10: grid.lr[0] must be finite, got inf",
        "14:12: grid.depth must be a list, not string",
        "15:5: duplicate key 'lr' (first at line 13)",
    ]


def test_a_bad_parameter_value_still_lets_placeholders_be_checked(tmp_path):
    e = error_of(tmp_path, "name: s\nimage: i\nargs: ['{lrr}']\nparameters: {list: [{lr: .nan}, {lr: [1]}]}\n")
    got = [str(p).split(":", 1)[1] for p in e.problems]
    assert got == [
        "3:8: placeholder {lrr} names no parameter (did you mean 'lr'?)",
        "4:26: list[0].lr must be finite, got nan",
        "4:38: list[1].lr must be a single value (string, number or boolean), not list",
    ]


def test_origin_problems_and_flag_problems_together(tmp_path):
    e = error_of(tmp_path, '[{"model": "a", "preproc": "b", "params": ["x=1 2"]},\n {"model": "c", "preproc": "d", "params": ["y"]}]',
                 name="p.json", cpu="lots", command=("python", "t.py", "{z}"))
    got = [str(p).replace(str(tmp_path / "p.json"), "") for p in e.problems]
    assert got == [
        ": --cpu: 'lots' is not a quantity (examples: 2, 500m, 8Gi, 512Mi)",
        ": placeholder {z} names no parameter (in '{z}')",
        ":1:49: entry 1: params[0]: '2' is not key=value",
        ":2:45: entry 2: params[0]: 'y' is not key=value",
    ]


def test_trial_count_and_job_name_length_come_with_the_rest(tmp_path):
    grid = "parameters: {grid: {a: [" + ", ".join(map(str, range(200))) + "], b: [" + ", ".join(map(str, range(100))) + "]}}\n"
    e = error_of(tmp_path, "name: s\nimage: i\nretries: -1\n" + grid)
    assert [str(p).split(":", 1)[1] for p in e.problems] == [
        "3:10: retries must be at least 0, got -1",
        "4:1: sweep has 20,000 trials, more than the limit of 10,000 (raise it with --max-trials)",
    ]
    e = error_of(tmp_path, f"name: {'a' * 60}\nimage: i\nretries: -1\nparameters: {{grid: {{lr: [1]}}}}\n")
    assert [str(p).split(":", 1)[1] for p in e.problems] == [
        f"1:7: name '{'a' * 60}' is too long: its Job names ({'a' * 60}-000) must fit in 63 characters; use at most 59",
        "3:10: retries must be at least 0, got -1",
    ]
    e = error_of(tmp_path, f"name: {'a' * 70}\nimage: i\nparameters: {{grid: {{lr: [1]}}}}\n")
    assert len(e.problems) == 1 and "a DNS-1123 label has at most 63" in str(e)
