"""Schedules: every N minutes search Splunk, score with a model, write the scores via HEC."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from kepler.core import wire
from kepler.core.refs import ModelRef
from kepler.server.jobs.score import SCORE_KIND, fire
from kepler_bridge.deps import AuthDep, Caller, StateDep, admin_only
from kepler_bridge.wire import ScheduleRequest

router = APIRouter(prefix=wire.SCHEDULES, tags=["schedules"], dependencies=[AuthDep])
ADDING = admin_only("adding a schedule")
DELETING = admin_only("deleting a schedule")
RUNNING = admin_only("running a schedule now")


@router.post("", status_code=201)
def create_schedule(
    body: ScheduleRequest, state: StateDep, _: Annotated[Caller, ADDING]
) -> dict[str, Any]:
    """Add a schedule (admin level); the model must exist now (a pinned version must too),
    so a typo is refused here rather than failing every run."""
    state.models.resolve(ModelRef.parse(body.model))
    if body.shadow:  # the challenger too: a typo is refused now, not at every run
        state.models.resolve(ModelRef.parse(body.shadow))
    sched = state.schedules.create(
        body.name,
        search=body.search,
        model=body.model,
        every=body.every,
        earliest=body.earliest,
        latest=body.latest,
        index=body.index,
        sourcetype=body.sourcetype,
        start_now=body.start_now,
        shadow=body.shadow,
    )
    out: dict[str, Any] = sched.to_dict()
    return out


@router.get("")
async def list_schedules(state: StateDep) -> list[dict[str, Any]]:
    schedules = await run_in_threadpool(state.schedules.list)
    return [s.to_dict() for s in schedules]


@router.get("/{name}")
async def get_schedule(name: str, state: StateDep) -> dict[str, Any]:
    sched = await run_in_threadpool(state.schedules.get, name)
    out: dict[str, Any] = sched.to_dict()
    return out


@router.delete("/{name}")
def delete_schedule(
    name: str, state: StateDep, caller: Annotated[Caller, DELETING]
) -> dict[str, Any]:
    """Remove a schedule (admin level); runs already queued finish, their job rows stay.
    The deletion is kept in the jobs database and sent as a ``kepler:audit`` event."""
    sched = state.schedules.delete(name)
    state.jobs.record_deletion(
        "schedule",
        sched.name,
        user=caller.user,
        roles=caller.roles,
        detail={"model": sched.model, "search": sched.search[:500]},
    )
    return {"deleted": sched.name, "user": caller.user}


@router.post("/{name}/run", status_code=202)
def run_schedule_now(
    name: str, state: StateDep, caller: Annotated[Caller, RUNNING]
) -> dict[str, Any]:
    """Queue one run now, outside the schedule's slots (its next slot does not move)."""
    sched = state.schedules.get(name)
    job = fire(state.ctx, sched, trigger="manual", user=caller.user)
    return job.to_dict()


@router.get("/{name}/runs")
async def list_schedule_runs(
    name: str, state: StateDep, limit: int = Query(20, ge=1, le=1000)
) -> list[dict[str, Any]]:
    """The schedule's latest runs (job rows: state, rows scored, events sent, errors)."""
    sched = await run_in_threadpool(state.schedules.get, name)
    recent = await run_in_threadpool(state.jobs.list, limit=5000)
    runs = [
        j.to_dict()
        for j in recent
        if j.kind == SCORE_KIND and j.spec.get("schedule_id") == sched.id
    ]
    return runs[:limit]
