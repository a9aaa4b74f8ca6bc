"""Durations as users write them: ``90``, ``30s``, ``5m``, ``1.5h``, ``1d``.

One reading for every option that takes a duration (``automl``'s ``time_budget=``, a
schedule's ``every=``): a number, then optionally a unit, in any case. What a number alone
counts, which range is allowed and what the error says stay with each option. Standard
library only: it runs in Splunk's Python (3.9 and 3.13) too.
"""

from __future__ import annotations

import re

# Seconds per unit.
UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hrs": 3600.0,
    "d": 86400.0,
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$", re.IGNORECASE)


def duration_seconds(value: object, *, bare: str = "s") -> float | None:
    """Seconds in ``value``, a number or text such as ``"10m"``; a number alone counts
    ``bare`` units. None when ``value`` is not a duration (a boolean, an unknown unit, a
    sign, words)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) * UNITS[bare]
    match = _DURATION.match(str(value))
    unit = (match.group(2) or bare).lower() if match else ""
    if match is None or unit not in UNITS:
        return None
    return float(match.group(1)) * UNITS[unit]
