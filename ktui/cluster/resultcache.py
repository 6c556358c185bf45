"""Finished trials' metrics, kept on disk by Job UID.

A finished trial's log never changes, so what was read from it is kept: reopening ktui on a
10,000-trial sweep reads no log twice, and a trial whose pod or Job is gone (deleted, or
past its ttlSecondsAfterFinished) keeps its results for the leaderboard. One SQLite file in
the XDG cache directory ($XDG_CACHE_HOME/ktui/results.db), shared safely by every ktui on
the machine (WAL, short transactions). The cache is only a cache: if it cannot be opened
or written, ktui reads the logs again and says why once.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ktui.cluster.model import Trial
from ktui.logtext.history import Series, TrialMetrics

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    uid TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    sweep TEXT,
    phase TEXT NOT NULL,
    params TEXT,
    started REAL,
    finished REAL,
    metrics TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS results_sweep ON results (namespace, sweep);
"""


def default_cache_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ktui" / "results.db"


@dataclass(frozen=True)
class CachedResult:
    """A finished trial as the cache holds it (enough for a leaderboard row)."""

    uid: str
    namespace: str
    name: str
    sweep: str | None
    phase: str
    params: dict[str, Any] | None
    started: float | None
    finished: float | None
    metrics: TrialMetrics

    @classmethod
    def of(cls, t: Trial, metrics: TrialMetrics, phase: str | None = None) -> CachedResult:
        """A finished trial's row (`phase`: the one it finished in, if newer than `t`'s)."""
        return cls(t.uid, t.namespace, t.name, t.sweep, phase or t.phase, t.params, t.started, t.finished,
                   metrics)


def encode_metrics(m: TrialMetrics) -> str:
    return json.dumps({
        "latest": m.latest,
        "series": {k: {"steps": s.steps, "values": s.values, "stride": s.stride, "last": s.last,
                       "high": s.high, "low": s.low, "count": s.count} for k, s in m.series.items()},
    }, separators=(",", ":"))


def decode_metrics(text: str) -> TrialMetrics:
    obj = json.loads(text)
    m = TrialMetrics()
    m.latest = {str(k): float(v) for k, v in obj["latest"].items()}
    for k, d in obj["series"].items():
        s = Series()
        s.steps, s.values, s.stride = list(d["steps"]), list(d["values"]), int(d["stride"])
        s.last = tuple(d["last"]) if d["last"] is not None else None  # type: ignore[assignment]
        s.high, s.low, s.count = float(d["high"]), float(d["low"]), int(d["count"])
        m.series[str(k)] = s
    return m


class ResultCache:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_cache_path()
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self.problem: str | None = None  # why the cache is not in use, said once

    def _db(self) -> sqlite3.Connection | None:
        if self._conn is None and self.problem is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(str(self.path), timeout=10.0, isolation_level=None,
                                       check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(SCHEMA)
                self._conn = conn
            except (OSError, sqlite3.Error) as exc:
                self.problem = f"results cache {self.path} unusable ({exc}): logs are read again"
                log.warning("%s", self.problem)
        return self._conn

    def get(self, uid: str) -> CachedResult | None:
        rows = self._query("SELECT * FROM results WHERE uid=?", (uid,))
        return _row(rows[0]) if rows else None

    def of_sweep(self, namespace: str | None, sweep: str) -> list[CachedResult]:
        if namespace is None:
            rows = self._query("SELECT * FROM results WHERE sweep=?", (sweep,))
        else:
            rows = self._query("SELECT * FROM results WHERE namespace=? AND sweep=?", (namespace, sweep))
        return [r for r in map(_row, rows) if r is not None]

    def put(self, r: CachedResult) -> None:
        with self._lock:
            db = self._db()
            if db is None:
                return
            try:
                db.execute(
                    "INSERT OR REPLACE INTO results (uid, namespace, name, sweep, phase, params, started,"
                    " finished, metrics) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (r.uid, r.namespace, r.name, r.sweep, r.phase,
                     json.dumps(r.params) if r.params is not None else None, r.started, r.finished,
                     encode_metrics(r.metrics)))
            except sqlite3.Error as exc:  # a full disk, a read-only home: results are read again
                log.warning("results cache %s: %s", self.path, exc)

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[sqlite3.Row]:
        with self._lock:
            db = self._db()
            if db is None:
                return []
            db.row_factory = sqlite3.Row
            try:
                return db.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                log.warning("results cache %s: %s", self.path, exc)
                return []

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _row(row: sqlite3.Row) -> CachedResult | None:
    try:
        metrics = decode_metrics(row["metrics"])
        params = json.loads(row["params"]) if row["params"] else None
    except (ValueError, KeyError, TypeError):  # a row from another version: read the log again
        return None
    return CachedResult(row["uid"], row["namespace"], row["name"], row["sweep"], row["phase"],
                        params if isinstance(params, dict) else None, row["started"], row["finished"], metrics)
