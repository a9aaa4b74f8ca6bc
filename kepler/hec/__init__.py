"""Splunk's HTTP Event Collector from Python: one sender for the bridge, workers and SDK.

    from kepler.hec import HecSender, make_event
    with HecSender(url="https://splunk:8088", token="...", index="kepler") as hec:
        hec.send(make_event({"score": 0.93}, time=1700000000.25, sourcetype="kepler:score"))
        report = hec.flush()

Settings come from ``KEPLER_HEC_*`` (see :class:`HecSettings`); keyword arguments override.
"""

from kepler.core.errors import (
    HecError,
    HecNotConfigured,
    HecQueueFull,
    HecRejected,
    HecUnavailable,
)
from kepler.hec._event import HecEvent, make_event
from kepler.hec._sender import HecSender
from kepler.hec._settings import HecSettings
from kepler.hec._state import HecReport, RejectedEvent

__all__ = [
    "HecError",
    "HecEvent",
    "HecNotConfigured",
    "HecQueueFull",
    "HecRejected",
    "HecReport",
    "HecSender",
    "HecSettings",
    "HecUnavailable",
    "RejectedEvent",
    "make_event",
]
