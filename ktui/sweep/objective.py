"""What a sweep optimises and when it gives up on a trial: the `metric` and `earlyStopping`
keys of a sweep spec, checked with the spec's other problems."""

from __future__ import annotations

from typing import Literal

from ktui.sweep.check import Checker
from ktui.sweep.errors import did_you_mean
from ktui.sweep.model import EarlyStopping, Metric
from ktui.sweep.source import Node


def metric_of(c: Checker, node: Node) -> Metric | None:
    if isinstance(node.value, str):
        return Metric(node.value) if node.value.strip() else None
    m = c.mapping(node, "metric")
    if m is None:
        return None
    c.known_keys(node, ("name", "goal"), "metric")
    if "name" not in m:
        c.add(node.pos, "metric needs a 'name' (the key your training prints, e.g. accuracy)")
        return None
    name = c.string(m["name"], "metric.name")
    goal: Literal["maximize", "minimize"] = "maximize"
    if "goal" in m:
        g = c.string(m["goal"], "metric.goal")
        if g in ("maximize", "minimize"):
            goal = g  # type: ignore[assignment]
        elif g is not None:
            c.add(m["goal"].pos, f"metric.goal must be maximize or minimize, not '{g}'{did_you_mean(g, ('maximize', 'minimize'))}")
    return Metric(name, goal) if name else None


def early_stopping_of(c: Checker, node: Node) -> EarlyStopping | None:
    m = c.mapping(node, "earlyStopping")
    if m is None:
        return None
    c.known_keys(node, ("rule", "minTrials", "startStep"), "earlyStopping")
    ok = True
    rule = "median"
    if "rule" in m:
        r = c.string(m["rule"], "earlyStopping.rule")
        if r != "median":
            if r is not None:
                c.add(m["rule"].pos, f"earlyStopping.rule must be median, not '{r}'")
            ok = False
    min_trials = 3
    if "minTrials" in m:
        n = c.integer(m["minTrials"], "earlyStopping.minTrials", minimum=1)
        ok = ok and n is not None
        min_trials = n if n is not None else min_trials
    start = 0.0
    if "startStep" in m:
        f = c.number(m["startStep"], "earlyStopping.startStep")
        if f is not None and f < 0:
            c.add(m["startStep"].pos, f"earlyStopping.startStep must be at least 0, got {f:g}")
            f = None
        ok = ok and f is not None
        start = f if f is not None else start
    return EarlyStopping(rule, min_trials, start) if ok else None  # type: ignore[arg-type]
