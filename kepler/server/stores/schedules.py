"""Scheduled scoring: which search to score with which model, how often, and when next;
or, with ``retrain``, which search to fit a new version on and the gate that promotes it.

Schedules live in the jobs database (:mod:`kepler.server.db`) beside the jobs their runs
leave, so they survive a restart of the bridge, the workers and the beat. What they share
with monitors (the row's slots, the beat's claim) is :mod:`kepler.server.stores.recurring`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from kepler.core.errors import InvalidSpec, ScheduleNotFound
from kepler.core.gate import parse_gate
from kepler.core.refs import ModelRef
from kepler.server.db import schedules_table
from kepler.server.stores.recurring import (
    Recurring,
    RecurringStore,
    format_every,
    new_fields,
    parse_every,
)

__all__ = ["Schedule", "ScheduleStore", "format_every", "parse_every"]

DEFAULT_ALIAS = "production"
_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")  # as kepler.core.refs reads one


@dataclass
class Schedule(Recurring):
    id: str
    name: str
    search: str
    model: str
    every_s: float
    earliest: str | None
    latest: str | None
    index: str | None
    sourcetype: str | None
    enabled: bool
    created_at: float
    next_run_at: float
    last_run_at: float | None = None
    last_job_id: str | None = None
    retrain: bool = False
    gate: str | None = None
    alias: str | None = None
    fit_spec: dict[str, Any] | None = None
    shadow: str | None = None  # a challenger (pump@5) scored alongside each run

    @property
    def window(self) -> tuple[str, str]:
        """The time range each run searches: by default the interval just past."""
        earliest, latest = super().window
        return (self.earliest or earliest, self.latest or latest)


def _json(value: Any) -> Any:
    return json.loads(value) if value else None


class ScheduleStore(RecurringStore[Schedule]):
    table = schedules_table
    row_class = Schedule
    noun = "schedule"
    not_found = ScheduleNotFound
    decode: ClassVar[dict[str, Any]] = {"enabled": bool, "retrain": bool, "fit_spec": _json}

    def create(
        self,
        name: str,
        *,
        search: str,
        model: str,
        every: str | float,
        earliest: str | None = None,
        latest: str | None = None,
        index: str | None = None,
        sourcetype: str | None = None,
        start_now: bool = False,
        shadow: str | None = None,
        retrain: bool = False,
        gate: str | None = None,
        alias: str | None = None,
        fit_spec: dict[str, Any] | None = None,
    ) -> Schedule:
        fields = new_fields(
            "schedule", name, search=search, model=model, every=every, start_now=start_now
        )
        if not retrain and (gate or alias or fit_spec):
            raise InvalidSpec(
                "gate, alias and a fit spec belong to retraining: add --retrain, or drop them"
            )
        if retrain:
            gate = parse_gate(gate).text if gate else None  # a malformed gate fails here
            alias = _alias(alias, gate)
        challenger = str(ModelRef.parse(shadow)) if shadow else None
        sched = Schedule(
            **fields,
            earliest=earliest or None,
            latest=latest or None,
            index=index or None,
            sourcetype=sourcetype or None,
            retrain=bool(retrain),
            gate=gate,
            alias=alias,
            fit_spec=fit_spec or None,
            shadow=challenger,
        )
        return self._insert(sched)

    def encode(self, item: Schedule) -> dict[str, Any]:
        values = super().encode(item)
        values["fit_spec"] = json.dumps(item.fit_spec) if item.fit_spec else None
        return values


def _alias(alias: str | None, gate: str | None) -> str:
    """The alias a passing version moves: as given, else the one the gate compares with,
    else ``production``."""
    if alias:
        if not _ALIAS.match(alias):
            raise InvalidSpec(
                f"alias {alias!r} is not valid: use letters, digits, _ or -, as in production"
            )
        return alias
    refs = parse_gate(gate).aliases() if gate else ()
    return refs[0] if refs else DEFAULT_ALIAS
