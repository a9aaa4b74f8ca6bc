"""Monitors: every N minutes search Splunk, compare the events with a model's baseline
(and score the labelled ones), write the drift and live metrics via HEC."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter

from kepler.core import wire
from kepler.core.refs import ModelRef
from kepler.server.jobs.monitor import MONITOR_KIND, fire
from kepler_bridge.deps import AuthDep, Caller, StateDep, admin_only
from kepler_bridge.routes._recurring import add_routes
from kepler_bridge.wire import MonitorRequest

router = APIRouter(prefix=wire.MONITORS, tags=["monitors"], dependencies=[AuthDep])
ADDING = admin_only("adding a monitor")


@router.post("", status_code=201)
def create_monitor(
    body: MonitorRequest, state: StateDep, _: Annotated[Caller, ADDING]
) -> dict[str, Any]:
    """Add a monitor (admin level); the model must exist now, so a typo is refused here
    rather than failing every run. A version without a baseline is accepted (a baseline
    may be supplied later with ``kp.baseline``); its runs fail saying how to make one."""
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
    return out


add_routes(
    router,
    store=lambda state: state.ctx.monitors,
    fire=fire,
    kinds=(MONITOR_KIND,),
    id_key="monitor_id",
)
