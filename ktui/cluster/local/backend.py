"""LocalBackend: the Backend protocol on this machine (one node; trials as processes).

Each submitted Job manifest becomes a trial: its container's command and args run in the
backend's working directory (the image is ignored), with the container's env plus KTUI_*.
A FIFO queue admits trials while their cpu/memory/GPU requests fit what running trials leave
free (strict FIFO: a trial that does not fit holds back those behind it, so big trials are
not starved; one that can never fit on this machine is skipped and shown Unschedulable).
GPUs are handed out exclusively through CUDA_VISIBLE_DEVICES. A failed attempt is retried
up to the Job's backoffLimit, like a Job's pods.

Durability: see state.py (SQLite) and wrapper.py (one detached wrapper per attempt that
records the exit code in a file). ktui may exit at any time; trials keep running, and the
next LocalBackend on the same state directory re-attaches: it reads recorded exit codes,
checks recorded pids (with their start times, so a reused pid is not mistaken for ours), and
never starts a job that a row says was started.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from ktui.cluster.backend import ProgressFn
from ktui.cluster.fingerprint import differences, stamp
from ktui.cluster.local import machine
from ktui.cluster.local.admission import lacking, never_fits
from ktui.cluster.local.daemon import ensure_scheduler
from ktui.cluster.local.gpu import GpuProbe, visible_indices
from ktui.cluster.local.logs import LocalLogStream
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
from ktui.cluster.local.spec import SpecError, TrialSpec, parse_manifest
from ktui.cluster.local.state import State, default_state_dir
from ktui.cluster.model import (
    ActionResult,
    Capabilities,
    Capability,
    EventView,
    Failure,
    NodeCondition,
    PodSummary,
    SubmitResult,
    SubmitTally,
    TrialChange,
    TrialDescription,
    TrialKey,
    TrialState,
)
from ktui.cluster.quantity import format_bytes
from ktui.cluster.records import EventRec, JobRec, NodeRec, NodeUsage, PodRec, PodUsage, failure_words
from ktui.cluster.store import Store
from ktui.wire.names import parse_metric

log = logging.getLogger(__name__)

ACTIVE = ("Pending", "Running")
_SPEC_DECODER = msgspec.json.Decoder(TrialSpec)
_SUBMIT_CHUNK = 500
_OUTCOMES = {"succeeded": "Complete", "failed": "Failed"}  # the queue's states, as a Job's outcome
_SPEC_CACHE_MAX = 200_000
# Stands in for the spec of a row deleted between two reads (a cancel in another process).
_LOST_SPEC = TrialSpec(namespace="", name="", sweep=None, trial=None, params=None, metric=None, argv=["true"],
                       env={}, cpu_m=0, memory=0, memory_limit=0, gpu=0, backoff_limit=0)
ADMIT_EVERY = 1.0  # seconds between admission rounds when nothing has changed
QUEUE_DETAIL = 100  # queued trials told exactly what they wait for; the rest just wait
MAX_RETRY_DELAY = 360.0  # seconds; Kubernetes caps a pod's restart back-off at 5 minutes, Jobs at 6


class LocalBackend:
    name = "local"

    def __init__(
        self,
        workdir: str | os.PathLike[str] | None = None,
        *,
        state_dir: str | os.PathLike[str] | None = None,
        db_path: str | os.PathLike[str] | None = None,
        log_dir: str | os.PathLike[str] | None = None,
        cpus: int | None = None,
        memory: int | None = None,
        gpus: Sequence[int | str] | None = None,
        gpu_probe: GpuProbe | None = None,
        node_name: str | None = None,
        poll_interval: float = 0.25,
        usage_interval: float = 2.0,
        kill_grace: float = 5.0,
        start_grace: float = 30.0,
        python: str = sys.executable,
        retry_delay: float = 10.0,
        keep_queue_running: bool = False,
    ) -> None:
        """``workdir``: where submitted trials run (default: the current directory), fixed
        per trial at submit time. ``state_dir``: default $XDG_STATE_HOME/ktui, holding
        ``local.db`` and ``logs/`` (``db_path``/``log_dir`` override each). ``cpus``,
        ``memory`` (bytes), ``gpus`` (device ids for CUDA_VISIBLE_DEVICES): the inventory,
        detected by default (GPUs through NVML, narrowed by ktui's own CUDA_VISIBLE_DEVICES).
        ``gpu_probe``: where GPU readings come from (default: NVML, when present).
        ``retry_delay``: the first retry's delay after a failed attempt, doubled for each
        further one up to 6 minutes (Kubernetes' pod backoff: 10 s, 20 s, 40 s, ...).
        ``keep_queue_running``: whenever this backend queues trials (submit, rerun), make sure
        the detached queue runner is alive, so they start whatever becomes of this process
        (the CLI and the UI set it; tests that pin a small inventory leave it off, as the
        runner sees the whole machine)."""
        self.workdir = Path(workdir or os.getcwd()).resolve()
        sdir = Path(state_dir) if state_dir is not None else default_state_dir()
        self.db_path = Path(db_path) if db_path is not None else sdir / "local.db"
        self.log_dir = Path(log_dir) if log_dir is not None else sdir / "logs"
        self.cpus = cpus or machine.cpu_count()
        self.memory = memory or machine.total_memory()
        if gpu_probe is None and gpus is None:
            gpu_probe = GpuProbe.open()
        self._gpu_probe = gpu_probe
        if gpus is None:
            gpus = visible_indices(gpu_probe.indices) if gpu_probe is not None else ()
        self.gpus: tuple[str, ...] = tuple(str(g) for g in gpus)
        self.node = node_name or machine.hostname()
        self.poll_interval = poll_interval
        self.usage_interval = usage_interval
        self.kill_grace = kill_grace
        self.start_grace = start_grace
        self.python = python
        self.retry_delay = retry_delay
        self.keep_queue_running = keep_queue_running

        self.state = State(self.db_path)
        self._store = Store()
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._changed = True  # this process wrote: refresh the store
        self._data_version: int | None = None
        self._admit_dv: int | None = None
        self._admit_due = 0.0
        self._events: dict[tuple[str, str], EventRec] = {}
        # Cancelled attempts still to be made sure of: (pid, pid start, SIGKILL deadline, dirs).
        self._kills: list[tuple[int, str | None, float, list[Path]]] = []
        self._machine = machine.MachineSampler()
        self._trees = machine.TreeSampler()
        self._next_usage = 0.0
        # Records built by refresh(), by (uid, rv, ...): unchanged rows are not rebuilt.
        self._job_cache: dict[tuple[str, int, int], JobRec] = {}
        self._spec_cache: dict[str, TrialSpec] = {}
        self._pod_cache: dict[tuple[str, int, int], PodRec] = {}

    # ----------------------------------------------------------------------------------------
    # Backend protocol

    @property
    def store(self) -> Store:
        return self._store

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(images=Capability(False, "the trials run here as local processes, in the sweep "
                                                     "file's directory, so the image is ignored"))

    @property
    def location(self) -> str:
        gib = self.memory / 2**30
        gpus = f", {len(self.gpus)} GPUs" if self.gpus else ""
        return f"this machine ({self.cpus} cpus, {gib:.0f} GiB{gpus})"

    @property
    def default_namespace(self) -> str:
        return "default"

    def sweep_trials(self, sweep: str, namespace: str | None = None) -> list[TrialState]:
        states = {(r["namespace"], r["name"]): r["state"]
                  for r in self.state.query("SELECT namespace, name, state FROM jobs")}
        return [TrialState(key, _OUTCOMES.get(states.get(key, ""))) for key in self._sweep_keys(sweep, namespace)]

    def find_trial(self, trial: TrialKey) -> TrialState | None:
        rows = self.state.query("SELECT state FROM jobs WHERE namespace=? AND name=?", trial)
        return TrialState(trial, _OUTCOMES.get(rows[0]["state"])) if rows else None

    def start(self) -> None:
        if self._thread is not None or self._stopped:
            return
        self._store.apply("nodes", [self._node_rec()])
        self._store.mark_synced("nodes")
        self._thread = threading.Thread(target=self._run, name="ktui-local", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching; the trials keep running (a later LocalBackend re-attaches)."""
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.state.close()

    def __enter__(self) -> LocalBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def submit(
        self,
        manifests: Sequence[Mapping[str, Any]],
        progress: ProgressFn | None = None,
        *,
        source_dir: str | None = None,
        replace: bool = False,
        dry_run: bool = False,
    ) -> SubmitResult:
        """Queue the trials. A trial already queued, running or finished under the same name
        is "existing" when it runs the same thing (ktui.cluster.fingerprint, and the same
        working directory); when it runs something else nothing is queued at all, unless
        ``replace``: those trials are cancelled (their processes gone) and queued anew."""
        workdir = str(Path(source_dir).resolve()) if source_dir else str(self.workdir)
        launch = uuid.uuid4().hex
        tally = SubmitTally(len(manifests), progress)
        todo: list[tuple[dict[str, Any], TrialSpec]] = []
        doomed: list[TrialKey] = []
        with self.state.write() as c:  # one consistent look at what is there
            for m in manifests:
                meta = m.get("metadata") or {}
                label = f"{meta.get('namespace') or 'default'}/{meta.get('name') or '?'}"
                try:
                    spec = parse_manifest(m)
                except SpecError as exc:
                    tally.failed.append(Failure(label, str(exc)))
                    continue
                stamped = stamp(m, launch)
                verdict = self._compare(c, spec, stamped, workdir)
                if verdict is None:
                    todo.append((stamped, spec))
                elif isinstance(verdict, Failure):
                    tally.failed.append(verdict)
                elif verdict:
                    tally.changed.append(TrialChange(_label(spec), verdict))
                    doomed.append((spec.namespace, spec.name))
                    todo.append((stamped, spec))
                else:
                    tally.existing.append(_label(spec))
        if dry_run:
            replacing = set(doomed) if replace else set()
            for _, spec in todo:
                if (spec.namespace, spec.name) in replacing:
                    tally.replaced.append(_label(spec))
                elif (spec.namespace, spec.name) not in doomed:
                    tally.created.append(_label(spec))
            return tally.result(dry_run=True)
        if doomed and not replace:
            tally.report()
            return tally.result()
        if doomed:
            self._cancel_and_wait(doomed)
        replacing = set(doomed)
        tally.report()
        for start in range(0, len(todo), _SUBMIT_CHUNK):
            chunk = todo[start : start + _SUBMIT_CHUNK]
            now = time.time()
            with self.state.write() as c:
                seq = c.execute("SELECT COALESCE(MAX(seq), 0) FROM jobs").fetchone()[0]
                for m, spec in chunk:
                    label = _label(spec)
                    # Another ktui may have queued it since the look above.
                    verdict = self._compare(c, spec, m, workdir)
                    if isinstance(verdict, Failure):
                        tally.failed.append(verdict)
                        continue
                    if verdict is not None:
                        if verdict:
                            tally.failed.append(Failure(label, "already exists with different settings: "
                                                        + ", ".join(verdict)))
                        else:
                            tally.existing.append(label)
                        continue
                    seq += 1
                    c.execute(
                        "INSERT INTO jobs (namespace, name, uid, seq, spec, manifest, workdir, state, created,"
                        " backoff, sweep) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
                        (spec.namespace, spec.name, str(uuid.uuid4()), seq,
                         msgspec.json.encode(spec).decode(), json.dumps(m), workdir, now, self.retry_delay,
                         spec.sweep),
                    )
                    (tally.replaced if (spec.namespace, spec.name) in replacing else tally.created).append(label)
            tally.report()
        self._poke()
        if tally.created or tally.replaced:
            self._keep_queue_running()
        return tally.result()

    @staticmethod
    def _compare(c: Any, spec: TrialSpec, manifest: Mapping[str, Any], workdir: str) -> Failure | tuple[str, ...] | None:
        """None: no such trial; () the same trial; else what differs, or why it is not ours."""
        row = c.execute("SELECT spec, manifest, workdir FROM jobs WHERE namespace=? AND name=?",
                        (spec.namespace, spec.name)).fetchone()
        if row is None:
            return None
        old = _SPEC_DECODER.decode(row["spec"])
        if spec.sweep is None or old.sweep != spec.sweep:
            return Failure(_label(spec), f"AlreadyExists: a job named {spec.name} "
                                                f"already exists (sweep {old.sweep or 'none'})")
        found = differences(json.loads(row["manifest"]), manifest)
        if row["workdir"] != workdir:
            found += (f"workdir: {row['workdir']} -> {workdir}",)
        return found

    def _cancel_and_wait(self, keys: Sequence[TrialKey]) -> None:
        """Cancel these trials and wait until their processes are gone (SIGKILL after the
        grace period), so an old attempt never runs beside its replacement."""
        uids = [r["uid"] for k in keys for r in self.state.query(
            "SELECT uid FROM jobs WHERE namespace=? AND name=?", k)]
        pids = [r["pid"] for u in uids for r in self.state.query(
            "SELECT pid FROM attempts WHERE job_uid=? AND pid IS NOT NULL AND phase IN (?, ?)", (u, *ACTIVE))]
        self.cancel(keys)
        deadline = time.monotonic() + self.kill_grace + 5.0
        while any(group_alive(p) for p in pids) and time.monotonic() < deadline:
            self._finish_kills()
            reap_children()
            time.sleep(0.05)
        self._finish_kills()  # removes the old attempts' directories

    def cancel(
        self,
        trials: Iterable[TrialKey] = (),
        *,
        sweep: str | None = None,
        namespace: str | None = None,
    ) -> ActionResult:
        keys = set(trials)
        if sweep is not None:
            keys.update(self._sweep_keys(sweep, namespace))
        done: list[str] = []
        failed: list[Failure] = []
        doomed: list[tuple[int, str | None, list[Path]]] = []
        with self.state.write() as c:
            for ns, name in sorted(keys):
                label = f"{ns}/{name}"
                job = c.execute("SELECT uid FROM jobs WHERE namespace=? AND name=?", (ns, name)).fetchone()
                if job is None:
                    failed.append(Failure(label, f"NotFound: job {name} not found"))
                    continue
                dirs = [self._job_dir(ns, name, job["uid"])]
                for a in c.execute("SELECT pid, pid_start FROM attempts WHERE job_uid=? AND phase IN (?, ?)",
                                   (job["uid"], *ACTIVE)):
                    if a["pid"] is not None:
                        doomed.append((a["pid"], a["pid_start"], dirs))
                c.execute("DELETE FROM attempts WHERE job_uid=?", (job["uid"],))
                c.execute("DELETE FROM jobs WHERE namespace=? AND name=?", (ns, name))
                if not any(d[2] is dirs for d in doomed):
                    rmtree(dirs[0])
                done.append(label)
        deadline = time.monotonic() + self.kill_grace
        for pid, start, dirs in doomed:
            signal_group(pid, start, signal.SIGTERM)
            with self._lock:
                self._kills.append((pid, start, deadline, dirs))
        self._poke()
        return ActionResult(tuple(done), tuple(failed))

    def rerun(
        self,
        sweep: str | None = None,
        *,
        trials: Iterable[TrialKey] = (),
        namespace: str | None = None,
        failed_only: bool = True,
    ) -> ActionResult:
        keys = set(trials)
        explicit = set(keys)
        if sweep is not None:
            keys.update(self._sweep_keys(sweep, namespace))
        wanted = ("failed",) if failed_only else ("failed", "succeeded")
        done: list[str] = []
        failed: list[Failure] = []
        old_dirs: list[Path] = []
        with self.state.write() as c:
            seq = c.execute("SELECT COALESCE(MAX(seq), 0) FROM jobs").fetchone()[0]
            for ns, name in sorted(keys):
                label = f"{ns}/{name}"
                job = c.execute("SELECT uid, state FROM jobs WHERE namespace=? AND name=?", (ns, name)).fetchone()
                if job is None:
                    failed.append(Failure(label, f"NotFound: job {name} not found"))
                    continue
                if job["state"] not in wanted:
                    if (ns, name) in explicit:
                        failed.append(Failure(label, "not failed" if failed_only and job["state"] == "succeeded"
                                              else "not finished"))
                    continue
                seq += 1
                old_dirs.append(self._job_dir(ns, name, job["uid"]))
                c.execute("DELETE FROM attempts WHERE job_uid=?", (job["uid"],))
                c.execute(
                    "UPDATE jobs SET uid=?, seq=?, rv=rv+1, state='queued', created=?, started=NULL,"
                    " completed=NULL, failed=0, reason=NULL, message=NULL, not_before=NULL WHERE namespace=? AND name=?",
                    (str(uuid.uuid4()), seq, time.time(), ns, name),
                )
                done.append(label)
        for d in old_dirs:
            rmtree(d)
        self._poke()
        if done:
            self._keep_queue_running()
        return ActionResult(tuple(done), tuple(failed))

    def stream_logs(
        self, trial: TrialKey, *, follow: bool = True, tail: int | None = None
    ) -> LocalLogStream:
        ns, name = trial
        rows = self.state.query(
            "SELECT a.job_uid, a.n, a.dir FROM attempts a JOIN jobs j ON a.job_uid = j.uid"
            " WHERE j.namespace=? AND j.name=? ORDER BY a.n DESC LIMIT 1", (ns, name))
        if not rows:
            raise LookupError(f"job {ns}/{name} has no pod (yet)")
        uid, n, d = rows[0]["job_uid"], rows[0]["n"], Path(rows[0]["dir"])

        def ended() -> bool:
            if (d / "exit.json").exists():
                return True
            try:
                r = self.state.query("SELECT phase FROM attempts WHERE job_uid=? AND n=?", (uid, n))
            except Exception:  # the backend was stopped: stop following
                return True
            return not r or r[0]["phase"] not in ACTIVE

        return LocalLogStream(d / "output.log", ended, follow=follow, tail=tail,
                              poll=min(self.poll_interval, 0.25))

    def describe(self, trial: TrialKey) -> TrialDescription:
        ns, name = trial
        rows = self.state.query("SELECT manifest FROM jobs WHERE namespace=? AND name=?", (ns, name))
        if not rows:
            raise LookupError(f"job {ns}/{name} not found")
        self.refresh(force=True)
        t = self._store.get_trial(trial)
        if t is None:
            raise LookupError(f"job {ns}/{name} not found")
        pods = self._store.pods_of(trial)
        with self._lock:
            evs = [e for e in self._events.values() if e.namespace == ns and e.obj == name]
        return TrialDescription(
            trial=t,
            pods=tuple(PodSummary(p.name, p.phase, p.node, p.created, p.restarts, p.reason) for p in pods),
            events=tuple(EventView(e.type, e.reason, e.message, e.count, e.last, f"{e.kind}/{e.obj}")
                         for e in evs),
            manifest=json.loads(rows[0]["manifest"]),
        )

    # ----------------------------------------------------------------------------------------
    # The loop

    def _keep_queue_running(self) -> None:
        if self.keep_queue_running:
            ensure_scheduler(self.db_path.parent)

    def queued_count(self) -> int:
        """Trials waiting for room; readable after stop() (a connection of its own)."""
        state = State(self.db_path)
        try:
            return int(state.query("SELECT COUNT(*) FROM jobs WHERE state='queued'")[0][0])
        finally:
            state.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # keep watching; a broken step is retried on the next tick
                log.exception("local backend step failed")
            self._wake.wait(self.poll_interval)
            self._wake.clear()

    def _poke(self) -> None:
        self._changed = True
        self._wake.set()

    def step(self) -> None:
        """One round: reap finished attempts, admit queued trials, finish cancellations,
        refresh the store. The loop thread calls it; tests may too."""
        reap_children()
        self._reap()
        # Admission reads the queue: only when something changed (a write here or in
        # another process, a back-off ending), or every few seconds to be sure.
        dv = self.state.data_version()
        now = time.monotonic()
        if self._changed or dv != self._admit_dv or now >= self._admit_due:
            self._admit_dv = dv
            self._admit_due = now + ADMIT_EVERY
            self._admit()
        self._finish_kills()
        self.refresh()
        now = time.monotonic()
        if now >= self._next_usage:
            self._next_usage = now + self.usage_interval
            self._sample_usage()
            self._expire()

    def _expire(self) -> None:
        """ttlSecondsAfterFinished, as Kubernetes' TTL controller: a finished trial whose
        Job asked for it is deleted, logs included, that long after it finished."""
        now = time.time()
        doomed = [(r["namespace"], r["name"]) for r in self.state.query(
            "SELECT namespace, name FROM jobs WHERE state IN ('succeeded', 'failed') AND completed IS NOT NULL"
            " AND json_extract(spec, '$.ttl') IS NOT NULL AND completed + json_extract(spec, '$.ttl') <= ?",
            (now,))]
        if doomed:
            log.info("deleting %d finished trials past their ttlSecondsAfterFinished", len(doomed))
            self.cancel(doomed)

    # ---- reaping

    def _reap(self) -> None:
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
                    self._changed = True
                elif now - (r["created"] or now) > self.start_grace:
                    outcome = {"lost": "the trial's process never started (ktui exited while starting it?)"}
            if outcome is None and pid is not None and not machine.alive(pid, start):
                outcome = read_exit(d) or {
                    "lost": "the trial's wrapper process ended without recording an exit code (killed?)"}
            if outcome is not None:
                self._finish(r["job_uid"], r["n"], outcome)

    def _finish(self, job_uid: str, n: int, outcome: dict[str, Any]) -> None:
        """Record how an attempt ended, and what that means for its job (done, or retry)."""
        finished = float(outcome.get("finished") or time.time())
        code = outcome.get("exit_code")
        with self.state.write() as c:
            a = c.execute("SELECT * FROM attempts WHERE job_uid=? AND n=?", (job_uid, n)).fetchone()
            if a is None or a["phase"] not in ACTIVE:
                return  # someone else (another ktui) recorded it first, or it was cancelled
            job = c.execute("SELECT * FROM jobs WHERE uid=?", (job_uid,)).fetchone()
            spec = _SPEC_DECODER.decode(job["spec"]) if job is not None else None
            if "lost" in outcome:
                phase, reason, message = "Failed", "Error", outcome["lost"]
            elif code == 0:
                phase, reason, message = "Succeeded", None, None
            elif outcome.get("oom"):
                phase, reason = "Failed", failure_words(code, oom=True)
                limit = spec.memory_limit if spec is not None else 0
                if outcome.get("over_limit"):
                    message = (f"used {format_bytes(int(outcome['over_limit']))}, over its memory limit of "
                               f"{format_bytes(limit)}: killed")
                elif outcome.get("signal") == signal.SIGKILL:
                    message = "killed by SIGKILL (the kernel's OOM killer, most likely)"
                else:
                    message = "ran out of memory (its log ends with an allocation failure)"
            else:
                phase, reason = "Failed", failure_words(code) or "Error"
                sig = outcome.get("signal")
                message = f"killed by {signal.Signals(sig).name}" if sig else None
            c.execute("UPDATE attempts SET phase=?, finished=?, exit_code=?, reason=?, message=?, rv=rv+1"
                      " WHERE job_uid=? AND n=?", (phase, finished, code, reason, message, job_uid, n))
            if job is None or job["state"] != "running":
                return
            key = (job["namespace"], job["name"])
            if phase == "Succeeded":
                c.execute("UPDATE jobs SET state='succeeded', completed=?, rv=rv+1 WHERE uid=?", (finished, job_uid))
            elif job["failed"] + 1 > (spec.backoff_limit if spec is not None else 0):
                c.execute("UPDATE jobs SET state='failed', completed=?, failed=failed+1, reason=?, message=?,"
                          " rv=rv+1 WHERE uid=?",
                          (finished, "BackoffLimitExceeded", "Job has reached the specified backoff limit",
                           job_uid))
            else:
                # Like a pod's restart back-off: 10 s, 20 s, 40 s, ... up to 6 minutes.
                delay = min(float(job["backoff"]) * 2 ** job["failed"], MAX_RETRY_DELAY)
                c.execute("UPDATE jobs SET state='queued', failed=failed+1, not_before=?, rv=rv+1 WHERE uid=?",
                          (finished + delay, job_uid))
                log.info("retrying %s/%s in %.0fs after %s", *key, delay, reason)
        self._changed = True

    # ---- admission

    def _admit(self) -> None:
        events: dict[tuple[str, str], tuple[str, str]] = {}
        starts: list[tuple[Any, TrialSpec, int, tuple[str, ...], Path]] = []
        with self.state.write() as c:
            queued = c.execute("SELECT namespace, name, uid, workdir, failed, backoff, not_before FROM jobs"
                               " WHERE state='queued' ORDER BY seq").fetchall()
            if queued:
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
                        events[key] = ("Queued", f"waiting in the queue behind {QUEUE_DETAIL}+ trials")
                        continue
                    spec = self._spec(job["uid"])
                    if job["not_before"] is not None and job["not_before"] > now:
                        wake = min(wake, job["not_before"])
                        # Backing off gives up its place and holds nothing: others may start.
                        delay = min(float(job["backoff"]) * 2 ** (job["failed"] - 1), MAX_RETRY_DELAY)
                        events[key] = ("BackOff", f"back-off {format_duration(delay)} restarting failed trial "
                                                  f"(retry {job['failed']} of {spec.backoff_limit})")
                        continue
                    never = self._never_fits(spec)
                    if never:
                        events[key] = ("Unschedulable", never)
                        continue
                    lack = lacking(spec, free_cpu, free_mem, len(free_gpus))
                    if blocked or lack:
                        events[key] = ("Queued", f"waiting for {lack}" if not blocked
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
                    starts.append((job, spec, n, gpus, d))
                if wake != float("inf"):
                    self._admit_due = min(self._admit_due, time.monotonic() + max(0.0, wake - time.time()))
        self._set_events(events)
        for job, spec, n, gpus, d in starts:
            self._spawn(job, spec, n, gpus, d)
        if starts:
            self._changed = True

    def _never_fits(self, spec: TrialSpec) -> str | None:
        return never_fits(spec, self.cpus, self.memory, len(self.gpus))

    def _spawn(self, job: Any, spec: TrialSpec, n: int, gpus: tuple[str, ...], d: Path) -> None:
        ns, name, uid = job["namespace"], job["name"], job["uid"]
        out = d / "output.log"
        env = dict(os.environ)
        env.update(spec.env)
        env.update({
            "KTUI_BACKEND": "local",
            "KTUI_NAMESPACE": ns,
            "KTUI_JOB": name,
            "KTUI_ATTEMPT": str(n),
            "CUDA_VISIBLE_DEVICES": ",".join(gpus),
            "CUDA_DEVICE_ORDER": "PCI_BUS_ID",  # NVML's numbering, which the inventory uses
        })
        env.setdefault("PYTHONUNBUFFERED", "1")
        limit = spec.memory_limit
        try:
            d.mkdir(parents=True, exist_ok=True)
            (d / "spec.json").write_text(json.dumps({
                "argv": resolve_argv(spec.argv, env, self.python), "env": env,
                "cwd": job["workdir"], "memory_limit": limit, "log": str(out),
                "kill_grace": self.kill_grace,
            }))
            with open(out, "ab") as f:
                p = subprocess.Popen(
                    [self.python, "-m", "ktui.cluster.local.wrapper", str(d)],
                    stdin=subprocess.DEVNULL, stdout=f, stderr=f, cwd=str(d),
                    start_new_session=True, close_fds=True,
                )
        except OSError as exc:
            self._finish(uid, n, {"lost": f"could not start the trial: {exc}"})
            return
        with CHILDREN_LOCK:
            CHILDREN[p.pid] = p
        start = machine.process_start_time(p.pid)
        with self.state.write() as c:
            cur = c.execute("UPDATE attempts SET pid=?, pid_start=?, started=?, phase='Running', rv=rv+1"
                            " WHERE job_uid=? AND n=? AND phase='Pending'", (p.pid, start, time.time(), uid, n))
            gone = cur.rowcount == 0
        if gone:  # cancelled while it was being started
            signal_group(p.pid, start, signal.SIGKILL)
            log.info("killed %s/%s: cancelled while starting", ns, name)

    # ---- cancellation

    def _finish_kills(self) -> None:
        with self._lock:
            kills, self._kills = self._kills, []
        keep = []
        now = time.monotonic()
        for pid, start, deadline, dirs in kills:
            # The group outlives its leader if the trial ignores SIGTERM; a pgid is not
            # reused while any member lives, so probing the group is safe.
            if group_alive(pid):
                if now >= deadline:
                    signal_group(pid, None, signal.SIGKILL)
                keep.append((pid, start, deadline, dirs))
            else:
                for d in dirs:
                    rmtree(d)
        with self._lock:
            self._kills.extend(keep)

    # ---- the store

    def refresh(self, force: bool = False) -> None:
        """Feed the store from the database when it changed (here or in another process)."""
        dv = self.state.data_version()
        if not (force or self._changed or dv != self._data_version):
            return
        self._changed = False
        self._data_version = dv
        # Only rows whose rv moved are rebuilt: a 10k-trial queue is re-read in ~15 ms,
        # where decoding every spec and manifest took ~100 ms on each change.
        jobs = self.state.query("SELECT namespace, name, uid, rv, state, created, started, completed,"
                                " failed, reason, message FROM jobs")
        attempts = self.state.query("SELECT job_uid, n, rv, phase, created, started, finished, cpu_m, memory,"
                                    " gpu, reason, message FROM attempts")
        by_job: dict[str, list[Any]] = {}
        for a in attempts:
            by_job.setdefault(a["job_uid"], []).append(a)
        job_recs = []
        pod_recs = []
        old_jobs, old_pods = self._job_cache, self._pod_cache
        new_jobs: dict[tuple[str, int, int], JobRec] = {}
        new_pods: dict[tuple[str, int, int], PodRec] = {}
        for j in jobs:
            atts = by_job.get(j["uid"], ())
            active = ready = 0
            for a in atts:
                if a["phase"] in ACTIVE:
                    active += 1
                    ready += a["phase"] == "Running"
            # The job record also counts its attempts' phases: key on both.
            jkey = (j["uid"], j["rv"], active * 1000 + ready)
            rec = old_jobs.get(jkey)
            if rec is None:
                rec = self._job_rec(j, active, ready)
            new_jobs[jkey] = rec
            job_recs.append(rec)
            for a in atts:
                pkey = (j["uid"], a["n"], a["rv"])
                prec = old_pods.get(pkey)
                if prec is None:
                    prec = PodRec(
                        namespace=j["namespace"], name=_pod_name(j["name"], j["uid"], a["n"]),
                        rv=f"{j['uid'][:8]}.{a['rv']}", job=j["name"], job_uid=j["uid"], node=self.node,
                        phase=a["phase"], created=a["created"], started=a["started"], finished=a["finished"],
                        deleting=False, cpu_m=a["cpu_m"], memory=a["memory"], gpu=a["gpu"], restarts=0,
                        reason=a["reason"], message=a["message"],
                    )
                new_pods[pkey] = prec
                pod_recs.append(prec)
        self._job_cache, self._pod_cache = new_jobs, new_pods
        st = self._store
        st.apply("jobs", job_recs)
        st.apply("pods", pod_recs)
        st.retain("pods", {p.key for p in pod_recs})
        st.retain("jobs", {j.key for j in job_recs})
        for kind in ("jobs", "pods", "events"):
            if not st.is_synced(kind):
                st.mark_synced(kind)

    def _job_rec(self, j: Any, active: int, ready: int) -> JobRec:
        spec = self._spec(j["uid"])
        state = j["state"]
        return JobRec(
            namespace=j["namespace"], name=j["name"], uid=j["uid"], rv=f"{j['uid'][:8]}.{j['rv']}.{active}.{ready}",
            created=j["created"], started=j["started"], completed=j["completed"],
            sweep=spec.sweep, trial=spec.trial, params=spec.params, suspended=False,
            active=active, ready=ready,
            succeeded=1 if state == "succeeded" else 0, failed=j["failed"],
            outcome={"succeeded": "Complete", "failed": "Failed"}.get(state),
            reason=j["reason"], message=j["message"], gpu=spec.gpu, metric=parse_metric(spec.metric),
        )

    def _spec(self, uid: str) -> TrialSpec:
        """A job's spec, decoded once per uid (a spec never changes; rerun gives a new uid)."""
        spec = self._spec_cache.get(uid)
        if spec is None:
            row = self.state.query("SELECT spec FROM jobs WHERE uid=?", (uid,))
            spec = _SPEC_DECODER.decode(row[0]["spec"]) if row else _LOST_SPEC
            if len(self._spec_cache) >= _SPEC_CACHE_MAX:
                self._spec_cache.clear()
            self._spec_cache[uid] = spec
        return spec

    def _set_events(self, wanted: dict[tuple[str, str], tuple[str, str]]) -> None:
        now = time.time()
        with self._lock:
            upserts = []
            for (ns, name), (reason, message) in wanted.items():
                ev_name = f"{name}.ktui-queue"
                old = self._events.get((ns, ev_name))
                if old is not None and old.reason == reason and old.message == message:
                    continue
                rec = EventRec(namespace=ns, name=ev_name, rv=f"{reason}:{message}", kind="Job", obj=name,
                               type="Warning", reason=reason, message=message, count=1, last=now)
                self._events[(ns, ev_name)] = rec
                upserts.append(rec)
            keep = {(ns, f"{name}.ktui-queue") for ns, name in wanted}
            gone = [k for k in self._events if k not in keep]
            for k in gone:
                del self._events[k]
        if upserts or gone:
            self._store.apply("events", upserts, gone)

    def _node_rec(self) -> NodeRec:
        return NodeRec(
            name=self.node, rv="1", created=None, cpu_m=self.cpus * 1000, memory=self.memory,
            gpu=len(self.gpus), max_pods=0, unschedulable=False, taints=(),
            conditions=(NodeCondition("Ready", "True", "LocalMachine", "this machine"),),
        )

    def _sample_usage(self) -> None:
        running = self.state.query(
            "SELECT a.pid, a.n, j.namespace, j.name, j.uid FROM attempts a JOIN jobs j ON a.job_uid = j.uid"
            " WHERE a.phase='Running' AND a.pid IS NOT NULL")
        by_pid = {r["pid"]: r for r in running}
        trees = self._trees.sample(by_pid)
        pods = {}
        for pid, (cpu_m, rss) in trees.items():
            r = by_pid[pid]
            u = PodUsage(r["namespace"], _pod_name(r["name"], r["uid"], r["n"]), cpu_m, rss)
            pods[u.key] = u
        self._store.set_pod_usage(pods)

        def owner(pid: int) -> str | None:
            try:
                r = by_pid.get(os.getpgid(pid))  # a trial's processes share its wrapper's group
            except OSError:
                return None
            return r["name"] if r is not None else None

        m = self._machine.sample()
        devices = self._gpu_probe.read(owner) if self._gpu_probe is not None else ()
        self._store.set_usage({self.node: NodeUsage(self.node, m.cpu_m, m.memory, m.cores, m.load, devices)})

    # ---- helpers

    def _job_dir(self, ns: str, name: str, uid: str) -> Path:
        return self.log_dir / ns / f"{name}-{uid[:8]}"

    def _sweep_keys(self, sweep: str, namespace: str | None) -> list[TrialKey]:
        return self.state.sweep_keys(sweep, namespace)


def _label(spec: TrialSpec) -> str:
    return f"{spec.namespace}/{spec.name}"


def format_duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 120:
        return f"{seconds:.0f}s"
    return f"{seconds / 60:.0f}m"


def _pod_name(job: str, uid: str, n: int) -> str:
    return f"{job}-{uid[:5]}-{n}"


