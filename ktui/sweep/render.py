"""The objects a sweep submits, whatever runs its trials: one batch/v1 Job per trial
(manifest.py), one PyTorchJob / TrainJob per distributed trial (distributed.py), or one
Indexed Job and its parameters' ConfigMaps for the whole sweep (indexed.py). The
launch command, the launch form and the demo render through here."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from ktui.sweep.distributed import render_pytorchjob, render_trainjob
from ktui.sweep.indexed import render_indexed
from ktui.sweep.manifest import Manifest, render_job
from ktui.sweep.model import CodeRef, Sweep, Trial
from ktui.wire.names import INDEXED_MODE
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


def launch_manifests(sweep: Sweep, namespace: str | None, code: CodeRef | None,
                     annotations: Mapping[str, str], *, here: bool = False) -> list[Manifest]:
    """What a launch submits, each trial's object recording ``annotations`` (provenance).
    ``here``: the trials run on this machine, one process per trial, whatever the mode (an
    Indexed Job's pod template means nothing there). Raises indexed.ParamsTooLarge."""
    if sweep.mode == INDEXED_MODE and not here:
        out = render_indexed(sweep, namespace, code).all()
        out[-1]["metadata"]["annotations"].update(annotations)
        return out
    trials = list(render_trials(sweep, namespace, code))
    for m in trials:
        m["metadata"]["annotations"].update(annotations)
    return trials
