"""Monitors: which search's events to compare with which model's baseline, how often.

A monitor is a table of its own, not a schedule with a kind: its options (label field,
drift method, threshold) are columns a schedule has no use for, its runs are a job kind of
their own, and ``kepler schedule list`` keeps listing only what scores. The slot logic is a
schedule's: the beat claims a due monitor by moving ``next_run_at`` forward in one
conditional UPDATE, so two beats never start the same run twice.
"""

from __future__ import annotations

import builtins
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from kepler.core.errors import Conflict, InvalidSpec, MonitorNotFound
from kepler.core.refs import ModelRef
from kepler.ml.monitoring.drift import check_method
from kepler.server.db import Database, from_row, monitors_table
from kepler.server.stores.schedules import _NAME, format_every, parse_every
from kepler.splunk.saved_searches import name_for

MAX_LABEL = 255


@dataclass
class Monitor:
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

    @property
    def window(self) -> tuple[str, str]:
        """The time range each run searches: the interval just past."""
        return (f"-{int(max(1, self.every_s))}s", "now")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["every"] = format_every(self.every_s)
        d["saved_search"] = name_for(self.name)  # its alert in Splunk (kepler.splunk)
        return d


def _row(row: Any) -> Monitor:
    return from_row(Monitor, row, columns={"index": "hec_index"}, decode={"enabled": bool})


class MonitorStore:
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
        label: str | None = None,
        method: str | None = None,
        threshold: float | None = None,
        index: str | None = None,
        start_now: bool = False,
    ) -> Monitor:
        if not _NAME.match(name or ""):
            raise InvalidSpec(
                f"monitor name {name!r} is not valid: use letters, digits, _, - and ."
            )
        if not (search or "").strip():
            raise InvalidSpec("the monitor needs a search, e.g. 'index=sensors'")
        if label is not None and not (0 < len(label.strip()) <= MAX_LABEL):
            raise InvalidSpec(f"label must name the events' label field (1 to {MAX_LABEL} chars)")
        method, threshold = check_method(method, threshold)
        ref = ModelRef.parse(model)
        every_s = parse_every(every)
        now = time.time()
        mon = Monitor(
            id=uuid.uuid4().hex,
            name=name,
            search=search.strip(),
            model=str(ref),
            every_s=every_s,
            label=label.strip() if label else None,
            method=method,
            threshold=threshold,
            index=index or None,
            enabled=True,
            created_at=now,
            next_run_at=now if start_now else now + every_s,
        )
        values = asdict(mon)
        values["hec_index"] = values.pop("index")
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(monitors_table).values(**values))
        except IntegrityError:
            raise Conflict(
                f"a monitor named {name!r} exists; remove it first "
                f"(`kepler monitor remove {name}`) or pick another name"
            ) from None
        return mon

    def get(self, name: str) -> Monitor:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(monitors_table).where(
                    (monitors_table.c.name == name) | (monitors_table.c.id == name)
                )
            ).first()
        if row is None:
            raise MonitorNotFound(
                f"no monitor {name!r}; list them with `kepler monitor list` or kp.monitors()"
            )
        return _row(row)

    def list(self) -> list[Monitor]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(monitors_table).order_by(monitors_table.c.name))
            return [_row(r) for r in rows]

    def delete(self, name: str) -> Monitor:
        mon = self.get(name)
        with self.engine.begin() as conn:
            conn.execute(delete(monitors_table).where(monitors_table.c.id == mon.id))
        return mon

    def due(self, now: float) -> builtins.list[Monitor]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(monitors_table)
                .where(monitors_table.c.enabled.is_(True), monitors_table.c.next_run_at <= now)
                .order_by(monitors_table.c.next_run_at)
            )
            return [_row(r) for r in rows]

    def claim(self, mon: Monitor, now: float) -> float | None:
        """Move a due monitor to its next slot; None when another beat got there first.
        Slots missed while nothing ran are skipped: one run catches up, not a burst."""
        nxt = mon.next_run_at + mon.every_s
        if nxt <= now:
            nxt = now + mon.every_s
        with self.engine.begin() as conn:
            done = conn.execute(
                update(monitors_table)
                .where(
                    monitors_table.c.id == mon.id, monitors_table.c.next_run_at == mon.next_run_at
                )
                .values(next_run_at=nxt)
            )
        return nxt if done.rowcount == 1 else None

    def ran(self, monitor_id: str, job_id: str, when: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(monitors_table)
                .where(monitors_table.c.id == monitor_id)
                .values(last_run_at=when, last_job_id=job_id)
            )
