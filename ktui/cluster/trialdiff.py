"""What differs between two trials: parameters, settings (image, command, resources...),
code (changed files, with a unified diff of text files read from the two snapshots: their
ConfigMaps on a cluster, the state directory here), the image digest their pods resolved,
and how they ended. `ktui diff A B` prints it; the UI's compare screen (`v`) shows it."""

from __future__ import annotations

import base64
import difflib
from typing import Any

import msgspec

from ktui.cluster.fingerprint import show, trial_fields
from ktui.cluster.model import TrialDescription
from ktui.cluster.trialview import is_indexed, trial_view
from ktui.snapshot import config_map_name, read_archive
from ktui.wire.names import CODE_ARCHIVE_KEY

MAX_DIFF_LINES = 400  # per file: a diff longer than this is cut, saying how much was left out


def _archive(backend: Any, namespace: str, sha: str) -> bytes | None:
    local = getattr(backend, "code_archive", None)
    if local is not None:
        path = local(sha)
        return path.read_bytes() if path is not None else None
    from ktui.cluster.kube.transport import ApiError

    try:
        cm = msgspec.json.decode(backend.transport.get(f"/api/v1/namespaces/{namespace}/configmaps/{config_map_name(sha)}"))
    except ApiError:
        return None
    raw = (cm.get("binaryData") or {}).get(CODE_ARCHIVE_KEY)
    return base64.b64decode(raw) if isinstance(raw, str) else None


def _text(data: bytes) -> list[str] | None:
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        return None


def code_lines(a: dict[str, bytes], b: dict[str, bytes], name_a: str, name_b: str) -> list[str]:
    out: list[str] = []
    added = sorted(set(b) - set(a))
    removed = sorted(set(a) - set(b))
    changed = sorted(p for p in set(a) & set(b) if a[p] != b[p])
    for label, paths in (("changed", changed), ("added", added), ("removed", removed)):
        if paths:
            out.append(f"  {label}: {', '.join(paths)}")
    for p in changed + added + removed:
        old, new = _text(a.get(p, b"")), _text(b.get(p, b""))
        if old is None or new is None:
            out.append(f"  (binary: {p})")
            continue
        lines = list(difflib.unified_diff(old, new, f"{name_a}/{p}", f"{name_b}/{p}"))
        for ln in lines[:MAX_DIFF_LINES]:
            out.append("  " + ln.rstrip("\n"))
        if len(lines) > MAX_DIFF_LINES:
            out.append(f"  ... {len(lines) - MAX_DIFF_LINES} more lines of this diff")
    return out


def _outcome(d: TrialDescription) -> str:
    t = d.trial
    return f"{t.phase} ({t.reason})" if t.reason else t.phase


def _mode(manifest: Any) -> str:
    return "indexed" if is_indexed(manifest) else "jobs"


def compare(backend: Any, da: TrialDescription, db: TrialDescription) -> list[str]:
    """Any two trials, whatever runs them: a Job, one index of an indexed sweep's Job (its
    parameters and command line from the Job's ConfigMaps), a PyTorchJob's master or a
    TrainJob's trainer (ktui.wire.training.job_view)."""
    ta, tb = da.trial, db.trial
    va = trial_view(backend, da.manifest, ta.index, ta.name)
    vb = trial_view(backend, db.manifest, tb.index, tb.name)
    fa = trial_fields(va.manifest)
    fb = trial_fields(vb.manifest)
    if is_indexed(da.manifest) or is_indexed(db.manifest):
        # An indexed trial's argv is one list (its command and args were joined in its
        # fragment): compare whole command lines.
        for f in (fa, fb):
            f["command line"] = (*f.pop("command", ()), *f.pop("args", ()))
        if _mode(da.manifest) != _mode(db.manifest):
            fa["mode"], fb["mode"] = _mode(da.manifest), _mode(db.manifest)
    keys = list(fa) + [k for k in fb if k not in fa]
    params = [k for k in keys if k.startswith("params") and fa.get(k) != fb.get(k)]
    settings = [k for k in keys if not k.startswith("params") and k != "code" and fa.get(k) != fb.get(k)]
    out: list[str] = [v.note for v in (va, vb) if v.note]
    if params:
        out.append("parameters:")
        out += [f"  {k.removeprefix('params.')}: {show(fa.get(k))} -> {show(fb.get(k))}" for k in params]
    if settings:
        out.append("settings:")
        out += [f"  {k}: {show(fa.get(k))} -> {show(fb.get(k))}" for k in settings]
    ca = ((ta.provenance or {}).get("code") or {}).get("sha256")
    cb = ((tb.provenance or {}).get("code") or {}).get("sha256")
    if ca != cb:
        out.append(f"code: {config_map_name(ca) if ca else '(the image)'} -> {config_map_name(cb) if cb else '(the image)'}")
        arch_a = _archive(backend, ta.namespace, ca) if ca else None
        arch_b = _archive(backend, tb.namespace, cb) if cb else None
        if (ca and arch_a is None) or (cb and arch_b is None):
            out.append("  (a snapshot is gone: its files cannot be compared)")
        else:
            out += code_lines(read_archive(arch_a) if arch_a else {}, read_archive(arch_b) if arch_b else {},
                              ta.name, tb.name)
    if ta.image_id != tb.image_id:
        out.append(f"image digest: {ta.image_id or '(not run yet)'} -> {tb.image_id or '(not run yet)'}")
    if _outcome(da) != _outcome(db):
        out.append(f"outcome: {_outcome(da)} -> {_outcome(db)}")
    return out
