"""Monitoring: drift of a window of events against a version's baseline, and a baseline
made from supplied rows for a version fitted without one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from kepler.core import wire
from kepler.core.errors import Forbidden
from kepler.core.identity import admin_needed
from kepler.core.refs import ModelRef
from kepler.server.drift import dataset_drift, supplied_baseline, window_drift
from kepler_bridge.deps import AuthDep, CallerDep, StateDep
from kepler_bridge.routes.models import _read_limited
from kepler_bridge.wire import ARROW, CSV, media_format

router = APIRouter(prefix=wire.MODELS, tags=["monitoring"], dependencies=[AuthDep])
_BODY: dict[str, Any] = {"requestBody": {"content": {CSV: {}, ARROW: {}}}}


@router.post(wire.under(wire.MODELS, wire.MODEL_DRIFT), openapi_extra=_BODY)
async def model_drift(
    ref: str,
    request: Request,
    state: StateDep,
    method: str = "auto",
    threshold: float | None = None,
    dataset_id: str | None = None,
) -> dict[str, Any]:
    """Drift of the CSV or Arrow rows in the body (a window of events, with or without the
    model's output fields) against the baseline of ``ref``: one row per field and one per
    model output (field, method, statistic, threshold, drifted, missing then and now).
    ``method``: auto (Evidently's choice by size and type), psi, ks, wasserstein,
    jensenshannon or chi2; ``threshold`` replaces each method's default. With
    ``dataset_id`` (an uploaded dataset, e.g. a search's events) the body is empty and the
    dataset is read part by part, in bounded memory."""
    if dataset_id is not None:
        found: dict[str, Any] = await run_in_threadpool(
            dataset_drift,
            state.cache,
            state.models,
            state.datasets,
            ModelRef.parse(ref),
            dataset_id,
            method=method,
            threshold=threshold,
        )
        return found
    fmt = media_format(request.headers.get("content-type"))
    body = await _read_limited(request, state.settings.max_chunk_bytes)
    out: dict[str, Any] = await run_in_threadpool(
        window_drift,
        state.cache,
        state.models,
        ModelRef.parse(ref),
        fmt,
        body,
        method=method,
        threshold=threshold,
    )
    return out


@router.post(wire.under(wire.MODELS, wire.MODEL_BASELINE), openapi_extra=_BODY)
async def model_baseline(
    ref: str,
    request: Request,
    state: StateDep,
    caller: CallerDep,
    replace: bool = False,
) -> dict[str, Any]:
    """Make the drift baseline of ``ref`` from the CSV or Arrow rows in the body (data the
    caller vouches for, e.g. what an old version was trained on). A version that has a
    baseline keeps it (409) unless ``replace=true``, which needs the admin role."""
    if replace and not caller.admin:
        raise Forbidden(admin_needed("replacing a model's baseline"))
    fmt = media_format(request.headers.get("content-type"))
    body = await _read_limited(request, state.settings.max_chunk_bytes)
    out: dict[str, Any] = await run_in_threadpool(
        supplied_baseline,
        state.cache,
        state.models,
        ModelRef.parse(ref),
        fmt,
        body,
        replace=replace,
    )
    return out
