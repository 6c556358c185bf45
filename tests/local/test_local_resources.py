"""LocalBackend's resources with real processes: memory limits, retry back-off, per-trial
CPU and memory, GPUs through an NVML stand-in, ttlSecondsAfterFinished, a crashed ktui."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from ktui.cluster.local.gpu import GpuProbe, visible_indices
from ktui.cluster.local.state import State

from .conftest import NS, ROOT, job, trial, wait_for, wait_phase

MiB = 2**20


# ---- memory limits


def test_memory_limit_kills_the_process_tree_and_says_how_much_it_used(make_backend, work):
    b = make_backend()
    # The memory is held by a grandchild: the limit counts the whole tree.
    code = ("import subprocess, sys; subprocess.run([sys.executable, '-c', "
            "'import time; x = b\"x\" * (400 * 2**20); time.sleep(30)'])")
    b.submit([job("m-000", code, mem_limit="200Mi")])
    t = wait_phase(b, "m-000", "Failed", timeout=20)
    assert t.reason == "OOMKilled"
    (pod,) = b.store.pods_of((NS, "m-000"))
    assert "over its memory limit of 200.0Mi" in pod.message
    used = pod.message.split("used ")[1].split(",")[0]
    # 400 MiB held, plus two interpreters' own resident memory (seen: 422.1Mi in a CI run)
    assert used.endswith("Mi") and 200 < float(used[:-2]) <= 460, pod.message


def test_memory_limit_applies_to_gpu_trials_too(make_backend):
    # Address-space limits cannot apply to GPU trials (CUDA reserves terabytes); resident
    # memory can.
    b = make_backend(gpus=["0"])
    code = "import time; x = b'x' * (300 * 2**20); time.sleep(30)"
    b.submit([job("mg-000", code, mem_limit="100Mi", gpu=1)])
    assert wait_phase(b, "mg-000", "Failed", timeout=20).reason == "OOMKilled"


def test_under_the_limit_large_address_space_is_fine(make_backend):
    # 8 GiB of address space reserved but never touched: RLIMIT_AS would kill this.
    code = ("import mmap, time; m = mmap.mmap(-1, 8 * 2**30, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS); "
            "m[:10] = b'x' * 10; time.sleep(0.5); print('ok')")
    b = make_backend()
    b.submit([job("ma-000", code, mem_limit="100Mi")])
    assert wait_phase(b, "ma-000", "Succeeded", "Failed", timeout=20).phase == "Succeeded"


# ---- retry back-off


def test_retries_back_off_doubling_and_do_not_hold_the_queue(make_backend, work):
    b = make_backend(cpus=1, retry_delay=0.6)
    stamps = work / "stamps"
    code = ("import sys, time; open(sys.argv[1], 'a').write(f'{time.time()}\\n'); sys.exit(1)")
    b.submit([job("bo-000", code, cpu="1", retries=2, args=[str(stamps)]),
              job("bo-001", "import time; time.sleep(0.2)", cpu="1")])
    # While bo-000 backs off, bo-001 (behind it in the queue, same cpu) gets to run.
    t = wait_for(lambda: (x := trial(b, "bo-000")) is not None and (x.reason or "").startswith("BackOff") and x,
                 what="the back-off to show")
    assert t.phase == "Pending" and "retry 1 of 2" in t.reason
    wait_phase(b, "bo-001", "Succeeded")
    t = wait_phase(b, "bo-000", "Failed", timeout=20)
    starts = [float(x) for x in stamps.read_text().split()]
    assert len(starts) == 3 and t.retries == 3
    assert starts[1] - starts[0] >= 0.6  # the first retry waits the base delay
    assert starts[2] - starts[1] >= 1.2  # the next, twice that


def test_rerun_clears_the_back_off(make_backend, work):
    b = make_backend(retry_delay=30.0)
    stamps = work / "stamps"
    code = ("import sys, time; open(sys.argv[1], 'a').write(f'{time.time()}\\n'); sys.exit(1)")
    b.submit([job("br-000", code, retries=1, args=[str(stamps)])])
    wait_for(lambda: (x := trial(b, "br-000")) is not None and (x.reason or "").startswith("BackOff"))
    b.cancel([(NS, "br-000")])
    b.submit([job("br-000", code.replace("exit(1)", "exit(0)"), retries=1, args=[str(stamps)])])
    wait_phase(b, "br-000", "Succeeded")


# ---- per-trial use, node readings


def test_running_trials_report_cpu_and_memory_of_their_process_tree(make_backend):
    b = make_backend(usage_interval=0.2)
    code = ("import subprocess, sys; x = b'x' * (60 * 2**20); "
            "subprocess.run([sys.executable, '-c', 'while True: pass'])")
    b.submit([job("u-000", code)])
    t = wait_for(lambda: (x := trial(b, "u-000")) is not None and (x.cpu_used or 0) > 500 and x,
                 timeout=15, what="the busy grandchild's cpu")
    assert t.mem_used is not None and t.mem_used > 60 * MiB  # the parent holds 60 MiB
    assert t.cpu_used <= 1000 * b.cpus + 100
    b.cancel([(NS, "u-000")])


def test_node_reports_cores_load_and_memory(make_backend):
    b = make_backend(usage_interval=0.1)
    n = wait_for(lambda: (v := b.store.snapshot_nodes().get(b.node)) is not None and v.used and v.cores and v,
                 what="a machine sample")
    assert len(n.cores) == os.cpu_count() and all(0 <= c <= 100 for c in n.cores)
    assert n.load is not None and n.used.memory > 0
    assert n.devices == ()  # no NVIDIA driver here, and none made up


# ---- GPUs through NVML (a stand-in module with pynvml's functions)


class FakeNvml:
    """pynvml's surface as GpuProbe uses it; device 1 does not support power readings."""

    NVML_TEMPERATURE_GPU = 0

    class NVMLError(Exception):
        pass

    def __init__(self, count: int = 2, pidfile: Path | None = None) -> None:
        self.count = count
        self.pidfile = pidfile
        self.inited = False

    def nvmlInit(self) -> None:
        self.inited = True

    def nvmlShutdown(self) -> None:
        self.inited = False

    def nvmlDeviceGetCount(self) -> int:
        return self.count

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetName(self, h: int) -> bytes:
        return b"NVIDIA A100-SXM4-80GB"

    def nvmlDeviceGetUtilizationRates(self, h: int) -> SimpleNamespace:
        return SimpleNamespace(gpu=87 if h == 0 else 0, memory=40)

    def nvmlDeviceGetMemoryInfo(self, h: int) -> SimpleNamespace:
        return SimpleNamespace(used=30 * 2**30 if h == 0 else 0, total=80 * 2**30, free=0)

    def nvmlDeviceGetTemperature(self, h: int, sensor: int) -> int:
        return 64

    def nvmlDeviceGetPowerUsage(self, h: int) -> int:
        if h == 1:
            raise self.NVMLError("Not Supported")
        return 250_000

    def nvmlDeviceGetEnforcedPowerLimit(self, h: int) -> int:
        return 400_000

    def nvmlDeviceGetComputeRunningProcesses(self, h: int) -> list[SimpleNamespace]:
        if h != 0 or self.pidfile is None or not self.pidfile.exists():
            return []
        return [SimpleNamespace(pid=int(self.pidfile.read_text()), usedGpuMemory=2**30), SimpleNamespace(pid=1)]


def test_gpu_inventory_and_readings_come_from_nvml(make_backend, work, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    pidfile = work / "pid"
    probe = GpuProbe.open(FakeNvml(pidfile=pidfile))
    assert probe is not None
    b = make_backend(gpu_probe=probe, usage_interval=0.1)
    assert b.gpus == ("0", "1") and "2 GPUs" in b.location
    code = ("import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); "
            "print(os.environ['CUDA_VISIBLE_DEVICES'], os.environ['CUDA_DEVICE_ORDER']); time.sleep(30)")
    b.submit([job("gp-000", code, gpu=1, args=[str(pidfile)])])
    n = wait_for(lambda: (v := b.store.snapshot_nodes().get(b.node)) is not None and v.devices
                 and v.devices[0].processes and v, what="GPU readings naming the trial")
    d0, d1 = n.devices
    assert (d0.index, d0.name, d0.util, d0.temperature) == (0, "NVIDIA A100-SXM4-80GB", 87, 64)
    assert (d0.mem_used, d0.mem_total, d0.power, d0.power_limit) == (30 * 2**30, 80 * 2**30, 250.0, 400.0)
    assert d0.processes == ("gp-000", "pid 1")  # ours by name, a stranger by pid
    assert d1.power is None and d1.util == 0  # unsupported reading: unknown, not an error
    assert n.allocatable.gpu == 2 and n.requested.gpu == 1
    # The trial's GPU use, as a cluster's exporter gives it: the same fields, the same rule.
    t = wait_for(lambda: (t := b.store.get_trial((NS, "gp-000"))) and t.gpu_util is not None and t,
                 what="the trial's GPU use")
    assert (t.gpu_util, t.gpu_mem, t.gpu_idle) == (87, 30 * 2**30, False)
    lines = [ln.text for ln in b.stream_logs((NS, "gp-000"), follow=False)]
    assert lines[0] in ("0 PCI_BUS_ID", "1 PCI_BUS_ID")
    b.cancel([(NS, "gp-000")])


def test_no_nvml_means_no_gpus_and_no_error():
    class Broken(FakeNvml):
        def nvmlInit(self) -> None:
            raise self.NVMLError("NVML Shared Library Not Found")

    assert GpuProbe.open(Broken()) is None


def test_cuda_visible_devices_narrows_the_inventory(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert visible_indices([0, 1, 2, 3]) == ["0", "1", "2", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    assert visible_indices([0, 1, 2, 3]) == ["3"]
    assert visible_indices([0, 1, 2, 3], "") == []
    assert visible_indices([0, 1, 2, 3], "2,3") == ["2", "3"]
    assert visible_indices([0, 1], "1,7,0") == ["1"]  # CUDA stops at the first invalid id
    assert visible_indices([0, 1], "GPU-8a1b,GPU-77") == ["0", "1"]  # UUIDs: not narrowed


# ---- ttlSecondsAfterFinished


def test_ttl_seconds_after_finished_deletes_the_trial_and_its_logs(make_backend):
    b = make_backend(usage_interval=0.1)
    m = job("ttl-000", "print('hi')")
    m["spec"]["ttlSecondsAfterFinished"] = 1
    keep = job("ttl-001", "print('hi')")
    b.submit([m, keep])
    wait_phase(b, "ttl-000", "Succeeded")
    logs = list(Path(b.log_dir).rglob("ttl-000-*"))
    assert logs
    wait_for(lambda: trial(b, "ttl-000") is None, timeout=10, what="the TTL to delete it")
    assert not any(p.exists() for p in logs)
    assert wait_phase(b, "ttl-001", "Succeeded")  # no TTL: kept


# ---- a database made before the back-off columns existed


def test_an_older_database_is_migrated_in_place(tmp_path):
    db = tmp_path / "local.db"
    c = sqlite3.connect(db)
    c.execute("CREATE TABLE jobs (namespace TEXT NOT NULL, name TEXT NOT NULL, uid TEXT NOT NULL,"
              " seq INTEGER NOT NULL, rv INTEGER NOT NULL DEFAULT 1, spec TEXT NOT NULL, manifest TEXT NOT NULL,"
              " workdir TEXT NOT NULL, state TEXT NOT NULL, created REAL, started REAL, completed REAL,"
              " failed INTEGER NOT NULL DEFAULT 0, reason TEXT, message TEXT, PRIMARY KEY (namespace, name))")
    c.execute("INSERT INTO jobs (namespace, name, uid, seq, spec, manifest, workdir, state) VALUES"
              " ('default', 'old', 'u', 1, '{\"sweep\": \"sw\"}', '{}', '/', 'queued')")
    c.commit()
    c.close()
    s = State(db)
    (row,) = s.query("SELECT name, backoff, not_before FROM jobs")
    assert tuple(row) == ("old", 10.0, None)
    assert s.sweep_keys("sw", None) == [("default", "old")]  # the sweep column filled in from the spec
    assert s.sweep_keys("sw", "other") == [] and s.sweep_keys("nope", None) == []
    s.close()


# ---- ktui killed with trials running


CRASHER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    from ktui.cluster.local import LocalBackend
    from tests.local.conftest import job
    b = LocalBackend({work!r}, state_dir={state!r}, poll_interval=0.05, cpus=1)
    code = ("import sys, time; f = sys.argv[1]; open(f, 'a').write('start\\\\n'); time.sleep(1.5); "
            "open(f, 'a').write('end\\\\n')")
    b.submit([job(f"cr-00{{i}}", code, cpu="1", args=[{work!r} + f"/runs{{i}}"]) for i in range(2)])
    b.start()
    while not b.store.get_trial(("default", "cr-000")) or b.store.get_trial(("default", "cr-000")).phase != "Running":
        time.sleep(0.02)
    print("running", flush=True)
    time.sleep(60)
""")


def test_ktui_killed_mid_run_loses_nothing_and_runs_nothing_twice(make_backend, state_dir, work):
    script = CRASHER.format(root=str(ROOT), work=str(work), state=str(state_dir))
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "running"
    finally:
        p.send_signal(signal.SIGKILL)  # no cleanup of any kind
        p.wait()
    time.sleep(0.2)
    b = make_backend(cpus=1)
    wait_phase(b, "cr-000", "Succeeded", timeout=20)
    wait_phase(b, "cr-001", "Succeeded", timeout=20)
    time.sleep(0.3)
    assert (work / "runs0").read_text() == "start\nend\n"
    assert (work / "runs1").read_text() == "start\nend\n"
    assert len(b.store.pods_of((NS, "cr-000"))) == 1 and len(b.store.pods_of((NS, "cr-001"))) == 1


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs sched_setaffinity")
def test_cpu_count_honours_the_affinity_mask():
    out = subprocess.run(
        [sys.executable, "-c", "import os; os.sched_setaffinity(0, {0}); "
         "from ktui.cluster.local.machine import cpu_count; print(cpu_count())"],
        capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "1"
