"""What a trial waiting in a Kueue queue says of it: the reason its row shows, and the longer
message describe gives. The words that tell most come first, so the row's narrow REASON
cell still says it when cut (`queued #3 in u…`, `Preempted: Pree…`, `no quota: coul…`,
`#2 (preempted…`)."""

from __future__ import annotations

from ktui.cluster.model import QueueInfo

# QueueInfo.state of a Workload that waits for quota (its owner is suspended meanwhile).
WAITING = ("Pending", "Evicted", "Preempted")


def waiting(q: QueueInfo | None) -> bool:
    return q is not None and q.state in WAITING


def queue_reason(q: QueueInfo) -> tuple[str, str | None]:
    """(reason, message) of a waiting trial: evicted or preempted (why, and its place in line
    again once the visibility API lists it), inadmissible (why), its place in its LocalQueue
    (1 = next; Kueue counts from 0), short of quota (the flavor assigner's words), or simply
    queued."""
    where = q.local_queue or "its queue"
    if q.state in ("Evicted", "Preempted"):
        word = q.reason or q.state
        if q.position_local is not None:
            # Both facts within the 11 characters an 80-column REASON cell shows (`#2
            # (preempt…`): where it stands now, and that it ran and lost its quota (Kueue's
            # words stay in the message).
            lost = "preempted" if "Preempted" in (word, q.state) else f"evicted: {word}"
            return f"#{q.position_local + 1} ({lost}) in {where}", q.message
        return (f"{word}: {q.message}" if q.message else word), q.message
    if q.reason == "Inadmissible":
        return f"inadmissible: {q.message or where}", q.message
    if q.position_local is not None:
        return f"queued #{q.position_local + 1} in {where}", q.message
    if q.message and "quota" in q.message:
        return f"no quota: {q.message}", q.message
    if q.message:
        return f"queued: {q.message}", q.message
    return f"queued in {where}", None
