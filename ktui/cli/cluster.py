"""`ktui jobs|nodes|logs|cancel|rerun`: the cluster from the command line.

Tables come from the same store the UI reads (list -> store -> rows), so what the CLI prints
is what the UI would show. Every failure is one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

import msgspec

from ktui.cli.clusterargs import add_cluster_args, add_gpu_args, gpu_options
from ktui.cli.local import add_local_arg
from ktui.cluster.earlystop import SweepSupervisor
from ktui.cluster.format import (
    GPU_COLUMNS,
    NODE_COLUMNS,
    TRIAL_COLUMNS,
    gpu_json,
    gpu_rows,
    node_row,
    render_table,
    trial_row,
    trial_sort_key,
)
from ktui.cluster.kube.config import ConfigError
from ktui.cluster.kube.transport import ApiError, Unreachable
from ktui.cluster.logmetrics import LogMetrics
from ktui.cluster.model import TERMINAL_PHASES, Trial
from ktui.cluster.resultcache import ResultCache
from ktui.cluster.results import read_all
from ktui.logtext.history import TrialMetrics
from ktui.logtext.sanitize import encode_log, sanitize

SYNC_TIMEOUT = 120.0


class CliError(Exception):
    """A failure worded for the user."""


def cli_command(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except (CliError, ConfigError, Unreachable) as exc:
            print(f"ktui: {exc}", file=sys.stderr)
            return 1
        except ApiError as exc:
            print(f"ktui: {_api_words(exc)}", file=sys.stderr)
            return 1

    run.__name__ = fn.__name__
    return run


def _api_words(exc: ApiError) -> str:
    if exc.status == 401:
        return "the cluster rejected the credentials (401 Unauthorized)"
    if exc.status == 403:
        return f"forbidden: {exc.message}" if exc.message else "forbidden"
    return f"{exc.reason}: {exc.message}" if exc.message else f"{exc.status} {exc.reason}"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("jobs", help="list trials (every Job) with phase, node, retries, reason")
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")
    p.add_argument("--sweep", metavar="NAME", help="only this sweep's trials")
    p.add_argument("-w", "--watch", action="store_true", help="keep printing rows as they change")
    p.add_argument("--no-metrics", action="store_true",
                   help="do not read the trials' logs for their metrics (finished trials' are cached)")
    add_cluster_args(p)
    add_local_arg(p)
    add_gpu_args(p)
    p.set_defaults(func=cli_command(cmd_jobs))

    p = sub.add_parser("nodes", help="nodes: requested vs allocatable vs used cpu, memory, GPUs")
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")
    add_cluster_args(p)
    add_local_arg(p)
    add_gpu_args(p)
    p.set_defaults(func=cli_command(cmd_nodes))

    p = sub.add_parser("logs", help="print the log of a job's newest pod")
    p.add_argument("job", metavar="JOB", help="job (trial) name; a pod name works too")
    p.add_argument("-f", "--follow", action="store_true", help="keep streaming until the trial ends")
    p.add_argument("--tail", type=int, metavar="N", help="only the last N lines")
    p.add_argument("--replica", metavar="NAME",
                   help="a distributed trial's replica: master (the default), worker-0, worker-1, ...")
    p.add_argument("--raw", action="store_true",
                   help="the log's bytes exactly as written, escape sequences included (for a file or a pipe); "
                        "by default they are shown inert, as in the UI's log pane")
    add_cluster_args(p)
    add_local_arg(p)
    p.set_defaults(func=cli_command(cmd_logs))

    p = sub.add_parser("cancel", help="delete a sweep's Jobs, or one Job")
    p.add_argument("target", metavar="SWEEP|JOB")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    add_cluster_args(p)
    add_local_arg(p)
    p.set_defaults(func=cli_command(cmd_cancel))

    p = sub.add_parser("rerun", help="recreate a sweep's finished trials from their specs")
    p.add_argument("sweep", metavar="SWEEP")
    p.add_argument("--failed", action="store_true", help="only the failed trials")
    p.add_argument("--yes", action="store_true", help="do not ask before rerunning succeeded trials")
    add_cluster_args(p)
    add_local_arg(p)
    p.set_defaults(func=cli_command(cmd_rerun))


# ---------------------------------------------------------------------------------------------


def connect_backend(args: argparse.Namespace, resources: Iterable[str], **kw: Any):  # type: ignore[no-untyped-def]
    gpu = gpu_options(args)
    if getattr(args, "local", False):
        from ktui.cli.local import make_local_backend

        local = make_local_backend()
        local.store.gpu_rule = gpu["gpu_idle"]
        return local
    from ktui.cluster.kube.backend import KubeBackend

    kw = {**gpu, **kw}
    backend = KubeBackend.connect(
        getattr(args, "kubeconfig", None),
        getattr(args, "context", None),
        getattr(args, "namespace", None),
        all_namespaces=bool(getattr(args, "all_namespaces", False)),
        resources=tuple(resources),
        probe_capabilities=False,
        **kw,
    )
    try:
        backend.check()
    except ApiError as exc:
        if exc.status == 401:
            backend.stop()
            raise
        # /version may be closed to some users; the real requests will tell.
    except Unreachable:
        backend.stop()
        raise
    return backend


def wait_listed(backend: Any, kinds: Iterable[str], *, required: Iterable[str]) -> None:
    """Wait for the first list of each kind; a problem with a required kind is fatal, with
    an optional one a warning (printed once)."""
    kinds = list(kinds)
    required = set(required)
    store = backend.store
    started = time.monotonic()
    deadline = started + SYNC_TIMEOUT
    while not store.wait_synced(kinds, timeout=0.25):
        unreachable = next((p for p in store.problems() if p.resource == "cluster"), None)
        # The server answered /version a moment ago: give a flaky connection 15 s.
        if unreachable is not None and time.monotonic() > started + 15:
            raise CliError(unreachable.message)
        if time.monotonic() > deadline:
            raise CliError(f"timed out listing {', '.join(kinds)} from {backend.location}")
    for p in store.problems():
        if p.resource in required:
            raise CliError(p.message)
    for p in store.problems():
        if p.resource in kinds:
            print(f"ktui: warning: {p.message}", file=sys.stderr)


def _json_trial(t: Trial, metrics: dict[str, float] | None = None) -> dict[str, Any]:
    d = t.to_dict()
    d["metrics"] = dict(metrics or {})
    name = (t.metric or {}).get("name")
    d["metric"] = d["metrics"].get(name) if name else None
    return d


def read_metrics(backend: Any, trials: list[Trial], cache: Any) -> dict[Any, TrialMetrics]:
    """Every trial's metrics, the progress on stderr when it takes a while."""
    started = time.monotonic()
    shown = False

    def progress(done: int, total: int) -> None:
        nonlocal shown
        if sys.stderr.isatty() and (shown or time.monotonic() - started > 1.0):
            shown = True
            print(f"\rreading metrics {done:,}/{total:,}", end="", file=sys.stderr, flush=True)

    problems: dict[str, tuple[int, str]] = {}
    out = read_all(backend, trials, cache, progress=progress, problems=problems)
    if shown:
        print(file=sys.stderr)
    for n, first in problems.values():
        print(f"ktui: warning: could not read the logs of {n} trial{'s' if n > 1 else ''} for their metrics"
              f" ({'first: ' if n > 1 else ''}{first})", file=sys.stderr)
    return out


def cmd_jobs(args: argparse.Namespace) -> int:
    kinds = ("jobs", "pods", "events")
    backend = connect_backend(args, kinds, metrics=False)
    supervisor: SweepSupervisor | None = None
    try:
        backend.start()
        # (Kueue's Workloads too, where it runs: why a queued trial waits.)
        wait_listed(backend, (*kinds, *getattr(backend, "queue_kinds", ())), required=("jobs",))
        # Distributed trials' objects, where the cluster serves them (never required).
        wait_listed(backend, getattr(backend, "training_kinds", tuple)(), required=())
        getattr(backend, "refresh_queue_positions", lambda: None)()
        store = backend.store
        wide_ns = bool(args.all_namespaces)

        def wanted(t: Trial) -> bool:
            return args.sweep is None or t.sweep == args.sweep

        trials = sorted((t for t in store.snapshot_trials().values() if wanted(t)), key=trial_sort_key)
        gpu_nodes = {t.node for t in trials if t.gpu and t.node and t.phase == "Running"}
        if gpu_nodes:  # their GPUs' use: the trials are joined again with it
            backend.refresh_gpus(sorted(gpu_nodes))
            trials = sorted(store.get_trials([t.key for t in trials]).values(), key=trial_sort_key)
            backend.set_gpu_focus(gpu_nodes)
        version = store.version
        cache = None if args.no_metrics else ResultCache()
        found = read_metrics(backend, trials, cache) if cache is not None else {}

        def metrics_of(t: Trial) -> dict[str, float] | None:
            m = found.get(t.key)
            return m.latest if m is not None else None
        header = (("NAMESPACE",) if wide_ns else ()) + TRIAL_COLUMNS
        now = time.time()
        out = sys.stdout
        widths: list[int] | None = None
        if args.output == "json":
            if args.watch:
                for t in trials:
                    out.write(msgspec.json.encode(_json_trial(t, metrics_of(t))).decode() + "\n")
            else:
                out.write(msgspec.json.format(msgspec.json.encode([_json_trial(t, metrics_of(t)) for t in trials]),
                                              indent=2).decode() + "\n")
        else:
            rows = [trial_row(t, now, namespace=wide_ns, metrics=metrics_of(t)) for t in trials]
            if rows or args.watch:
                lines, widths = render_table(header, rows)
                out.write("\n".join(lines) + "\n")
            else:
                where = "any namespace" if wide_ns else f"namespace {getattr(backend, 'namespace', None) or 'default'}"
                what = f"sweep {args.sweep}" if args.sweep else "jobs"
                print(f"No {what} found in {where}.", file=sys.stderr)
        out.flush()
        if not args.watch:
            return 0
        last: dict[Any, Trial] = {t.key: t for t in trials}
        # A ktui watching sweeps enforces their early-stopping rules, as the UI does.
        supervisor = SweepSupervisor(backend, LogMetrics(backend, cache=cache or ResultCache()), sweep=args.sweep)
        supervisor.start()
        while True:
            supervisor.tick()
            backend.set_gpu_focus({t.node for t in last.values() if t.gpu and t.node and t.phase == "Running"})
            store.wait(version, timeout=1.0)
            time.sleep(0.2)  # let a burst land, then print it as one batch
            ch = store.changes_since(version)
            version = ch.version
            if not ch:
                continue
            now = time.time()
            changed = sorted((t for t in store.get_trials(ch.trials).values() if wanted(t)),
                             key=trial_sort_key)
            printed: list[Trial] = []
            for t in changed:
                if last.get(t.key) != t:
                    printed.append(t)
                    last[t.key] = t
            gone = []
            for key in sorted(ch.removed_trials):
                old = last.pop(key, None)
                if old is not None:
                    gone.append(msgspec.structs.replace(old, phase="Deleted"))
            if cache is not None:  # a trial that finished: its final metrics (read once, cached)
                found.update(read_all(backend, [t for t in printed if t.phase in TERMINAL_PHASES], cache))
            for t in printed + gone:
                if args.output == "json":
                    out.write(msgspec.json.encode(_json_trial(t, metrics_of(t))).decode() + "\n")
                else:
                    lines, widths = render_table((), [trial_row(t, now, namespace=wide_ns, metrics=metrics_of(t))],
                                                 widths)
                    out.write(lines[0] + "\n")
            out.flush()
    except KeyboardInterrupt:
        return 0
    finally:
        if supervisor is not None:
            supervisor.stop()
        backend.stop(timeout=2.0)


def cmd_nodes(args: argparse.Namespace) -> int:
    kinds = ("nodes", "pods")
    # Requests are summed over every namespace's pods, whatever -n says.
    args.all_namespaces = True
    backend = connect_backend(args, kinds, metrics=True)
    try:
        backend.start()
        wait_listed(backend, kinds, required=("nodes",))
        metrics = getattr(backend, "metrics", None)
        if metrics is not None:
            metrics.poll_once()
        store = backend.store
        backend.refresh_gpus([n.name for n in store.snapshot_nodes().values()])
        nodes = sorted(store.snapshot_nodes().values(), key=lambda n: n.name)
        idle_under = store.gpu_rule.util
        if args.output == "json":
            out = []
            for n in nodes:
                d = msgspec.to_builtins(n)
                del d["devices"]
                d["gpus"] = [gpu_json(g) for g in n.devices]
                out.append(d)
            sys.stdout.write(msgspec.json.format(msgspec.json.encode(out), indent=2).decode() + "\n")
        else:
            lines, _ = render_table(NODE_COLUMNS, [node_row(n, idle_under) for n in nodes])
            sys.stdout.write("\n".join(lines) + "\n")
            gpus = [row for n in nodes for row in gpu_rows(n)]
            if gpus:
                lines, _ = render_table(GPU_COLUMNS, gpus)
                sys.stdout.write("\n" + "\n".join(lines) + "\n")
        for p in store.problems():
            if p.resource == "metrics" or p.resource.startswith("gpu"):
                print(f"ktui: note: {p.message}", file=sys.stderr)
            if p.resource == "gpu" and p.code == "gpu-unavailable" and "found" in p.message:
                print("ktui: note: GPU use is read from NVIDIA's dcgm-exporter (the GPU Operator deploys it) "
                      "or a Prometheus that scrapes it (--prometheus URL)", file=sys.stderr)
        return 0
    finally:
        backend.stop(timeout=2.0)


def log_writer(raw: bool, out: TextIO | None = None) -> Callable[[str], None]:
    """How `ktui logs` writes a line. A trial's log is untrusted: its escape sequences could
    set the terminal's title, write the clipboard (OSC 52) or type a reply into the shell
    (``ESC[6n``). By default each line goes through the log pane's sanitiser: on a terminal
    its colours stay (unless NO_COLOR) and everything else shows inert (``^[[6n``); into a
    pipe or file, plain inert text (``| grep`` still ends on a terminal). ``raw``: the
    bytes as the trial wrote them."""
    out = out or sys.stdout
    if raw:
        buffer = out.buffer

        def write_raw(text: str) -> None:
            buffer.write(encode_log(text) + b"\n")

        return write_raw
    if not out.isatty():
        def write_plain(text: str) -> None:
            out.write(sanitize(text, colors=False).text + "\n")

        return write_plain
    from rich.console import Console
    from rich.text import Text

    console = Console(file=out, highlight=False, markup=False, emoji=False, soft_wrap=True)

    def write_styled(text: str) -> None:
        safe = sanitize(text)
        line = Text(safe.text)
        for span in safe.spans:
            line.stylize("dim" if span.style == "inert" else span.style, span.start, span.end)
        console.print(line)

    return write_styled


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise CliError("refusing without --yes (stdin is not a terminal to ask on)")
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise CliError("cancelled")


def _report(verb: str, result: Any) -> int:
    print(f"{verb} {len(result.done)} job{'s' if len(result.done) != 1 else ''}")
    for f in result.failed:
        print(f"ktui: {f.name}: {f.message}", file=sys.stderr)
    return 0 if not result.failed else 1




# logs, cancel and rerun go through the Backend interface, as the UI does: one path for a
# cluster and for this machine.


def _action_backend(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The backend for logs, cancel and rerun: they ask it directly, no lists to wait for.
    The local one runs its loop meanwhile (a cancelled trial's process group is made sure
    of); the cluster one needs no watches."""
    backend = connect_backend(args, (), metrics=False)
    if args.local:
        backend.start()
    return backend


def _done_with(backend: Any) -> None:
    if backend.name == "local":
        from ktui.cli.local import hand_off

        hand_off(backend)  # rerun trials are queued: the detached runner starts them
    else:
        backend.stop(timeout=2.0)


def scope_of(args: argparse.Namespace, backend: Any) -> tuple[str | None, str]:
    """The namespace a command means (None for -A, every namespace), and it in words."""
    ns = None if getattr(args, "all_namespaces", False) else str(args.namespace or backend.default_namespace)
    return ns, _where(ns, args.local)


def _where(ns: str | None, local: bool) -> str:
    return ("any namespace" if ns is None else f"namespace {ns}") + (" on this machine" if local else "")


def cmd_logs(args: argparse.Namespace) -> int:
    backend = _action_backend(args)
    ns = str(args.namespace or backend.default_namespace)
    write = log_writer(args.raw)
    out = sys.stdout
    try:
        try:
            stream = backend.stream_logs((ns, args.job), follow=args.follow, tail=args.tail,
                                         replica=args.replica)
        except LookupError as exc:
            if args.replica:
                raise CliError(str(exc)) from None
            if backend.find_trial((ns, args.job)) is None:
                raise CliError(f"no job or pod named {args.job} in {_where(ns, args.local)}") from None
            raise CliError(f"job {args.job} has no pod yet in {_where(ns, args.local)}") from None
        try:
            for line in stream:
                write(line.text)
                if args.follow:
                    out.flush()
        except KeyboardInterrupt:
            pass
        finally:
            stream.close()
        out.flush()
        return 0
    finally:
        _done_with(backend)


def cmd_cancel(args: argparse.Namespace) -> int:
    backend = _action_backend(args)
    try:
        ns, where = scope_of(args, backend)
        trials = backend.sweep_trials(args.target, ns)
        if trials:
            _confirm(f"Delete {len(trials)} jobs of sweep {args.target} in {where}?", args.yes)
            return _report("deleted", backend.cancel([t.key for t in trials]))
        if ns is None:
            raise CliError(f"no sweep named {args.target} in any namespace (use -n for a job)")
        if backend.find_trial((ns, args.target)) is None:
            raise CliError(f"no sweep or job named {args.target} in {where}")
        _confirm(f"Delete job {args.target} in {where}?", args.yes)
        return _report("deleted", backend.cancel([(ns, args.target)]))
    finally:
        _done_with(backend)


def cmd_rerun(args: argparse.Namespace) -> int:
    backend = _action_backend(args)
    try:
        ns, where = scope_of(args, backend)
        trials = backend.sweep_trials(args.sweep, ns)
        if not trials:
            raise CliError(f"no sweep named {args.sweep} in {where}")
        chosen = [t for t in trials if t.outcome == "Failed" or (not args.failed and t.finished)]
        if not chosen:
            print(f"no {'failed' if args.failed else 'finished'} trials in sweep {args.sweep}")
            return 0
        if not args.failed and any(t.outcome != "Failed" for t in chosen):
            _confirm(f"Rerun {len(chosen)} finished trials of {args.sweep} "
                     "(succeeded ones included; their pods and logs are deleted)?", args.yes)
        return _report("reran", backend.rerun(trials=[t.key for t in chosen], failed_only=args.failed))
    finally:
        _done_with(backend)
