"""A simulated trial of an indexed sweep reads its parameters where the real one does (its
index's entry in the mounted ConfigMaps), so it trains exactly as the same trial does in the
default mode, one Job per trial."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ktui.sim.testing import Sim
from ktui.sweep import Overrides, load_sweep
from ktui.sweep.render import launch_manifests

from .helpers import job_done, request

SPEC = """\
name: {name}
image: python:3.11-slim
{mode}
args: ["--lr={{lr}}", "--depth={{depth}}"]
parameters:
  grid: {{lr: [0.1, 0.001, 0.00001], depth: [1, 2]}}
"""


def submit(sim: Sim, tmp_path: Path, name: str, indexed: bool) -> list[dict[str, Any]]:
    f = tmp_path / f"{name}.yaml"
    f.write_text(SPEC.format(name=name, mode="mode: indexed" if indexed else ""))
    manifests = launch_manifests(load_sweep(f, Overrides()), "default", None, {})
    for m in manifests:
        sim.create(m)
    return manifests


def pod_of(sim: Sim, job: str, index: int | None = None) -> str:
    for p in sim.objects("pods", "default"):
        meta = p["metadata"]
        if meta["labels"].get("job-name") != job:
            continue
        if index is None or meta["annotations"].get("batch.kubernetes.io/job-completion-index") == str(index):
            return str(meta["name"])
    raise AssertionError(f"no pod of {job} {index}")


def log(sim: Sim, pod: str) -> str:
    return request(sim, "GET", f"/api/v1/namespaces/default/pods/{pod}/log").body.decode()


def test_each_index_trains_as_its_trial_does_in_the_default_mode(sim: Sim, tmp_path: Path) -> None:
    submit(sim, tmp_path, "ix", indexed=True)
    submit(sim, tmp_path, "jb", indexed=False)
    sim.wait_for(lambda s: job_done(s, "ix") and all(job_done(s, f"jb-{t:03d}") for t in range(6)), timeout=30)
    indexed = [log(sim, pod_of(sim, "ix", k)) for k in range(6)]
    plain = [log(sim, pod_of(sim, f"jb-{t:03d}")) for t in range(6)]
    assert indexed[0].splitlines()[0] == 'starting training params={"lr":0.1,"depth":1}'
    assert len(set(indexed)) == 6  # six trials, six curves
    assert indexed == plain  # the same parameters: the same curve, line for line


def test_an_index_whose_fragment_is_missing_fails_as_sh_would(sim: Sim, tmp_path: Path) -> None:
    f = tmp_path / "ix.yaml"
    f.write_text(SPEC.format(name="ix", mode="mode: indexed"))
    *maps, job = launch_manifests(load_sweep(f, Overrides()), "default", None, {})
    del maps[0]["data"]["1.sh"]
    job["spec"]["backoffLimitPerIndex"] = 0
    for m in [*maps, job]:
        sim.create(m)
    sim.wait_for(lambda s: (s.get("jobs", "default", "ix") or {}).get("status", {}).get("failedIndexes") == "1",
                 timeout=30)
    text = log(sim, pod_of(sim, "ix", 1))
    assert text == '/bin/sh: 1: .: cannot open /ktui/params/1.sh: No such file\n'
    assert re.match(r'starting training params=\{"lr":0\.001,"depth":2\}', log(sim, pod_of(sim, "ix", 3)))
