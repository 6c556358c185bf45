"""Shipping a sweep's code to a cluster, over real HTTP against the simulator: one immutable
ConfigMap before any Job, reused; the kubelet mounts and unpacks it (the trial's log lists
the files it sees); oversize refused before anything is created; a code change is a
difference; `ktui gc`."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from ktui.cli import main
from ktui.snapshot import take
from tests.cluster.conftest import eventually
from tests.sim.helpers import request

SPEC = """\
name: {name}
image: python:3.11-slim
command: [python, train.py]
args: ["--lr={{lr}}"]
resources: {{cpu: "1", memory: 1Gi}}
retries: 0
code: {code}
parameters:
  grid: {{lr: [0.1, 0.01]}}
"""


def project(tmp_path: Path, *, name: str = "cs", code: str = ".") -> Path:
    d = tmp_path / "proj"
    (d / "data").mkdir(parents=True, exist_ok=True)
    (d / "train.py").write_text("print('hello')\n")
    (d / "data" / "x.csv").write_text("1,2\n3,4\n")
    (d / "run.log").write_text("not shipped\n")
    (d / ".gitignore").write_text("*.log\n")
    f = d / "sweep.yaml"
    f.write_text(SPEC.format(name=name, code=code))
    return f


def launch(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(["launch", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def cms(sim) -> dict[str, dict]:
    return {c["metadata"]["name"]: c for c in sim.objects("configmaps")}


def log_of(sim, pod: dict, container: str = "trial") -> str:
    meta = pod["metadata"]
    r = request(sim, "GET", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/log?container={container}")
    return r.body.decode()


def test_launch_ships_code_once_and_the_trials_see_the_files(sim, tmp_path, capsys):
    f = project(tmp_path)
    kc = str(sim.kubeconfig)
    rc, out, err = launch(capsys, str(f), "--kubeconfig", kc)
    assert rc == 0, err
    assert out == "created 2, existing 0, failed 0\n"
    snap = take(f.parent)
    (cm,) = cms(sim).values()
    assert cm["metadata"]["name"] == snap.name == "ktui-code-" + snap.sha256[:16]
    assert cm["immutable"] is True
    assert base64.b64decode(cm["binaryData"]["code.tar.gz"]) == snap.data
    assert f"created configmap default/{snap.name}" in err and "4 files" in err
    jobs = {j["metadata"]["name"]: j for j in sim.objects("jobs")}
    assert set(jobs) == {"cs-000", "cs-001"}
    ann = jobs["cs-000"]["metadata"]["annotations"]
    code = json.loads(ann["ktui.dev/code"])
    assert (code["sha256"], code["files"], code["configMap"]) == (snap.sha256, 4, snap.name)
    assert ann["ktui.dev/version"] and "@" in ann["ktui.dev/launched-by"]

    def pod_done() -> dict | None:
        pods = [p for p in sim.objects("pods") if p["metadata"]["labels"].get("job-name") == "cs-000"]
        return pods[0] if pods and pods[0]["status"].get("phase") == "Succeeded" else None

    pod = eventually(pod_done, timeout=30)
    (init,) = pod["status"]["initContainerStatuses"]
    assert init["name"] == "unpack-code" and init["state"]["terminated"]["exitCode"] == 0
    first = log_of(sim, pod).splitlines()[0]
    assert first == "ktui-sim: /workspace: .gitignore (6 B), data/x.csv (8 B), sweep.yaml ({} B), train.py (15 B)".format(
        (f.parent / "sweep.yaml").stat().st_size)
    (cs,) = pod["status"]["containerStatuses"]
    assert cs["imageID"].startswith("docker.io/library/python@sha256:")
    assert main(["jobs", "--kubeconfig", kc, "--sweep", "cs", "-o", "json", "--no-metrics"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    prov = rows["cs-000"]["provenance"]
    assert prov["code"]["sha256"] == snap.sha256 and prov["code"]["files"] == 4
    assert prov["image"] == "python:3.11-slim" and prov["imageDigest"] == cs["imageID"]
    assert prov["launchedBy"] == ann["ktui.dev/launched-by"] and prov["git"] is None  # tmp_path: no git

    # the same sweep and code again: the same Jobs, the ConfigMap reused
    rc, out, err = launch(capsys, str(f), "--kubeconfig", kc)
    assert (rc, out) == (0, "created 0, existing 2, failed 0\n"), err
    assert len(cms(sim)) == 1
    # edited code: a difference like a changed parameter, refused, nothing created
    (f.parent / "train.py").write_text("print('changed')\n")
    rc, out, err = launch(capsys, str(f), "--kubeconfig", kc)
    assert rc == 2
    assert "code: " + snap.sha256[:16] + " -> " in err
    assert len(cms(sim)) == 1
    # --replace: new Jobs on a new snapshot
    rc, out, err = launch(capsys, str(f), "--kubeconfig", kc, "--replace")
    assert rc == 0, err
    assert len(cms(sim)) == 2


def test_a_second_sweep_with_the_same_code_reuses_the_configmap(sim, tmp_path, capsys):
    f = project(tmp_path)
    kc = str(sim.kubeconfig)
    assert launch(capsys, str(f), "--kubeconfig", kc)[0] == 0
    rc, out, err = launch(capsys, str(f), "--kubeconfig", kc, "--name", "other")
    assert rc == 0, err
    assert "reused configmap default/ktui-code-" in err
    assert len(cms(sim)) == 1 and len(sim.objects("jobs")) == 4


def test_a_configmap_of_the_name_with_other_content_is_not_reused(sim, tmp_path, capsys):
    f = project(tmp_path)
    snap = take(f.parent)
    sim.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": snap.name, "namespace": "default"},
                "binaryData": {"code.tar.gz": base64.b64encode(b"not the same").decode()}})
    rc, out, err = launch(capsys, str(f), "--kubeconfig", str(sim.kubeconfig))
    assert rc == 1
    assert f"configmap default/{snap.name} already exists with other content" in err
    assert "nothing was submitted" in err
    assert sim.objects("jobs") == []


def test_oversize_code_is_refused_before_anything_is_created(sim, tmp_path, capsys):
    f = project(tmp_path)
    (f.parent / "data" / "weights.bin").write_bytes(os.urandom(1_300_000))
    (f.parent / "data" / "small.bin").write_bytes(os.urandom(1000))
    rc, out, err = launch(capsys, str(f), "--kubeconfig", str(sim.kubeconfig))
    assert rc == 2
    assert "over the 1.0 MiB a ConfigMap holds; nothing was created" in err
    assert "data/weights.bin" in err and err.index("data/weights.bin") < err.index("data/small.bin")
    assert "exclude" in err and "bake them into the image" in err
    assert sim.objects("configmaps") == [] and sim.objects("jobs") == []
    # excluding it is the way out
    f.write_text(SPEC.format(name="cs", code="{path: ., exclude: [weights.bin]}"))
    rc, out, err = launch(capsys, str(f), "--kubeconfig", str(sim.kubeconfig))
    assert rc == 0, err


def test_a_symlink_out_of_the_tree_refuses_the_launch_naming_it(sim, tmp_path, capsys):
    f = project(tmp_path)
    (tmp_path / "secret").write_text("s")
    (f.parent / "creds").symlink_to(tmp_path / "secret")
    rc, out, err = launch(capsys, str(f), "--kubeconfig", str(sim.kubeconfig))
    assert rc == 2
    assert f"sweep.yaml:7:7: code: {f.parent / 'creds'}: a symlink leading out of the tree" in err
    assert sim.objects("jobs") == []


def test_dry_run_prints_the_configmap_first(tmp_path, capsys):
    f = project(tmp_path)
    rc = main(["launch", str(f), "--dry-run", "-o", "json"])
    out, _ = capsys.readouterr()
    assert rc == 0
    items = json.loads(out)["items"]
    assert [i["kind"] for i in items] == ["ConfigMap", "Job", "Job"]
    assert items[0]["immutable"] is True


def test_gc_deletes_only_unreferenced_snapshots(sim, tmp_path, capsys):
    f = project(tmp_path)
    kc = str(sim.kubeconfig)
    assert launch(capsys, str(f), "--kubeconfig", kc)[0] == 0
    used = next(iter(cms(sim)))
    stale = "ktui-code-00000000deadbeef"
    sim.create({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": stale, "namespace": "default", "labels": {"ktui.dev/code-snapshot": "00000000deadbeef"}},
                "binaryData": {"code.tar.gz": base64.b64encode(b"x").decode()}, "immutable": True})
    assert main(["gc", "--kubeconfig", kc]) == 0  # younger than --min-age: kept
    assert "no unused code snapshots" in capsys.readouterr().out
    assert main(["gc", "--kubeconfig", kc, "--min-age", "0"]) == 0
    out, err = capsys.readouterr()
    assert f"would delete configmap default/{stale}" in out and used not in out
    assert set(cms(sim)) == {used, stale}
    assert main(["gc", "--kubeconfig", kc, "--min-age", "0", "--yes"]) == 0
    assert f"deleted configmap default/{stale}" in capsys.readouterr().out
    assert set(cms(sim)) == {used}
    # once the sweep's Jobs are gone, its snapshot goes too
    assert main(["cancel", "cs", "--yes", "--kubeconfig", kc]) == 0
    eventually(lambda: not sim.objects("jobs"), timeout=20)
    assert main(["gc", "--kubeconfig", kc, "--min-age", "0", "--yes"]) == 0
    assert cms(sim) == {}


def test_diff_names_parameters_code_files_with_their_diff_and_image(sim, tmp_path, capsys):
    f = project(tmp_path)
    kc = str(sim.kubeconfig)
    assert launch(capsys, str(f), "--kubeconfig", kc)[0] == 0
    (f.parent / "train.py").write_text("print('hello')\nprint('more')\n")
    (f.parent / "new.py").write_text("x = 1\n")
    f.write_text(SPEC.format(name="cs", code=".").replace("python:3.11-slim", "python:3.12-slim"))
    assert launch(capsys, str(f), "--kubeconfig", kc, "--name", "other")[0] == 0

    def ran() -> bool:
        pods = sim.objects("pods", "default")
        return len(pods) == 4 and all(any(cs.get("imageID") for cs in p["status"].get("containerStatuses", []))
                                      for p in pods)

    eventually(ran, timeout=30)
    assert main(["diff", "cs-000", "other-001", "--kubeconfig", kc]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "cs-000 -> other-001"
    assert "  lr: 0.1 -> 0.01" in out
    assert "  image: python:3.11-slim -> python:3.12-slim" in out
    code = next(ln for ln in out if ln.startswith("code: "))
    assert code.startswith("code: ktui-code-") and " -> ktui-code-" in code
    assert "  changed: sweep.yaml, train.py" in out and "  added: new.py" in out
    assert "  +print('more')" in out and "  --- cs-000/train.py" in out
    digest = next(ln for ln in out if ln.startswith("image digest: "))
    assert digest.count("docker.io/library/python@sha256:") == 2
    assert main(["diff", "cs-000", "cs-000", "--kubeconfig", kc]) == 0
    assert capsys.readouterr().out.splitlines()[1] == "nothing differs"
    assert main(["diff", "cs-000", "nope", "--kubeconfig", kc]) == 1
    assert "no trial nope" in capsys.readouterr().err
