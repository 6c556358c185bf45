"""`ktui results SWEEP`: the sweep's leaderboard, on either backend.

One row per trial (those in the cluster, and those whose Job is gone but whose results the
cache kept): the parameters that vary in the sweep, phase, duration, and each metric's last
and best value; sorted by the sweep's metric, best first. Table for people, CSV and JSON
for the next tool.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from typing import Any

import msgspec

from ktui.cli.cluster import CliError, cli_command, connect_backend, read_metrics, scope_of, wait_listed
from ktui.cli.clusterargs import add_cluster_args
from ktui.cli.local import add_local_arg
from ktui.cluster.format import fmt_number, human_duration, render_table, truncate
from ktui.cluster.resultcache import ResultCache
from ktui.cluster.results import Leaderboard, leaderboard

TABLE_METRICS = 4  # metrics in the table (the sweep's first); CSV and JSON have every one


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("results", help="a sweep's leaderboard: parameters, phase, duration, metrics")
    p.add_argument("sweep", metavar="SWEEP")
    p.add_argument("-o", "--output", choices=("table", "csv", "json"), default="table")
    p.add_argument("--sort", metavar="NAME",
                   help="a metric (best first), a parameter, or 'duration' (default: the sweep's metric)")
    add_cluster_args(p)
    add_local_arg(p)
    p.set_defaults(func=cli_command(cmd_results))


def cmd_results(args: argparse.Namespace) -> int:
    kinds = ("jobs", "pods", "events")
    backend = connect_backend(args, kinds, metrics=False)
    cache = ResultCache()
    try:
        backend.start()
        wait_listed(backend, kinds, required=("jobs",))
        ns, where = scope_of(args, backend)
        trials = [t for t in backend.store.snapshot_trials().values()
                  if t.sweep == args.sweep and (ns is None or t.namespace == ns)]
        cached = cache.of_sweep(ns, args.sweep)
        if not trials and not cached:
            raise CliError(f"no sweep {args.sweep} in {where}")
        board = leaderboard(args.sweep, trials, read_metrics(backend, trials, cache), cached, now=time.time())
        if args.sort:
            try:
                board.sort(args.sort)
            except KeyError:
                known = ", ".join([*board.metrics, *board.params, "duration"])
                raise CliError(f"cannot sort by {args.sort!r}: the sweep has {known}") from None
        write(board, args.output, sys.stdout)
        if cache.problem:
            print(f"ktui: warning: {cache.problem}", file=sys.stderr)
        return 0
    finally:
        cache.close()
        backend.stop(timeout=2.0)


def _value(v: float | None) -> str:
    return fmt_number(v) if v is not None else "-"


def _param(v: Any) -> str:
    return v if isinstance(v, str) else msgspec.json.encode(v).decode()


def write(board: Leaderboard, output: str, out: Any) -> None:
    if output == "json":
        out.write(msgspec.json.format(msgspec.json.encode(board.to_dicts()), indent=2).decode() + "\n")
    elif output == "csv":
        _write_csv(board, out)
    else:
        _write_table(board, out)


def _write_csv(board: Leaderboard, out: Any) -> None:
    """Every metric's last and best value; durations in seconds; one header row of names."""
    w = csv.writer(out, lineterminator="\n")
    header = ["trial", *board.params, "phase", "duration_s"]
    for m in board.metrics:
        header += [m, f"{m}_best"]
    w.writerow(header)
    for r in board.rows:
        row: list[Any] = [r.name, *(_param(r.params[k]) if k in r.params else "" for k in board.params),
                          r.phase, f"{r.duration:.1f}" if r.duration is not None else ""]
        for m in board.metrics:
            row += [_csv_value(board.last(r, m)), _csv_value(board.best(r, m))]
        w.writerow(row)


def _csv_value(v: float | None) -> str:
    return repr(v) if v is not None else ""


def _write_table(board: Leaderboard, out: Any) -> None:
    """The sweep's metric, last and best, then the other metrics' last values, as many as
    TABLE_METRICS allows: a table that fits a terminal."""
    others = [m for m in board.metrics if m != board.metric]
    shown = others[: TABLE_METRICS - (1 if board.metric else 0)]
    header = ["TRIAL", *(k.upper() for k in board.params), "PHASE", "DURATION"]
    if board.metric:
        header += [board.metric.upper(), "BEST"]
    header += [m.upper() for m in shown]
    rows = []
    for r in board.rows:
        row = [r.name if r.live else f"{r.name} (gone)"]
        row += [truncate(_param(r.params[k]), 30) if k in r.params else "-" for k in board.params]
        row += [r.phase, human_duration(r.duration) if r.duration is not None else "-"]
        if board.metric:
            row += [_value(board.last(r, board.metric)), _value(board.best(r, board.metric))]
        row += [_value(board.last(r, m)) for m in shown]
        rows.append(row)
    lines, _ = render_table(header, rows)
    out.write("\n".join(lines) + "\n")
    hidden = len(others) - len(shown)
    if hidden > 0:
        print(f"({hidden} more metric{'s' if hidden > 1 else ''} and the best values in -o csv and -o json)",
              file=sys.stderr)
