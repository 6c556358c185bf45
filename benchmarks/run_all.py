"""Run every benchmark at one or more scales and write benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/run_all.py --scale 100            # 1,500 pods, minutes
    .venv/bin/python benchmarks/run_all.py --scale 100 10 1       # up to 150,000 pods

Scale s means 150,000/s pods on pods/30 nodes (1: 150,000 pods / 5,000 nodes; 10: 15,000 /
500; 100: 1,500 / 50). Each script starts its own `ktui sim` subprocess at that size and
prints its figures; this script records the machine, each command and its output.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# (script, its own arguments): the first screen is measured against the instant simulator
# and against one paced like a kube-apiserver (see bench_first_screen.py).
RUNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("bench_first_screen.py", ()),
    ("bench_first_screen.py", ("--server-cost-us", "100")),
    ("bench_keypress.py", ()),
    ("bench_terminal_bytes.py", ()),
    ("bench_watch_ui.py", ()),
    ("bench_submit.py", ()),
    ("bench_list_decode.py", ()),
    ("bench_sweep_load.py", ()),
    ("bench_gpu_telemetry.py", ()),
    ("bench_indexed_submit.py", ()),
)
NOTES = HERE / "NOTES.md"  # targets, status and before/after: kept by hand, copied in


def machine() -> list[str]:
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
            mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration):
        pass
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    kubectl = subprocess.run(["kubectl", "version", "--client"], capture_output=True, text=True,
                             check=False).stdout.strip().splitlines()[:1] if _has("kubectl") else ["none"]
    import textual

    return [f"- `uname -a`: `{' '.join(platform.uname())}`",
            f"- CPUs: {os.cpu_count()} ({cpu}); memory: {mem}",
            f"- Python {platform.python_version()}, Textual {textual.__version__}, "
            f"kubectl: {kubectl[0] if kubectl else '?'}"]


def _has(exe: str) -> bool:
    import shutil

    return shutil.which(exe) is not None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=int, nargs="+", default=[100], choices=[1, 10, 100])
    ap.add_argument("--only", nargs="*", default=None, help="script names to run (default: all)")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    ap.add_argument("--no-kubectl", action="store_true")
    ap.add_argument("--extra", action="append", default=[], metavar="SCRIPT:ARGS",
                    help="extra arguments for one script, e.g. bench_keypress.py:--repeat=10")
    a = ap.parse_args()
    extra: dict[str, list[str]] = {}
    for e in a.extra:
        name, _, args = e.partition(":")
        extra.setdefault(name, []).extend(args.split())
    runs = [(s, args) for s, args in RUNS if a.only is None or s in a.only or s.removesuffix(".py") in a.only]

    lines = ["# ktui benchmarks", "",
             f"Run {time.strftime('%Y-%m-%d %H:%M %Z')} by `benchmarks/run_all.py --scale "
             f"{' '.join(map(str, a.scale))}`. Each script starts its own simulator "
             "(`ktui sim`, a subprocess) at the size given and measures on 127.0.0.1; what each "
             "figure means is in the script's docstring (`--help`).", "", "## Machine", "",
             *machine(), ""]
    notes_at = len(lines)  # NOTES.md goes here, read when the file is written
    failed = 0
    for scale in a.scale:
        pods = 150_000 // scale
        lines += [f"## Scale {scale}: {pods:,} pods, {min(5000, max(3, pods // 30)):,} nodes", ""]
        for script, own in runs:
            cmd = [".venv/bin/python", f"benchmarks/{script}", "--pods", str(pods), *own,
                   *(["--no-kubectl"] if a.no_kubectl else []), *extra.get(script, [])]
            print(f"$ {' '.join(cmd)}", flush=True)
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, *cmd[1:]], capture_output=True, text=True,
                                 cwd=ROOT, check=False)
            took = time.perf_counter() - t0
            print(out.stdout, flush=True)
            body = out.stdout.strip()
            if out.returncode != 0:
                failed += 1
                print(out.stderr, file=sys.stderr, flush=True)
                body += f"\n\nFAILED with exit status {out.returncode}:\n{out.stderr.strip()[-2000:]}"
            title = f"{script} {' '.join(own)}".strip()
            lines += [f"### {title}", "", f"`{' '.join(cmd)}` ({took:.0f} s)", "", "```", body,
                      "```", ""]
    if NOTES.exists():
        lines[notes_at:notes_at] = [NOTES.read_text().strip(), ""]
    a.out.write_text("\n".join(lines))
    print(f"wrote {a.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
