"""Job records shared by the bridge (creates, reads) and the workers (progress, results).

A table of the jobs database (:mod:`kepler.server.db`). Jobs hold the spec the worker
trains from, so Celery messages carry only ids.
"""

from __future__ import annotations

import builtins
import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.engine import Engine

from kepler.core.errors import Conflict, JobCancelled, JobNotFound
from kepler.server.db import Database, deletions_table, from_row, jobs_table

if TYPE_CHECKING:
    from kepler.server.telemetry import Telemetry

QUEUED, RUNNING, SUCCEEDED, FAILED = "queued", "running", "succeeded", "failed"
CANCELLED = "cancelled"
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
FINISHED = (SUCCEEDED, FAILED, CANCELLED)
UNFINISHED = (QUEUED, RUNNING)


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
    return from_row(
        Job,
        row,
        columns={"user": "user_name"},
        decode={
            "spec": json.loads,
            "result": _json_or_none,
            "error": _json_or_none,
            "attempts": lambda n: n or 0,
        },
    )


def _json_or_none(value: str | None) -> Any:
    return json.loads(value) if value else None


class JobStore:
    def __init__(self, db: Database, *, telemetry: Telemetry | None = None) -> None:
        self.db = db
        # Every state change goes to Splunk as an event.
        self.telemetry = telemetry

    @property
    def engine(self) -> Engine:
        return self.db.engine

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
                insert(jobs_table).values(
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
                insert(deletions_table).values(
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
            select(deletions_table)
            .order_by(deletions_table.c.at.desc(), deletions_table.c.id.desc())
            .limit(limit)
        )
        if name:
            query = query.where(deletions_table.c.name == name)
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
            row = conn.execute(select(jobs_table).where(jobs_table.c.id == job_id)).first()
        if row is None:
            raise JobNotFound(f"no job {job_id!r}; list jobs with kp.jobs() or `| kepler jobs`")
        return _row_to_job(row)

    def list(self, *, limit: int = 100, state: str | None = None) -> list[Job]:
        query = select(jobs_table).order_by(jobs_table.c.created_at.desc()).limit(limit)
        if state:
            query = query.where(jobs_table.c.state == state)
        with self.engine.connect() as conn:
            return [_row_to_job(r) for r in conn.execute(query)]

    def unfinished(self, *, limit: int = 10_000) -> builtins.list[Job]:
        """Queued and running jobs, oldest first (what the reaper looks at)."""
        query = (
            select(jobs_table)
            .where(jobs_table.c.state.in_(UNFINISHED))
            .order_by(jobs_table.c.created_at)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [_row_to_job(r) for r in conn.execute(query)]

    def _update(self, job_id: str, *, where: Any = None, **values: Any) -> bool:
        """Set ``values`` on the job (only while ``where`` holds, when given); False when
        ``where`` did not hold. An unknown job raises :class:`JobNotFound`."""
        values.setdefault("updated_at", time.time())
        query = update(jobs_table).where(jobs_table.c.id == job_id)
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
        c = jobs_table.c
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
        c = jobs_table.c
        with self.engine.begin() as conn:
            done = conn.execute(
                update(jobs_table)
                .where(c.id == job_id, c.state == RUNNING, c.attempts == attempt)
                .values(heartbeat_at=time.time())
            )
        return done.rowcount > 0

    def progress(self, job_id: str, fraction: float, message: str) -> None:
        self._update(
            job_id,
            where=jobs_table.c.state.in_(UNFINISHED),  # a cancelled job keeps its message
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
            where=jobs_table.c.state.in_(UNFINISHED),
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
        where: Any = jobs_table.c.state.in_(UNFINISHED)
        if attempt is not None:
            where = and_(jobs_table.c.state == RUNNING, jobs_table.c.attempts == attempt)
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
            where=jobs_table.c.state.in_(UNFINISHED),
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
        c = jobs_table.c
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
        c = jobs_table.c
        return self._update(
            job.id,
            where=and_(c.state == QUEUED, c.updated_at == job.updated_at),
            message=message[:500],
        )
