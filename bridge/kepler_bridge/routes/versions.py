"""One version against another: ``GET /v1/models/{ref}/compare/{other}`` puts two side by
side, ``POST /v1/models/{ref}/reproduce`` retrains one into a new version and compares."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from kepler.core import wire
from kepler.core.refs import ModelRef
from kepler.server.compare import compare
from kepler.server.jobs.reproduce import submit_reproduce
from kepler_bridge.deps import AuthDep, CallerDep, StateDep
from kepler_bridge.wire import ReproduceRequest

router = APIRouter(prefix=wire.MODELS, tags=["models"], dependencies=[AuthDep])


@router.get("/{ref}/compare/{other}")
async def compare_versions(ref: str, other: str, state: StateDep) -> dict[str, Any]:
    """``ref`` and ``other`` (``pump@3``, ``pump:production``, ``pump``) side by side:
    ``rows`` of ``item``, one column per version (named in ``columns``), ``changed`` and
    ``detail`` (metrics, parameters, features, data fingerprints, baseline drift)."""
    first, second = ModelRef.parse(ref), ModelRef.parse(other)
    out: dict[str, Any] = await run_in_threadpool(compare, state.models, first, second)
    return out


@router.post("/{ref}/reproduce", status_code=202)
def reproduce_version(
    ref: str, body: ReproduceRequest, state: StateDep, caller: CallerDep
) -> dict[str, Any]:
    """Queue a reproduction of ``ref``: a worker retrains it from its stored dataset,
    spec, parameters, seed and split into a new version of the same model tagged
    ``kepler.reproduces``, and the job's result compares the two metric by metric. 409
    (``not_reproducible``) when the dataset was deleted or AutoML made the version; the
    job fails with the same code when the worker's package versions differ from the
    recorded ones, unless ``force`` (the difference is then recorded on the new version)."""
    job = submit_reproduce(state.ctx, ModelRef.parse(ref), force=body.force, user=caller.user)
    return job.to_dict()
