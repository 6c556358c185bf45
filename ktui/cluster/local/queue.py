"""The local queue's admission round: in one BEGIN IMMEDIATE, walk the queued trials in
order, give each that fits what running attempts leave free an attempt (recorded Pending,
for the supervisor to start), and tell the others what they wait for.

The policy itself (fits, can never fit) is pure, in admission.py; this module holds when a
round is due and what it writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from ktui.cluster.local.admission import lacking, never_fits
from ktui.cluster.local.spec import TrialSpec
from ktui.cluster.local.state import State
from ktui.cluster.local.supervisor import ACTIVE, Start, retry_delay

ADMIT_EVERY = 1.0  # seconds between admission rounds when nothing has changed
QUEUE_DETAIL = 100  # queued trials told exactly what they wait for; the rest just wait

Words = dict[tuple[str, str], tuple[str, str]]  # (namespace, name) -> (reason, message)


def format_duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 120:
        return f"{seconds:.0f}s"
    return f"{seconds / 60:.0f}m"


class Queue:
    def __init__(self, state: State, *, cpus: int, memory: int, gpus: tuple[str, ...],
                 spec_of: Callable[[str], TrialSpec], job_dir: Callable[[str, str, str], Path]) -> None:
        self.state = state
        self.cpus = cpus
        self.memory = memory
        self.gpus = gpus
        self._spec_of = spec_of
        self._job_dir = job_dir
        self._seen: tuple[int, int] | None = None  # (data version, own writes) at the last round
        self._due = 0.0

    def never_fits(self, spec: TrialSpec) -> str | None:
        return never_fits(spec, self.cpus, self.memory, len(self.gpus))

    def due(self) -> bool:
        """A round reads the whole queue: only when something changed (a write here or in
        another process) or a back-off ended, or every few seconds to be sure."""
        seen = (self.state.data_version(), self.state.writes)
        now = time.monotonic()
        if seen == self._seen and now < self._due:
            return False
        self._seen = seen
        self._due = now + ADMIT_EVERY
        return True

    def admit(self) -> tuple[list[Start], Words]:
        """Record the attempts that start now; the words for every trial still queued."""
        words: Words = {}
        starts: list[Start] = []
        with self.state.write() as c:
            queued = c.execute("SELECT namespace, name, uid, workdir, failed, backoff, not_before FROM jobs"
                               " WHERE state='queued' ORDER BY seq").fetchall()
            if not queued:
                return starts, words
            cpu = mem = 0
            busy: set[str] = set()
            for a in c.execute("SELECT cpu_m, memory, gpus FROM attempts WHERE phase IN (?, ?)", ACTIVE):
                cpu += a["cpu_m"]
                mem += a["memory"]
                busy.update(g for g in a["gpus"].split(",") if g)
            free_cpu, free_mem = self.cpus * 1000 - cpu, self.memory - mem
            free_gpus = [g for g in self.gpus if g not in busy]
            blocked = 0
            now = time.time()
            wake = float("inf")  # the first back-off to end
            for job in queued:
                key = (job["namespace"], job["name"])
                if blocked >= QUEUE_DETAIL and job["not_before"] is None:
                    # Deep in a long queue: nothing can start, so no spec is decoded and
                    # the words do not change as the queue moves (no churn per trial).
                    words[key] = ("Queued", f"waiting in the queue behind {QUEUE_DETAIL}+ trials")
                    continue
                spec = self._spec_of(job["uid"])
                if job["not_before"] is not None and job["not_before"] > now:
                    wake = min(wake, job["not_before"])
                    # Backing off gives up its place and holds nothing: others may start.
                    delay = retry_delay(float(job["backoff"]), job["failed"] - 1)
                    words[key] = ("BackOff", f"back-off {format_duration(delay)} restarting failed trial "
                                             f"(retry {job['failed']} of {spec.backoff_limit})")
                    continue
                never = self.never_fits(spec)
                if never:
                    words[key] = ("Unschedulable", never)
                    continue
                lack = lacking(spec, free_cpu, free_mem, len(free_gpus))
                if blocked or lack:
                    words[key] = ("Queued", f"waiting for {lack}" if not blocked
                                  else f"{blocked} trial{'s' if blocked > 1 else ''} ahead in the queue")
                    blocked += 1
                    continue
                gpus = tuple(free_gpus[: spec.gpu])
                del free_gpus[: spec.gpu]
                free_cpu -= spec.cpu_m
                free_mem -= spec.memory
                n = c.execute("SELECT COALESCE(MAX(n) + 1, 0) FROM attempts WHERE job_uid=?",
                              (job["uid"],)).fetchone()[0]
                d = self._job_dir(*key, job["uid"]) / f"attempt-{n}"
                c.execute(
                    "INSERT INTO attempts (job_uid, n, namespace, job, dir, gpus, cpu_m, memory, gpu,"
                    " created, phase) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'Pending')",
                    (job["uid"], n, *key, str(d), ",".join(gpus), spec.cpu_m, spec.memory, spec.gpu, now),
                )
                c.execute("UPDATE jobs SET state='running', started=COALESCE(started, ?), rv=rv+1"
                          " WHERE uid=?", (now, job["uid"]))
                starts.append(Start(*key, job["uid"], job["workdir"], spec, n, gpus, d))
            if wake != float("inf"):
                self._due = min(self._due, time.monotonic() + max(0.0, wake - time.time()))
        return starts, words
