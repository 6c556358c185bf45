"""Kueue's words on screen: the queue line above the job table, and what describe (`d`)
says of a queued trial's Workload. Pure functions of the store's records."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text

from ktui.cluster.model import QueueInfo
from ktui.cluster.queuefeed import QueueLoad


def queue_line(loads: Sequence[QueueLoad]) -> Text:
    """`queues  user-queue 12 pending 4 admitted  team-b 3 pending 0 admitted` (the
    namespace before each name when they are not all in one)."""
    t = Text(no_wrap=True, overflow="ellipsis")
    if not loads:
        return t
    t.append("queues", style="dim")
    one_ns = len({q.namespace for q in loads}) == 1
    for q in loads:
        t.append("  ")
        t.append(q.name if one_ns else f"{q.namespace}/{q.name}", style="bold")
        t.append(f" {q.pending} pending", style="yellow" if q.pending else "dim")
        t.append(f" {q.admitted} admitted", style="cyan" if q.admitted else "dim")
    return t


def place(q: QueueInfo) -> str:
    """`#3 in user-queue, #7 in cluster-queue` (1 = next), or "-" when unknown."""
    parts = []
    if q.position_local is not None:
        parts.append(f"#{q.position_local + 1} in {q.local_queue or 'its LocalQueue'}")
    if q.position_cluster is not None:
        parts.append(f"#{q.position_cluster + 1} in {q.cluster_queue or 'its ClusterQueue'}")
    return ", ".join(parts) or "-"


def queue_rows(q: QueueInfo) -> list[tuple[str, Text | str]]:
    """Rows for describe's head: the queues, the Workload, its state and place in line."""
    queues = q.local_queue or "-"
    if q.cluster_queue:
        queues += f" (ClusterQueue {q.cluster_queue})"
    state = Text(q.state, style="yellow" if q.state in ("Pending", "Evicted", "Preempted")
                 else "")
    if q.reason and q.reason != q.state:
        state.append(f" ({q.reason})", style="dim")
    return [("Queue", queues), ("Workload", q.workload), ("Queue state", state),
            ("Place", place(q))]


def conditions_table(q: QueueInfo) -> Table:
    """The Workload's conditions, with Kueue's messages."""
    table = Table(title="workload conditions", expand=True, title_justify="left")
    for col in ("type", "status", "reason", "message"):
        table.add_column(col)
    for ctype, status, reason, message in q.conditions:
        table.add_row(ctype, Text(status, style="bold" if status == "True" else "dim"),
                      reason, message)
    return table
