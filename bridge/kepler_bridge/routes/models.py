"""Models: list, describe, delete, alias, and apply (score) a registered version."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from kepler.core import wire
from kepler.core.errors import PayloadTooLarge
from kepler.core.refs import ModelRef, model_to_delete
from kepler.core.spec import apply_algorithm_option
from kepler.server import promote
from kepler.server.datasets.catalog import model_datasets, remove_model_datasets
from kepler.server.scoring import ScoreOptions, Writeback, algorithm_options, apply_chunk
from kepler.server.scoring.shadow import shadow_headers
from kepler.server.senders import hec_target
from kepler_bridge.deps import AuthDep, Caller, CallerDep, StateDep, admin_only
from kepler_bridge.wire import ARROW, CSV, AliasRequest, media_format

router = APIRouter(prefix=wire.MODELS, tags=["models"], dependencies=[AuthDep])
DELETING = admin_only("deleting a model")
ALIASING = admin_only("moving a model alias")


@router.get("")
async def list_models(state: StateDep, versions: bool = False) -> list[dict[str, Any]]:
    """Every model with its latest version; with ``versions=true``, every version."""
    method = state.models.list_versions if versions else state.models.list_models
    out: list[dict[str, Any]] = await run_in_threadpool(method)
    return out


@router.get("/{ref}")
async def describe_model(ref: str, state: StateDep) -> dict[str, Any]:
    """One version, every version of its model, and the model's latest alias moves."""
    out: dict[str, Any] = await run_in_threadpool(state.models.describe, ModelRef.parse(ref))
    moves = await run_in_threadpool(state.ctx.alias_moves.list, model=out["name"], limit=20)
    out["alias_moves"] = [m.to_dict() for m in moves]
    return out


@router.delete("/{name}")
def delete_model(name: str, state: StateDep, caller: Annotated[Caller, DELETING]) -> dict[str, Any]:
    """Delete model ``name`` with every version (admin level); a version reference
    (``name@3``) is refused with 400, never widened to the whole model. The deletion is
    kept in the jobs database and sent to Splunk as a ``kepler:model`` event, naming who
    asked."""
    model = model_to_delete(name)
    versions = [v["version"] for v in state.models.describe(ModelRef(model))["versions"]]
    trained_on = model_datasets(state.ctx, model)  # known before its versions are gone
    state.models.delete(model)
    state.cache.drop(model)
    state.jobs.record_deletion(
        "model", model, user=caller.user, roles=caller.roles, detail={"versions": versions}
    )
    removed = remove_model_datasets(state.ctx, trained_on, user=caller.user)
    return {"deleted": model, "versions": versions, "user": caller.user, "datasets": removed}


@router.put("/{name}/aliases/{alias}")
def set_alias(
    name: str,
    alias: str,
    body: AliasRequest,
    state: StateDep,
    caller: Annotated[Caller, ALIASING],
) -> dict[str, Any]:
    """Point ``name:alias`` at a version (admin level); the move is recorded (GET
    /v1/audit/aliases) with who asked and the version the alias left."""
    ref = ModelRef.parse(f"{name}:{alias}")
    return promote.move_alias(
        state.ctx, ref.name, alias, body.version, user=caller.user, roles=caller.roles
    )


@router.delete("/{name}/aliases/{alias}")
def delete_alias(
    name: str, alias: str, state: StateDep, caller: Annotated[Caller, ALIASING]
) -> dict[str, Any]:
    """Remove an alias (admin level); the version it pointed at stays. 404 when the model
    has no such alias."""
    ref = ModelRef.parse(f"{name}:{alias}")
    return promote.remove_alias(state.ctx, ref.name, alias, user=caller.user, roles=caller.roles)


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for block in request.stream():
        size += len(block)
        if size > limit:
            raise _too_large(limit)
        chunks.append(block)
    return b"".join(chunks)


def _steps_option(key: str, text: str | None) -> Any:
    """A forecaster's ``forecast_k``/``holdback``: rows or a time amount, checked as the
    search bar checks them (a clear 400 otherwise)."""
    return None if text is None else apply_algorithm_option(key, text)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request body is larger than the bridge's limit of {limit // (1024 * 1024)} MiB "
        "(KEPLER_MAX_CHUNK_BYTES); send the data in smaller chunks",
        detail={"limit_bytes": limit},
    )


@router.post(
    "/{ref}/apply",
    responses={200: {"content": {CSV: {}, ARROW: {}}}},
)
async def apply_model(
    ref: str,
    request: Request,
    state: StateDep,
    caller: CallerDep,
    probabilities: bool | None = None,
    output_name: str | None = Query(None, alias="as"),
    include_input: bool = True,
    echo: str | None = None,
    index: str | None = None,
    sourcetype: str | None = None,
    shadow: str | None = Query(None, max_length=300),
    threshold: str | None = Query(None, max_length=200),
    lower_threshold: str | None = Query(None, max_length=200),
    upper_threshold: str | None = Query(None, max_length=200),
    show_density: bool | None = None,
    sample: bool | None = None,
    full_sample: bool | None = None,
    show_options: str | None = Query(None, max_length=200),
    forecast_k: str | None = Query(None, max_length=40),
    conf_interval: float | None = Query(None, gt=0, lt=100),
    holdback: str | None = Query(None, max_length=40),
    output_metadata: bool | None = None,
    forecast_target: str | None = Query(None, alias="target", max_length=2000),
    specialdays: str | None = Query(None, max_length=200),
    period: int | None = Query(None, ge=1, le=1_000),
) -> Response:
    """Score CSV or Arrow rows with ``ref`` (``pump``, ``pump@3``, ``pump:production``);
    the answer has the same media type, with the model's output fields. With ``index``,
    every scored row is also written to that Splunk index through HEC before the answer
    (``X-Kepler-Hec-*`` headers: where; else the bridge's ``KEPLER_HEC_*``). With
    ``include_input=false`` only the output fields come back, after the input columns
    listed in ``echo`` (comma-separated; the Splunk command echoes ``_chunked_idx``).
    With ``shadow`` (``pump@5``), that version scores the rows too: the answer stays the
    champion's, the agreement goes to Splunk as a ``kepler:shadow`` event and comes back in
    ``X-Kepler-Shadow-*`` headers.
    ``threshold``, ``lower_threshold``, ``upper_threshold`` (one value or several,
    ``0.01,0.005``), ``show_density``, ``sample``, ``full_sample``, ``show_options``: a
    DensityFunction model's outlier rule and outputs for these rows, without refitting.
    ``forecast_k``: a forecaster (StateSpaceForecast, ARIMA) answers ``_time`` and its
    output fields for the rows, then the forecast after them (``include_input=false``):
    steps counted from the last row run over, rows or a time amount (``2weeks``), as
    MLTK's apply; ``holdback``: the last rows withheld from the run (rows or a time
    amount); ``conf_interval``: its interval in percent, instead of the fitted one;
    ``output_metadata``: MLTK's ``_forecastMetadata`` (``h``, ``f``, ``hf``); ``target``:
    the fitted field(s) to forecast (``a,b``), the others get no outputs; ``specialdays``:
    the fitted special-days field (MLTK's apply names it; another is refused); ``period``:
    StateSpaceForecast's fitted period (another is refused, as MLTK's apply does). Rows
    that carry the model's field(s) are the series the model runs over; rows with only
    ``_time`` read the trained forecast at their times."""
    fmt = media_format(request.headers.get("content-type"))
    body = await _read_limited(request, state.settings.max_chunk_bytes)
    model_ref = ModelRef.parse(ref)
    challenger = ModelRef.parse(shadow) if shadow else None
    options = ScoreOptions(
        probabilities=probabilities,
        output_name=output_name,
        include_input=include_input,
        echo=tuple(c for c in (echo or "").split(",") if c),
        algorithm_options=algorithm_options(
            threshold=threshold,
            lower_threshold=lower_threshold,
            upper_threshold=upper_threshold,
            show_density=show_density,
            sample=sample,
            full_sample=full_sample,
            show_options=show_options,
            forecast_k=_steps_option("forecast_k", forecast_k),
            conf_interval=conf_interval,
            holdback=_steps_option("holdback", holdback),
            output_metadata=output_metadata,
            target=None
            if forecast_target is None
            else apply_algorithm_option("target", forecast_target),
            specialdays=None
            if specialdays is None
            else apply_algorithm_option("specialdays", specialdays),
            period=period,
        ),
    )
    writeback = None
    if index is not None:
        target = hec_target(state.settings.hec, dict(request.headers))
        writeback = Writeback(target, index, sourcetype)
    applied = await run_in_threadpool(
        apply_chunk,
        state.cache,
        state.telemetry,
        model_ref,
        fmt,
        body,
        options,
        writeback=writeback,
        senders=state.senders,
        user=caller.user,
        shadow=challenger,
    )
    headers = {"X-Kepler-Model": model_ref.name, "X-Kepler-Model-Version": str(applied.version)}
    if applied.delivered is not None:
        headers["X-Kepler-Hec-Events"] = str(applied.delivered.events)
        headers["X-Kepler-Hec-Queued"] = str(applied.delivered.queued)
        headers["X-Kepler-Hec-Rejected"] = str(applied.delivered.rejected)
    if applied.shadow is not None:
        headers.update(shadow_headers(applied.shadow))
    return Response(applied.body, media_type=ARROW if fmt == "arrow" else CSV, headers=headers)
