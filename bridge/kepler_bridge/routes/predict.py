"""The online path: a few rows scored from memory, answered as JSON (a thin route over
:class:`kepler.server.scoring.service.OnlineService`)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response

from kepler.core import wire
from kepler.core.errors import InvalidSpec, PayloadTooLarge
from kepler.core.refs import ModelRef
from kepler.server.scoring.online import HOW_TO_SEND, PredictOptions
from kepler_bridge.deps import PredictAuthDep, StateDep
from kepler_bridge.wire import ARROW, CSV, media_format

router = APIRouter(prefix=wire.MODELS, tags=["models"], dependencies=[PredictAuthDep])
JSON = "application/json"

_BODY = {
    "required": True,
    "content": {
        JSON: {
            "schema": {"type": "object"},
            "examples": {
                "rows": {"value": {"rows": [{"pressure": 3.1, "site": "north"}]}},
                "dataframe_split": {
                    "value": {
                        "dataframe_split": {
                            "columns": ["pressure", "site"],
                            "data": [[3.1, "north"]],
                        }
                    }
                },
                "dataframe_records": {"value": {"dataframe_records": [{"pressure": 3.1}]}},
            },
        },
        CSV: {"schema": {"type": "string"}},
        ARROW: {"schema": {"type": "string", "format": "binary"}},
    },
}
_ANSWER = {
    "model": "pump",
    "version": 3,
    "rows": 1,
    "fields": ["predicted(failure)", "probability(failure=no)", "probability(failure=yes)"],
    "predictions": ["no"],
    "outputs": {"probability(failure=no)": [0.93], "probability(failure=yes)": [0.07]},
}


def body_format(content_type: str | None) -> str:
    """``json`` (also with no Content-Type), ``csv`` or ``arrow``."""
    media = (content_type or JSON).split(";")[0].strip().lower()
    if media == JSON or media.endswith("+json"):
        return "json"
    try:
        return media_format(media)
    except InvalidSpec:
        raise InvalidSpec(f"unsupported Content-Type {media!r}: {HOW_TO_SEND}") from None


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 past ``limit`` bytes (JSON bodies were already bounded
    by BodyLimits; CSV and Arrow ones are bounded here)."""
    declared = request.headers.get("content-length")
    size = 0
    chunks: list[bytes] = []
    if not (declared and declared.isdigit() and int(declared) > limit):
        async for block in request.stream():
            size += len(block)
            if size > limit:
                break
            chunks.append(block)
        else:
            return b"".join(chunks)
    raise PayloadTooLarge(
        f"the predict body is larger than {limit:,} bytes (KEPLER_MAX_JSON_BYTES); send "
        "fewer rows per request, or score a large table with kp.apply "
        "(POST /v1/models/{ref}/apply)",
        detail={"setting": "KEPLER_MAX_JSON_BYTES", "limit_bytes": limit},
    )


@router.post(
    wire.under(wire.MODELS, wire.MODEL_PREDICT),
    openapi_extra={"requestBody": _BODY},
    responses={200: {"content": {JSON: {"example": _ANSWER}}}},
)
async def predict_model(
    ref: str,
    request: Request,
    state: StateDep,
    probabilities: bool | None = None,
    output_name: str | None = Query(None, alias="as"),
) -> Response:
    """Score a few rows with ``ref`` (``pump``, ``pump@3``, ``pump:production``) and answer
    JSON: ``predictions`` (the model's first output field) and ``outputs`` (the others,
    named as ``/apply`` names them, such as ``probability(failure=yes)``). The body: JSON
    ``{"rows": [...]}``, MLflow's ``dataframe_records`` or ``dataframe_split``, or CSV or
    Arrow by its Content-Type; at most ``KEPLER_PREDICT_MAX_ROWS`` rows, each with every
    field the model was trained on (else 422 naming the missing ones)."""
    fmt = body_format(request.headers.get("content-type"))
    model_ref = ModelRef.parse(ref)
    body = await read_body(request, state.settings.max_json_bytes)
    options = PredictOptions(probabilities=probabilities, output_name=output_name)
    online = state.online
    if online is None:  # create_app sets it up; a state made without it has no online path
        raise RuntimeError("this bridge was built without its online path (create_app)")
    answer = await online.answer(model_ref, fmt, body, options)
    return Response(answer, media_type=JSON)
