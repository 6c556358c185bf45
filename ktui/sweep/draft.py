"""A sweep as read from either format, before command-line overrides are applied.

Both readers fill a Draft; `finalize` applies overrides and the checks that need the
whole picture (placeholders against parameters, trial count, Job name length)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from ktui.sweep.errors import Pos
from ktui.sweep.model import EarlyStopping, Metric
from ktui.sweep.params import ParameterSpace


@dataclass
class Located:
    """A value with where it came from, so late checks can still point at the file."""

    text: str
    pos: Pos
    label: str = ""  # names it in a message: "args[0]", "env.LR"


@dataclass
class Quantity:
    text: str
    value: Decimal
    pos: Pos


@dataclass
class Draft:
    path: str
    format: Literal["spec", "params.json"]
    name: Located | None = None
    namespace: Located | None = None
    image: Located | None = None
    image_given: bool = False  # a wrong `image:` is its own problem, not a missing one
    command: list[Located] | None = None
    args: list[Located] | None = None
    env: list[tuple[str, Located]] = field(default_factory=list)
    requests: dict[str, Quantity] = field(default_factory=dict)
    limits: dict[str, Quantity] = field(default_factory=dict)
    retries: int | None = None
    restart_policy: Literal["OnFailure", "Never"] = "OnFailure"
    ttl: int | None = None
    queue: str | None = None
    metric: Metric | None = None
    early_stopping: EarlyStopping | None = None
    code: Located | None = None  # the directory as written
    # What runs each trial (ktui.sweep.distributed): "Job", "PyTorchJob" or "TrainJob".
    kind: str = "Job"
    kind_pos: Pos = field(default_factory=Pos)
    workers: int | None = None
    nproc_per_node: str | None = None
    runtime: str | None = None
    code_exclude: tuple[str, ...] = ()
    mode: Literal["jobs", "indexed"] = "jobs"
    parallelism: int | None = None
    max_failed_indexes: int | None = None
    max_failed_pos: Pos = field(default_factory=Pos)
    space: ParameterSpace | None = None
    space_pos: Pos = field(default_factory=Pos)
    # Parameter names each trial has: one set for grid/random, one per entry for list.
    # Kept even when values are wrong, so placeholders are still checked against them.
    key_sets: list[tuple[frozenset[str], Pos, str]] = field(default_factory=list)
    # False when the parameters are too broken to know their names: placeholders are not
    # checked then, since every one would be reported as naming no parameter.
    names_known: bool = True
