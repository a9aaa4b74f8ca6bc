"""Jobs: queue a fit, follow its progress, cancel it.

Cancelling: any token holder may cancel any job, as any may read them (jobs are shared,
like models); the cancel is recorded with the caller's user in the job's row and event.
A user-level "only your own jobs" rule would rest on the X-Kepler-User header, which the
caller names itself (kepler.core.identity): no protection, so none is pretended."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from kepler.core import wire
from kepler.core.errors import InvalidSpec
from kepler.server.jobs.apply import submit_apply
from kepler.server.jobs.fit import build_spec, submit_fit
from kepler.server.queue import revoke
from kepler_bridge.deps import AuthDep, CallerDep, StateDep
from kepler_bridge.wire import ApplyJobRequest, FitRequest

router = APIRouter(prefix=wire.JOBS, tags=["jobs"], dependencies=[AuthDep])
LONG_POLL_STEP = 0.1  # seconds between looks at the job store during a long poll


@router.post("/fit", status_code=202)
def create_fit_job(
    body: FitRequest, state: StateDep, caller: CallerDep, dry_run: bool = False
) -> dict[str, Any]:
    """Queue a fit of an uploaded dataset. With ``dry_run`` only the spec is checked
    (algorithm, parameters), so a client can refuse bad input before sending data."""
    parts = body.model_dump(exclude={"dataset_id", "line"})
    spec = build_spec(line=body.line, **parts) if body.line else build_spec(**parts)
    if dry_run:
        return {"spec": spec.to_dict()}
    if not body.dataset_id:
        raise InvalidSpec(f"dataset_id is required: upload the data first (POST {wire.DATASETS})")
    job = submit_fit(state.ctx, spec, body.dataset_id, user=caller.user)
    return job.to_dict()


@router.post("/apply", status_code=202)
def create_apply_job(body: ApplyJobRequest, state: StateDep, caller: CallerDep) -> dict[str, Any]:
    """Queue the scoring of an uploaded dataset: a worker writes every scored row to
    ``index`` through its own HEC settings (``KEPLER_HEC_*``)."""
    job = submit_apply(state.ctx, body.model_dump(), user=caller.user)
    return job.to_dict()


@router.get("")
async def list_jobs(
    state: StateDep, limit: int = Query(100, ge=1, le=1000), status: str | None = None
) -> list[dict[str, Any]]:
    jobs = await run_in_threadpool(state.jobs.list, limit=limit, state=status)
    return [j.to_dict() for j in jobs]


@router.get("/{job_id}")
async def get_job(
    job_id: str,
    state: StateDep,
    wait: float = Query(0.0, ge=0.0, le=30.0),
    since: float | None = None,
) -> dict[str, Any]:
    """A job's state. With ``wait``, a long poll: answer as soon as the job changes after
    ``since`` (its ``updated_at`` as last seen) or finishes, at most ``wait`` seconds on."""
    deadline = time.monotonic() + wait
    while True:
        job = await run_in_threadpool(state.jobs.get, job_id)
        changed = since is None or job.updated_at > since
        if job.finished or (changed and since is not None) or time.monotonic() >= deadline:
            registered = (job.result or {}).get("model") if job.state == "succeeded" else None
            if registered:  # a fit registered a version: the next predict of it sees it
                state.cache.forget(str(registered))
            return job.to_dict()
        await asyncio.sleep(LONG_POLL_STEP)


@router.delete("/{job_id}")
def cancel_job(job_id: str, state: StateDep, caller: CallerDep) -> dict[str, Any]:
    """Cancel a queued or running job: it ends ``cancelled``, naming the caller. A worker
    running it stops at its next heartbeat (at once on Redis, whose workers take the
    revoke). 409 for a job that already succeeded or failed; a cancelled job answers as
    it is."""
    job = state.jobs.cancel(job_id, user=caller.user)
    revoke(state.celery, state.settings, job_id)
    return job.to_dict()
