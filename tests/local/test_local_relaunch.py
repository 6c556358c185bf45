"""Relaunching an edited sweep on this machine (issue 14 item 3): a trial queued, running
or finished under the same name is kept only if it runs the same thing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ktui.cluster.local.processes import group_alive as _group_alive
from ktui.sweep import load_sweep, render_jobs

from .conftest import NS, ROOT, wait_for, wait_phase

SPEC = """\
name: r
image: ignored:1
command: [python, -c, "import sys, time; open(sys.argv[2], 'w').write(sys.argv[1]); time.sleep(60)"]
args: ["{{tag}}", "{{tag}}.out"]
parameters:
  grid: {{tag: {tags}}}
"""


def sweep_file(work: Path, tags: str) -> Path:
    f = work / "r.yaml"
    f.write_text(SPEC.format(tags=tags))
    return f


def manifests(f: Path) -> list[dict]:
    return list(render_jobs(load_sweep(f), NS))


def running_pid(b, name: str) -> int:  # type: ignore[no-untyped-def]
    def pid() -> int | None:
        rows = b.state.query("SELECT a.pid FROM attempts a JOIN jobs j ON a.job_uid = j.uid"
                             " WHERE j.name=? AND a.pid IS NOT NULL", (name,))
        return rows[0]["pid"] if rows else None

    return wait_for(pid, 10, f"{name}'s pid")


def test_edited_sweep_is_refused_and_replace_swaps_only_the_changed_trials(make_backend, work):
    b = make_backend(cpus=8)
    f = sweep_file(work, "[a, b]")
    assert b.submit(manifests(f), source_dir=str(work)).created == (f"{NS}/r-000", f"{NS}/r-001")
    wait_for(lambda: (work / "a.out").exists() and (work / "b.out").exists(), 15, "both trials to run")
    old = {n: wait_phase(b, n, "Running").uid for n in ("r-000", "r-001")}
    old_pid = running_pid(b, "r-001")
    assert _group_alive(old_pid)

    f = sweep_file(work, "[a, c]")
    refused = b.submit(manifests(f), source_dir=str(work))
    assert refused.refused and not refused.created and refused.existing == (f"{NS}/r-000",)
    assert [(c.name, c.differences) for c in refused.changed] == [
        (f"{NS}/r-001", ("params.tag: b -> c", "args: b b.out -> c c.out"))]
    b.refresh(force=True)
    assert {n: b.store.get_trial((NS, n)).uid for n in old} == old  # nothing touched

    dry = b.submit(manifests(f), source_dir=str(work), replace=True, dry_run=True)
    assert (dry.replaced, dry.created, dry.dry_run) == ((f"{NS}/r-001",), (), True)

    done = b.submit(manifests(f), source_dir=str(work), replace=True)
    assert (done.replaced, done.existing, done.created, done.failed) == ((f"{NS}/r-001",), (f"{NS}/r-000",), (), ())
    assert not _group_alive(old_pid)  # the old attempt is gone before the new one is queued
    wait_for(lambda: (work / "c.out").exists(), 15, "the replacement to run")
    b.refresh(force=True)
    assert b.store.get_trial((NS, "r-000")).uid == old["r-000"]
    assert b.store.get_trial((NS, "r-001")).uid != old["r-001"]
    assert b.submit(manifests(f), source_dir=str(work)).existing == (f"{NS}/r-000", f"{NS}/r-001")


def test_another_workdir_is_another_trial(make_backend, work, tmp_path):
    b = make_backend(cpus=8)
    f = sweep_file(work, "[a]")
    b.submit(manifests(f), source_dir=str(work))
    elsewhere = tmp_path / "copy"
    elsewhere.mkdir()
    res = b.submit(manifests(f), source_dir=str(elsewhere))
    assert res.refused and res.changed[0].differences == (f"workdir: {work} -> {elsewhere}",)


def test_cli_dry_run_shows_the_refusal_locally(make_backend, work, state_dir):
    b = make_backend(cpus=8)
    f = sweep_file(work, "[a, b]")
    b.submit(manifests(f), source_dir=str(work))
    sweep_file(work, "[a, c]")
    env = {"XDG_STATE_HOME": str(state_dir.parent), "PATH": "/usr/bin:/bin", "HOME": str(work)}
    state_dir.parent.joinpath("ktui").symlink_to(state_dir)
    r = subprocess.run([sys.executable, "-m", "ktui", "launch", str(f), "--local", "--dry-run", "-o", "table"],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert r.returncode == 2, r.stderr
    assert "1 trial of sweep r already exists with different settings; nothing was submitted" in r.stderr
    assert f"{NS}/r-001: params.tag: b -> c" in r.stderr and "--replace" in r.stderr
    assert "r-001" in r.stdout
