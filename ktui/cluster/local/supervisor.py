"""The local backend's process supervision: start an attempt's detached wrapper, notice how
attempts end (recorded exit code, dead pid, a wrapper that never started), record what that
means for the trial (done, or queued again after a back-off), and make sure cancelled
attempts die (SIGTERM, then SIGKILL after the grace period).

Separate from the queue (queue.py decides what starts) and from the store (projection.py
shows it): this is the only code that signals processes or reads their exit files.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import tarfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from ktui.cluster.local import code, machine
from ktui.cluster.local.processes import (
    CHILDREN,
    CHILDREN_LOCK,
    group_alive,
    read_exit,
    read_pid,
    reap_children,
    resolve_argv,
    rmtree,
    signal_group,
)
from ktui.cluster.local.spec import TrialSpec
from ktui.cluster.local.state import State
from ktui.cluster.records import failure_words
from ktui.wire.quantity import format_bytes

log = logging.getLogger(__name__)

ACTIVE = ("Pending", "Running")
MAX_RETRY_DELAY = 360.0  # seconds; Kubernetes caps a pod's restart back-off at 5 minutes, Jobs at 6
_SPEC_DECODER = msgspec.json.Decoder(TrialSpec)


@dataclass(frozen=True)
class Start:
    """An attempt the queue recorded as Pending, for the supervisor to start."""

    namespace: str
    name: str
    uid: str
    workdir: str
    spec: TrialSpec
    n: int
    gpus: tuple[str, ...]
    dir: Path


@dataclass
class _Kill:
    pid: int
    start: str | None
    deadline: float
    dirs: list[Path]


def retry_delay(first: float, failures: int) -> float:
    """Like a pod's restart back-off: first, 2x, 4x, ... up to 6 minutes."""
    return min(first * 2 ** failures, MAX_RETRY_DELAY)


def outcome_words(outcome: dict[str, Any], memory_limit: int) -> tuple[str, str | None, str | None]:
    """An attempt's recorded outcome as (phase, reason, message), worded like a pod's."""
    code = outcome.get("exit_code")
    if "lost" in outcome:
        return "Failed", "Error", outcome["lost"]
    if code == 0:
        return "Succeeded", None, None
    if outcome.get("oom"):
        if outcome.get("over_limit"):
            message = (f"used {format_bytes(int(outcome['over_limit']))}, over its memory limit of "
                       f"{format_bytes(memory_limit)}: killed")
        elif outcome.get("signal") == signal.SIGKILL:
            message = "killed by SIGKILL (the kernel's OOM killer, most likely)"
        else:
            message = "ran out of memory (its log ends with an allocation failure)"
        return "Failed", failure_words(code, oom=True), message
    sig = outcome.get("signal")
    return "Failed", failure_words(code) or "Error", f"killed by {signal.Signals(sig).name}" if sig else None


class Supervisor:
    def __init__(self, state: State, log_dir: Path, *, python: str, kill_grace: float,
                 start_grace: float, code_dir: Path | None = None) -> None:
        self.state = state
        self.log_dir = log_dir
        self.code_dir = code_dir if code_dir is not None else log_dir.parent / "code"
        self.python = python
        self.kill_grace = kill_grace
        self.start_grace = start_grace
        self._lock = threading.Lock()
        self._kills: list[_Kill] = []

    def job_dir(self, ns: str, name: str, uid: str) -> Path:
        return self.log_dir / ns / f"{name}-{uid[:8]}"

    # ---- how attempts end

    def reap(self) -> None:
        reap_children()
        rows = self.state.query("SELECT * FROM attempts WHERE phase IN (?, ?)", ACTIVE)
        now = time.time()
        for r in rows:
            d = Path(r["dir"])
            outcome = read_exit(d)
            pid, start = r["pid"], r["pid_start"]
            if outcome is None and pid is None:
                pid = read_pid(d)
                if pid is not None:
                    start = machine.process_start_time(pid)
                    with self.state.write() as c:
                        c.execute("UPDATE attempts SET pid=?, pid_start=?, rv=rv+1 WHERE job_uid=? AND n=?"
                                  " AND pid IS NULL", (pid, start, r["job_uid"], r["n"]))
                elif now - (r["created"] or now) > self.start_grace:
                    outcome = {"lost": "the trial's process never started (ktui exited while starting it?)"}
            if outcome is None and pid is not None and not machine.alive(pid, start):
                outcome = read_exit(d) or {
                    "lost": "the trial's wrapper process ended without recording an exit code (killed?)"}
            if outcome is not None:
                self.finish(r["job_uid"], r["n"], outcome)

    def finish(self, job_uid: str, n: int, outcome: dict[str, Any]) -> None:
        """Record how an attempt ended, and what that means for its job (done, or retry)."""
        finished = float(outcome.get("finished") or time.time())
        with self.state.write() as c:
            a = c.execute("SELECT * FROM attempts WHERE job_uid=? AND n=?", (job_uid, n)).fetchone()
            if a is None or a["phase"] not in ACTIVE:
                return  # someone else (another ktui) recorded it first, or it was cancelled
            job = c.execute("SELECT * FROM jobs WHERE uid=?", (job_uid,)).fetchone()
            spec = _SPEC_DECODER.decode(job["spec"]) if job is not None else None
            phase, reason, message = outcome_words(outcome, spec.memory_limit if spec is not None else 0)
            c.execute("UPDATE attempts SET phase=?, finished=?, exit_code=?, reason=?, message=?, rv=rv+1"
                      " WHERE job_uid=? AND n=?",
                      (phase, finished, outcome.get("exit_code"), reason, message, job_uid, n))
            if job is None or job["state"] != "running":
                return
            if phase == "Succeeded":
                c.execute("UPDATE jobs SET state='succeeded', completed=?, rv=rv+1 WHERE uid=?", (finished, job_uid))
            elif job["failed"] + 1 > (spec.backoff_limit if spec is not None else 0):
                c.execute("UPDATE jobs SET state='failed', completed=?, failed=failed+1, reason=?, message=?,"
                          " rv=rv+1 WHERE uid=?",
                          (finished, "BackoffLimitExceeded", "Job has reached the specified backoff limit",
                           job_uid))
            else:
                delay = retry_delay(float(job["backoff"]), job["failed"])
                c.execute("UPDATE jobs SET state='queued', failed=failed+1, not_before=?, rv=rv+1 WHERE uid=?",
                          (finished + delay, job_uid))
                log.info("retrying %s/%s in %.0fs after %s", job["namespace"], job["name"], delay, reason)

    # ---- starting

    def spawn(self, s: Start) -> None:
        out = s.dir / "output.log"
        env = dict(os.environ)
        env.update(s.spec.env)
        env.update({
            "KTUI_BACKEND": "local",
            "KTUI_NAMESPACE": s.namespace,
            "KTUI_JOB": s.name,
            "KTUI_ATTEMPT": str(s.n),
            "CUDA_VISIBLE_DEVICES": ",".join(s.gpus),
            "CUDA_DEVICE_ORDER": "PCI_BUS_ID",  # NVML's numbering, which the inventory uses
        })
        env.setdefault("PYTHONUNBUFFERED", "1")
        if s.spec.free_port_env:
            port = str(free_port())
            env.update(dict.fromkeys(s.spec.free_port_env, port))
        cwd = s.workdir
        if s.spec.code:
            # Its own copy of the snapshot taken at launch, beside its logs (gone with them).
            cwd = str(s.dir.parent / code.WORKSPACE)
            try:
                code.unpack(code.archive_path(self.code_dir, s.spec.code), Path(cwd))
            except (OSError, ValueError, tarfile.TarError) as exc:
                self.finish(s.uid, s.n, {"lost": f"could not unpack its code snapshot {s.spec.code[:16]}: {exc}"})
                return
        try:
            s.dir.mkdir(parents=True, exist_ok=True)
            (s.dir / "spec.json").write_text(json.dumps({
                "argv": resolve_argv(s.spec.argv, env, self.python), "env": env,
                "cwd": cwd, "memory_limit": s.spec.memory_limit, "log": str(out),
                "kill_grace": self.kill_grace,
            }))
            with open(out, "ab") as f:
                p = subprocess.Popen(
                    [self.python, "-m", "ktui.cluster.local.wrapper", str(s.dir)],
                    stdin=subprocess.DEVNULL, stdout=f, stderr=f, cwd=str(s.dir),
                    start_new_session=True, close_fds=True,
                )
        except OSError as exc:
            self.finish(s.uid, s.n, {"lost": f"could not start the trial: {exc}"})
            return
        with CHILDREN_LOCK:
            CHILDREN[p.pid] = p
        start = machine.process_start_time(p.pid)
        with self.state.write() as c:
            cur = c.execute("UPDATE attempts SET pid=?, pid_start=?, started=?, phase='Running', rv=rv+1"
                            " WHERE job_uid=? AND n=? AND phase='Pending'", (p.pid, start, time.time(), s.uid, s.n))
            gone = cur.rowcount == 0
        if gone:  # cancelled while it was being started
            signal_group(p.pid, start, signal.SIGKILL)
            log.info("killed %s/%s: cancelled while starting", s.namespace, s.name)

    # ---- cancellation

    def kill(self, doomed: Sequence[tuple[int, str | None, list[Path]]]) -> None:
        """SIGTERM each attempt's process group now; finish_kills() SIGKILLs what outlives the
        grace period and removes the directories once the group is gone."""
        deadline = time.monotonic() + self.kill_grace
        for pid, start, dirs in doomed:
            signal_group(pid, start, signal.SIGTERM)
            with self._lock:
                self._kills.append(_Kill(pid, start, deadline, dirs))

    def finish_kills(self) -> None:
        with self._lock:
            kills, self._kills = self._kills, []
        keep = []
        now = time.monotonic()
        for k in kills:
            # The group outlives its leader if the trial ignores SIGTERM; a pgid is not
            # reused while any member lives, so probing the group is safe.
            if group_alive(k.pid):
                if now >= k.deadline:
                    signal_group(k.pid, None, signal.SIGKILL)
                keep.append(k)
            else:
                for d in k.dirs:
                    rmtree(d)
        with self._lock:
            self._kills.extend(keep)

    def wait_gone(self, pids: Sequence[int]) -> None:
        """Until these attempts' process groups are gone (SIGKILL after the grace period)."""
        deadline = time.monotonic() + self.kill_grace + 5.0
        while any(group_alive(p) for p in pids) and time.monotonic() < deadline:
            self.finish_kills()
            reap_children()
            time.sleep(0.05)
        self.finish_kills()  # removes the old attempts' directories


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (a distributed trial's rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
