"""The local backend's durable state: one SQLite file (WAL), shared by every ktui process on
this machine that uses the same state directory.

``jobs``: one row per trial (Job), with its parsed spec, manifest, working directory, FIFO
sequence number and state (queued / running / succeeded / failed); a failed attempt's retry
waits until ``not_before`` (doubling from ``backoff`` seconds).
``attempts``: one row per process started for a job (a Kubernetes pod), with the wrapper's
pid and that pid's start time (so a reused pid is not mistaken for it), the attempt's
directory (spec.json, pid, exit.json, output.log), its GPUs, and its outcome.

Every decision that starts or finishes something (admit, reap, cancel, rerun) runs inside
``BEGIN IMMEDIATE``, so two ktui processes never admit the same job or count one exit twice.
Each row carries ``rv``, bumped on every update: the store's resourceVersion.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    uid TEXT NOT NULL,
    seq INTEGER NOT NULL,
    rv INTEGER NOT NULL DEFAULT 1,
    spec TEXT NOT NULL,
    manifest TEXT NOT NULL,
    workdir TEXT NOT NULL,
    state TEXT NOT NULL,
    created REAL,
    started REAL,
    completed REAL,
    failed INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    message TEXT,
    backoff REAL NOT NULL DEFAULT 10,
    not_before REAL,
    PRIMARY KEY (namespace, name)
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, seq);
CREATE INDEX IF NOT EXISTS jobs_uid ON jobs (uid);
CREATE TABLE IF NOT EXISTS attempts (
    job_uid TEXT NOT NULL,
    n INTEGER NOT NULL,
    namespace TEXT NOT NULL,
    job TEXT NOT NULL,
    rv INTEGER NOT NULL DEFAULT 1,
    dir TEXT NOT NULL,
    gpus TEXT NOT NULL DEFAULT '',
    cpu_m INTEGER NOT NULL,
    memory INTEGER NOT NULL,
    gpu INTEGER NOT NULL,
    pid INTEGER,
    pid_start TEXT,
    created REAL,
    started REAL,
    finished REAL,
    phase TEXT NOT NULL,
    exit_code INTEGER,
    reason TEXT,
    message TEXT,
    PRIMARY KEY (job_uid, n)
);
CREATE INDEX IF NOT EXISTS attempts_phase ON attempts (phase);
"""

# Columns added after the first release: (table, column, declaration). A database made by an
# older ktui gets them on open, so its queue and running trials carry over.
MIGRATIONS = (
    ("jobs", "backoff", "REAL NOT NULL DEFAULT 10"),
    ("jobs", "not_before", "REAL"),
    # The sweep a trial belongs to, indexed: finding a sweep's trials decoded every spec.
    ("jobs", "sweep", "TEXT"),
)


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "ktui"


class State:
    """One connection, serialised by a lock (the backend's threads share it)."""

    def __init__(self, db_path: Path) -> None:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self.path = db_path
        self.lock = threading.RLock()
        # Commits through this connection that changed rows: PRAGMA data_version does not
        # move for our own writes, so whoever keeps a view of the tables compares this too.
        self.writes = 0
        self.conn = sqlite3.connect(str(db_path), timeout=30.0, isolation_level=None,
                                    check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA busy_timeout=30000")
        with self.write() as conn:
            for stmt in SCHEMA.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            for table, column, decl in MIGRATIONS:
                have = {r["name"] for r in conn.execute(f"PRAGMA table_info({table})")}
                if column not in have:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
                    if (table, column) == ("jobs", "sweep"):  # trials queued by an older ktui
                        conn.execute("UPDATE jobs SET sweep = json_extract(spec, '$.sweep')")
            conn.execute("CREATE INDEX IF NOT EXISTS jobs_sweep ON jobs (sweep, namespace)")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that excludes every other writer, in any process."""
        with self.lock:
            before = self.conn.total_changes
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")
                if self.conn.total_changes != before:
                    self.writes += 1

    def sweep_keys(self, sweep: str, namespace: str | None) -> list[tuple[str, str]]:
        """The (namespace, name) of a sweep's trials, in ``namespace`` or in all when None."""
        if namespace is None:
            rows = self.query("SELECT namespace, name FROM jobs WHERE sweep=?", (sweep,))
        else:
            rows = self.query("SELECT namespace, name FROM jobs WHERE sweep=? AND namespace=?", (sweep, namespace))
        return [(r["namespace"], r["name"]) for r in rows]

    def query(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:  # type: ignore[type-arg]
        with self.lock:
            return self.conn.execute(sql, params).fetchall()

    def data_version(self) -> int:
        """Changes when *another* connection commits (PRAGMA data_version)."""
        with self.lock:
            return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def close(self) -> None:
        with self.lock:
            self.conn.close()
