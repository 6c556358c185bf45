"""`n`: the launch form. Pick a sweep file, override image/namespace/name/resources, review
the trial count and the first manifest, submit with a progress bar. Errors show inline as
`FILE:LINE:COL: ...` and the form stays open. A relaunch whose trials exist with other
settings (an edited file) submits nothing: the form says which trials differ and how, and
offers a new name or, after a confirm, replacing those trials."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import ClassVar

import yaml
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Button, Input, Label, OptionList, ProgressBar, Static
from textual.worker import get_current_worker

from ktui.cluster.backend import Backend
from ktui.cluster.fingerprint import summarize
from ktui.cluster.model import SubmitProgress, SubmitResult
from ktui.cluster.shipment import CodeProblem, Shipment, config_map, prepare, provenance
from ktui.sweep import Overrides, Sweep, SweepError, load_sweep, render_trial
from ktui.sweep.distributed import local_note
from ktui.sweep.indexed import mode_note
from ktui.sweep.render import launch_manifests
from ktui.ui.screens.confirm import ConfirmScreen

MAX_RECENT = 10


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "ktui"


def recent_path() -> Path:
    return state_dir() / "recent-sweeps.json"


def load_recent() -> list[str]:
    try:
        data = json.loads(recent_path().read_text())
    except (OSError, ValueError):
        return []
    return [p for p in data if isinstance(p, str)][:MAX_RECENT] if isinstance(data, list) else []


def remember(path: str) -> None:
    items = [path] + [p for p in load_recent() if p != path]
    try:
        recent_path().parent.mkdir(parents=True, exist_ok=True)
        recent_path().write_text(json.dumps(items[:MAX_RECENT]))
    except OSError:
        pass  # recent files are a convenience; a read-only home must not break launching


class PathSuggester(Suggester):
    """Completes file paths as you type (tab or → accepts), sweep files first."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        p = Path(os.path.expanduser(value))
        folder, prefix = (p, "") if value.endswith("/") else (p.parent, p.name)
        try:
            names = sorted(e.name + ("/" if e.is_dir() else "") for e in os.scandir(folder) if e.name.startswith(prefix))
        except OSError:
            return None
        names = [n for n in names if not n.startswith(".") or prefix.startswith(".")]
        names.sort(key=lambda n: (not n.endswith((".yaml", ".yml", ".json", "/")), n))
        if not names:
            return None
        return value + names[0][len(prefix) :]


class LaunchScreen(ModalScreen[SubmitResult | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Close", id="launch.close"),
        Binding("ctrl+s", "submit", "Submit", id="launch.submit"),
    ]

    def __init__(self, backend: Backend, default_namespace: str = "default", path: str = "") -> None:
        super().__init__()
        self.backend = backend
        self.default_namespace = default_namespace
        self.initial_path = path
        self.sweep: Sweep | None = None
        self._submitting = False
        self.refused: SubmitResult | None = None  # the last submit's refusal, while it stands
        self.ship: Shipment | None = None  # the previewed sweep's code snapshot, submitted with it
        # The code field follows the sweep file's `code:` until the user edits it; then what
        # it says wins (emptied: no snapshot, as a file without `code:`).
        self._code_touched = False
        self._code_auto = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="launch-box", classes="dialog"):
            yield Label("Launch a sweep", id="launch-title")
            yield Input(self.initial_path, placeholder="sweep file: examples/grid.yaml (tab completes)",
                        suggester=PathSuggester(), id="launch-path")
            with Horizontal(id="launch-overrides"):
                yield Input(placeholder="image (file's)" if self.backend.capabilities.images.available
                            else "image (ignored on this machine)", id="launch-image")
                yield Input(placeholder=f"namespace ({self.default_namespace})", id="launch-namespace")
                yield Input(placeholder="sweep name (file's)", id="launch-name")
            with Horizontal(id="launch-resources"):
                yield Input(placeholder="cpu", id="launch-cpu")
                yield Input(placeholder="memory", id="launch-memory")
                yield Input(placeholder="gpu", id="launch-gpu", type="integer")
            yield Input(placeholder="code: a directory to ship (the file's code:, else none)",
                        suggester=PathSuggester(), id="launch-code")
            recent = load_recent()
            if recent:
                yield OptionList(*recent, id="launch-recent")
            yield Static("", id="launch-errors")
            with VerticalScroll(id="launch-preview-box"):
                yield Static(Text("type a path to preview its Jobs", style="dim"), id="launch-preview")
            yield ProgressBar(id="launch-progress", show_eta=False)
            with Horizontal(id="launch-buttons"):
                yield Button("Submit (ctrl+s)", id="launch-submit", variant="primary", disabled=True)
                yield Button("Replace…", id="launch-replace", variant="warning")
                yield Button("Close (esc)", id="launch-cancel")

    def on_mount(self) -> None:
        self.query_one("#launch-progress").display = False
        self.query_one("#launch-replace").display = False
        self.query_one("#launch-path", Input).focus()
        if self.initial_path:
            self._preview()

    @on(OptionList.OptionSelected, "#launch-recent")
    def _pick_recent(self, event: OptionList.OptionSelected) -> None:
        self.query_one("#launch-path", Input).value = str(event.option.prompt)
        self.query_one("#launch-path", Input).focus()

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        if event.input.id == "launch-code":
            if event.value == self._code_auto:
                return  # our own fill-in from the file's `code:`: already previewed
            self._code_touched = True
        self._preview()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "launch-path" and self.sweep is None:
            self._preview()
        else:
            self.action_submit()

    def _overrides(self) -> Overrides:
        def val(name: str) -> str | None:
            v = self.query_one(f"#launch-{name}", Input).value.strip()
            return v or None

        gpu = val("gpu")
        code = val("code") if self._code_touched else None
        return Overrides(image=val("image"), namespace=val("namespace"), name=val("name"), cpu=val("cpu"),
                         memory=val("memory"), gpu=int(gpu) if gpu and gpu.isdigit() else None,
                         code=os.path.expanduser(code) if code else None,
                         image_required=self.backend.capabilities.images.available)

    def _preview(self) -> None:
        # Widgets are read here, on the UI thread; the worker only gets plain values.
        no_code = self._code_touched and not self.query_one("#launch-code", Input).value.strip()
        self._load_preview(self.query_one("#launch-path", Input).value.strip(), self._overrides(), no_code)

    @work(thread=True, exclusive=True, group="launch-preview")
    def _load_preview(self, path: str, overrides: Overrides, no_code: bool = False) -> None:
        # Reading and expanding the file is I/O and may be slow: never on the UI loop.
        worker = get_current_worker()
        if not path:
            self.app.call_from_thread(self._show, None, "", Text("type a path to preview its Jobs", style="dim"))
            return
        if not Path(os.path.expanduser(path)).is_file():
            self.app.call_from_thread(self._show, None, "", Text(f"{path}: no such file yet", style="dim"))
            return
        try:
            sweep = load_sweep(os.path.expanduser(path), overrides)
        except SweepError as e:
            if not worker.is_cancelled:
                self.app.call_from_thread(self._show, None, str(e), Text(""))
            return
        file_code = sweep.code.path if sweep.code is not None and sweep.code.where != "--code" else ""
        if no_code:
            sweep = dataclasses.replace(sweep, code=None)
        images = self.backend.capabilities.images
        try:
            # The snapshot reads the whole directory (~200 ms for a big one): here, in the
            # worker. A cluster's ConfigMap holds 1 MiB; this machine has no such limit.
            ship = prepare(sweep, check_size=images.available)
        except CodeProblem as e:
            if not worker.is_cancelled:
                self.app.call_from_thread(self._show, None, str(e), Text(""), file_code)
            return
        ns = sweep.namespace or self.default_namespace
        first = render_trial(sweep, sweep.trial(0), ns, ship.ref if ship else None) if sweep.count() else None
        text = Text()
        text.append(f"{sweep.count():,} trials", style="bold")
        text.append(f" of sweep {sweep.name} into namespace {ns}"
                    + (f", image {sweep.image}\n" if images.available else "\n"))
        if ship is not None:
            text.append(f"code: {ship.snapshot.summary()} from {ship.snapshot.root} as {ship.snapshot.name}\n")
        else:
            text.append("no code shipped: the trials run the image's own code\n" if images.available
                        else "no code shipped: the trials run in the sweep file's directory\n", style="dim")
        for note in sweep.notes:
            if images.available or "image" not in note:
                text.append(f"note: {note}\n", style="yellow")
        mode = mode_note(sweep, here=not images.available)
        if mode:
            text.append(f"note: {mode}\n", style="yellow")
        if not images.available:
            text.append(f"note: {images.reason}\n", style="yellow")
            if local_note(sweep):
                text.append(f"note: {local_note(sweep)}\n", style="yellow")
        for t in (sweep.trial(i) for i in range(min(8, sweep.count()))):
            text.append(f"  {t.job_name}  ", style="cyan")
            text.append(" ".join(f"{k}={v}" for k, v in t.params.items()) + "\n")
        if sweep.count() > 8:
            text.append(f"  … {sweep.count() - 8:,} more\n", style="dim")
        if first is not None:
            text.append(f"\nfirst {first['kind']}:\n", style="bold")
            text.append(yaml.safe_dump(first, sort_keys=False, width=200))
        if not worker.is_cancelled:
            self.app.call_from_thread(self._show, sweep, "", text, file_code, ship)

    def _show(self, sweep: Sweep | None, errors: str, preview: Text, file_code: str | None = None,
              ship: Shipment | None = None) -> None:
        self.sweep = sweep
        self.ship = ship
        if file_code is not None and not self._code_touched:
            self._fill_code(file_code)
        self._set_refused(None)  # the form changed: a refusal no longer stands
        self.query_one("#launch-errors", Static).update(Text(errors, style="bold red"))
        self.query_one("#launch-preview", Static).update(preview)
        self.query_one("#launch-submit", Button).disabled = sweep is None or self._submitting

    def _fill_code(self, path: str) -> None:
        shown = path
        if path:
            rel = os.path.relpath(path)
            shown = path if rel.startswith("..") else rel
        field = self.query_one("#launch-code", Input)
        if field.value != shown:
            self._code_auto = shown
            field.value = shown

    @on(Button.Pressed, "#launch-submit")
    def _press_submit(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#launch-cancel")
    def action_cancel(self) -> None:
        if not self._submitting:
            self.dismiss(None)

    @on(Button.Pressed, "#launch-replace")
    def action_replace(self) -> None:
        """Replace the trials that exist with other settings, after a confirm."""
        refused, sweep = self.refused, self.sweep
        if refused is None or sweep is None or self._submitting:
            return
        n = len(refused.changed)

        def answered(yes: bool | None) -> None:
            if yes and self.refused is refused:
                self.action_submit(replace=True)

        self.app.push_screen(ConfirmScreen(
            f"Replace {n} trial{'s' if n != 1 else ''} of sweep {sweep.name}?",
            "Their Jobs and pods are deleted, then created anew with the new settings; "
            f"the {len(refused.existing)} identical ones are kept.\n" + "\n".join(summarize(refused.changed))),
            answered)

    def _set_refused(self, result: SubmitResult | None) -> None:
        self.refused = result
        button = self.query_one("#launch-replace", Button)
        button.display = result is not None
        if result is not None:
            n = len(result.changed)
            button.label = f"Replace {n} trial{'s' if n != 1 else ''}…"

    def action_submit(self, replace: bool = False) -> None:
        if self.sweep is None or self._submitting:
            return
        cap = self.backend.capabilities.submit
        if not cap.available:
            self.query_one("#launch-errors", Static).update(Text(f"cannot submit: {cap.reason}", style="bold red"))
            return
        self._submitting = True
        self.query_one("#launch-submit", Button).disabled = True
        bar = self.query_one("#launch-progress", ProgressBar)
        bar.display = True
        bar.update(total=self.sweep.count(), progress=0)
        self._submit(self.sweep, self.sweep.namespace or self.default_namespace, replace, self.ship)

    @work(thread=True, exclusive=True, group="launch-submit")
    def _submit(self, sweep: Sweep, namespace: str, replace: bool, ship: Shipment | None = None) -> None:
        # As `ktui launch`: each Job records its provenance and mounts the snapshot, whose
        # ConfigMap the backend creates before the first Job (kept here on this machine).
        def progress(p: SubmitProgress) -> None:
            self.app.call_from_thread(self._progress, p.done)

        try:
            manifests = launch_manifests(sweep, namespace, ship.ref if ship else None, provenance(),
                                         here=not self.backend.capabilities.images.available)
            result = self.backend.submit(manifests, progress, source_dir=str(Path(sweep.source).resolve().parent),
                                         replace=replace, code=config_map(ship.snapshot, namespace) if ship else None)
        except Exception as e:  # unreachable, forbidden: keep the form open and say why
            self.app.call_from_thread(self._failed, str(e))
            return
        if not result.refused:
            remember(sweep.source)
        self.app.call_from_thread(self._done, result)

    def _progress(self, done: int) -> None:
        self.query_one("#launch-progress", ProgressBar).update(progress=done)

    def _failed(self, message: str) -> None:
        self._submitting = False
        self.query_one("#launch-errors", Static).update(Text(f"submit failed: {message}", style="bold red"))
        self.query_one("#launch-submit", Button).disabled = False

    def _done(self, result: SubmitResult) -> None:
        self._submitting = False
        self.query_one("#launch-progress").display = False
        if result.refused:
            self._show_refusal(result)
            return
        self._set_refused(None)
        if result.failed:
            lines = [result.summary()]
            lines += [f"{f.name}: {f.message}" for f in result.failed[:10]]
            self.query_one("#launch-errors", Static).update(Text("\n".join(lines), style="bold red"))
            self.query_one("#launch-submit", Button).disabled = False
            return
        self.dismiss(result)

    def _show_refusal(self, result: SubmitResult) -> None:
        n = len(result.changed)
        name = self.sweep.name if self.sweep is not None else "?"
        self.query_one("#launch-errors", Static).update(Text(
            f"nothing submitted: {n} trial{'s' if n != 1 else ''} of sweep {name} already "
            f"exist{'s' if n == 1 else ''} with different settings", style="bold red"))
        text = Text()
        text.append("Not submitted. ", style="bold red")
        text.append("These trials already exist with other settings (old -> new):\n")
        for line in summarize(result.changed):
            text.append(line + "\n", style="yellow")
        text.append("\nTo run the new settings: type a new sweep name above, or replace these trials "
                    "(their Jobs and pods are deleted, then created anew")
        text.append(f"; the {len(result.existing)} identical ones are kept" if result.existing else "")
        text.append(").\n")
        self.query_one("#launch-preview", Static).update(text)
        self.query_one("#launch-preview-box", VerticalScroll).scroll_home(animate=False)
        self.query_one("#launch-submit", Button).disabled = False
        self._set_refused(result)
