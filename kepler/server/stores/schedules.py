"""Scheduled scoring: which search to score with which model, how often, and when next.

Schedules live in the jobs database (:mod:`kepler.server.db`) beside the jobs their runs
leave, so they survive a restart of the bridge, the workers and the beat. The beat claims
a due schedule by moving its ``next_run_at`` forward in one conditional UPDATE, so two
beats never start the same run twice.
"""

from __future__ import annotations

import builtins
import re
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from kepler.core.durations import duration_seconds
from kepler.core.errors import BadParameter, Conflict, InvalidSpec, ScheduleNotFound
from kepler.core.refs import ModelRef
from kepler.server.db import Database, from_row, schedules_table

MIN_EVERY_S = 1.0
MAX_EVERY_S = 366 * 86400.0
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")


def parse_every(every: str | float | int) -> float:
    """Seconds from ``"5m"``, ``"30s"``, ``"2h"``, ``"1d"`` (a bare number is minutes)."""
    seconds = duration_seconds(every, bare="m")
    if seconds is None:
        raise BadParameter(
            f"every={every!r} is not an interval: use a number and s, m, h or d, "
            "as in every=5m or every=30s"
        )
    if not MIN_EVERY_S <= seconds <= MAX_EVERY_S:
        raise BadParameter(f"every={every!r} must be between 1 second and 366 days")
    return seconds


def format_every(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


@dataclass
class Schedule:
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
    shadow: str | None = None  # a challenger (pump@5) scored alongside each run

    @property
    def window(self) -> tuple[str, str]:
        """The time range each run searches: by default the interval just past."""
        return (self.earliest or f"-{int(max(1, self.every_s))}s", self.latest or "now")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["every"] = format_every(self.every_s)
        return d


def _row(row: Any) -> Schedule:
    return from_row(Schedule, row, columns={"index": "hec_index"}, decode={"enabled": bool})


class ScheduleStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    @property
    def engine(self) -> Engine:
        return self.db.engine

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
    ) -> Schedule:
        if not _NAME.match(name or ""):
            raise InvalidSpec(
                f"schedule name {name!r} is not valid: use letters, digits, _, - and ."
            )
        if not (search or "").strip():
            raise InvalidSpec("the schedule needs a search, e.g. 'index=sensors'")
        ref = ModelRef.parse(model)
        challenger = str(ModelRef.parse(shadow)) if shadow else None
        every_s = parse_every(every)
        now = time.time()
        sched = Schedule(
            id=uuid.uuid4().hex,
            name=name,
            search=search.strip(),
            model=str(ref),
            every_s=every_s,
            earliest=earliest or None,
            latest=latest or None,
            index=index or None,
            sourcetype=sourcetype or None,
            enabled=True,
            created_at=now,
            next_run_at=now if start_now else now + every_s,
            shadow=challenger,
        )
        values = asdict(sched)
        values["hec_index"] = values.pop("index")
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(schedules_table).values(**values))
        except IntegrityError:
            raise Conflict(
                f"a schedule named {name!r} exists; remove it first "
                f"(`kepler schedule remove {name}`) or pick another name"
            ) from None
        return sched

    def get(self, name: str) -> Schedule:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(schedules_table).where(
                    (schedules_table.c.name == name) | (schedules_table.c.id == name)
                )
            ).first()
        if row is None:
            raise ScheduleNotFound(
                f"no schedule {name!r}; list them with `kepler schedule list` or kp.schedules()"
            )
        return _row(row)

    def list(self) -> list[Schedule]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(schedules_table).order_by(schedules_table.c.name))
            return [_row(r) for r in rows]

    def delete(self, name: str) -> Schedule:
        sched = self.get(name)
        with self.engine.begin() as conn:
            conn.execute(delete(schedules_table).where(schedules_table.c.id == sched.id))
        return sched

    def due(self, now: float) -> builtins.list[Schedule]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(schedules_table)
                .where(schedules_table.c.enabled.is_(True), schedules_table.c.next_run_at <= now)
                .order_by(schedules_table.c.next_run_at)
            )
            return [_row(r) for r in rows]

    def claim(self, sched: Schedule, now: float) -> float | None:
        """Move a due schedule to its next slot; None when another beat got there first.
        Slots missed while nothing ran are skipped: one run catches up, not a burst."""
        nxt = sched.next_run_at + sched.every_s
        if nxt <= now:
            nxt = now + sched.every_s
        with self.engine.begin() as conn:
            done = conn.execute(
                update(schedules_table)
                .where(
                    schedules_table.c.id == sched.id,
                    schedules_table.c.next_run_at == sched.next_run_at,
                )
                .values(next_run_at=nxt)
            )
        return nxt if done.rowcount == 1 else None

    def ran(self, schedule_id: str, job_id: str, when: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(schedules_table)
                .where(schedules_table.c.id == schedule_id)
                .values(last_run_at=when, last_job_id=job_id)
            )
