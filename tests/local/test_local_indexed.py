"""mode: indexed on this machine: each trial runs as its own process, as in mode: jobs."""

from __future__ import annotations

import json
from pathlib import Path

from ktui.sweep import load_sweep
from ktui.sweep.render import launch_manifests

from .conftest import NS, wait_phase

SPEC = """\
name: li
image: ignored:1
mode: indexed
parallelism: 1
command: [python, -c, "import json, os, sys; json.dump([sys.argv[1:], os.environ['KTUI_TRIAL']], open(sys.argv[2], 'w'))"]
args: ["{tag}", "{tag}.out"]
parameters:
  grid: {tag: [a, b]}
"""


def test_indexed_sweep_runs_each_trial_here(make_backend, work: Path) -> None:
    f = work / "li.yaml"
    f.write_text(SPEC)
    manifests = launch_manifests(load_sweep(f), NS, None, {}, here=True)
    assert [m["kind"] for m in manifests] == ["Job", "Job"]
    b = make_backend(cpus=4)
    res = b.submit(manifests, source_dir=str(work))
    assert res.created == (f"{NS}/li-000", f"{NS}/li-001")
    for name in ("li-000", "li-001"):
        wait_phase(b, name, "Succeeded")
    assert json.loads((work / "b.out").read_text()) == [["b", "b.out"], "1"]
