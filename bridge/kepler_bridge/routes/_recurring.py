"""The routes schedules and monitors share, over a recurring store: list, read, remove,
run now and list runs. Each resource's module declares its own ``POST`` (its body and
checks) and calls :func:`add_routes` for the rest.

The routes are made inside :func:`add_routes`, so their admin checks are default values
(``caller: Caller = deleting``): FastAPI reads annotations by name from the module, where
a local ``Annotated[Caller, deleting]`` could not be found."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from kepler.server.stores.recurring import Recurring, RecurringStore
from kepler_bridge.deps import BridgeState, Caller, StateDep, admin_only


def add_routes(
    router: APIRouter,
    *,
    store: Callable[[BridgeState], RecurringStore[Any]],
    fire: Callable[..., Any],
    kinds: tuple[str, ...],
    id_key: str,
    on_delete: Callable[[BridgeState, Recurring], dict[str, Any] | None] | None = None,
) -> None:
    """``GET ""``, ``GET /{name}``, ``DELETE /{name}``, ``POST /{name}/run`` and
    ``GET /{name}/runs`` for the rows of ``store(state)``: runs are the jobs of ``kinds``
    whose spec's ``id_key`` is the row's id; ``on_delete`` runs after a removal, and what
    it answers joins the removal's answer."""

    one = str(router.tags[0]).rstrip("s")  # "schedule", "monitor"
    deleting = admin_only(f"deleting a {one}")
    running = admin_only(f"running a {one} now")

    @router.get("", name=f"list_{one}s")
    async def list_all(state: StateDep) -> list[dict[str, Any]]:
        items = await run_in_threadpool(store(state).list)
        return [i.to_dict() for i in items]

    @router.get("/{name}", name=f"get_{one}")
    async def get_one(name: str, state: StateDep) -> dict[str, Any]:
        item = await run_in_threadpool(store(state).get, name)
        out: dict[str, Any] = item.to_dict()
        return out

    @router.delete("/{name}", name=f"delete_{one}")
    def delete_one(name: str, state: StateDep, caller: Caller = deleting) -> dict[str, Any]:
        """Remove it (admin level); runs already queued finish, their job rows stay.
        The deletion is kept in the jobs database and sent as a ``kepler:audit`` event."""
        item = store(state).delete(name)
        state.jobs.record_deletion(
            one,
            item.name,
            user=caller.user,
            roles=caller.roles,
            detail={"model": item.model, "search": item.search[:500]},
        )
        answer: dict[str, Any] = {"deleted": item.name, "user": caller.user}
        if on_delete is not None:
            answer.update(on_delete(state, item) or {})
        return answer

    @router.post("/{name}/run", status_code=202, name=f"run_{one}_now")
    def run_now(name: str, state: StateDep, caller: Caller = running) -> dict[str, Any]:
        """Queue one run now, outside its slots (its next slot does not move)."""
        item = store(state).get(name)
        job = fire(state.ctx, item, trigger="manual", user=caller.user)
        out: dict[str, Any] = job.to_dict()
        return out

    @router.get("/{name}/runs", name=f"list_{one}_runs")
    async def list_runs(
        name: str, state: StateDep, limit: int = Query(20, ge=1, le=1000)
    ) -> list[dict[str, Any]]:
        """Its latest runs (job rows: state, what each found or wrote, errors)."""
        item = await run_in_threadpool(store(state).get, name)
        recent = await run_in_threadpool(state.jobs.list, limit=5000)
        runs = [j.to_dict() for j in recent if j.kind in kinds and j.spec.get(id_key) == item.id]
        return runs[:limit]
