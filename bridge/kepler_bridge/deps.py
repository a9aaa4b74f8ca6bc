"""Named dependencies for routes: the bridge's state, the token check and the caller.

The token decides the level (``KEPLER_TOKEN``: admin, ``KEPLER_USER_TOKEN``: user); the
``X-Kepler-User``/``X-Kepler-Roles`` headers only name the caller for the audit trail, so
a user-level token cannot delete whatever it claims (kepler.core.identity)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Any

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
from kepler.server.jobs import JobStore
from kepler.server.model_cache import ModelCache
from kepler.server.settings import ServerSettings


@dataclass
class BridgeState:
    settings: ServerSettings
    token: str
    jobs: JobStore
    datasets: Any  # kepler.server.datasets.DatasetStore
    models: Any  # kepler.ml.store.ModelStore
    cache: ModelCache
    celery: Any
    telemetry: Any  # kepler.server.telemetry.Telemetry
    schedules: Any = None  # kepler.server.schedules.ScheduleStore
    user_token: str | None = None  # the user level's token; None: admin token only
    spool_dir: Any = None  # this process's folder for chunk bodies in flight (ingest)
    rate: Any = None  # kepler_bridge.ratelimit.TokenRateLimit: requests per token
    online: Any = None  # kepler.server.scoring.service.OnlineService (predict)


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


def get_state(request: Request) -> BridgeState:
    state: BridgeState = request.app.state.kepler
    return state


StateDep = Annotated[BridgeState, Depends(get_state)]


def require_token(request: Request, state: StateDep) -> Caller:
    """Every route but health needs ``Authorization: Bearer <token>``: the admin or the
    user-level token. Returns the :class:`Caller` (FastAPI runs this once per request)."""
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
    if state.rate is not None:
        state.rate.hit(level)
    return Caller(
        level=level,
        user=clean_user(request.headers.get(USER_HEADER)) or UNKNOWN_USER,
        roles=clean_roles(request.headers.get(ROLES_HEADER)),
    )


AuthDep = Depends(require_token)
CallerDep = Annotated[Caller, Depends(require_token)]


def admin_only(what: str) -> Any:
    """``Annotated[Caller, admin_only("deleting a model")]``: the caller, or 403 for a
    user-level token, naming the role to ask for."""

    def check(caller: CallerDep) -> Caller:
        if not caller.admin:
            raise Forbidden(admin_needed(what), detail={"needs": ROLE_ADMIN})
        return caller

    return Depends(check)
