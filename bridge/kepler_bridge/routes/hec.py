"""HEC: where this bridge writes scores and its own events (no secret in the answer)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from kepler.core import wire
from kepler.core.errors import KeplerError
from kepler.server.senders import hec_target
from kepler_bridge.deps import AuthDep, StateDep

router = APIRouter(prefix=wire.HEC, tags=["hec"], dependencies=[AuthDep])


@router.get("")
def hec_status(request: Request, state: StateDep) -> dict[str, Any]:
    """Whether scores can be written to Splunk, and from which settings: the caller's
    ``X-Kepler-Hec-*`` headers (Splunk's setup page) or the bridge's ``KEPLER_HEC_*``."""
    try:
        target = hec_target(state.settings.hec, dict(request.headers))
    except KeplerError as refused:  # a target this bridge may not write to: say why
        return {
            "configured": False,
            "settings": "request",
            "refused": refused.message,
            "telemetry": state.settings.hec.enabled,
        }
    from_request = target is not state.settings.hec
    return {
        "configured": target.enabled,
        "settings": "request" if from_request else ("bridge" if target.enabled else None),
        "url": target.url or None,
        "index": target.index,
        "ack": target.ack,
        "telemetry": state.settings.hec.enabled,
    }
