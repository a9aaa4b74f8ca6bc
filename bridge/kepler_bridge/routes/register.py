"""Bring your own model: ``POST /v1/models/{name}/register`` (see kepler.server.register)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from kepler.core import wire
from kepler.core.errors import InvalidSpec, PayloadTooLarge
from kepler.server.register import register_model
from kepler_bridge.deps import AuthDep, CallerDep, StateDep
from kepler_bridge.wire import RegisterRequest

router = APIRouter(prefix=wire.MODELS, tags=["models"], dependencies=[AuthDep])

_BODY = {
    "requestBody": {
        "required": True,
        "content": {wire.REGISTER_MEDIA: {"schema": {"type": "string", "format": "binary"}}},
        "description": "the registration's JSON (RegisterRequest), framed with the model's "
        "skops bytes: see kepler.core.wire.frame_register",
    }
}


@router.post(wire.under(wire.MODELS, wire.MODEL_REGISTER), status_code=201, openapi_extra=_BODY)
async def register(
    name: str, request: Request, state: StateDep, caller: CallerDep
) -> dict[str, Any]:
    """Register a model fitted elsewhere (a skops file, never a pickle) as the next
    version of ``name``, recorded with who registered it and from which environment.
    A type outside the bridge's trusted list is refused with 422 naming it; a body over
    ``KEPLER_REGISTER_MAX_BYTES`` with 413."""
    limit = state.settings.register_max_bytes
    body = await _read_limited(request, limit)
    meta_json, model = wire.split_register(body)
    try:
        fields = RegisterRequest.model_validate_json(meta_json)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise InvalidSpec(
            f"the model registration's {where} is not valid: {first.get('msg')}",
            detail={"field": where},
        ) from None
    out: dict[str, Any] = await run_in_threadpool(
        register_model,
        state.ctx,
        name,
        wire.ModelRegister.from_dict(fields.model_dump()),
        model,
        user=caller.user,
    )
    return out


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, int(declared))
    chunks: list[bytes] = []
    size = 0
    async for block in request.stream():
        size += len(block)
        if size > limit:
            raise _too_large(limit, size)
        chunks.append(block)
    return b"".join(chunks)


def _too_large(limit: int, size: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the model file is larger than the bridge's limit of {limit:,} bytes "
        "(KEPLER_REGISTER_MAX_BYTES); raise the setting where the bridge runs, or register "
        "a smaller model",
        detail={"limit_bytes": limit, "setting": "KEPLER_REGISTER_MAX_BYTES"},
    )
