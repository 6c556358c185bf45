"""The small process each local trial attempt runs under.

    python -m ktui.cluster.local.wrapper ATTEMPT_DIR

ATTEMPT_DIR holds ``spec.json`` (argv, env, cwd, memory limit), written by the backend.
The backend starts this wrapper in its own session (``start_new_session=True``) with stdout
and stderr already pointing at the attempt's log file, so the trial outlives ktui. The wrapper:

1. writes ``pid`` (its pid; it leads its own process group, which ``cancel`` signals);
2. forks; the child changes into the working directory and execs the command (stdout and
   stderr are inherited: the log);
3. waits; with a memory limit, it samples the resident memory of the trial's process tree
   every 0.2 s and kills the tree when it goes over, as a cgroup's OOM killer would;
4. writes ``exit.json`` atomically (write + rename): exit code, signal, whether it ran out
   of memory (and the peak it reached), and when it finished.

Why not ``RLIMIT_AS``: it limits address space, not memory. CUDA, JAX and the JVM reserve
address space by the terabyte and glibc reserves 64 MiB arenas per thread, so a trial far
under its limit would fail. Resident memory is what a Kubernetes memory limit counts. A
spike shorter than the sampling interval can pass unseen; a cgroup (memory.max) would close
that gap where ktui may create one.

``exit.json`` is the only way the backend learns an attempt's outcome, so a backend started
later (after ktui exited) reads it just the same. Stdlib only; imports nothing from ktui.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from typing import Any

# Log tail markers of a process that ran out of (address-space-limited) memory.
_OOM_MARKERS = (b"MemoryError", b"std::bad_alloc", b"Cannot allocate memory", b"out of memory")
_TAIL_BYTES = 8192
_SAMPLE = 0.2  # seconds between memory samples of a trial with a limit


def _write_atomic(path: str, data: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _log_tail(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - _TAIL_BYTES))
            return f.read()
    except OSError:
        return b""


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(x) for x in f.read().split())
        except (OSError, ValueError):
            continue
    return out


def _tree(root: int) -> list[int]:
    """``root`` and its descendants (each thread's /proc children list; Linux 3.5+)."""
    out = [root]
    i = 0
    while i < len(out):
        out.extend(_children(out[i]))
        i += 1
    return out


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _resident(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * _PAGE
        except (OSError, ValueError, IndexError):
            continue
    return total


def _child(spec: dict[str, Any]) -> None:  # never returns
    try:
        os.chdir(spec["cwd"])
        argv = spec["argv"]
        os.execvpe(argv[0], argv, spec["env"])
    except BaseException as exc:  # noqa: BLE001 - anything here means "could not start"
        try:
            os.write(2, f"ktui: cannot run {spec.get('argv')!r}: {exc}\n".encode())
        finally:
            os._exit(127)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m ktui.cluster.local.wrapper ATTEMPT_DIR", file=sys.stderr)
        return 2
    d = argv[0]
    with open(os.path.join(d, "spec.json")) as f:
        spec = json.load(f)
    _write_atomic(os.path.join(d, "pid"), str(os.getpid()))
    child_pid = os.fork()
    if child_pid == 0:
        _child(spec)
    # A cancel sends SIGTERM to the whole group; a trial that ignores it is killed after
    # ``kill_grace`` seconds, by the wrapper itself, so that holds even when ktui has exited.
    grace = max(1, int(spec.get("kill_grace") or 10))

    def on_term(*_: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child_pid, signal.SIGTERM)
        signal.alarm(grace)

    def on_alarm(*_: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(os.getpgrp(), signal.SIGKILL)  # the trial and anything it started; and us

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGALRM, on_alarm)
    limit = int(spec.get("memory_limit") or 0)
    peak = 0
    over = False
    status = 0
    while True:
        try:
            pid, status = os.waitpid(child_pid, os.WNOHANG if limit else 0)
        except InterruptedError:
            continue
        if pid:
            break
        tree = _tree(child_pid)
        rss = _resident(tree)
        peak = max(peak, rss)
        if rss > limit and not over:
            over = True
            for p in reversed(tree):  # the tree, not the group: the group includes this wrapper
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, signal.SIGKILL)
            continue
        time.sleep(_SAMPLE)
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + (sig or 0)
    oom = False
    if code != 0:
        if over:
            oom = True
        elif sig == signal.SIGKILL:
            oom = True  # nobody but the kernel's OOM killer sends SIGKILL to a trial we did not cancel
        else:
            tail = _log_tail(spec["log"])
            oom = any(m in tail for m in _OOM_MARKERS)
    result: dict[str, Any] = {"exit_code": code, "signal": sig, "oom": oom, "finished": time.time()}
    if over:
        result["over_limit"] = peak
    elif limit:
        result["peak"] = peak
    _write_atomic(os.path.join(d, "exit.json"), json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
