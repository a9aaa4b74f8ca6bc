"""One HEC event: the envelope (``event``, ``time``, ``host``, ...) and its JSON bytes.

Checks here mirror the codes HEC would answer (12 event required, 13 event blank, 15 bad
indexed fields) so a bad event is refused at ``send()``, by its caller, not later in a batch.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from kepler.core.errors import HecRejected

ENVELOPE_KEYS = frozenset({"event", "time", "host", "source", "sourcetype", "index", "fields"})


class HecEvent(dict[str, Any]):
    """An HEC envelope built by :func:`make_event`; ``send()`` takes it as is."""


def make_event(
    fields_or_obj: Any,
    *,
    time: Any = None,
    host: str | None = None,
    source: str | None = None,
    sourcetype: str | None = None,
    index: str | None = None,
    fields: Mapping[str, Any] | None = None,
) -> HecEvent:
    """Wrap a dict, string, dataclass or pydantic model as one HEC event.

    ``time`` is epoch seconds (fractions kept), a ``datetime`` or a pandas ``Timestamp``;
    ``fields`` are indexed fields (flat: string, number or list of those).
    """
    payload = _payload(fields_or_obj)
    if payload is None:
        raise HecRejected("an HEC event needs a value, got None (HEC code 12: event required)")
    if isinstance(payload, str) and not payload.strip():
        raise HecRejected("an HEC event cannot be blank (HEC code 13); send some text or fields")
    envelope = HecEvent(event=payload)
    if time is not None:
        envelope["time"] = epoch_seconds(time)
    for key, value in (("host", host), ("source", source), ("sourcetype", sourcetype)):
        if value is not None:
            envelope[key] = str(value)
    if index is not None:
        envelope["index"] = str(index)
    if fields:
        envelope["fields"] = _indexed_fields(fields)
    return envelope


def epoch_seconds(value: Any) -> float:
    """Epoch seconds from a number, a datetime (naive = UTC) or anything with ``timestamp()``."""
    if isinstance(value, bool):
        raise HecRejected(f"an event time must be epoch seconds or a datetime, not {value!r}")
    if isinstance(value, int | float | Decimal):
        seconds = float(value)
    elif isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        seconds = aware.timestamp()
    elif hasattr(value, "timestamp"):
        seconds = float(value.timestamp())
    else:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            raise HecRejected(
                f"an event time must be epoch seconds or a datetime, not {type(value).__name__}"
            ) from None
    if not math.isfinite(seconds):
        raise HecRejected("an event time must be a finite number of epoch seconds")
    return seconds


def as_envelope(event: Any) -> dict[str, Any]:
    """What ``send()`` accepts: a :class:`HecEvent`, a dict shaped as an envelope, or a payload."""
    if isinstance(event, HecEvent):
        return event
    if type(event) is dict and "event" not in event:  # the common case, kept cheap
        return {"event": event}
    if isinstance(event, Mapping) and "event" in event and ENVELOPE_KEYS.issuperset(event):
        return make_event(
            event["event"],
            time=event.get("time"),
            host=event.get("host"),
            source=event.get("source"),
            sourcetype=event.get("sourcetype"),
            index=event.get("index"),
            fields=event.get("fields"),
        )
    return make_event(event)


def encode(envelope: Mapping[str, Any], defaults: Mapping[str, str]) -> bytes:
    """The event's compact JSON, with the sender's defaults for keys it leaves unset."""
    if defaults:
        envelope = {**defaults, **envelope}
    try:
        text = _DUMPS(envelope)
    except ValueError:
        # NaN and infinities are not JSON (HEC answers code 6): send them as null.
        text = _DUMPS(_finite(envelope))
    return text.encode()


def _default(value: Any) -> Any:
    if getattr(value, "ndim", 0) and hasattr(value, "tolist"):  # numpy arrays, pandas series
        return value.tolist()
    if hasattr(value, "item") and callable(value.item):  # numpy and pandas scalars
        return value.item()
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


_ENCODER = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_default
)


def _dumps_function() -> Any:
    """``_ENCODER.encode`` without its per-call cost: ``JSONEncoder.encode`` builds a new C
    encoder on every call, half the time of encoding a dozen-field event. The C encoder
    built once gives the same text (no circular-reference check: an event that contains
    itself fails with RecursionError either way)."""
    from json import encoder as std

    c_make_encoder = getattr(std, "c_make_encoder", None)  # private to json; typeshed omits it
    if c_make_encoder is None:  # a Python without the C accelerator
        return _ENCODER.encode
    make = c_make_encoder(
        None, _default, std.encode_basestring, None, ":", ",", False, False, False
    )

    def dumps(obj: Any) -> str:
        return "".join(make(obj, 0))

    return dumps


_DUMPS = _dumps_function()


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if getattr(value, "ndim", 0) and hasattr(value, "tolist"):
        return _finite(value.tolist())
    if hasattr(value, "item") and callable(value.item):
        return _finite(value.item())
    return value


def _payload(obj: Any) -> Any:
    if obj is None or isinstance(obj, str | Mapping | list | int | float):
        return obj
    if hasattr(obj, "model_dump"):  # pydantic
        return obj.model_dump(mode="json")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if hasattr(obj, "to_dict"):  # a pandas Series (one row)
        return obj.to_dict()
    return obj


def _indexed_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if isinstance(value, Mapping):
            raise HecRejected(
                f"indexed field {key!r} holds an object; HEC takes only strings, numbers or "
                "lists of them in 'fields' (HEC code 15)"
            )
        if isinstance(value, list | tuple):
            if any(isinstance(v, Mapping | list | tuple) for v in value):
                raise HecRejected(
                    f"indexed field {key!r} holds nested values; HEC takes a flat list (code 15)"
                )
            out[str(key)] = list(value)
        else:
            out[str(key)] = value
    return out
