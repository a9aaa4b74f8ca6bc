"""The deliver step: scored rows to HEC events, through one event builder.

:func:`rows_to_events` is the only place a scored row becomes an event, whichever way it
was scored (the apply route, the async apply job, a scheduled run); :func:`deliver` sends
one batch of them, all or none (a full disk queue raises ``HecQueueFull`` and takes none,
so a retry cannot duplicate a part), and by default :func:`settle`\\ s it: the batch counts
once it is in Splunk or in the disk queue, waiting at most ``KEPLER_HEC_FLUSH_TIMEOUT``.
A scheduled run, which owns its sender, flushes that sender once at its end instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kepler.core.errors import HecUnavailable
from kepler.hec import HecEvent, HecReport, HecSender, make_event

DEFAULT_SOURCETYPE = "kepler:score"
NOT_CONFIGURED = (
    "writing scores to an index needs Splunk's HTTP Event Collector: set KEPLER_HEC_URL and "
    "KEPLER_HEC_TOKEN where the bridge and workers run, or fill in the HEC tab of Kepler's "
    "setup page in Splunk"
)


def rows_to_events(
    rows: Iterable[Mapping[str, Any]],
    *,
    index: str | None,
    sourcetype: str | None,
    source: str,
    host_field: str | None = None,
    default_time: float | None = None,
) -> Iterator[HecEvent]:
    """One event per scored row. Its fields are the row's, less Splunk's ``_`` fields and
    missing values (None, "", NaN, NaT, infinities); ``_time`` (epoch seconds, as Splunk
    sends it, or a datetime) is the event's time, else ``default_time``; with
    ``host_field``, that field's text is the event's host."""
    for row in rows:
        payload = {k: v for k, v in row.items() if not k.startswith("_") and not _missing(v)}
        host = row.get(host_field) if host_field else None
        yield make_event(
            payload,
            time=_event_time(row.get("_time"), default_time),
            index=index,
            sourcetype=sourcetype or DEFAULT_SOURCETYPE,
            source=source,
            host=host if isinstance(host, str) else None,
        )


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, int | list | dict):
        return False
    try:  # NaT, numpy floats that are not Python floats
        return bool(value != value)
    except (TypeError, ValueError):
        return False


def _event_time(value: Any, default: float | None) -> Any:
    """Epoch seconds or a datetime for ``make_event``; ``default`` for none usable."""
    if value is None or _missing(value):
        return default
    if hasattr(value, "timestamp"):  # a datetime or a pandas Timestamp
        return value
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return default
    return seconds if math.isfinite(seconds) else default


@dataclass(frozen=True)
class Delivered:
    """One delivered batch: the events sent and, once settled, how many of this process's
    sender's events wait in its disk queue and how many HEC refused meanwhile."""

    events: int
    queued: int = 0
    rejected: int = 0


def deliver(
    sender: HecSender,
    rows: Any,
    *,
    index: str | None,
    sourcetype: str | None,
    source: str,
    host_field: str | None = None,
    default_time: float | None = None,
    wait: bool = True,
) -> Delivered:
    """Send a scored Arrow table's rows (or a list of row dicts) as events, all or none;
    with ``wait``, :func:`settle` them before returning."""
    before = sender.report() if wait else None
    events = rows_to_events(
        rows.to_pylist() if hasattr(rows, "to_pylist") else rows,
        index=index,
        sourcetype=sourcetype,
        source=source,
        host_field=host_field,
        default_time=default_time,
    )
    sent = sender.send_many(events, atomic=True)
    if before is None:
        return Delivered(sent)
    after = settle(sender, sent)  # in Splunk, or in the disk queue if HEC is down
    return Delivered(sent, queued=after.spooled, rejected=after.rejected - before.rejected)


def settle(sender: HecSender, sent: int) -> HecReport:
    """Wait, at most ``KEPLER_HEC_FLUSH_TIMEOUT``, until what was sent is in Splunk or in the
    disk queue; past it, HecUnavailable (the events stay with the sender: not lost)."""
    s = sender.settings
    report = sender.flush(s.flush_timeout)
    if report.pending:
        raise HecUnavailable(
            f"HEC at {s.safe_url()} did not take {sent} events within {s.flush_timeout:g}s "
            f"(KEPLER_HEC_FLUSH_TIMEOUT; last error: {report.last_error or 'none'}) and they "
            "could not be written to the disk queue yet; they are kept and sent when HEC "
            "answers. Check Splunk's HTTP Event Collector and the disk of the HEC queue",
            detail={"hec_url": s.safe_url(), "pending": report.pending},
        )
    return report
