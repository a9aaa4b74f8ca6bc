"""AutoML leaderboards: one row per trial of a run, found by its job id or its model."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from kepler.core import wire
from kepler.server.leaderboards import leaderboard
from kepler_bridge.deps import AuthDep, StateDep

router = APIRouter(tags=["automl"], dependencies=[AuthDep])


@router.get(wire.AUTOML_LEADERBOARD)
async def get_leaderboard(ref: str, state: StateDep) -> dict[str, Any]:
    """The trials of AutoML job ``ref``, or of the newest run into model ``ref``
    (``pump@3``: the run that made version 3), best first; a running search's so far."""
    return await run_in_threadpool(leaderboard, state.ctx, ref)
