"""Relaunching a sweep whose file changed (issue 14 item 3) and an exact tally under
injected errors (16c), over real HTTP against the simulator."""

from __future__ import annotations

from pathlib import Path

from ktui.cli import main
from ktui.cluster.kube.actions import Actions
from ktui.cluster.kube.config import load
from ktui.cluster.kube.transport import Transport
from ktui.sweep import load_sweep, render_jobs

from .conftest import eventually

SPEC = """\
name: {name}
image: {image}
command: [python, train.py]
args: ["--lr={{lr}}", "--depth={{depth}}"]
resources: {{cpu: "{cpu}", memory: 1Gi}}
retries: 1
parameters:
  grid: {{lr: [0.1, 0.01], depth: {depths}}}
"""


def write_sweep(path: Path, *, name: str = "g", depths: str = "[2, 3, 4]", image: str = "python:3.11",
                cpu: str = "1") -> Path:
    path.write_text(SPEC.format(name=name, depths=depths, image=image, cpu=cpu))
    return path


def rendered(path: Path) -> list[dict]:
    return list(render_jobs(load_sweep(path), "default"))


def _actions(sim, **kw) -> Actions:
    cfg = load(str(sim.kubeconfig))
    opts = dict(backoff_base=0.02, backoff_cap=0.1, attempts=12)
    opts.update(kw)
    return Actions(Transport(cfg.api_client), cfg.namespace, **opts)


def _jobs(sim) -> dict[str, dict]:
    return {j["metadata"]["name"]: j for j in sim.objects("jobs")}


def _args(job: dict) -> list[str]:
    return job["spec"]["template"]["spec"]["containers"][0]["args"]


def _launch(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["launch", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_relaunch_of_an_edited_grid_refuses_and_creates_nothing(sim, tmp_path, capsys):
    f = write_sweep(tmp_path / "g.yaml")
    kc = str(sim.kubeconfig)
    assert _launch(capsys, str(f), "--kubeconfig", kc)[:2] == (0, "created 6, existing 0, failed 0\n")
    before = {n: (j["metadata"]["uid"], _args(j)) for n, j in _jobs(sim).items()}
    write_sweep(f, depths="[5, 3, 4]")  # trials 0 and 3 change depth 2 -> 5
    rc, out, err = _launch(capsys, str(f), "--kubeconfig", kc)
    assert rc == 2
    assert "2 trials of sweep g already exist with different settings" in err
    assert "default/g-000: params.depth: 2 -> 5, args: --lr=0.1 --depth=2 -> --lr=0.1 --depth=5" in err
    assert "default/g-003: params.depth: 2 -> 5" in err
    assert "--name NEW" in err and "--replace" in err and "nothing was submitted" in err
    assert {n: (j["metadata"]["uid"], _args(j)) for n, j in _jobs(sim).items()} == before


def test_identical_relaunch_stays_idempotent(sim, tmp_path, capsys):
    f = write_sweep(tmp_path / "g.yaml")
    kc = str(sim.kubeconfig)
    _launch(capsys, str(f), "--kubeconfig", kc)
    uids = {n: j["metadata"]["uid"] for n, j in _jobs(sim).items()}
    assert _launch(capsys, str(f), "--kubeconfig", kc)[:2] == (0, "created 0, existing 6, failed 0\n")
    assert {n: j["metadata"]["uid"] for n, j in _jobs(sim).items()} == uids
    ann = _jobs(sim)["g-000"]["metadata"]["annotations"]
    assert ann["ktui.dev/fingerprint"].startswith("v1:") and ann["ktui.dev/launch"]


def test_image_and_resources_count_and_many_differences_are_summarised(sim, tmp_path, capsys):
    f = write_sweep(tmp_path / "g.yaml", depths="[1, 2, 3, 4]")
    kc = str(sim.kubeconfig)
    _launch(capsys, str(f), "--kubeconfig", kc)
    write_sweep(f, depths="[1, 2, 3, 4]", image="python:3.12", cpu="2")
    rc, out, err = _launch(capsys, str(f), "--kubeconfig", kc)
    assert rc == 2
    assert "default/g-000: image: python:3.11 -> python:3.12, resources.cpu: 1 -> 2" in err
    assert "8 trials of sweep g" in err and "and 3 more" in err


def test_replace_recreates_only_the_differing_trials(sim, tmp_path, capsys):
    f = write_sweep(tmp_path / "g.yaml")
    kc = str(sim.kubeconfig)
    _launch(capsys, str(f), "--kubeconfig", kc)
    eventually(lambda: len(sim.objects("pods", "default")) == 6, timeout=15)
    old = {n: j["metadata"]["uid"] for n, j in _jobs(sim).items()}
    write_sweep(f, depths="[5, 3, 4]")
    rc, out, err = _launch(capsys, str(f), "--kubeconfig", kc, "--replace")
    assert (rc, out) == (0, "created 0, replaced 2, existing 4, failed 0\n"), err
    jobs = _jobs(sim)
    assert sorted(jobs) == [f"g-00{i}" for i in range(6)]
    for name in ("g-000", "g-003"):
        assert jobs[name]["metadata"]["uid"] != old[name] and _args(jobs[name])[1] == "--depth=5"
        # the old incarnation's pods went with it
        assert not [p for p in sim.objects("pods")
                    if p["metadata"]["labels"].get("controller-uid") == old[name]]
    assert all(jobs[n]["metadata"]["uid"] == old[n] for n in ("g-001", "g-002", "g-004", "g-005"))
    assert _launch(capsys, str(f), "--kubeconfig", kc)[:2] == (0, "created 0, existing 6, failed 0\n")


def test_dry_run_shows_the_verdict_and_changes_nothing(sim, tmp_path, capsys):
    f = write_sweep(tmp_path / "g.yaml")
    kc = str(sim.kubeconfig)
    _launch(capsys, str(f), "--kubeconfig", kc)
    # (uid and generation: what a write would change; the resourceVersion moves anyway as the
    # controllers write the running Jobs' status)
    def state() -> dict[str, tuple[str, int]]:
        return {n: (j["metadata"]["uid"], j["metadata"]["generation"]) for n, j in _jobs(sim).items()}
    before = state()
    write_sweep(f, depths="[5, 3, 4]")
    rc, out, err = _launch(capsys, str(f), "--kubeconfig", kc, "--dry-run", "-o", "table")
    assert rc == 2 and "g-005" in out  # the manifests are still printed
    assert "2 trials of sweep g already exist with different settings" in err
    assert "default/g-000: params.depth: 2 -> 5" in err
    rc, out, err = _launch(capsys, str(f), "--kubeconfig", kc, "--dry-run", "-o", "table", "--replace")
    assert rc == 0 and "ktui: would create 0, replace 2, existing 4, failed 0" in err
    assert state() == before


def test_jobs_from_before_the_fingerprint_are_compared_field_by_field(sim, tmp_path):
    f = write_sweep(tmp_path / "g.yaml")
    for m in rendered(f):  # as an older ktui (or `kubectl apply` of a dry run) made them
        sim.create(m)
    assert _actions(sim).submit(rendered(f)).existing == tuple(f"default/g-00{i}" for i in range(6))
    write_sweep(f, image="python:3.12")
    result = _actions(sim).submit(rendered(f))
    assert not result.created and len(result.changed) == 6
    assert result.changed[0].differences == ("image: python:3.11 -> python:3.12",)


def test_relaunch_tally_is_exact_under_injected_5xx(sim, tmp_path):
    f = write_sweep(tmp_path / "g.yaml", name="t", depths=str(list(range(40))))
    manifests = rendered(f)  # 80 trials
    first = _actions(sim).submit(manifests[:17])
    assert len(first.created) == 17
    sim.faults.set_error_rate(share=0.4, status=500)
    result = _actions(sim).submit(manifests)
    sim.faults.clear()
    assert result.ok, result.failed
    held = _jobs(sim)
    assert len(held) == 80
    assert (len(result.created), len(result.existing)) == (63, 17)
    assert set(result.existing) == {f"default/{m['metadata']['name']}" for m in manifests[:17]}

