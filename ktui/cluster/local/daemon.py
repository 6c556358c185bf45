"""The detached queue runner: keeps admitting queued local trials while no ktui is open.

    python -m ktui.cluster.local.daemon STATE_DIR

``ensure_scheduler(state_dir)`` starts it (in its own session, so it outlives the caller);
it holds ``STATE_DIR/scheduler.lock`` so at most one runs per state directory, and exits once
nothing is running and nothing queued can ever start; meanwhile it enforces the sweeps'
early-stopping rules (ktui.cluster.earlystop). A LocalBackend in an open ktui
schedules as well: admission is one SQLite ``BEGIN IMMEDIATE`` transaction, so any number of
schedulers never start a job twice.

Whoever queues a trial commits it and then calls ``ensure_scheduler``, so the queue never
depends on the queuing process living on (a TUI killed with SIGKILL included). No trial is
stranded by a runner that is just exiting: it lets go of the lock *before* its last look at
the queue. A trial committed after that look was committed before its queuer's new runner
tried the lock, which it then finds free.
"""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

# Seconds with nothing to do before exiting (KTUI_RUNNER_IDLE_EXIT: tests make it short).
IDLE_EXIT = float(os.environ.get("KTUI_RUNNER_IDLE_EXIT", "3.0"))


def ensure_scheduler(state_dir: str | os.PathLike[str], python: str = sys.executable) -> None:
    d = Path(state_dir)
    d.mkdir(parents=True, exist_ok=True)
    with open(d / "scheduler.log", "ab") as out:
        subprocess.Popen([python, "-m", "ktui.cluster.local.daemon", str(d)], stdin=subprocess.DEVNULL,
                         stdout=out, stderr=out, cwd=str(d), start_new_session=True, close_fds=True)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m ktui.cluster.local.daemon STATE_DIR", file=sys.stderr)
        return 2
    d = Path(argv[0])
    d.mkdir(parents=True, exist_ok=True)
    # Its stderr is scheduler.log: what the backend logs (a trial that could not start) goes there.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    lock = open(d / "scheduler.lock", "w")  # noqa: SIM115 - held until exit
    if not _try_lock(lock):
        return 0  # another runner serves this state directory
    import msgspec

    from ktui.cluster.earlystop import SweepSupervisor
    from ktui.cluster.local.backend import LocalBackend
    from ktui.cluster.local.spec import TrialSpec
    from ktui.cluster.logmetrics import LogMetrics
    from ktui.cluster.resultcache import ResultCache

    decode = msgspec.json.Decoder(TrialSpec).decode
    b = LocalBackend(state_dir=d, poll_interval=0.5)
    # The sweeps' early-stopping rules hold whether or not a ktui is open.
    supervisor = SweepSupervisor(b, LogMetrics(b, cache=ResultCache()))
    supervisor.start()

    def busy() -> bool:
        rows = b.state.query("SELECT state, spec FROM jobs WHERE state IN ('queued', 'running')")
        return any(r["state"] == "running" or not b.queue.never_fits(decode(r["spec"])) for r in rows)

    idle_since: float | None = None
    try:
        while True:
            b.step()
            supervisor.tick()
            if busy():
                idle_since = None
            elif idle_since is None:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since > IDLE_EXIT:
                fcntl.flock(lock, fcntl.LOCK_UN)  # first let go, then look (module docstring)
                if not busy() or not _try_lock(lock):
                    return 0
                idle_since = None
            time.sleep(b.poll_interval)
    finally:
        supervisor.stop()
        b.stop()


def _try_lock(lock: IO[str]) -> bool:
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
