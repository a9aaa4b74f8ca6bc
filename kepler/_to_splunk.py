"""``kp.to_splunk(df, index=...)``: a DataFrame's rows into a Splunk index through HEC."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import Any

from kepler.core.errors import DataError
from kepler.hec import HecEvent, HecReport, HecSender, HecSettings, make_event

log = logging.getLogger("kepler.hec")
SLICE = 10_000  # rows turned into events at a time: memory stays flat for any frame


def to_splunk(
    df: Any,
    *,
    index: str | None = None,
    sourcetype: str | None = None,
    time_field: str | None = None,
    source: str = "kepler:sdk",
    host: str | None = None,
    settings: HecSettings | None = None,
    **overrides: Any,
) -> HecReport:
    """Send each row of ``df`` as one event (its columns as the event's fields).

    ``time_field`` names the column with each event's time (datetimes, naive meaning UTC,
    or epoch seconds); it is left out of the event's fields. HEC comes from
    ``KEPLER_HEC_*`` (``url``, ``token``, ``ack``, ...) or ``settings``/keyword overrides.
    Returns once every row is in Splunk (acknowledged, with ``ack``) or, if HEC is
    unreachable, in the local disk queue (``report.spooled``), which the next sender on the
    same queue drains; ``report.rejected_events`` names rows HEC refused (``seq`` = row).
    """
    if time_field is not None and time_field not in df.columns:
        raise DataError(
            f"time_field={time_field!r} is not a column; the frame has: "
            + ", ".join(map(str, list(df.columns)[:20]))
        )
    with HecSender(settings, **overrides) as sender:
        sender.send_many(_events(df, index, sourcetype, time_field, source, host))
        report = sender.flush()
    if report.spooled:
        log.warning(
            "HEC is unreachable: %d events wait in the disk queue (%s)",
            report.spooled,
            report.last_error,
        )
    return report


def _events(
    df: Any,
    index: str | None,
    sourcetype: str | None,
    time_field: str | None,
    source: str,
    host: str | None,
) -> Iterator[HecEvent]:
    times = _epoch_seconds(df[time_field]) if time_field is not None else None
    columns = [c for c in df.columns if c != time_field]
    for start in range(0, len(df), SLICE):
        part = df.iloc[start : start + SLICE]
        records = part[columns].to_dict("records")
        for offset, record in enumerate(records):
            when = None if times is None else times[start + offset]
            payload = {str(k): v for k, v in record.items() if not _missing(v)}
            yield make_event(
                payload,
                time=None if when is None or math.isnan(when) else when,
                index=index,
                sourcetype=sourcetype,
                source=source,
                host=host,
            )


def _epoch_seconds(column: Any) -> list[float]:
    import pandas as pd

    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        return [float(v) for v in column]
    stamps = pd.to_datetime(column, utc=True, errors="coerce", format="ISO8601")
    if stamps.isna().all() and column.notna().any():
        raise DataError(f"the time field {column.name!r} holds neither datetimes nor epoch seconds")
    return [float("nan") if pd.isna(t) else t.timestamp() for t in stamps]


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    try:
        import pandas as pd

        return bool(pd.isna(value)) if not isinstance(value, list | tuple | dict) else False
    except (TypeError, ValueError):
        return False
