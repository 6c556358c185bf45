"""The objects a sweep submits, whatever runs its trials: one batch/v1 Job per trial
(manifest.py), or one PyTorchJob / TrainJob per distributed trial (distributed.py). The
launch command, the launch form and the demo render through here."""

from __future__ import annotations

from collections.abc import Iterator

from ktui.sweep.distributed import render_pytorchjob, render_trainjob
from ktui.sweep.manifest import Manifest, render_job
from ktui.sweep.model import CodeRef, Sweep, Trial
from ktui.wire.training import PYTORCHJOB, TRAINJOB


def render_trial(sweep: Sweep, trial: Trial, namespace: str | None = None, code: CodeRef | None = None) -> Manifest:
    if sweep.kind == PYTORCHJOB:
        return render_pytorchjob(sweep, trial, namespace, code)
    if sweep.kind == TRAINJOB:
        return render_trainjob(sweep, trial, namespace, code)
    return render_job(sweep, trial, namespace, code)


def render_trials(sweep: Sweep, namespace: str | None = None, code: CodeRef | None = None) -> Iterator[Manifest]:
    for trial in sweep.trials():
        yield render_trial(sweep, trial, namespace, code)
