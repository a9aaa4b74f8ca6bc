"""Job records shared by the bridge (creates, reads) and the workers (progress, results).

A plain SQL table through SQLAlchemy: SQLite in the embedded default, any database URL
(Postgres for a team) by setting ``KEPLER_DATABASE_URL``. Jobs hold the spec the worker
trains from, so Celery messages carry only ids.
"""

from __future__ import annotations

import builtins
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    create_engine,
    event,
    func,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine

if TYPE_CHECKING:
    from kepler.server.liveness import JobLimits

from kepler.core.errors import Conflict, JobCancelled, JobNotFound, KeplerError

_log = logging.getLogger(__name__)

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
CANCELLED = "cancelled"
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
FINISHED = (SUCCEEDED, FAILED, CANCELLED)
UNFINISHED = (QUEUED, RUNNING)

_metadata = MetaData()
_jobs = Table(
    "kepler_jobs",
    _metadata,
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
_deletions = Table(
    "kepler_deletions",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False, index=True),
    Column("user_name", String(128), nullable=False),
    Column("roles", Text, nullable=False, default=""),
    Column("kind", String(16), nullable=False),
    Column("name", String(255), nullable=False),
    Column("detail", Text, nullable=False, default="{}"),
)
# Columns added after the first release: a database made before gets them on first use.
_ADDED_COLUMNS = {
    "kepler_jobs": {"user_name": "VARCHAR(128)", "attempts": "INTEGER", "heartbeat_at": "FLOAT"}
}


@dataclass
class Job:
    id: str
    kind: str
    state: str
    spec: dict[str, Any]
    model: str | None = None
    dataset_id: str | None = None
    progress: float = 0.0
    message: str = ""
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    worker: str | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    user: str | None = None
    attempts: int = 0
    heartbeat_at: float | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def last_seen(self) -> float:
        """When the job last showed life: its heartbeat, else its last change."""
        return self.heartbeat_at if self.heartbeat_at is not None else self.updated_at

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        end = self.finished_at or (time.time() if self.started_at else None)
        d["duration_s"] = round(end - self.started_at, 3) if end and self.started_at else None
        return d


def _row_to_job(row: Any) -> Job:
    m = row._mapping
    return Job(
        id=m["id"],
        kind=m["kind"],
        state=m["state"],
        spec=json.loads(m["spec"]),
        model=m["model"],
        dataset_id=m["dataset_id"],
        progress=m["progress"],
        message=m["message"],
        result=json.loads(m["result"]) if m["result"] else None,
        error=json.loads(m["error"]) if m["error"] else None,
        worker=m["worker"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
        user=m["user_name"],
        attempts=m["attempts"] or 0,
        heartbeat_at=m["heartbeat_at"],
    )


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def _engine(url: str) -> Engine:
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            if url.startswith("sqlite"):
                from pathlib import Path

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
            _metadata.create_all(engine)
            _add_missing_columns(engine)
            _engines[url] = engine
        return engine


def _add_missing_columns(engine: Engine) -> None:
    """``ALTER TABLE ... ADD COLUMN`` for what a database made by an older Kepler lacks
    (nullable columns only, so old rows stay valid). Two processes may race: a column
    another one just added is fine."""
    from sqlalchemy.exc import DBAPIError

    inspector = inspect(engine)
    for table, columns in _ADDED_COLUMNS.items():
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


class JobStore:
    def __init__(self, database_url: str, *, telemetry: Any = None) -> None:
        self.engine = _engine(database_url)
        # A kepler.server.telemetry.Telemetry: every state change goes to Splunk as an event.
        self.telemetry = telemetry

    def _changed(self, job: Job | str) -> None:
        if self.telemetry is not None and self.telemetry.enabled:
            self.telemetry.job(self.get(job) if isinstance(job, str) else job)

    def create(
        self,
        kind: str,
        spec: dict[str, Any],
        *,
        model: str | None = None,
        dataset_id: str | None = None,
        user: str | None = None,
    ) -> Job:
        now = time.time()
        job = Job(
            id=uuid.uuid4().hex,
            kind=kind,
            state=QUEUED,
            spec=spec,
            model=model,
            dataset_id=dataset_id,
            message="queued",
            created_at=now,
            updated_at=now,
            user=user,
        )
        with self.engine.begin() as conn:
            conn.execute(
                insert(_jobs).values(
                    id=job.id,
                    kind=kind,
                    state=QUEUED,
                    model=model,
                    dataset_id=dataset_id,
                    spec=json.dumps(spec),
                    progress=0.0,
                    message=job.message,
                    created_at=now,
                    updated_at=now,
                    user_name=user,
                )
            )
        self._changed(job)
        return job

    def record_deletion(
        self,
        kind: str,
        name: str,
        *,
        user: str,
        roles: tuple[str, ...] | list[str] = (),
        detail: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Keep who deleted what, and when; the record also goes to Splunk as an event."""
        record = {
            "at": time.time(),
            "user": user,
            "roles": list(roles),
            "kind": kind,
            "name": name,
            "detail": dict(detail or {}),
        }
        with self.engine.begin() as conn:
            done = conn.execute(
                insert(_deletions).values(
                    at=record["at"],
                    user_name=user,
                    roles=",".join(roles),
                    kind=kind,
                    name=name,
                    detail=json.dumps(record["detail"]),
                )
            )
        record["id"] = done.inserted_primary_key[0] if done.inserted_primary_key else None
        if self.telemetry is not None and self.telemetry.enabled:
            self.telemetry.deletion(record)
        return record

    def deletions(self, *, limit: int = 100, name: str | None = None) -> list[dict[str, Any]]:
        """The latest deletions first (of ``name`` only, when given)."""
        query = (
            select(_deletions).order_by(_deletions.c.at.desc(), _deletions.c.id.desc()).limit(limit)
        )
        if name:
            query = query.where(_deletions.c.name == name)
        with self.engine.connect() as conn:
            return [
                {
                    "id": m["id"],
                    "at": m["at"],
                    "user": m["user_name"],
                    "roles": [r for r in m["roles"].split(",") if r],
                    "kind": m["kind"],
                    "name": m["name"],
                    "detail": json.loads(m["detail"] or "{}"),
                }
                for m in (r._mapping for r in conn.execute(query))
            ]

    def get(self, job_id: str) -> Job:
        with self.engine.connect() as conn:
            row = conn.execute(select(_jobs).where(_jobs.c.id == job_id)).first()
        if row is None:
            raise JobNotFound(f"no job {job_id!r}; list jobs with kp.jobs() or `| kepler jobs`")
        return _row_to_job(row)

    def list(self, *, limit: int = 100, state: str | None = None) -> list[Job]:
        query = select(_jobs).order_by(_jobs.c.created_at.desc()).limit(limit)
        if state:
            query = query.where(_jobs.c.state == state)
        with self.engine.connect() as conn:
            return [_row_to_job(r) for r in conn.execute(query)]

    def unfinished(self, *, limit: int = 10_000) -> builtins.list[Job]:
        """Queued and running jobs, oldest first (what the reaper looks at)."""
        query = (
            select(_jobs)
            .where(_jobs.c.state.in_(UNFINISHED))
            .order_by(_jobs.c.created_at)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_row_to_job(r) for r in conn.execute(query)]

    def _update(self, job_id: str, *, where: Any = None, **values: Any) -> bool:
        """Set ``values`` on the job (only while ``where`` holds, when given); False when
        ``where`` did not hold. An unknown job raises :class:`JobNotFound`."""
        values.setdefault("updated_at", time.time())
        query = update(_jobs).where(_jobs.c.id == job_id)
        if where is not None:
            query = query.where(where)
        with self.engine.begin() as conn:
            done = conn.execute(query.values(**values))
        if done.rowcount == 0:
            self.get(job_id)  # JobNotFound, else the condition did not hold
            return False
        return True

    def start(self, job_id: str, worker: str, *, stale_s: float | None = None) -> bool:
        """Mark the job running on ``worker``: one more attempt, its heartbeat now. False,
        and nothing changes, when the job ended (a cancel) or, with ``stale_s``, when
        another worker runs it and showed life within ``stale_s`` seconds (a message
        delivered twice runs once)."""
        now = time.time()
        c = _jobs.c
        takeable: Any = c.state.in_(UNFINISHED)
        if stale_s is not None:
            quiet = or_(c.heartbeat_at.is_(None), c.heartbeat_at < now - stale_s)
            takeable = or_(c.state == QUEUED, and_(c.state == RUNNING, quiet))
        started = self._update(
            job_id,
            where=takeable,
            state=RUNNING,
            worker=worker,
            started_at=now,
            heartbeat_at=now,
            attempts=func.coalesce(c.attempts, 0) + 1,
            message="started",
            error=None,
            finished_at=None,
        )
        if started:
            self._changed(job_id)
        return started

    def heartbeat(self, job_id: str, attempt: int) -> bool:
        """The running worker's sign of life; False when the job is no longer its own
        (cancelled, failed by the reaper, or re-queued and started by another worker)."""
        c = _jobs.c
        with self.engine.begin() as conn:
            done = conn.execute(
                update(_jobs)
                .where(c.id == job_id, c.state == RUNNING, c.attempts == attempt)
                .values(heartbeat_at=time.time())
            )
        return done.rowcount > 0

    def progress(self, job_id: str, fraction: float, message: str) -> None:
        self._update(
            job_id,
            where=_jobs.c.state.in_(UNFINISHED),  # a cancelled job keeps its message
            progress=max(0.0, min(1.0, fraction)),
            message=message[:500],
        )

    def checkpoint(self, job_id: str, partial: dict[str, Any]) -> None:
        """What a running job has durably done so far (a redelivered job resumes from it)."""
        self._update(job_id, result=json.dumps(partial))

    def succeed(self, job_id: str, result: dict[str, Any]) -> bool:
        """End the job with ``result``; False when it had ended already (a cancel wins)."""
        done = self._update(
            job_id,
            where=_jobs.c.state.in_(UNFINISHED),
            state=SUCCEEDED,
            progress=1.0,
            message="done",
            result=json.dumps(result),
            finished_at=time.time(),
        )
        if done:
            self._changed(job_id)
        return done

    def fail(self, job_id: str, error: dict[str, Any], *, attempt: int | None = None) -> bool:
        """End the job with ``error``; False when it had ended already. With ``attempt``,
        only while that attempt runs it (the reaper's and the time limit's failures)."""
        where: Any = _jobs.c.state.in_(UNFINISHED)
        if attempt is not None:
            where = and_(_jobs.c.state == RUNNING, _jobs.c.attempts == attempt)
        done = self._update(
            job_id,
            where=where,
            state=FAILED,
            message=str(error.get("message", "failed"))[:500],
            error=json.dumps(error),
            finished_at=time.time(),
        )
        if done:
            self._changed(job_id)
        return done

    def cancel(self, job_id: str, *, user: str) -> Job:
        """End a queued or running job as ``cancelled``, recording who cancelled it. A
        worker running it sees that at its next heartbeat and stops; one that takes its
        message later skips it. Cancelling a cancelled job is a no-op; a job that
        succeeded or failed cannot be cancelled (:class:`Conflict`)."""
        error = {
            "code": JobCancelled.code,
            "status": JobCancelled.status,
            "message": f"job {job_id} was cancelled by {user}",
            "detail": {"cancelled_by": user},
        }
        done = self._update(
            job_id,
            where=_jobs.c.state.in_(UNFINISHED),
            state=CANCELLED,
            message=f"cancelled by {user}"[:500],
            error=json.dumps(error),
            finished_at=time.time(),
        )
        job = self.get(job_id)
        if done:
            self._changed(job)
        elif job.state != CANCELLED:
            raise Conflict(
                f"job {job_id} already {job.state}; only queued or running jobs can be cancelled",
                detail={"state": job.state},
            )
        return job

    def requeue(self, job: Job, message: str) -> bool:
        """Put back in the queue a running job whose worker went quiet (the reaper), unless
        it moved since ``job`` was read: so two beats never re-queue it twice."""
        c = _jobs.c
        return self._update(
            job.id,
            where=and_(
                c.state == RUNNING,
                func.coalesce(c.attempts, 0) == job.attempts,
                c.updated_at == job.updated_at,
                func.coalesce(c.heartbeat_at, 0.0) == (job.heartbeat_at or 0.0),
            ),
            state=QUEUED,
            message=message[:500],
            progress=0.0,
            heartbeat_at=None,
        )

    def resent(self, job: Job, message: str) -> bool:
        """Record that a queued job's message was sent again (unless it moved since)."""
        c = _jobs.c
        return self._update(
            job.id,
            where=and_(c.state == QUEUED, c.updated_at == job.updated_at),
            message=message[:500],
        )


def run_once(
    jobs: JobStore,
    job_id: str,
    work: Callable[[Job], dict[str, Any]],
    *,
    telemetry: Any,
    what: str = "job",
    limits: JobLimits | None = None,
) -> tuple[dict[str, Any], bool]:
    """What every worker-side job runner does around its ``work``: a job already ended
    (succeeded, failed, cancelled) returns its stored outcome (a redelivered message does
    nothing twice); otherwise it is marked started, ``work(job)`` runs, and the job ends
    succeeded with its result or failed with the error's user-safe message. An unexpected
    exception fails the job with a message pointing at the worker's log and propagates
    (Celery records it).

    With ``limits`` (kepler.server.liveness) a heartbeat runs beside ``work``, a job that
    another worker runs (its heartbeat fresh) is left to it, and a job whose workers died
    ``max_attempts`` times fails naming why instead of starting again.

    Returns ``(result, ran)``: ``ran`` is true only when ``work`` ran and succeeded now.
    """
    from contextlib import nullcontext

    from kepler.server.liveness import Heartbeat, died_error

    job = jobs.get(job_id)
    if job.state == SUCCEEDED and job.result:
        return job.result, False
    if job.state in (FAILED, CANCELLED):
        return {"error": job.error}, False
    stale_s = limits.stale_s if limits is not None else None
    if (
        limits is not None
        and job.state == RUNNING
        and job.attempts >= limits.max_attempts
        and time.time() - job.last_seen > limits.stale_s
    ):
        error = died_error(job.attempts)
        jobs.fail(job_id, error, attempt=job.attempts)
        _log.warning("%s %s: %s", what, job_id, error["message"])
        telemetry.flush()
        return {"error": error}, False
    if not jobs.start(job_id, socket.gethostname(), stale_s=stale_s):
        now = jobs.get(job_id)
        _log.info("%s %s not started: it is %s", what, job_id, now.state)
        return {"skipped": True, "state": now.state}, False
    job = jobs.get(job_id)  # this attempt's number and start
    try:
        with Heartbeat(jobs, job, limits) if limits is not None else nullcontext():
            result = work(job)
    except KeplerError as exc:
        jobs.fail(job_id, exc.to_dict())
        _log.info("%s %s failed: %s", what, job_id, exc.message)
        telemetry.flush()
        return {"error": exc.to_dict()}, False
    except Exception:
        _log.exception("%s %s crashed", what, job_id)
        jobs.fail(job_id, internal_error(job_id))
        telemetry.flush()
        raise
    if not jobs.succeed(job_id, result):  # cancelled (or failed by its time limit) meanwhile
        return {"error": jobs.get(job_id).error}, False
    return result, True


def internal_error(job_id: str) -> dict[str, Any]:
    """A failed job's error when the worker crashed: no internals, where to look."""
    return {
        "code": "internal",
        "status": 500,
        "message": f"the worker hit an internal error on job {job_id}; its log has the details",
    }
