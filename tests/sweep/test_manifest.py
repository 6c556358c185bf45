"""Golden Job manifests for every example, valid against the batch/v1 Job schema."""

from __future__ import annotations

import io
import json
import os

import kubernetes_validate
import pytest
import yaml

from ktui.cli.launch import write_manifests
from ktui.sweep import Overrides, load_sweep, render_job
from tests.sweep.helpers import EXAMPLES, load_text

GOLDEN = EXAMPLES.parent / "tests" / "sweep" / "golden"
EXAMPLE_FILES = ["params.json", "grid.yaml", "random.yaml", "gpu.yaml"]


def rendered(name: str) -> str:
    sweep = load_sweep(EXAMPLES / name)
    out = io.StringIO()
    write_manifests(sweep, "default", "yaml", out)
    return out.getvalue()


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_examples_match_golden_manifests(name):
    text = rendered(name)
    golden = GOLDEN / (name.rsplit(".", 1)[0] + ".yaml")
    if os.environ.get("KTUI_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text(), f"regenerate with KTUI_UPDATE_GOLDEN=1 if {golden.name} should change"


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_golden_manifests_are_valid_batch_v1_jobs(name):
    docs = list(yaml.safe_load_all((GOLDEN / (name.rsplit(".", 1)[0] + ".yaml")).read_text()))
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, "1.32", strict=True)


def test_schema_check_would_catch_a_broken_manifest():
    doc = yaml.safe_load(rendered("grid.yaml").split("---\n")[0])
    doc["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = {"x": 1}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, "1.32", strict=True)


def test_job_carries_labels_annotation_env_and_resources(tmp_path):
    s = load_text(tmp_path, "name: exp\nimage: img:1\nretries: 2\nqueue: team-a\nttlSecondsAfterFinished: 60\n"
                  "resources: {cpu: 2, memory: 8Gi, gpu: 1}\nlimits: {cpu: 4, memory: 16Gi}\n"
                  "env: {A: '{lr}'}\nparameters: {grid: {lr: [0.5], learning-rate: [2]}}\n", namespace="ml")
    job = render_job(s, s.trial(0))
    assert job["metadata"]["name"] == "exp-000" and job["metadata"]["namespace"] == "ml"
    assert job["metadata"]["labels"] == {"ktui.dev/sweep": "exp", "ktui.dev/trial": "0",
                                         "app.kubernetes.io/managed-by": "ktui", "kueue.x-k8s.io/queue-name": "team-a"}
    tmpl = job["spec"]["template"]
    assert tmpl["metadata"]["labels"] == {"ktui.dev/sweep": "exp", "ktui.dev/trial": "0"}
    assert json.loads(tmpl["metadata"]["annotations"]["ktui.dev/params"]) == {"lr": 0.5, "learning-rate": 2}
    assert job["spec"]["backoffLimit"] == 2 and job["spec"]["ttlSecondsAfterFinished"] == 60
    c = tmpl["spec"]["containers"][0]
    assert c["name"] == "trial" and tmpl["spec"]["restartPolicy"] == "OnFailure"
    assert c["resources"] == {"requests": {"cpu": "2", "memory": "8Gi", "nvidia.com/gpu": "1"},
                              "limits": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"}}
    assert c["env"] == [{"name": "A", "value": "0.5"}, {"name": "KTUI_SWEEP", "value": "exp"},
                        {"name": "KTUI_TRIAL", "value": "0"}, {"name": "KTUI_PARAM_LR", "value": "0.5"},
                        {"name": "KTUI_PARAM_LEARNING_RATE", "value": "2"}]
    kubernetes_validate.validate(job, "1.32", strict=True)


def test_relaunch_renders_identical_jobs():
    a = [render_job(s, t) for s in [load_sweep(EXAMPLES / "random.yaml")] for t in s.trials()]
    b = [render_job(s, t) for s in [load_sweep(EXAMPLES / "random.yaml", Overrides())] for t in s.trials()]
    assert a == b



def test_early_stopping_travels_with_each_job(tmp_path):
    import json

    from ktui.sweep import render_job
    from tests.sweep.helpers import load_text

    sw = load_text(tmp_path, "name: s\nimage: i\nmetric: {name: acc}\n"
                             "earlyStopping: {rule: median, minTrials: 4, startStep: 2.5}\nparameters: {grid: {lr: [0.1]}}\n")
    job = render_job(sw, sw.trial(0))
    assert json.loads(job["metadata"]["annotations"]["ktui.dev/early-stopping"]) == {
        "rule": "median", "minTrials": 4, "startStep": 2.5}
