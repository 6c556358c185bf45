"""An indexed sweep against the simulator over real HTTP: submit, watch 30 trials of one
Indexed Job (two of them failing), rerun just those, refuse cancelling one, cancel the sweep;
kubectl agreeing with ktui."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ktui.cli import main
from ktui.cluster.kube.actions import Actions
from ktui.cluster.kube.config import load
from ktui.cluster.kube.transport import Transport
from ktui.sweep import Overrides, load_sweep
from ktui.sweep.render import launch_manifests

from .conftest import SPEED, eventually

SPEC = """\
name: ix
image: python:3.11-slim
mode: indexed
retries: 0
args: ["--lr={lr}", "--depth={depth}"]
parameters:
  grid: {lr: [0.1, 0.01, 0.001], depth: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}
"""


def manifests(tmp_path: Path, text: str = SPEC, fail: str | None = "3,17") -> list[dict[str, Any]]:
    f = tmp_path / "ix.yaml"
    f.write_text(text)
    out = launch_manifests(load_sweep(f, Overrides()), "default", None, {"ktui.dev/launched-by": "test@here"})
    ann = out[-1]["spec"]["template"]["metadata"]["annotations"]
    ann["sim.ktui.dev/duration"] = str(0.5 * SPEED)
    if fail:
        ann["sim.ktui.dev/fail-indexes"] = fail
    return out


def kubectl(sim: Any, *args: str) -> Any:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed: the cross-check needs it")
    env = {"KUBECONFIG": str(sim.kubeconfig), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(["kubectl", *args, "-o", "json"], env=env, capture_output=True, text=True, check=True,
                         timeout=60).stdout
    return json.loads(out)["items"]


def phases(backend: Any) -> dict[int, str]:
    return {t.index: t.phase for t in backend.store.trials_of_sweep("ix")}


def test_thirty_trials_two_failing_rerun_cancel(sim: Any, backend_factory: Any, tmp_path: Path, capsys: Any) -> None:
    backend = backend_factory(sim.kubeconfig, namespace="default", all_namespaces=False)
    backend.start()
    result = backend.submit(manifests(tmp_path))
    assert (len(result.created), result.failed) == (30, ())

    done = eventually(lambda: (p := phases(backend)) and len(p) == 30 and all(v in ("Succeeded", "Failed") for v in p.values())
                      and all(t.params for t in backend.store.trials_of_sweep("ix")) and p,
                      timeout=30, message=lambda: f"phases {phases(backend)}")
    assert sorted(k for k, v in done.items() if v == "Failed") == [3, 17]
    t17 = backend.store.get_trial(("default", "ix-017"))
    assert t17 is not None and t17.params == {"lr": 0.01, "depth": 8} and t17.reason == "exit code 1"
    assert t17.pod is not None and t17.pod.startswith("ix-17-") and t17.node and t17.source == "ix"
    t0 = backend.store.get_trial(("default", "ix-000"))
    assert t0 is not None and t0.pod is not None and t0.pod.startswith("ix-0-") and t0.retries == 0

    jobs = kubectl(sim, "get", "jobs")
    assert [(j["metadata"]["name"], j["spec"]["completions"]) for j in jobs] == [("ix", 30)]
    assert jobs[0]["status"]["failedIndexes"] == "3,17"
    maps = kubectl(sim, "get", "configmaps", "-l", "ktui.dev/params-of=ix")
    assert [m["metadata"]["ownerReferences"][0]["uid"] for m in maps] == [jobs[0]["metadata"]["uid"]]
    pods = kubectl(sim, "get", "pods", "-l", "job-name=ix")
    failed = {p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
              for p in pods if p["status"]["phase"] == "Failed"}
    assert failed == {"3", "17"}

    # One trial cannot be cancelled alone: said, and nothing is deleted.
    res = backend.cancel([("default", "ix-005")])
    assert not res.done and "cannot stop one index of an Indexed Job" in res.failed[0].message
    assert "ktui cancel ix" in res.failed[0].message
    assert len(kubectl(sim, "get", "jobs")) == 1

    # Relaunching the same sweep creates nothing.
    again = backend.submit(manifests(tmp_path))
    assert (len(again.existing), again.created, again.changed) == (30, (), ())

    # Rerun of the failed trials: a new Job for exactly those two.
    res = backend.rerun("ix", namespace="default")
    assert sorted(res.done) == ["default/ix-003", "default/ix-017"] and not res.failed
    jobs = {j["metadata"]["name"]: j for j in kubectl(sim, "get", "jobs")}
    assert sorted(jobs) == ["ix", "ix-r1"]
    r1 = jobs["ix-r1"]
    assert r1["spec"]["completions"] == 2 and r1["metadata"]["annotations"]["ktui.dev/indexes"] == "3,17"
    eventually(lambda: all(t is not None and t.source == "ix-r1" and t.phase == "Succeeded" and t.params
                           for t in (backend.store.get_trial(("default", n)) for n in ("ix-003", "ix-017"))),
               timeout=30, message=lambda: f"phases {phases(backend)}")
    t17 = backend.store.get_trial(("default", "ix-017"))
    assert t17 is not None and t17.params == {"lr": 0.01, "depth": 8}
    assert sum(1 for v in phases(backend).values() if v == "Succeeded") == 30

    # Deleting the rerun brings back the original's state.
    assert backend.cancel([("default", "ix-003"), ("default", "ix-017")]).done == ("default/ix-r1",)
    eventually(lambda: phases(backend).get(3) == "Failed" and phases(backend).get(17) == "Failed", timeout=20)

    # `ktui cancel SWEEP` names every trial: each Job all of whose trials are named goes (a
    # rerun's too), and with it its pods and ConfigMaps.
    assert len(backend.rerun("ix", namespace="default").done) == 2
    assert backend.sweep_trials("ix", "default") and len(kubectl(sim, "get", "jobs")) == 2
    assert main(["cancel", "ix", "--yes", "--kubeconfig", str(sim.kubeconfig)]) == 0
    assert capsys.readouterr().out.strip() == "deleted 2 jobs"
    eventually(lambda: not sim.objects("jobs") and not sim.objects("configmaps", "default")
               and not backend.store.trials_of_sweep("ix"), timeout=20,
               message=lambda: f"left: {[m['metadata']['name'] for m in sim.objects('configmaps', 'default')]}")


def _actions(sim: Any) -> Actions:
    return Actions(Transport(load(str(sim.kubeconfig)).api_client), "default", backoff_base=0.01)


def test_a_changed_sweep_is_refused_then_replaced(sim: Any, tmp_path: Path) -> None:
    actions = _actions(sim)
    assert len(actions.submit(manifests(tmp_path, fail=None)).created) == 30
    edited = SPEC.replace("0.001", "0.002").replace("--depth={depth}", "--depth {depth}")
    res = actions.submit(manifests(tmp_path, edited, fail=None))
    assert res.refused and not res.created
    changes = {c.name: c.differences for c in res.changed}
    assert changes["default/ix-020"] == ("params.lr: 0.001 -> 0.002",)
    assert changes["default/ix-000"][0].startswith("command line or env: ")
    uid = sim.get("jobs", "default", "ix")["metadata"]["uid"]
    res = actions.submit(manifests(tmp_path, edited, fail=None), replace=True)
    assert len(res.replaced) == 30 and not res.failed
    job = sim.get("jobs", "default", "ix")
    assert job["metadata"]["uid"] != uid and job["spec"].get("suspend") is False
    [cm] = sim.objects("configmaps", "default")
    assert cm["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]
    assert "set -- python train.py --lr=0.002 '--depth 1'" in cm["data"]["20.sh"]


def test_a_configmap_that_cannot_be_made_leaves_nothing(sim: Any, tmp_path: Path) -> None:
    sim.deny("admin", "create", "configmaps", "default")
    actions = _actions(sim)
    res = actions.submit(manifests(tmp_path, fail=None))
    assert len(res.failed) == 30 and not res.created
    assert "Forbidden" in res.failed[0].message and "the Job was deleted again" in res.failed[0].message
    eventually(lambda: not sim.objects("jobs") and not sim.objects("configmaps", "default"), timeout=10)
    sim.allow_all()  # the same Actions (a UI's backend) submits fine afterwards
    assert len(actions.submit(manifests(tmp_path, fail=None)).created) == 30


def test_an_interrupted_launch_is_finished_by_the_next(sim: Any, tmp_path: Path) -> None:
    ms = manifests(tmp_path, fail=None)
    job = dict(ms[-1])
    job["metadata"] = {**job["metadata"], "annotations": {**job["metadata"]["annotations"],
                                                          "ktui.dev/launch-incomplete": "x"}}
    job["spec"] = {**job["spec"], "suspend": True}
    sim.create(job)  # as a launch interrupted before its ConfigMaps
    res = _actions(sim).submit(ms)
    assert len(res.existing) == 30 and not res.failed
    got = sim.get("jobs", "default", "ix")
    assert got["spec"]["suspend"] is False and "ktui.dev/launch-incomplete" not in got["metadata"]["annotations"]
    assert [m["metadata"]["name"] for m in sim.objects("configmaps", "default")] == ["ix-params-0"]


def test_switching_modes_is_a_change(sim: Any, tmp_path: Path) -> None:
    actions = _actions(sim)
    assert len(actions.submit(manifests(tmp_path, fail=None)).created) == 30
    plain = manifests(tmp_path, SPEC.replace("mode: indexed\n", ""), fail=None)
    res = actions.submit(plain)
    assert res.refused and [c.differences for c in res.changed] == [("mode: indexed -> jobs (one Job per trial)",)]
    assert [j["metadata"]["name"] for j in sim.objects("jobs")] == ["ix"]
    res = actions.submit(plain, replace=True)
    assert (len(res.created), res.replaced, res.failed) == (30, ("default/ix",), ())
    names = sorted(j["metadata"]["name"] for j in sim.objects("jobs"))
    assert names == [f"ix-{i:03d}" for i in range(30)]
    # And back: the trials' own Jobs are replaced by one Indexed Job.
    res = actions.submit(manifests(tmp_path, fail=None))
    assert res.refused and len(res.changed) == 30
    assert res.changed[0].differences == ("mode: one Job per trial -> indexed",)
    res = actions.submit(manifests(tmp_path, fail=None), replace=True)
    assert len(res.replaced) == 30 and not res.failed
    assert [j["metadata"]["name"] for j in sim.objects("jobs")] == ["ix"]


def test_parameters_that_come_after_the_job_are_read_when_they_come(sim: Any, backend_factory: Any,
                                                                  tmp_path: Path) -> None:
    *maps, job = manifests(tmp_path, fail=None)
    made = sim.create(job)  # the store sees the Job before its launch created the ConfigMaps
    backend = backend_factory(sim.kubeconfig, namespace="default", all_namespaces=False)
    backend.start()
    eventually(lambda: len(backend.store.trials_of_sweep("ix")) == 30, timeout=20)
    assert backend.store.get_trial(("default", "ix-004")).params == {}
    owner = {"apiVersion": "batch/v1", "kind": "Job", "name": "ix", "uid": made["metadata"]["uid"]}
    for cm in maps:
        sim.create({**cm, "metadata": {**cm["metadata"], "ownerReferences": [owner]}})
    eventually(lambda: all(t.params for t in backend.store.trials_of_sweep("ix")), timeout=20)
    assert backend.store.get_trial(("default", "ix-004")).params == {"lr": 0.1, "depth": 5}
