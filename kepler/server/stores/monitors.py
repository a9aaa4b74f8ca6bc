"""Monitors: which search's events to compare with which model's baseline, how often.

A monitor is a table of its own, not a schedule with a kind: its options (label field,
drift method, threshold) are columns a schedule has no use for, its runs are a job kind of
their own, and ``kepler schedule list`` keeps listing only what scores. The slots and the
beat's claim are a schedule's (:mod:`kepler.server.stores.recurring`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kepler.core.errors import InvalidSpec, MonitorNotFound
from kepler.ml.monitoring.drift import check_method
from kepler.server.db import monitors_table
from kepler.server.stores.recurring import Recurring, RecurringStore, new_fields
from kepler.splunk.saved_searches import name_for

MAX_LABEL = 255


@dataclass
class Monitor(Recurring):
    id: str
    name: str
    search: str
    model: str
    every_s: float
    label: str | None
    method: str
    threshold: float | None
    index: str | None
    enabled: bool
    created_at: float
    next_run_at: float
    last_run_at: float | None = None
    last_job_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["saved_search"] = name_for(self.name)  # its alert in Splunk (kepler.splunk)
        return d


class MonitorStore(RecurringStore[Monitor]):
    table = monitors_table
    row_class = Monitor
    noun = "monitor"
    not_found = MonitorNotFound

    def create(
        self,
        name: str,
        *,
        search: str,
        model: str,
        every: str | float,
        label: str | None = None,
        method: str | None = None,
        threshold: float | None = None,
        index: str | None = None,
        start_now: bool = False,
    ) -> Monitor:
        fields = new_fields(
            "monitor", name, search=search, model=model, every=every, start_now=start_now
        )
        if label is not None and not (0 < len(label.strip()) <= MAX_LABEL):
            raise InvalidSpec(f"label must name the events' label field (1 to {MAX_LABEL} chars)")
        method, threshold = check_method(method, threshold)
        mon = Monitor(
            **fields,
            label=label.strip() if label else None,
            method=method,
            threshold=threshold,
            index=index or None,
        )
        return self._insert(mon)
