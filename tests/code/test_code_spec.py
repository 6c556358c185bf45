"""`code:` in the sweep spec and --code: parsed, resolved, reported like every other field;
the manifests mount the snapshot and unpack it before the trial's command."""

from __future__ import annotations

from pathlib import Path

import pytest

from ktui.sweep import Overrides, SweepError, load_sweep, render_job
from ktui.sweep.model import CodeRef

BASE = """\
name: g
image: python:3.11-slim
command: [python, train.py]
parameters: {grid: {lr: [0.1, 0.01]}}
"""


def sweep_file(tmp_path: Path, code: str) -> Path:
    (tmp_path / "sub").mkdir(exist_ok=True)
    f = tmp_path / "sub" / "s.yaml"
    f.write_text(BASE + code)
    return f


def test_code_dot_is_the_sweep_files_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_sweep(sweep_file(tmp_path, "code: .\n"))
    assert s.code is not None and s.code.path == str(tmp_path / "sub") and s.code.exclude == ()
    assert s.code.where.endswith("s.yaml:5:7")


def test_code_mapping_with_exclude(tmp_path):
    s = load_sweep(sweep_file(tmp_path, "code: {path: .., exclude: [data/, '*.ckpt']}\n"))
    assert s.code is not None and s.code.path == str(tmp_path) and s.code.exclude == ("data/", "*.ckpt")


def test_code_flag_is_relative_to_the_shell_and_keeps_the_files_excludes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_sweep(sweep_file(tmp_path, "code: {path: ., exclude: [x]}\n"), Overrides(code="other"))
    assert s.code is not None and (s.code.path, s.code.exclude, s.code.where) == (str(tmp_path / "other"), ("x",), "--code")


@pytest.mark.parametrize(("text", "message"), [
    ("code: 3\n", "s.yaml:5:7: code must be a string, not integer"),
    ("code: [a]\n", "s.yaml:5:7: code must be a directory (code: .) or a mapping"),
    ("code: {exclude: [x]}\n", "s.yaml:5:7: code needs 'path'"),
    ("code: {path: ., excludes: [x]}\n", "unknown key 'excludes' in code (did you mean 'exclude'?)"),
    ("code: {path: ., exclude: x}\n", "code.exclude must be a list, not string"),
    ("code: {path: ., exclude: [1]}\n", "code.exclude[0] must be a string, not integer"),
    ("code: ''\n", "code must not be empty"),
])
def test_bad_code_is_a_located_problem(tmp_path, text, message):
    with pytest.raises(SweepError) as e:
        load_sweep(sweep_file(tmp_path, text))
    assert message in str(e.value), str(e.value)


def test_job_mounts_the_snapshot_and_unpacks_it_with_the_trials_image(tmp_path):
    s = load_sweep(sweep_file(tmp_path, "code: .\n"))
    ref = CodeRef("ktui-code-0123456789abcdef", "0123456789abcdef" + "0" * 48,
                  (("ktui.dev/code", '{"sha256":"x"}'),))
    job = render_job(s, s.trial(0), "default", ref)
    pod = job["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "code", "configMap": {"name": "ktui-code-0123456789abcdef"}},
                              {"name": "workspace", "emptyDir": {}}]
    (init,) = pod["initContainers"]
    assert init["image"] == "python:3.11-slim"
    assert init["command"][:3] == ["tar", "-xzf", "/ktui/code/code.tar.gz"] and "/workspace" in init["command"]
    (trial,) = pod["containers"]
    assert trial["workingDir"] == "/workspace"
    assert trial["volumeMounts"] == [{"name": "workspace", "mountPath": "/workspace"}]
    assert job["metadata"]["annotations"]["ktui.dev/code"] == '{"sha256":"x"}'
    plain = render_job(s, s.trial(0), "default")
    assert "volumes" not in plain["spec"]["template"]["spec"]
    assert "workingDir" not in plain["spec"]["template"]["spec"]["containers"][0]


def test_job_with_code_passes_kubernetes_validation(tmp_path):
    kv = pytest.importorskip("kubernetes_validate")
    s = load_sweep(sweep_file(tmp_path, "code: .\n"))
    job = render_job(s, s.trial(0), "default", CodeRef("ktui-code-0123456789abcdef", "0" * 64))
    kv.validate(job, "1.30", strict=True)
