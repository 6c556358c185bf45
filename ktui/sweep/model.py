"""What a sweep file means once validated: a Sweep, its Trials, and command-line overrides."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

from ktui.sweep.params import ParameterSpace, Params, Value

DEFAULT_MAX_TRIALS = 10_000
DEFAULT_COMMAND: tuple[str, ...] = ("python", "train.py")
# params.json names no image; a python image matches the default command. A note says so.
DEFAULT_IMAGE = "python:3.11-slim"

# `{name}` is a placeholder; `{{` and `}}` are literal braces.
PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
# The same, plus a lone brace: a typo that would otherwise reach the container as text.
_BRACES = re.compile(r"\{\{|\}\}|\{[^{}]*\}|(\{)|(\})")


@dataclass(frozen=True)
class Metric:
    name: str
    goal: Literal["maximize", "minimize"] = "maximize"


@dataclass(frozen=True)
class EarlyStopping:
    """Stop a running trial whose best value of the metric up to step s is worse than the
    median of the completed trials' running averages at s (the median stopping rule), from
    `start_step` on, once `min_trials` completed trials have reached s."""

    rule: Literal["median"] = "median"
    min_trials: int = 3
    start_step: float = 0.0

    def to_json(self) -> dict[str, str | int | float]:
        start = int(self.start_step) if self.start_step.is_integer() else self.start_step
        return {"rule": self.rule, "minTrials": self.min_trials, "startStep": start}


@dataclass(frozen=True)
class Resources:
    """Quantities as the manifest will carry them (strings), gpu as a whole number."""

    cpu: str | None = None
    memory: str | None = None
    gpu: int | None = None

    def is_empty(self) -> bool:
        return self.cpu is None and self.memory is None and self.gpu is None


@dataclass(frozen=True)
class CodeSpec:
    """`code:` (or --code): the directory shipped with the sweep, and what to leave out of it."""

    path: str  # absolute: a relative `code:` is relative to the sweep file, --code to the shell's directory
    exclude: tuple[str, ...] = ()
    where: str = ""  # "FILE:LINE:COL" or "--code": a problem with the directory is reported there


@dataclass(frozen=True)
class CodeRef:
    """A snapshot as the manifests refer to it: the ConfigMap holding it, and what to record
    on each Job (provenance annotations, ready-made by the caller that took the snapshot)."""

    config_map: str
    sha256: str
    annotations: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Overrides:
    """Command-line flags that win over the file."""

    image: str | None = None
    namespace: str | None = None
    name: str | None = None
    command: tuple[str, ...] | None = None  # `-- CMD ARGS...`
    cpu: str | None = None
    memory: str | None = None
    gpu: int | None = None
    code: str | None = None  # --code DIR
    max_trials: int = DEFAULT_MAX_TRIALS
    # False where the image plays no part (--local, the launch form on the local backend).
    image_required: bool = True


@dataclass(frozen=True)
class Trial:
    index: int
    job_name: str
    params: Params


def format_value(v: Value) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def substitute(template: str, params: Params) -> str:
    """Fill `{name}` placeholders; names were checked when the sweep was loaded."""

    def repl(m: re.Match[str]) -> str:
        tok = m.group(0)
        if tok == "{{":
            return "{"
        if tok == "}}":
            return "}"
        return format_value(params[m.group(1).strip()])

    return PLACEHOLDER.sub(repl, template)


def placeholders(template: str) -> list[tuple[int, str]]:
    """(offset, name) of every placeholder in a template."""
    return [(m.start(), m.group(1).strip()) for m in PLACEHOLDER.finditer(template) if m.group(1) is not None]


def template_problems(template: str) -> list[str]:
    """What is wrong with a template's braces: one message per kind of lone brace."""
    opened = closed = False
    for m in _BRACES.finditer(template):
        opened = opened or m.group(1) is not None
        closed = closed or m.group(2) is not None
    out: list[str] = []
    if opened:
        out.append(f"'{template}' has a '{{' that is never closed (a placeholder is {{name}}; write {{{{ for a literal brace)")
    if closed:
        out.append(f"'{template}' has a '}}' that closes nothing (write }}}} for a literal brace)")
    return out


@dataclass(frozen=True)
class Sweep:
    name: str
    source: str
    format: Literal["spec", "params.json"]
    space: ParameterSpace
    image: str
    command: tuple[str, ...]
    args: tuple[str, ...] | None  # None: `key=value` per parameter, in order
    namespace: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    requests: Resources = field(default_factory=Resources)
    limits: Resources = field(default_factory=Resources)
    retries: int | None = None
    restart_policy: Literal["OnFailure", "Never"] = "OnFailure"
    ttl_seconds_after_finished: int | None = None
    queue: str | None = None
    metric: Metric | None = None
    early_stopping: EarlyStopping | None = None
    code: CodeSpec | None = None
    # What runs each trial: a Job, or a distributed trial's PyTorchJob / TrainJob of
    # 1 + `workers` nodes (ktui.sweep.distributed).
    kind: str = "Job"
    workers: int | None = None
    nproc_per_node: str | None = None  # a number, or auto / cpu / gpu
    runtime: str | None = None  # a TrainJob's training runtime
    notes: tuple[str, ...] = ()  # things the user should hear once, e.g. a defaulted image
    # "jobs": one Job per trial; "indexed": one Indexed Job runs them all (sweep/indexed.py).
    mode: Literal["jobs", "indexed"] = "jobs"
    parallelism: int | None = None  # indexed: trials at once (None: the default there)
    max_failed_indexes: int | None = None

    def count(self) -> int:
        return self.space.count()

    @property
    def index_width(self) -> int:
        return max(3, len(str(max(self.count() - 1, 0))))

    def job_name(self, index: int) -> str:
        return f"{self.name}-{index:0{self.index_width}d}"

    def trial(self, index: int) -> Trial:
        return Trial(index, self.job_name(index), self.space.trial(index))

    def trials(self) -> Iterator[Trial]:
        for i in range(self.count()):
            yield self.trial(i)

    def command_line(self, params: Params) -> tuple[list[str], list[str]]:
        """(command, args) for one trial."""
        command = [substitute(c, params) for c in self.command]
        if self.args is None:
            args = [f"{k}={format_value(v)}" for k, v in params.items()]
        else:
            args = [substitute(a, params) for a in self.args]
        return command, args
