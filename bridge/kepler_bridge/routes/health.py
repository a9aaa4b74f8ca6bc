"""Liveness: the one route that needs no token."""

from __future__ import annotations

from fastapi import APIRouter

from kepler._version import __version__
from kepler.core import wire

router = APIRouter(tags=["health"])


@router.get(wire.HEALTH)
def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}
