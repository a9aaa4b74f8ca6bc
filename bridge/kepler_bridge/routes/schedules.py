"""Schedules: every N minutes search Splunk, score with a model, write the scores via HEC;
or, with ``retrain``, fit a new version and promote it behind a gate."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter

from kepler.core import wire
from kepler.core.refs import ModelRef
from kepler.server.jobs.retrain import RETRAIN_KIND, retrain_spec
from kepler.server.jobs.score import SCORE_KIND, fire
from kepler_bridge.deps import AuthDep, Caller, StateDep, admin_only
from kepler_bridge.routes._recurring import add_routes
from kepler_bridge.wire import ScheduleRequest

router = APIRouter(prefix=wire.SCHEDULES, tags=["schedules"], dependencies=[AuthDep])
ADDING = admin_only("adding a schedule")


@router.post("", status_code=201)
def create_schedule(
    body: ScheduleRequest, state: StateDep, _: Annotated[Caller, ADDING]
) -> dict[str, Any]:
    """Add a schedule (admin level); the model must exist now (a pinned version must too),
    so a typo is refused here rather than failing every run; so is a malformed gate or
    fit spec of a retraining schedule."""
    ref = ModelRef.parse(body.model)
    state.models.resolve(ref)
    fit_spec = retrain_spec(body.spec, ref.name) if body.retrain and body.spec else None
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
        retrain=body.retrain,
        gate=body.gate,
        alias=body.alias,
        fit_spec=fit_spec,
    )
    out: dict[str, Any] = sched.to_dict()
    return out


add_routes(
    router,
    store=lambda state: state.schedules,
    fire=fire,
    kinds=(SCORE_KIND, RETRAIN_KIND),
    id_key="schedule_id",
)
