"""`ktui launch FILE`: turn a sweep file into Jobs (print them with --dry-run, else submit)."""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from ktui.cli.clusterargs import add_cluster_args
from ktui.cli.local import add_local_arg
from ktui.cluster.shipment import CodeProblem, Shipment, config_map, prepare, provenance
from ktui.sweep import DEFAULT_MAX_TRIALS, Overrides, Sweep, SweepError, load_sweep
from ktui.sweep.distributed import local_note
from ktui.sweep.indexed import ParamsTooLarge, mode_note
from ktui.sweep.model import format_value
from ktui.sweep.render import launch_manifests, render_trials


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "launch",
        help="turn a sweep file into one Job per trial and submit them (or print with --dry-run)",
        description=(
            "Turn a sweep file (a ktui sweep spec, or the origin's params.json list) into one "
            "batch/v1 Job per trial. `-- CMD ARGS...` replaces the file's command; trial arguments "
            "follow it unless CMD ARGS use {param} placeholders."
        ),
    )
    p.add_argument("file", metavar="FILE", help="sweep file (YAML or JSON)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the manifests instead of submitting (and, on stderr, what submitting would do)")
    p.add_argument("-o", "--output", choices=("yaml", "json", "table"), default="yaml",
                   help="with --dry-run: multi-document YAML (default), a JSON List, or one line per trial")
    p.add_argument("--image", help="container image (overrides the file)")
    p.add_argument("--name", help="sweep name (overrides the file; Jobs are NAME-000, NAME-001, ...)")
    p.add_argument("--replace", action="store_true",
                   help="trials whose Job exists with other settings (an edited sweep): delete those Jobs "
                        "and their pods, then create them anew (without it, the launch is refused)")
    p.add_argument("--max-trials", type=int, default=DEFAULT_MAX_TRIALS, metavar="N",
                   help=f"refuse sweeps with more than N trials (default {DEFAULT_MAX_TRIALS:,})")
    p.add_argument("--cpu", help="cpu request per trial, e.g. 2 or 500m (overrides the file)")
    p.add_argument("--memory", help="memory request per trial, e.g. 8Gi (overrides the file)")
    p.add_argument("--gpu", type=int, help="GPUs (nvidia.com/gpu) per trial (overrides the file)")
    p.add_argument("--code", metavar="DIR",
                   help="ship DIR with the sweep (overrides the file's `code:`): each trial runs in its own "
                        "unpacked copy of a snapshot of it (honouring .gitignore and .ktuiignore)")
    add_cluster_args(p)
    add_local_arg(p)
    p.set_defaults(func=run, accepts_trailing=True)


def overrides_from(args: argparse.Namespace) -> Overrides:
    return Overrides(
        image=args.image,
        namespace=args.namespace,
        name=args.name,
        command=tuple(args.trailing) or None,
        cpu=args.cpu,
        memory=args.memory,
        gpu=args.gpu,
        code=args.code,
        max_trials=args.max_trials,
        image_required=not args.local,  # --local runs the command here: no image needed
    )


def run(args: argparse.Namespace) -> int:
    if args.all_namespaces:
        print("ktui: launch: -A makes no sense here; use -n NAMESPACE or `namespace:` in the file", file=sys.stderr)
        return 2
    try:
        sweep = load_sweep(args.file, overrides_from(args))
    except SweepError as e:
        for problem in e.problems:
            print(problem, file=sys.stderr)
        return 2
    for note in sweep.notes:
        if args.local and "image" in note:
            continue
        print(f"ktui: note: {note}", file=sys.stderr)
    try:
        # Before anything is created: a directory that cannot be shipped refuses the launch.
        ship = prepare(sweep, check_size=not args.local)
    except CodeProblem as e:
        print(f"ktui: {e}" if sweep.code and sweep.code.where == "--code" else str(e), file=sys.stderr)
        return 2
    if ship is not None:
        print(f"ktui: code: {ship.snapshot.summary()} from {ship.snapshot.root} as {ship.snapshot.name}",
              file=sys.stderr)
    if args.local and local_note(sweep):
        print(f"ktui: note: {local_note(sweep)}", file=sys.stderr)
    mode = mode_note(sweep, here=args.local)
    if mode:
        print(f"ktui: note: {mode}", file=sys.stderr)
    try:
        return _launch(args, sweep, ship)
    except ParamsTooLarge as e:
        print(f"ktui: {e}", file=sys.stderr)
        return 2


def _launch(args: argparse.Namespace, sweep: Sweep, ship: Shipment | None) -> int:
    if args.local and not args.dry_run:
        where = "each in its own copy of the code" if ship else f"in {Path(args.file).resolve().parent}"
        print(f"ktui: note: --local ignores the image: trials run here, {where}", file=sys.stderr)
    if args.local:
        namespace = sweep.namespace or "default"
        workdir = Path(args.file).resolve().parent  # where the trials run, as its relative paths expect
        if args.dry_run:
            write_manifests(sweep, namespace, args.output, sys.stdout, ship, here=True)
            sys.stdout.flush()
            return local_verdict(manifests_of(sweep, namespace, ship, here=True), workdir, args.replace)
        from ktui.cli.local import submit_local

        return submit_local(manifests_of(sweep, namespace, ship, here=True), workdir, replace=args.replace,
                            code=ship.snapshot if ship else None)
    namespace = sweep.namespace or context_namespace(args.kubeconfig, args.context)
    from ktui.cli.submit import submit_manifests, verdict

    if args.dry_run:
        write_manifests(sweep, namespace, args.output, sys.stdout, ship)
        sys.stdout.flush()
        return verdict(args, manifests_of(sweep, namespace, ship))
    return submit_manifests(args, manifests_of(sweep, namespace, ship),
                            code=config_map(ship.snapshot, namespace) if ship else None)


def manifests_of(sweep: Sweep, namespace: str, ship: Shipment | None, *, here: bool = False) -> list[dict[str, Any]]:
    """The Jobs to submit (and an indexed sweep's ConfigMaps), each Job recording its
    provenance (ktui's version, who launched it). ``here``: for this machine."""
    return launch_manifests(sweep, namespace, ship.ref if ship else None, provenance(), here=here)


def local_verdict(manifests: list[dict[str, Any]], workdir: Path, replace: bool) -> int:
    """--local --dry-run: what submitting would do here, on stderr. No state yet: all new."""
    from ktui.cli.submit import report
    from ktui.cluster.local.backend import LocalBackend
    from ktui.cluster.local.state import default_state_dir
    from ktui.cluster.model import SubmitResult

    if not (default_state_dir() / "local.db").exists():  # never used here: nothing to compare with
        labels = tuple(f"{m['metadata']['namespace']}/{m['metadata']['name']}" for m in manifests)
        return report(SubmitResult(created=labels, dry_run=True), manifests, out=sys.stderr)
    backend = LocalBackend(workdir, gpus=(), cpus=1, memory=1)
    try:
        result = backend.submit(manifests, source_dir=str(workdir), replace=replace, dry_run=True)
    finally:
        backend.stop()
    return report(result, manifests, out=sys.stderr)


def context_namespace(kubeconfig: str | None, context: str | None) -> str:
    """The kubeconfig context's namespace, else "default"; no kubeconfig is fine for a dry run."""
    from ktui.cluster.kube.config import ConfigError, load

    try:
        return load(kubeconfig, context).namespace
    except ConfigError:
        return "default"


def write_manifests(sweep: Sweep, namespace: str, output: str, out: Any, ship: Shipment | None = None,
                    *, here: bool = False) -> None:
    jobs: Iterable[dict[str, Any]] = (
        render_trials(sweep, namespace, ship.ref if ship else None) if sweep.mode != "indexed" or here
        else launch_manifests(sweep, namespace, ship.ref if ship else None, {}))
    if ship is not None:  # the ConfigMap the Jobs mount comes first, so `kubectl apply -f -` works
        jobs = itertools.chain([config_map(ship.snapshot, namespace)], jobs)
    if output == "json":
        json.dump({"apiVersion": "v1", "kind": "List", "items": list(jobs)}, out, indent=2, ensure_ascii=False)
        out.write("\n")
    elif output == "table":
        width = len(sweep.job_name(0))
        out.write(f"{'TRIAL':>5}  {'JOB':<{width}}  PARAMETERS\n")
        for trial in sweep.trials():
            params = " ".join(f"{k}={format_value(v)}" for k, v in trial.params.items())
            out.write(f"{trial.index:>5}  {trial.job_name:<{width}}  {params}\n")
    else:
        # One document at a time: a 10,000-trial sweep streams instead of building a huge string.
        for i, job in enumerate(jobs):
            if i:
                out.write("---\n")
            out.write(yaml.safe_dump(job, sort_keys=False, allow_unicode=True, width=1000))

