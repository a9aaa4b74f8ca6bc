"""The jobs database: every table Kepler keeps in it, its engine, and rows to dataclasses.

One SQL database (``KEPLER_DATABASE_URL``: SQLite in the embedded default, Postgres for a
team) holds jobs, deletions, alias moves, schedules, monitors, AutoML runs and the
workers' devices. The schema is declared here, once, so that one ``create_all`` makes every
table and a reader sees the whole of it in one place; the stores
(:mod:`kepler.server.stores`) hold the queries.

A process opens the database once, as :class:`Database` (the process's
:class:`~kepler.server.context.ServerContext` owns it), and closes it with the context.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.engine import Engine

metadata = MetaData()

jobs_table = Table(
    "kepler_jobs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("model", String(128)),
    Column("dataset_id", String(64)),
    Column("spec", Text, nullable=False),
    Column("progress", Float, nullable=False, default=0.0),
    Column("message", Text, nullable=False, default=""),
    Column("result", Text),
    Column("error", Text),
    Column("worker", String(255)),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    # Who asked for the job (the Splunk user, the SDK's OS user or KEPLER_USER): audit only.
    Column("user_name", String(128)),
    # How many times a worker started the job, and when the one running it last showed it
    # is alive (kepler.server.liveness: the beat reaps a job whose worker went quiet).
    Column("attempts", Integer),
    Column("heartbeat_at", Float),
)
# Every deletion through the bridge: who, when, what (a model and its versions, a schedule).
deletions_table = Table(
    "kepler_deletions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False, index=True),
    Column("user_name", String(128), nullable=False),
    Column("roles", Text, nullable=False, default=""),
    Column("kind", String(16), nullable=False),
    Column("name", String(255), nullable=False),
    Column("detail", Text, nullable=False, default="{}"),
)
# Every move of a model alias (kepler.server.stores.aliases): who, when, from which
# version to which (from_version null: the alias is new; to_version null: removed).
alias_moves_table = Table(
    "kepler_alias_moves",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False, index=True),
    Column("user_name", String(128), nullable=False),
    Column("roles", Text, nullable=False, default=""),
    Column("model", String(255), nullable=False, index=True),
    Column("alias", String(255), nullable=False),
    Column("from_version", Integer),
    Column("to_version", Integer),
)


def recurring_table(name: str, *extra: Column) -> Table:
    """A recurring job's table (kepler.server.stores.recurring): the columns every one
    has (a named search on a model, its interval, its slots), then ``extra``."""
    return Table(
        name,
        metadata,
        Column("id", String(32), primary_key=True),
        Column("name", String(128), nullable=False, unique=True),
        Column("search", Text, nullable=False),
        Column("model", String(200), nullable=False),
        Column("every_s", Float, nullable=False),
        *extra,
        Column("hec_index", String(128)),
        Column("enabled", Boolean, nullable=False, default=True),
        Column("created_at", Float, nullable=False),
        Column("next_run_at", Float, nullable=False, index=True),
        Column("last_run_at", Float),
        Column("last_job_id", String(32)),
    )


schedules_table = recurring_table(
    "kepler_schedules",
    Column("earliest", String(64)),
    Column("latest", String(64)),
    Column("sourcetype", String(128)),
    # Retraining (kepler.server.jobs.retrain): fit a new version each interval and move
    # `alias` to it when it passes `gate`; `fit_spec` (JSON) replaces the version's spec.
    Column("retrain", Boolean),
    Column("gate", Text),
    Column("alias", String(64)),
    Column("fit_spec", Text),
    Column("shadow", String(200)),  # a challenger scored alongside each run (shadow=)
)
# Monitors: every N minutes, drift (and live metrics) of a search's events, as metric
# events via HEC (kepler.server.stores.monitors, kepler.server.jobs.monitor).
monitors_table = recurring_table(
    "kepler_monitors",
    Column("label", String(255)),
    Column("method", String(32), nullable=False),
    Column("threshold", Float),
)
automl_runs_table = Table(
    "kepler_automl_runs",
    metadata,
    Column("job_id", String(32), primary_key=True),
    Column("dataset_id", String(64), nullable=False),
    Column("study", Text, nullable=False),  # Optuna storage URL
    Column("parent_run_id", String(64)),
    Column("started_at", Float, nullable=False),
    Column("deadline", Float, nullable=False),
    Column("lanes_open", Integer, nullable=False),
    Column("finalised", Integer, nullable=False, default=0),
    Column("trials_claimed", Integer, nullable=False, default=0),
)
automl_rounds_table = Table(
    "kepler_automl_rounds",
    metadata,
    Column("job_id", String(32), primary_key=True),
    Column("round", Integer, primary_key=True),
    Column("first", Integer, nullable=False),  # number of the round's first trial
    Column("size", Integer, nullable=False),
    # The task that decided the round (the first trial of its run; -1: the start task):
    # redelivered after a crash, it recognises its own claim and finishes the drawing.
    Column("drawer", Integer, nullable=False),
)
# The devices each worker host has (one row a host, last write wins): written by pool
# processes as they start, read by GET /v1/algorithms (kepler.server.stores.worker_devices).
worker_devices_table = Table(
    "kepler_worker_devices",
    metadata,
    Column("host", String(255), primary_key=True),
    Column("devices", Text, nullable=False),  # a JSON list: ["cpu", "cuda:0 <name>"]
    Column("seen_at", Float, nullable=False),
)
# Columns added after the first release: a database made before gets them on first use.
ADDED_COLUMNS = {
    "kepler_jobs": {"user_name": "VARCHAR(128)", "attempts": "INTEGER", "heartbeat_at": "FLOAT"},
    "kepler_schedules": {
        "shadow": "VARCHAR(200)",
        "retrain": "BOOLEAN",
        "gate": "TEXT",
        "alias": "VARCHAR(64)",
        "fit_spec": "TEXT",
    },
}


class Database:
    """The database at ``url``: one engine, made (with every table) on first use."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = _open(self.url)
            return self._engine

    def open(self) -> Engine:
        """The engine, made now (with every table) rather than on first use."""
        return self.engine

    def close(self) -> None:
        """Close the engine's pooled connections (a later use opens it again)."""
        with self._lock:
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.dispose()


def _open(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(conn: Any, _record: Any) -> None:
            # WAL lets the bridge read while a worker writes progress.
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
    else:
        engine = create_engine(url, pool_pre_ping=True)
    _create_tables(engine)
    _add_missing_columns(engine)
    return engine


def _create_tables(engine: Engine) -> None:
    """Every table that is missing. The bridge, the workers and the beat start together
    and each makes what it finds missing: one may make a table between another's check
    and its ``CREATE`` ("table already exists"); the loser looks again and finds it made.
    Each lost race means another process made a table, so a look per table (and a few
    more) is enough however many processes start together."""
    from sqlalchemy.exc import DBAPIError

    attempts = len(metadata.tables) + 5
    for attempt in range(attempts):
        try:
            metadata.create_all(engine)
            return
        except DBAPIError:
            if attempt == attempts - 1:
                raise


def _add_missing_columns(engine: Engine) -> None:
    """``ALTER TABLE ... ADD COLUMN`` for what a database made by an older Kepler lacks
    (nullable columns only, so old rows stay valid). Two processes may race: a column
    another one just added is fine."""
    from sqlalchemy.exc import DBAPIError

    inspector = inspect(engine)
    for table, columns in ADDED_COLUMNS.items():
        have = {c["name"] for c in inspector.get_columns(table)}
        for name, sqltype in columns.items():
            if name in have:
                continue
            try:
                with engine.begin() as conn:
                    conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {name} {sqltype}"))
            except DBAPIError:
                if name not in {c["name"] for c in inspect(engine).get_columns(table)}:
                    raise


T = TypeVar("T")


def from_row(
    cls: type[T],
    row: Any,
    *,
    columns: Mapping[str, str] | None = None,
    decode: Mapping[str, Callable[[Any], Any]] | None = None,
) -> T:
    """The dataclass ``cls`` from a result row: each field from the column of its name
    (or the one ``columns`` names for it), passed through ``decode[field]`` when given."""
    m = getattr(row, "_mapping", row)
    columns, decode = columns or {}, decode or {}
    values = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        value = m[columns.get(f.name, f.name)]
        values[f.name] = decode[f.name](value) if f.name in decode else value
    return cls(**values)
