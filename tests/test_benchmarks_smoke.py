"""Each benchmark script runs at a tiny size, exits 0 and prints its figure lines.

No timing is asserted: the figures depend on the machine. Marked `bench`: the default run
leaves them out (pyproject's addopts); `.ci/run` runs them apart with `pytest -m bench`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.bench

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"

CASES = {
    "bench_first_screen.py": (["--pods", "300"], ["FIRST FULL SCREEN", "bare GET pods+jobs+nodes", "kubectl"]),
    "bench_keypress.py": (["--pods", "300", "--repeat", "2"],
                          ["keypress -> frame", "down ", "pagedown", "sort ", "filter", "enter log"]),
    "bench_terminal_bytes.py": (["--pods", "300", "--seconds", "1", "--rate", "20"],
                                ["terminal bytes at 120x40", "xterm-256color ", "truecolor", "idle", "churn"]),
    "bench_submit.py": (["--pods", "300", "--trials", "50"], ["ktui KubeBackend.submit", "kubectl"]),
    "bench_indexed_submit.py": (["--trials", "50"], ["one Job per trial", "indexed", "50 Jobs + 0 CMs", "1 Jobs + 1 CMs"]),
    "bench_sweep_load.py": (["--trials", "200", "--params", "5", "--mb", "0.1"],
                            ["sweep file load", "list sweep YAML", "params.json", "peak RSS"]),
    "bench_gpu_telemetry.py": (["--pods", "300", "--nodes", "20", "--repeat", "1"],
                               ["dcgm-exporter via pods/proxy", "Prometheus via services/proxy", "every node"]),
    "bench_gpu_telemetry_sim.py": (["--nodes", "20", "--pods", "100", "--repeat", "1"],
                                   ["one node's /metrics", "Prometheus GPU_UTIL over", "over all 20 nodes"]),
    "bench_watch_ui.py": (["--pods", "300", "--events", "3000"],
                          ["watch storm of 3,000", "store only", "with the UI", "frames/s", "276 jobs shown after"]),
}


@pytest.mark.parametrize("script", sorted(CASES))
def test_benchmark_runs(script: str) -> None:
    args, expected = CASES[script]
    out = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True,
                         text=True, cwd=ROOT, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    for text in expected:
        assert text in out.stdout, f"{text!r} missing from:\n{out.stdout}"


def test_run_all_writes_results(tmp_path: Path) -> None:
    dest = tmp_path / "RESULTS.md"
    out = subprocess.run([sys.executable, str(BENCH / "run_all.py"), "--scale", "100", "--only",
                          "bench_submit", "--out", str(dest), "--extra",
                          "bench_submit.py:--trials=20 --pods=300"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    text = dest.read_text()
    assert "## Machine" in text and "ktui KubeBackend.submit" in text
