"""Two versions of a model side by side: ``GET /v1/models/{ref}/compare/{other}``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from kepler.core import wire
from kepler.core.refs import ModelRef
from kepler.server.compare import compare
from kepler_bridge.deps import AuthDep, StateDep

router = APIRouter(prefix=wire.MODELS, tags=["models"], dependencies=[AuthDep])


@router.get("/{ref}/compare/{other}")
async def compare_versions(ref: str, other: str, state: StateDep) -> dict[str, Any]:
    """``ref`` and ``other`` (``pump@3``, ``pump:production``, ``pump``) side by side:
    ``rows`` of ``item``, one column per version (named in ``columns``), ``changed`` and
    ``detail`` (metrics, parameters, features, data fingerprints, baseline drift)."""
    first, second = ModelRef.parse(ref), ModelRef.parse(other)
    out: dict[str, Any] = await run_in_threadpool(compare, state.models, first, second)
    return out
