"""Sweep files -> trials -> Job manifests. Pure: no I/O beyond reading the file, no UI."""

from ktui.sweep.errors import Pos, Problem, SweepError
from ktui.sweep.load import load_sweep, loads_sweep
from ktui.sweep.manifest import (
    CONTAINER,
    METRIC_ANNOTATION,
    PARAMS_ANNOTATION,
    SWEEP_LABEL,
    TRIAL_LABEL,
    render_job,
    render_jobs,
)
from ktui.sweep.model import DEFAULT_MAX_TRIALS, Metric, Overrides, Resources, Sweep, Trial
from ktui.sweep.render import render_trial, render_trials

__all__ = [
    "CONTAINER",
    "DEFAULT_MAX_TRIALS",
    "METRIC_ANNOTATION",
    "PARAMS_ANNOTATION",
    "SWEEP_LABEL",
    "TRIAL_LABEL",
    "Metric",
    "Overrides",
    "Pos",
    "Problem",
    "Resources",
    "Sweep",
    "SweepError",
    "Trial",
    "load_sweep",
    "loads_sweep",
    "render_job",
    "render_jobs",
    "render_trial",
    "render_trials",
]
