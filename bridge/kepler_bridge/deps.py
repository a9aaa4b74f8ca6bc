"""Named dependencies for routes: the bridge's state, the token check and the caller.

The token decides the level (``KEPLER_TOKEN``: admin, ``KEPLER_USER_TOKEN``: user); the
``X-Kepler-User``/``X-Kepler-Roles`` headers only name the caller for the audit trail, so
a user-level token cannot delete whatever it claims (kepler.core.identity).

The dependencies are ``async def`` because they never block: FastAPI runs a plain
``def`` dependency on a worker thread, a hop that cost more than the token check itself
(measured on the predict route: two hops a request, each waiting for the GIL under load)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from kepler.core.errors import Forbidden, Unauthorized
from kepler.core.identity import (
    LEVEL_ADMIN,
    LEVEL_USER,
    ROLE_ADMIN,
    ROLES_HEADER,
    UNKNOWN_USER,
    USER_HEADER,
    admin_needed,
    clean_roles,
    clean_user,
)
from kepler.server.context import ServerContext
from kepler.server.settings import ServerSettings

if TYPE_CHECKING:
    from pathlib import Path

    from kepler.ml.store import ModelStore
    from kepler.server.datasets import DatasetStore
    from kepler.server.model_cache import ModelCache
    from kepler.server.queue import Broker
    from kepler.server.scoring.service import OnlineService
    from kepler.server.senders import SenderPool
    from kepler.server.stores import JobStore, ScheduleStore
    from kepler.server.telemetry import Telemetry
    from kepler_bridge.ratelimit import TokenRateLimit


@dataclass
class BridgeState:
    """The process's :class:`ServerContext` (every service a route uses, also named here
    for short: ``state.jobs`` is ``state.ctx.jobs``) and what only the bridge has."""

    ctx: ServerContext
    token: str
    user_token: str | None = None  # the user level's token; None: admin token only
    spool_dir: Path | None = None  # this process's folder for chunk bodies in flight (ingest)
    rate: TokenRateLimit | None = None  # requests per token
    predict_rate: TokenRateLimit | None = None  # predict requests per token, counted apart
    online: OnlineService | None = None  # the online path (predict)

    @property
    def settings(self) -> ServerSettings:
        return self.ctx.settings

    @property
    def jobs(self) -> JobStore:
        return self.ctx.jobs

    @property
    def schedules(self) -> ScheduleStore:
        return self.ctx.schedules

    @property
    def datasets(self) -> DatasetStore:
        return self.ctx.datasets

    @property
    def models(self) -> ModelStore:
        return self.ctx.models

    @property
    def cache(self) -> ModelCache:
        return self.ctx.cache

    @property
    def celery(self) -> Broker:
        return self.ctx.celery

    @property
    def telemetry(self) -> Telemetry:
        return self.ctx.telemetry

    @property
    def senders(self) -> SenderPool:
        return self.ctx.senders


@dataclass(frozen=True)
class Caller:
    """Who a request acts for: the level its token grants, and the user and roles it
    names (for the audit trail; never for a permission)."""

    level: str
    user: str = UNKNOWN_USER
    roles: tuple[str, ...] = ()

    @property
    def admin(self) -> bool:
        return self.level == LEVEL_ADMIN


async def get_state(request: Request) -> BridgeState:
    state: BridgeState = request.app.state.kepler
    return state


StateDep = Annotated[BridgeState, Depends(get_state)]


async def require_token(request: Request, state: StateDep) -> Caller:
    """Every route but health needs ``Authorization: Bearer <token>``: the admin or the
    user-level token. Returns the :class:`Caller` (FastAPI runs this once per request)."""
    return _caller(request, state, state.rate)


async def require_predict_token(request: Request, state: StateDep) -> Caller:
    """:func:`require_token` for the predict route, counted against the token's predict
    budget (``KEPLER_PREDICT_REQUESTS_PER_MINUTE``) instead of its general one."""
    return _caller(request, state, state.predict_rate)


def _caller(request: Request, state: BridgeState, rate: TokenRateLimit | None) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if not given or scheme.lower() not in ("bearer", "splunk"):
        raise Unauthorized(
            "this bridge needs a token: send 'Authorization: Bearer <token>' "
            "(set KEPLER_TOKEN, or read it from the file `kepler up` printed)"
        )
    offered = given.strip().encode()
    is_admin = hmac.compare_digest(offered, state.token.encode())
    is_user = state.user_token is not None and hmac.compare_digest(
        offered, state.user_token.encode()
    )
    if not (is_admin or is_user):
        raise Unauthorized("the token was refused: check KEPLER_TOKEN against the bridge's")
    level = LEVEL_ADMIN if is_admin else LEVEL_USER
    if rate is not None:
        rate.hit(level)
    return Caller(
        level=level,
        user=clean_user(request.headers.get(USER_HEADER)) or UNKNOWN_USER,
        roles=clean_roles(request.headers.get(ROLES_HEADER)),
    )


AuthDep = Depends(require_token)
PredictAuthDep = Depends(require_predict_token)
CallerDep = Annotated[Caller, Depends(require_token)]


def admin_only(what: str) -> Any:
    """``Annotated[Caller, admin_only("deleting a model")]``: the caller, or 403 for a
    user-level token, naming the role to ask for."""

    def check(caller: CallerDep) -> Caller:
        if not caller.admin:
            raise Forbidden(admin_needed(what), detail={"needs": ROLE_ADMIN})
        return caller

    return Depends(check)
