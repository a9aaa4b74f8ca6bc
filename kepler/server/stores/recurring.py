"""What schedules and monitors share: a named search on a model, run every N seconds.

A recurring job is a row of its table (:func:`kepler.server.db.recurring_table` declares
the shared columns), a dataclass with the fields of :class:`Recurring`, and a store that
adds, reads, lists and removes rows and hands the beat the due ones. The beat claims a due
row by moving its ``next_run_at`` forward in one conditional UPDATE, so two beats never
start the same run twice; slots missed while nothing ran are skipped.
"""

from __future__ import annotations

import builtins
import re
import time
import uuid
from dataclasses import asdict
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from kepler.core.durations import duration_seconds
from kepler.core.errors import BadParameter, Conflict, InvalidSpec, KeplerError
from kepler.core.refs import ModelRef
from kepler.server.db import Database, from_row

MIN_EVERY_S = 1.0
MAX_EVERY_S = 366 * 86400.0
NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")


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


def interval_window(every_s: float) -> tuple[str, str]:
    """The interval just past, as Splunk time modifiers."""
    return (f"-{int(max(1, every_s))}s", "now")


class Recurring:
    """The fields every recurring job's dataclass declares (as dataclass fields, in its
    own order), and what follows from them."""

    id: str
    name: str
    search: str
    model: str
    every_s: float
    index: str | None
    enabled: bool
    created_at: float
    next_run_at: float
    last_run_at: float | None
    last_job_id: str | None

    @property
    def window(self) -> tuple[str, str]:
        """The time range each run searches: the interval just past."""
        return interval_window(self.every_s)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)  # type: ignore[call-overload]
        d["every"] = format_every(self.every_s)
        return d


R = TypeVar("R", bound=Recurring)


def new_fields(
    noun: str, name: str, *, search: str, model: str, every: str | float, start_now: bool
) -> dict[str, Any]:
    """The shared fields of a new row, checked: a name, a search, a model reference, an
    interval. ``noun`` ("schedule", "monitor") names the thing in messages."""
    if not NAME.match(name or ""):
        raise InvalidSpec(f"{noun} name {name!r} is not valid: use letters, digits, _, - and .")
    if not (search or "").strip():
        raise InvalidSpec(f"the {noun} needs a search, e.g. 'index=sensors'")
    ref = ModelRef.parse(model)
    every_s = parse_every(every)
    now = time.time()
    return {
        "id": uuid.uuid4().hex,
        "name": name,
        "search": search.strip(),
        "model": str(ref),
        "every_s": every_s,
        "enabled": True,
        "created_at": now,
        "next_run_at": now if start_now else now + every_s,
    }


class RecurringStore(Generic[R]):
    """Rows of ``table`` as ``row_class``; subclasses set the class attributes."""

    table: ClassVar[Table]
    row_class: ClassVar[type]
    noun: ClassVar[str]  # "schedule", "monitor": in messages and CLI hints
    not_found: ClassVar[type[KeplerError]]
    columns: ClassVar[dict[str, str]] = {"index": "hec_index"}  # field -> column
    decode: ClassVar[dict[str, Any]] = {"enabled": bool}

    def __init__(self, db: Database) -> None:
        self.db = db

    @property
    def engine(self) -> Engine:
        return self.db.engine

    def _row(self, row: Any) -> R:
        out: R = from_row(self.row_class, row, columns=self.columns, decode=self.decode)
        return out

    def _insert(self, item: R) -> R:
        values = self.encode(item)
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(self.table).values(**values))
        except IntegrityError:
            raise Conflict(
                f"a {self.noun} named {item.name!r} exists; remove it first "
                f"(`kepler {self.noun} remove {item.name}`) or pick another name"
            ) from None
        return item

    def encode(self, item: R) -> dict[str, Any]:
        """The row's column values for ``item``."""
        values = asdict(item)  # type: ignore[call-overload]
        for field, col in self.columns.items():
            values[col] = values.pop(field)
        return values

    def get(self, name: str) -> R:
        t = self.table
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where((t.c.name == name) | (t.c.id == name))).first()
        if row is None:
            raise self.not_found(
                f"no {self.noun} {name!r}; list them with `kepler {self.noun} list` or "
                f"kp.{self.noun}s()"
            )
        return self._row(row)

    def list(self) -> builtins.list[R]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(self.table).order_by(self.table.c.name))
            return [self._row(r) for r in rows]

    def delete(self, name: str) -> R:
        item = self.get(name)
        with self.engine.begin() as conn:
            conn.execute(delete(self.table).where(self.table.c.id == item.id))
        return item

    def due(self, now: float) -> builtins.list[R]:
        t = self.table
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t)
                .where(t.c.enabled.is_(True), t.c.next_run_at <= now)
                .order_by(t.c.next_run_at)
            )
            return [self._row(r) for r in rows]

    def claim(self, item: R, now: float) -> float | None:
        """Move a due row to its next slot; None when another beat got there first.
        Slots missed while nothing ran are skipped: one run catches up, not a burst."""
        nxt = item.next_run_at + item.every_s
        if nxt <= now:
            nxt = now + item.every_s
        t = self.table
        with self.engine.begin() as conn:
            done = conn.execute(
                update(t)
                .where(t.c.id == item.id, t.c.next_run_at == item.next_run_at)
                .values(next_run_at=nxt)
            )
        return nxt if done.rowcount == 1 else None

    def ran(self, item_id: str, job_id: str, when: float) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(self.table)
                .where(self.table.c.id == item_id)
                .values(last_run_at=when, last_job_id=job_id)
            )
