"""The `ktui` command line: one module per subcommand, each exposing `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ktui import __version__

# Each module registers its subcommands and sets `func(args) -> int` on them.
# Add a module here when it lands; imports are eager so a broken module fails loudly.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "ktui.cli.launch",
    "ktui.cli.sim",
    "ktui.cli.cluster",
    "ktui.cli.results",
    "ktui.cli.supervise",
    "ktui.cli.gc",
    "ktui.cli.diff",
    "ktui.cli.ui",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ktui",
        description=(
            "Scale ML experiments onto Kubernetes and watch them from one keyboard. "
            "Sweep files become one batch/v1 Job per trial."
        ),
    )
    parser.add_argument("--version", action="version", version=f"ktui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    parser.set_defaults(commands=frozenset(sub.choices))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # Everything after the first `--` is a command line for the trials (`launch ... -- CMD ARGS`),
    # kept apart so argparse never mistakes its flags for ours.
    trailing: list[str] = []
    if "--" in args_list:
        cut = args_list.index("--")
        args_list, trailing = args_list[:cut], args_list[cut + 1 :]
    parser = build_parser()
    # `ktui` alone, or `ktui --context X`, opens the interactive UI.
    commands = parser.get_default("commands")
    if not args_list or (args_list[0] not in commands and args_list[0] not in ("-h", "--help", "--version")):
        args_list = ["ui", *args_list]
    args = parser.parse_args(args_list)
    if trailing and not getattr(args, "accepts_trailing", False):
        parser.error(f"unexpected arguments after '--': {' '.join(trailing)}")
    args.trailing = trailing
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `ktui ... | head` closes the pipe early; that is not an error for the user.
        return 0


if __name__ == "__main__":
    sys.exit(main())
