"""Monitors: every N minutes search Splunk, compare the events with a model's baseline
(and score the labelled ones), write the drift and live metrics via HEC. Each has a
disabled saved search in Splunk (:mod:`kepler.splunk.saved_searches`), made and removed
with it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter

from kepler.core import wire
from kepler.core.refs import ModelRef
from kepler.server.jobs.monitor import MONITOR_KIND, fire
from kepler.splunk import saved_searches as alerts
from kepler_bridge.deps import AuthDep, BridgeState, Caller, StateDep, admin_only
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


def _remove_alert(state: BridgeState, mon: Any) -> dict[str, Any]:
    """The monitor's saved search leaves Splunk with it (or the answer says why not)."""
    return {"alert": alerts.remove(mon.name, state.ctx.settings.splunk).to_dict()}


add_routes(
    router,
    store=lambda state: state.ctx.monitors,
    fire=fire,
    kinds=(MONITOR_KIND,),
    id_key="monitor_id",
    on_delete=_remove_alert,
)
