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

import base64
import json
import logging
import os
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
from ktui.cluster.local import code, machine
from ktui.cluster.local.daemon import ensure_scheduler
from ktui.cluster.local.gpu import GpuProbe, visible_indices
from ktui.cluster.local.logs import LocalLogStream
from ktui.cluster.local.processes import rmtree
from ktui.cluster.local.projection import Projection, outcome
from ktui.cluster.local.queue import Queue
from ktui.cluster.local.spec import SpecError, TrialSpec, parse_manifest
from ktui.cluster.local.state import State, default_state_dir
from ktui.cluster.local.supervisor import ACTIVE, Supervisor
from ktui.cluster.model import (
    ActionResult,
    Capabilities,
    Capability,
    EventView,
    Failure,
    PodSummary,
    SubmitResult,
    SubmitTally,
    TrialChange,
    TrialDescription,
    TrialKey,
    TrialState,
)
from ktui.cluster.store import Store
from ktui.wire.names import CODE_ARCHIVE_KEY, CODE_SHA_ANNOTATION

log = logging.getLogger(__name__)

_SPEC_DECODER = msgspec.json.Decoder(TrialSpec)
_SUBMIT_CHUNK = 500
# A code snapshot younger than this is kept even with no trial (yet): its launch is queueing them.
CODE_GRACE = 600.0


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
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._next_usage = 0.0
        self.code_dir = self.db_path.parent / "code"
        self.supervisor = Supervisor(self.state, self.log_dir, python=python, kill_grace=kill_grace,
                                     start_grace=start_grace, code_dir=self.code_dir)
        self.projection = Projection(self.state, self._store, node=self.node, cpus=self.cpus,
                                     memory=self.memory, gpus=self.gpus, gpu_probe=gpu_probe)
        self.queue = Queue(self.state, cpus=self.cpus, memory=self.memory, gpus=self.gpus,
                           spec_of=self.projection.spec, job_dir=self.supervisor.job_dir)

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
        return [TrialState(key, outcome(states.get(key, ""))) for key in self._sweep_keys(sweep, namespace)]

    def find_trial(self, trial: TrialKey) -> TrialState | None:
        rows = self.state.query("SELECT state FROM jobs WHERE namespace=? AND name=?", trial)
        return TrialState(trial, outcome(rows[0]["state"])) if rows else None

    def start(self) -> None:
        if self._thread is not None or self._stopped:
            return
        self.projection.show_node()
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
        code: Mapping[str, Any] | None = None,
    ) -> SubmitResult:
        """Queue the trials. A trial already queued, running or finished under the same name
        is "existing" when it runs the same thing (ktui.cluster.fingerprint, and the same
        working directory); when it runs something else nothing is queued at all, unless
        ``replace``: those trials are cancelled (their processes gone) and queued anew."""
        workdir = str(Path(source_dir).resolve()) if source_dir else str(self.workdir)
        if code is not None and not dry_run:  # before any trial is queued: a runner may start it at once
            self.keep_code(*_archive_of(code))
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
        self.supervisor.wait_gone(pids)

    def keep_code(self, sha256: str, data: bytes) -> Path:
        """Keep a code snapshot's archive for the trials about to be submitted with it: each
        unpacks its own copy when it starts, whatever happens to the directory meanwhile."""
        return code.keep(self.code_dir, sha256, data)

    def code_archive(self, sha256: str) -> Path | None:
        """A kept snapshot's archive (for `ktui diff`), None when it is gone."""
        p = code.archive_path(self.code_dir, sha256)
        return p if p.exists() else None

    def _prune_code(self) -> None:
        """Snapshots no trial uses any more go (their trials were deleted, by hand or TTL);
        young ones stay: a launch keeps its archive a moment before its trials are queued."""
        used = {r[0] for r in self.state.query("SELECT DISTINCT json_extract(spec, '$.code') FROM jobs") if r[0]}
        cutoff = time.time() - CODE_GRACE
        for p in list(self.code_dir.glob("*.tar.gz")) if self.code_dir.is_dir() else ():
            try:
                young = p.stat().st_mtime > cutoff
            except OSError:
                continue
            if not young and p.name.removesuffix(".tar.gz") not in used:
                p.unlink(missing_ok=True)

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
                dirs = [self.supervisor.job_dir(ns, name, job["uid"])]
                for a in c.execute("SELECT pid, pid_start FROM attempts WHERE job_uid=? AND phase IN (?, ?)",
                                   (job["uid"], *ACTIVE)):
                    if a["pid"] is not None:
                        doomed.append((a["pid"], a["pid_start"], dirs))
                c.execute("DELETE FROM attempts WHERE job_uid=?", (job["uid"],))
                c.execute("DELETE FROM jobs WHERE namespace=? AND name=?", (ns, name))
                if not any(d[2] is dirs for d in doomed):
                    rmtree(dirs[0])
                done.append(label)
        self.supervisor.kill(doomed)
        if done:
            self._prune_code()
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
                old_dirs.append(self.supervisor.job_dir(ns, name, job["uid"]))
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

    def set_gpu_focus(self, nodes: Iterable[str]) -> None:
        """(NVML reads this machine's GPUs with every usage sample: nothing to choose.)"""

    def refresh_gpus(self, nodes: Iterable[str]) -> None:
        """(Read with every usage sample, on the backend's own thread.)"""

    def set_queue_focus(self, queues: Iterable[tuple[str, str]] | None) -> None:
        """(No queues here but this machine's own.)"""

    def stop_early(self, trial: TrialKey, note: str) -> ActionResult:
        """The trial's processes are stopped (SIGTERM, then SIGKILL after the grace period);
        its row stays, marked stopped with the figures, its log kept."""
        ns, name = trial
        label = f"{ns}/{name}"
        doomed: list[tuple[int, str | None, list[Path]]] = []
        with self.state.write() as c:
            job = c.execute("SELECT uid, state FROM jobs WHERE namespace=? AND name=?", trial).fetchone()
            if job is None:
                return ActionResult((), (Failure(label, f"NotFound: job {name} not found"),))
            if job["state"] != "running":
                why = "already stopped early" if job["state"] == "stopped" else f"not running ({job['state']})"
                return ActionResult((), (Failure(label, why),))
            for a in c.execute("SELECT pid, pid_start FROM attempts WHERE job_uid=? AND phase IN (?, ?)",
                               (job["uid"], *ACTIVE)):
                if a["pid"] is not None:
                    doomed.append((a["pid"], a["pid_start"], []))
            c.execute("UPDATE jobs SET state='stopped', completed=?, reason='EarlyStopped', message=?, rv=rv+1"
                      " WHERE uid=?", (time.time(), note, job["uid"]))
        self.supervisor.kill(doomed)
        self._poke()
        return ActionResult((label,), ())

    def stream_logs(
        self, trial: TrialKey, *, follow: bool = True, tail: int | None = None, replica: str | None = None
    ) -> LocalLogStream:
        ns, name = trial
        if replica not in (None, "master"):  # a distributed trial runs here as its master alone
            raise LookupError(f"job {ns}/{name} runs on this machine as one process: it has no replica {replica}")
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
        evs = self.projection.events_of(ns, name)
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
        self._wake.set()

    def step(self) -> None:
        """One round: reap finished attempts, admit queued trials, finish cancellations,
        refresh the store. The loop thread calls it; tests and the queue runner may too."""
        self.supervisor.reap()
        if self.queue.due():
            starts, words = self.queue.admit()
            self.projection.set_events(words)
            for s in starts:
                self.supervisor.spawn(s)
        self.supervisor.finish_kills()
        self.projection.refresh()
        now = time.monotonic()
        if now >= self._next_usage:
            self._next_usage = now + self.usage_interval
            self.projection.sample_usage()
            self._expire()

    def refresh(self, force: bool = False) -> None:
        self.projection.refresh(force)

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

    def _sweep_keys(self, sweep: str, namespace: str | None) -> list[TrialKey]:
        return self.state.sweep_keys(sweep, namespace)


def _label(spec: TrialSpec) -> str:
    return f"{spec.namespace}/{spec.name}"


def _archive_of(config_map: Mapping[str, Any]) -> tuple[str, bytes]:
    """(sha256, tar.gz) of a code snapshot's ConfigMap manifest."""
    meta = config_map.get("metadata") or {}
    sha = str((meta.get("annotations") or {})[CODE_SHA_ANNOTATION])
    return sha, base64.b64decode(config_map["binaryData"][CODE_ARCHIVE_KEY])
