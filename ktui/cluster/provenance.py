"""Provenance in words: what a trial ran (code snapshot, git state, image and the digest it
resolved to) and who launched it with which ktui, for describe and `ktui diff`."""

from __future__ import annotations

from typing import Any


def _size(n: Any) -> str:
    if not isinstance(n, int):
        return "?"
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024 or unit == "MiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def code_words(code: dict[str, Any] | None) -> str:
    if not code:
        return "what the image holds (no code shipped)"
    return (f"{code.get('configMap') or '?'}  {code.get('files', '?')} files, {_size(code.get('bytes'))}"
            f"  sha256 {str(code.get('sha256') or '?')[:16]}")


def git_words(git: dict[str, Any] | None) -> str | None:
    if not git:
        return None
    where = f"on {git['branch']}" if git.get("branch") else "detached"
    text = f"commit {str(git.get('commit') or '?')[:12]} {where}"
    if git.get("dirty"):
        diff = git.get("diffSha256")
        text += f", dirty (uncommitted diff sha256 {str(diff)[:16]})" if diff else ", dirty (untracked files)"
    else:
        text += ", clean"
    return text


def rows(provenance: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(label, words) lines: for a Job that records no provenance (not launched by this
    ktui), only the image digest its pod resolved."""
    if not provenance:
        return []
    out: list[tuple[str, str]] = []
    recorded = "launchedBy" in provenance
    if recorded:
        out.append(("Code", code_words(provenance.get("code"))))
        git = git_words(provenance.get("git"))
        if git:
            out.append(("Git", git))
    image, digest = provenance.get("image"), provenance.get("imageDigest")
    if image and digest:
        out.append(("Image", f"{image} -> {digest}"))
    elif image or digest:
        out.append(("Image", f"{image} (its digest is known once a pod runs)" if image else str(digest)))
    who, version = provenance.get("launchedBy"), provenance.get("ktuiVersion")
    if who or version:
        out.append(("Launched", f"by {who or '?'} with ktui {version or '?'}"))
    return out
