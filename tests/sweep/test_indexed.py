"""mode: indexed in the sweep layer: the spec's keys, and the Job + ConfigMaps that give each
trial exactly what the default mode's Job gives it (run under a real /bin/sh)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ktui.sweep import render_job
from ktui.sweep.indexed import (
    PARAMS_MOUNT,
    PARAMS_VOLUME,
    WRAPPER,
    ParamsTooLarge,
    chunk_params,
    container_view,
    kube_expand,
    render,
    render_indexed,
)
from ktui.sweep.model import CodeRef
from ktui.wire.names import INDEX_WIDTH_ANNOTATION, INDEXES_ANNOTATION, MODE_LABEL, TRIAL_LABEL

from .helpers import error_of, load_text

DUMP = """\
import json, os, sys
json.dump({"argv": sys.argv[1:], "env": dict(os.environ)}, open(os.environ["DUMP_TO"], "w"))
"""

SHELLS = sorted({s for s in ("/bin/sh", shutil.which("dash"), shutil.which("bash"), shutil.which("busybox"))
                 if s})


def awkward_spec(dump: Path) -> str:
    # Quotes, spaces, $ (incl. the kubelet's $(VAR) and $$), newlines, backslashes, unicode,
    # a leading dash, an empty string; placeholders in command, args and env.
    values = [
        "it's \"quoted\" and spaced",
        "$HOME $(KTUI_SWEEP) $$ $(NOPE) `date` $(echo hi)",
        "line one\nline two\n",
        "back\\slash \\n ünïcødé ✓ 日本",
        "-n",
        "",
    ]
    return json.dumps({
        "name": "awk",
        "image": "python:3.11-slim",
        "mode": "indexed",
        "command": [sys.executable, str(dump), "{tag}"],
        "args": ["--tag={tag}", "x={n}", "{{literal}}", "$(KTUI_TRIAL)", "$$(KTUI_TRIAL)"],
        "env": {"FIRST": "a{tag}b", "SECOND": "$(FIRST)-$(KTUI_SWEEP)", "DUMP_TO": "{out}"},
        "parameters": {"list": [{"tag": v, "n": i, "out": f"OUT-{i}"} for i, v in enumerate(values)]},
    })


def test_kube_expand_follows_the_kubelet() -> None:
    env = {"A": "1", "B": "x y"}
    assert kube_expand("$(A)-$(B)", env) == "1-x y"
    assert kube_expand("$(C)", env) == "$(C)"  # undefined: as written
    assert kube_expand("$$(A) $$ a$", env) == "$(A) $ a$"
    assert kube_expand("$(A", env) == "$(A"
    assert kube_expand("$x$", env) == "$x$"


@pytest.mark.parametrize("shell", SHELLS)
def test_each_trial_gets_exactly_what_the_default_mode_gives(tmp_path: Path, shell: str) -> None:
    dump = tmp_path / "dump.py"
    dump.write_text(DUMP)
    text = awkward_spec(dump)
    sweep = load_text(tmp_path, text, name="awk.json")
    out = render_indexed(sweep)
    params_dir = tmp_path / "params"
    params_dir.mkdir()
    for cm in out.config_maps:
        for key, value in cm["data"].items():
            (params_dir / key).write_text(value)
    container = out.job["spec"]["template"]["spec"]["containers"][0]
    argv = container["command"]
    assert argv[:3] == ["/bin/sh", "-c", WRAPPER]
    wrapper = argv[2].replace(PARAMS_MOUNT, str(params_dir))
    outs = {}
    for k, trial in enumerate(sweep.trials()):
        default = render_job(sweep, trial)["spec"]["template"]["spec"]["containers"][0]
        want_argv, want_env = container_view(default)
        # DUMP_TO is a placeholder too: point it at a file in tmp_path.
        target = tmp_path / dict(want_env)["DUMP_TO"]
        outs[k] = target
        # The pod's env holds only what the Job controller adds: JOB_COMPLETION_INDEX.
        env = {"PATH": "/usr/bin:/bin", "JOB_COMPLETION_INDEX": str(k)}
        script = (params_dir / f"{k}.sh").read_text().replace(
            f"DUMP_TO={dict(want_env)['DUMP_TO']}", f"DUMP_TO={target}")
        (params_dir / f"{k}.sh").write_text(script)
        subprocess.run([shell, *(["sh"] if shell.endswith("busybox") else []), "-c", wrapper, argv[3]],
                       env=env, check=True, cwd=tmp_path)
        got = json.loads(target.read_text())
        assert got["argv"] == want_argv[2:], f"trial {k}"  # (python and the script's path lead argv)
        for name, value in want_env:
            if name == "DUMP_TO":
                continue
            assert got["env"].get(name) == value, f"trial {k}: {name}"
        assert {n for n in got["env"] if n.startswith("KTUI_")} == {n for n, _ in want_env if n.startswith("KTUI_")}
    # The awkward values did reach the command as written in the file.
    first = json.loads(outs[0].read_text())
    assert first["argv"][0] == "it's \"quoted\" and spaced"
    # Env refers to the env before it (the kubelet's order): KTUI_SWEEP comes later.
    assert first["env"]["SECOND"] == "ait's \"quoted\" and spacedb-$(KTUI_SWEEP)"
    second = json.loads(outs[1].read_text())
    assert second["argv"][0] == "$HOME awk $ $(NOPE) `date` $(echo hi)"  # (the kubelet's expansion)
    assert second["argv"][-2:] == ["1", "$(KTUI_TRIAL)"]
    assert json.loads(outs[2].read_text())["env"]["KTUI_PARAM_TAG"] == "line one\nline two\n"
    assert json.loads(outs[3].read_text())["env"]["FIRST"] == "aback\\slash \\n ünïcødé ✓ 日本b"
    assert json.loads(outs[5].read_text())["argv"][0] == ""


def test_the_job_runs_every_trial_by_completion_index(tmp_path: Path) -> None:
    sweep = load_text(tmp_path, """
name: grid
image: img
mode: indexed
parallelism: 3
maxFailedIndexes: 2
retries: 1
queue: team-a
metric: {name: acc}
parameters: {grid: {lr: [1, 2, 3, 4, 5]}}
""")
    out = render_indexed(sweep)
    job = out.job
    assert job["metadata"]["name"] == "grid"
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 5, 3)
    assert (spec["backoffLimitPerIndex"], spec["maxFailedIndexes"], spec["backoffLimit"]) == (1, 2, 2**31 - 1)
    template = spec["template"]
    assert template["spec"]["restartPolicy"] == "Never"
    for holder in (job["metadata"], template["metadata"]):
        assert holder["labels"][MODE_LABEL] == "indexed"
        assert TRIAL_LABEL not in holder["labels"]
        assert holder["annotations"][INDEX_WIDTH_ANNOTATION] == "3"
        assert INDEXES_ANNOTATION not in holder["annotations"]
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    assert json.loads(job["metadata"]["annotations"]["ktui.dev/metric"]) == {"name": "acc", "goal": "maximize"}
    [cm] = out.config_maps
    assert cm["immutable"] is True
    assert chunk_params(cm) == {k: {"lr": k + 1} for k in range(5)}
    assert [m["kind"] for m in render(sweep)] == ["ConfigMap", "Job"]


def test_default_parallelism_is_all_trials_up_to_500(tmp_path: Path) -> None:
    small = load_text(tmp_path, "name: s\nimage: i\nmode: indexed\nparameters: {random: {trials: 40, space: {x: {uniform: [0, 1]}}}}\n")
    big = load_text(tmp_path, "name: b\nimage: i\nmode: indexed\nparameters: {random: {trials: 900, space: {x: {uniform: [0, 1]}}}}\n")
    assert render_indexed(small).job["spec"]["parallelism"] == 40
    assert render_indexed(big).job["spec"]["parallelism"] == 500
    # Without retries: 6 per trial, as a default-mode Job's backoffLimit.
    assert render_indexed(small).job["spec"]["backoffLimitPerIndex"] == 6


def test_a_rerun_job_lists_its_trials_by_completion_index(tmp_path: Path) -> None:
    sweep = load_text(tmp_path, "name: s\nimage: i\nmode: indexed\nparameters: {grid: {x: [0, 1, 2, 3, 4, 5, 6]}}\n")
    out = render_indexed(sweep, trials=[6, 2, 3, 4], job_name="s-r1")
    assert out.trials == (2, 3, 4, 6)
    assert out.job["spec"]["completions"] == 4
    for holder in (out.job["metadata"], out.job["spec"]["template"]["metadata"]):
        assert holder["annotations"][INDEXES_ANNOTATION] == "2-4,6"
    data = out.config_maps[0]["data"]
    assert "export KTUI_TRIAL=6" in data["3.sh"]
    assert chunk_params(out.config_maps[0])[0] == {"x": 2}
    assert out.config_maps[0]["metadata"]["name"] == "s-r1-params-0"


def test_trials_are_split_over_configmaps_well_under_1mib(tmp_path: Path) -> None:
    rows = ",".join(f'{{"blob": "{i:05d}{"x" * 20_000}"}}' for i in range(100))
    sweep = load_text(tmp_path, f'{{"name": "big", "image": "i", "mode": "indexed", "parameters": {{"list": [{rows}]}}}}',
                      name="big.json")
    out = render_indexed(sweep)
    assert len(out.config_maps) > 1
    seen = {}
    for cm in out.config_maps:
        size = sum(len(v.encode()) for v in cm["data"].values())
        assert size < 1024 * 1024
        seen.update(chunk_params(cm))
    assert sorted(seen) == list(range(100))
    sources = out.job["spec"]["template"]["spec"]["volumes"][-1]["projected"]["sources"]
    assert [s["configMap"]["name"] for s in sources] == [cm["metadata"]["name"] for cm in out.config_maps]


def test_a_trial_over_a_configmap_is_refused_naming_it(tmp_path: Path) -> None:
    rows = '{"blob": "small"}, {"blob": "' + "y" * 400_000 + '"}'
    sweep = load_text(tmp_path, f'{{"name": "huge", "image": "i", "mode": "indexed", "args": ["{{blob}}", "{{blob}}"], '
                                f'"parameters": {{"list": [{rows}]}}}}', name="huge.json")
    with pytest.raises(ParamsTooLarge, match=r"trial 1 \(huge-001\).*1,048,576 bytes a ConfigMap holds"):
        render_indexed(sweep)


def test_code_snapshot_is_shipped_as_in_the_default_mode(tmp_path: Path) -> None:
    sweep = load_text(tmp_path, "name: c\nimage: i\nmode: indexed\nparameters: {grid: {x: [1]}}\n")
    code = CodeRef("ktui-code-abc", "abc" * 20, (("ktui.dev/code", "{}"),))
    pod = render_indexed(sweep, code=code).job["spec"]["template"]["spec"]
    default = render_job(sweep, sweep.trial(0), code=code)["spec"]["template"]["spec"]
    assert pod["initContainers"] == default["initContainers"]
    assert pod["volumes"][:-1] == default["volumes"]
    assert pod["volumes"][-1]["name"] == PARAMS_VOLUME
    c = pod["containers"][0]
    assert c["workingDir"] == "/workspace"
    assert c["volumeMounts"][:-1] == default["containers"][0]["volumeMounts"]


@pytest.mark.parametrize(("text", "message"), [
    ("mode: indexed\nrestartPolicy: OnFailure\n", "4:16: restartPolicy: OnFailure does not work with mode: indexed"),
    ("parallelism: 4\n", "3:14: parallelism applies to mode: indexed only"),
    ("mode: indexed\nmaxFailedIndexes: 9\n", "4:19: maxFailedIndexes 9 is more than the sweep's 3 trials"),
    ("mode: indexed\nparallelism: 0\n", "parallelism must be at least 1"),
    ("mode: batch\n", "mode must be jobs (one Job per trial, the default) or indexed"),
    ("mode: indexed\nenv: {my-var: x}\n", "env.my-var: mode: indexed sets the trial's environment through /bin/sh"),
    ("mode: indexed\nmetric: {name: acc}\nearlyStopping: {rule: median}\n",
     "earlyStopping does not work with mode: indexed"),
])
def test_what_indexed_mode_cannot_do_is_said_at_load(tmp_path: Path, text: str, message: str) -> None:
    err = error_of(tmp_path, "name: s\nimage: i\n" + text + "parameters: {grid: {x: [1, 2, 3]}}\n")
    assert any(message in str(p) for p in err.problems), [str(p) for p in err.problems]


def test_restart_policy_never_is_fine_and_the_default_mode_is_unchanged(tmp_path: Path) -> None:
    sweep = load_text(tmp_path, "name: s\nimage: i\nmode: indexed\nrestartPolicy: Never\nparameters: {grid: {x: [1]}}\n")
    assert sweep.restart_policy == "Never"
    plain = load_text(tmp_path, "name: s\nimage: i\nmode: jobs\nparameters: {grid: {x: [1]}}\n")
    assert (plain.mode, plain.restart_policy) == ("jobs", "OnFailure")
    assert [m["kind"] for m in render(plain)] == ["Job"]
