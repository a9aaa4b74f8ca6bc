"""The audit trail: who deleted which model or schedule, who moved which alias, and when."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from kepler.core import wire
from kepler_bridge.deps import AuthDep, StateDep

router = APIRouter(prefix=wire.AUDIT, tags=["audit"], dependencies=[AuthDep])


@router.get("/deletions")
async def list_deletions(
    state: StateDep,
    limit: int = Query(100, ge=1, le=1000),
    name: str | None = Query(None, max_length=255),
) -> list[dict[str, Any]]:
    """The latest deletions first: ``at`` (epoch seconds), ``user``, ``roles``, ``kind``
    (``model`` or ``schedule``), ``name`` and ``detail`` (a model's deleted versions)."""
    out: list[dict[str, Any]] = await run_in_threadpool(
        lambda: state.jobs.deletions(limit=limit, name=name)
    )
    return out


@router.get("/aliases")
async def list_alias_moves(
    state: StateDep,
    limit: int = Query(100, ge=1, le=1000),
    name: str | None = Query(None, max_length=255),
) -> list[dict[str, Any]]:
    """The latest alias moves first: ``at`` (epoch seconds), ``user``, ``roles``,
    ``model``, ``alias``, ``from_version`` (null: the alias was new) and ``to_version``
    (null: the alias was removed)."""
    moves = await run_in_threadpool(lambda: state.ctx.alias_moves.list(limit=limit, model=name))
    return [m.to_dict() for m in moves]
