"""The drift and baseline routes' work: a window of rows in, one row per field out.

:func:`window_drift` counts a window (a CSV or Arrow body, as the apply route takes) on the
version's stored baseline and answers the drift rows; a window without the model's output
fields is scored with the version first, so the output's drift is there too.
:func:`supplied_baseline` makes a baseline from rows a user vouches for, for a version
fitted before baselines existed (``kp.baseline("pump@3", df)``).

The routes translate requests to these and their dicts to JSON; the search command and
the SDK read the same answer.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from kepler.core.errors import BaselineNotFound, Conflict
from kepler.core.refs import ModelRef
from kepler.ml.monitoring import check_method, count_window, drift, make_baseline, summarize
from kepler.server.scoring import read_body

if TYPE_CHECKING:
    from kepler.ml.store import ModelStore, VersionInfo
    from kepler.server.datasets import DatasetStore
    from kepler.server.model_cache import ModelCache


def no_baseline(name: str, version: int) -> BaselineNotFound:
    return BaselineNotFound(
        f"model {name!r} version {version} has no drift baseline (it was fitted before "
        "Kepler kept one); fit it again, or make one from data you trust: "
        f'kp.baseline("{name}@{version}", df) in Python',
        detail={"model": name, "version": version},
    )


def window_drift(
    cache: ModelCache,
    store: ModelStore,
    ref: ModelRef,
    fmt: str,
    body: bytes,
    *,
    method: str | None = None,
    threshold: float | None = None,
) -> dict[str, Any]:
    """Drift of the rows in ``body`` against the baseline of the version ``ref`` names."""
    method, threshold = check_method(method, threshold)
    info, (pipeline, meta) = cache.fetch(ref)
    baseline = _baseline_of(store, info)
    frame = with_outputs(pipeline, meta, baseline, read_body(fmt, body).to_pandas())
    return _answer(info, baseline, count_window(baseline, [frame]), method, threshold)


def dataset_drift(
    cache: ModelCache,
    store: ModelStore,
    datasets: DatasetStore,
    ref: ModelRef,
    dataset_id: str,
    *,
    method: str | None = None,
    threshold: float | None = None,
) -> dict[str, Any]:
    """Drift of an uploaded dataset (the search command's events, any number of them),
    read batch by batch from its Parquet parts: memory stays the size of one batch."""
    method, threshold = check_method(method, threshold)
    info, (pipeline, meta) = cache.fetch(ref)
    baseline = _baseline_of(store, info)
    names = set(datasets.schema(dataset_id).names)
    wanted = [*meta.features, *(baseline.get("fields") or {}), *(baseline.get("outputs") or {})]
    columns = [c for c in dict.fromkeys(wanted) if c in names]

    def batches() -> Any:
        if not columns:  # none of the model's fields: count the rows, all missing
            for batch in datasets.iter_batches(dataset_id, columns=list(names)[:1]):
                yield batch.to_pandas().iloc[:, :0]
            return
        for batch in datasets.iter_batches(dataset_id, columns=columns):
            yield with_outputs(pipeline, meta, baseline, batch.to_pandas())

    return _answer(info, baseline, count_window(baseline, batches()), method, threshold)


def _baseline_of(store: ModelStore, info: VersionInfo) -> dict[str, Any]:
    baseline: dict[str, Any] | None = store.baseline(info)
    if baseline is None:
        raise no_baseline(info.name, info.version)
    return baseline


def _answer(
    info: Any,
    baseline: dict[str, Any],
    window: dict[str, Any],
    method: str,
    threshold: float | None,
) -> dict[str, Any]:
    rows = drift(baseline, window, method=method, threshold=threshold)
    return {
        "model": info.name,
        "version": info.version,
        "baseline": {k: baseline.get(k) for k in ("created", "source", "rows")},
        "rows": [{k: _plain(v) for k, v in row.items()} for row in rows],
    }


def with_outputs(
    pipeline: Any, meta: Any, baseline: dict[str, Any], frame: pd.DataFrame
) -> pd.DataFrame:
    """``frame`` with the model's outputs the baseline profiles added where the events lack
    them and carry at least one of the model's fields (else the output rows say so)."""
    from kepler.ml.outputs import predict_frame

    wanted = [n for n in (baseline.get("outputs") or {}) if n not in frame.columns]
    if not wanted or not len(frame) or not any(f in frame.columns for f in meta.features):
        return frame
    scored = predict_frame(pipeline, meta, frame)
    extra = {n: scored[n] for n in wanted if n in scored.columns}
    return frame.assign(**extra) if extra else frame


def supplied_baseline(
    cache: ModelCache,
    store: ModelStore,
    ref: ModelRef,
    fmt: str,
    body: bytes,
    *,
    replace: bool = False,
) -> dict[str, Any]:
    """Make and store the baseline of the version ``ref`` names from ``body``'s rows.
    A version that has one keeps it unless ``replace`` (the route asks for admin)."""
    info, (pipeline, meta) = cache.fetch(ref)
    existing = store.baseline(info)
    if existing is not None and not replace:
        raise Conflict(
            f"model {info.name!r} version {info.version} already has a baseline "
            f"(from {existing.get('source', 'fit')}, {existing.get('created', '')}); "
            "pass replace=True to overwrite it (admin role)",
            detail={"model": info.name, "version": info.version},
        )
    frame = read_body(fmt, body).to_pandas()
    baseline = make_baseline(pipeline, meta, frame)
    store.set_baseline(info, baseline)
    return {"model": info.name, "version": info.version, "baseline": summarize(baseline)}


def _plain(value: Any) -> Any:
    """JSON-safe: numpy scalars as Python's, non-finite numbers as null."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
