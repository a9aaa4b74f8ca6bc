"""Monitors: every N minutes search Splunk, compare the events with a model's baseline
(and score the labelled ones), write the drift and live metrics via HEC. Each has a
disabled saved search in Splunk (:mod:`kepler.splunk.saved_searches`), made and removed
with it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from kepler.core import wire
from kepler.core.refs import ModelRef
from kepler.server.jobs.monitor import MONITOR_KIND, fire
from kepler.splunk import saved_searches as alerts
from kepler_bridge.deps import AuthDep, Caller, StateDep, admin_only
from kepler_bridge.wire import MonitorRequest

router = APIRouter(prefix=wire.MONITORS, tags=["monitors"], dependencies=[AuthDep])
ADDING = admin_only("adding a monitor")
DELETING = admin_only("deleting a monitor")
RUNNING = admin_only("running a monitor now")


@router.post("", status_code=201)
def create_monitor(
    body: MonitorRequest, state: StateDep, _: Annotated[Caller, ADDING]
) -> dict[str, Any]:
    """Add a monitor (admin level); the model must exist now, so a typo is refused here
    rather than failing every run. A version without a baseline is accepted (a baseline
    may be supplied later with ``kp.baseline``); its runs fail saying how to make one.
    Its saved search is then made in Splunk, disabled (``alert``: made, or why not and
    the stanza to paste); Splunk refusing it does not undo the monitor."""
    state.models.resolve(ModelRef.parse(body.model))
    mon = state.ctx.monitors.create(
        body.name,
        search=body.search,
        model=body.model,
        every=body.every,
        label=body.label,
        method=body.method,
        threshold=body.threshold,
        index=body.index,
        start_now=body.start_now,
    )
    out: dict[str, Any] = mon.to_dict()
    out["alert"] = alerts.create(mon.name, out["every"], state.ctx.settings.splunk).to_dict()
    return out


@router.get("")
async def list_monitors(state: StateDep) -> list[dict[str, Any]]:
    monitors = await run_in_threadpool(state.ctx.monitors.list)
    return [m.to_dict() for m in monitors]


@router.get("/{name}")
async def get_monitor(name: str, state: StateDep) -> dict[str, Any]:
    mon = await run_in_threadpool(state.ctx.monitors.get, name)
    out: dict[str, Any] = mon.to_dict()
    return out


@router.delete("/{name}")
def delete_monitor(
    name: str, state: StateDep, caller: Annotated[Caller, DELETING]
) -> dict[str, Any]:
    """Remove a monitor (admin level); runs already queued finish, their job rows stay.
    The deletion is kept in the jobs database and sent as a ``kepler:audit`` event."""
    mon = state.ctx.monitors.delete(name)
    alert = alerts.remove(mon.name, state.ctx.settings.splunk)
    state.jobs.record_deletion(
        "monitor",
        mon.name,
        user=caller.user,
        roles=caller.roles,
        detail={"model": mon.model, "search": mon.search[:500]},
    )
    return {"deleted": mon.name, "user": caller.user, "alert": alert.to_dict()}


@router.post("/{name}/run", status_code=202)
def run_monitor_now(
    name: str, state: StateDep, caller: Annotated[Caller, RUNNING]
) -> dict[str, Any]:
    """Queue one run now, outside the monitor's slots (its next slot does not move)."""
    mon = state.ctx.monitors.get(name)
    job = fire(state.ctx, mon, trigger="manual", user=caller.user)
    return job.to_dict()


@router.get("/{name}/runs")
async def list_monitor_runs(
    name: str, state: StateDep, limit: int = Query(20, ge=1, le=1000)
) -> list[dict[str, Any]]:
    """The monitor's latest runs (job rows: state, fields drifted, live metrics, errors)."""
    mon = await run_in_threadpool(state.ctx.monitors.get, name)
    recent = await run_in_threadpool(state.jobs.list, limit=5000)
    runs = [
        j.to_dict() for j in recent if j.kind == MONITOR_KIND and j.spec.get("monitor_id") == mon.id
    ]
    return runs[:limit]
