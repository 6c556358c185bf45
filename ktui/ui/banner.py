"""The main screen's two top lines as text: the title (counts, where ktui is connected)
and the banner (the connection's state, then the problems: refused lists, sources that are
missing, capabilities the backend lacks). Pure functions of the store's and the backend's
typed state, so their wording is tested without a terminal."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text

from ktui.cluster.format import human_duration
from ktui.cluster.health import Connection
from ktui.cluster.model import Capabilities, Problem

RECONNECTED_SECONDS = 10.0  # how long the banner says "reconnected after 75s"


def title(nodes: int, jobs: int, counts: dict[str, int], backend: str, location: str) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(" ktui ", style="bold reverse")
    t.append(f" {nodes} nodes  {jobs} jobs")
    if counts["Running"]:
        t.append(f"  {counts['Running']} running", style="cyan")
    if counts["Pending"]:
        t.append(f"  {counts['Pending']} pending", style="yellow")
    if counts["Failed"]:
        t.append(f"  {counts['Failed']} failed", style="bold red")
    # Where we are comes last: on a narrow terminal it is what gets cut.
    t.append(f"  {backend} ", style="bold")
    t.append(location, style="dim")
    return t


def connection_line(c: Connection | None, now: float) -> tuple[str, str] | None:
    """(text, style) of the connection's line in the banner, if it has one: how long ktui
    has been connecting, or the server unreachable, and the last error; for a few seconds
    after an outage, how long it lasted. `now`: time.monotonic()."""
    if c is None:
        return None
    if c.state == "connecting":
        text = f"connecting to {c.server}… {human_duration(now - c.since)}"
        if c.error:
            text += f" (last error: {c.error}; retrying)"
        return text, "bold yellow"
    if c.state == "down":
        return f"! {c.message} (for {human_duration(now - c.since)}; retrying)", "bold red"
    if c.outage is not None and now - c.since < RECONNECTED_SECONDS:
        return f"reconnected after {human_duration(c.outage)}", "bold green"
    return None


def problem_lines(problems: Iterable[Problem], caps: Capabilities, needed: Iterable[str]) -> list[str]:
    """One line per problem, and per capability the screen's actions need that is missing."""
    # (The unreachable server is the connection's line, with how long it has been so.)
    lines = [f"! {p.message}" for p in problems if (p.code, p.resource) != ("unreachable", "cluster")]
    for name in sorted(set(needed)):
        cap = getattr(caps, name)
        if not cap.available:
            lines.append(f"! {name} unavailable: {cap.reason}")
    return lines


def banner(conn: tuple[str, str] | None, lines: list[str]) -> Text:
    """The connection's line, then as many problems as fit (the rest counted)."""
    text = Text()
    if conn is not None:
        text.append(conn[0], style=conn[1])
    room = 2 if conn is not None else 3
    if lines:
        rest = "\n".join(lines[:room]) + (f"\n… {len(lines) - room} more" if len(lines) > room else "")
        text.append(("\n" if conn is not None else "") + rest, style="bold red")
    return text
