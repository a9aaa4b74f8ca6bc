"""Named dependencies for routes: the bridge's state and the token check."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from kepler.core.errors import Unauthorized
from kepler.server.jobs import JobStore
from kepler.server.settings import ServerSettings
from kepler_bridge.model_cache import ModelCache


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


def get_state(request: Request) -> BridgeState:
    state: BridgeState = request.app.state.kepler
    return state


StateDep = Annotated[BridgeState, Depends(get_state)]


def require_token(request: Request, state: StateDep) -> None:
    """Every route but health needs ``Authorization: Bearer <token>``."""
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if not given or scheme.lower() not in ("bearer", "splunk"):
        raise Unauthorized(
            "this bridge needs a token: send 'Authorization: Bearer <token>' "
            "(set KEPLER_TOKEN, or read it from the file `kepler up` printed)"
        )
    if not hmac.compare_digest(given.strip().encode(), state.token.encode()):
        raise Unauthorized("the token was refused: check KEPLER_TOKEN against the bridge's")


AuthDep = Depends(require_token)
