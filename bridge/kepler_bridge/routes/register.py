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
        "skops bytes and the rows of data= as an Arrow IPC stream (or nothing): see "
        "kepler.core.wire.frame_register",
    }
}


@router.post(wire.under(wire.MODELS, wire.MODEL_REGISTER), status_code=201, openapi_extra=_BODY)
async def register(
    name: str, request: Request, state: StateDep, caller: CallerDep
) -> dict[str, Any]:
    """Register a model fitted elsewhere (a skops file, never a pickle) as the next
    version of ``name``, recorded with who registered it and from which environment, and
    with the drift baseline of the rows sent with it (all in one: rows that cannot be
    read or scored refuse the registration with 422). A type outside the bridge's trusted
    list is refused with 422 naming it; a model over ``KEPLER_REGISTER_MAX_BYTES`` or
    rows over ``KEPLER_MAX_CHUNK_BYTES`` with 413."""
    limit, rows_limit = state.settings.register_max_bytes, state.settings.max_chunk_bytes
    body = await _read_limited(request, limit + rows_limit)
    meta_json, model, data = wire.split_register(body)
    if len(model) > limit:
        raise _too_large(limit, len(model))
    if len(data) > rows_limit:
        raise PayloadTooLarge(
            f"the rows of data= are larger than the bridge's limit of {rows_limit:,} bytes "
            "(KEPLER_MAX_CHUNK_BYTES); send a sample of the training rows",
            detail={"limit_bytes": rows_limit, "setting": "KEPLER_MAX_CHUNK_BYTES"},
        )
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
        data,
        user=caller.user,
    )
    return out


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, int(declared), body=True)
    chunks: list[bytes] = []
    size = 0
    async for block in request.stream():
        size += len(block)
        if size > limit:
            raise _too_large(limit, size, body=True)
        chunks.append(block)
    return b"".join(chunks)


def _too_large(limit: int, size: int, *, body: bool = False) -> PayloadTooLarge:
    what = "the model file and the rows of data= together are" if body else "the model file is"
    setting = "KEPLER_REGISTER_MAX_BYTES" + (" plus KEPLER_MAX_CHUNK_BYTES" if body else "")
    return PayloadTooLarge(
        f"{what} larger than the bridge's limit of {limit:,} bytes ({setting}); raise "
        "the setting where the bridge runs, or register a smaller model",
        detail={"limit_bytes": limit, "setting": "KEPLER_REGISTER_MAX_BYTES"},
    )
