"""What the sender keeps per batch and per channel, and what ``flush()`` reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

MAX_REPORTED = 100  # rejected events kept with details; the count is always exact


@dataclass(frozen=True)
class RejectedEvent:
    """An event HEC refused as bad data: ``seq`` counts from 0 in this sender's send order
    (None for a batch read back from the disk queue of an earlier process)."""

    seq: int | None
    code: int | None
    text: str


@dataclass
class HecReport:
    """What ``flush()`` returns: counts since the sender started."""

    accepted: int = 0
    delivered: int = 0
    rejected: int = 0
    spooled: int = 0  # events waiting in the disk queue now
    pending: int = 0  # events in memory not yet delivered (> 0 only when flush timed out)
    resent_batches: int = 0
    queue_bytes: int = 0
    queue_max_bytes: int = 0
    last_error: str | None = None
    rejected_events: list[RejectedEvent] = field(default_factory=list)


class Batch:
    __slots__ = (
        "ack_id",
        "attempts",
        "channel",
        "events",
        "first_seq",
        "nbytes",
        "not_before",
        "path",
        "sent_at",
    )

    def __init__(self, events: list[bytes], first_seq: int | None, nbytes: int) -> None:
        self.events = events
        self.first_seq = first_seq
        self.nbytes = nbytes
        self.attempts = 0
        self.not_before = 0.0
        self.ack_id: int | None = None
        self.channel: Channel | None = None
        self.sent_at = 0.0
        self.path: Path | None = None


class Channel:
    def __init__(self, guid: str) -> None:
        self.guid = guid
        self.last_id = -1
        self.unacked: dict[int, Batch] = {}
