"""Fit jobs: accepted by the bridge (:func:`submit_fit`), run by a worker (:func:`run_fit`).

The bridge checks everything that can be checked before a worker spends time on it. The
worker reads the dataset, trains, registers a new model version and records the result:
idempotent, since a job already finished returns its stored result and registration is
keyed by the job id, so a redelivered message never makes a second version.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from kepler.core.errors import DataError, InvalidSpec, JobCancelled
from kepler.core.refs import validate_model_name
from kepler.core.spec import FitSpec, expand_features, parse, validation_options
from kepler.server.jobs.runner import run_once
from kepler.server.queue import enqueue_fit
from kepler.server.stores.jobs import Job

if TYPE_CHECKING:
    from kepler.ml.store import RegisteredVersion
    from kepler.ml.training import TrainedModel
    from kepler.server.context import ServerContext
    from kepler.server.datasets import Manifest

log = logging.getLogger(__name__)


def build_spec(*, line: str | None = None, algorithm: str | None = None, **parts: Any) -> FitSpec:
    """A checked :class:`FitSpec` from an SPL-style line or from the SDK's parts."""
    from kepler.ml.registry import all_algorithms, get_algorithm

    if line:
        spec = parse(
            line if line.lstrip().lower().startswith(("fit", "|")) else f"fit {line}",
            catalog=all_algorithms(),
        )
        if not isinstance(spec, FitSpec):
            raise InvalidSpec("a fit job needs a `fit ...` line")
        return spec
    if not algorithm:
        raise InvalidSpec("name the algorithm to fit, e.g. RandomForestClassifier")
    into = parts.get("into")
    if into is not None:
        validate_model_name(str(into))  # the rule `into` follows in SPL
    info = get_algorithm(algorithm)
    params = info.check(dict(parts.pop("params", None) or {}))
    target = parts.get("target")
    if info.supervised and not target:
        raise InvalidSpec(f"{info.name} predicts a field: pass target=<field>")
    if not info.supervised and target:
        raise InvalidSpec(f"{info.name} learns without a target: drop target={target!r}")
    features = tuple(parts.pop("features", None) or ("*",))
    by = tuple(parts.pop("by", None) or ())
    chosen = {
        k: parts.pop(k)
        for k in ("split", "time_field", "kfold_cv", "gap", "lags", "rolling")
        if k in parts
    }
    validation = validation_options({k: v for k, v in chosen.items() if v is not None})
    return FitSpec(
        algorithm=info.name, params=params, features=features, by=by, **parts, **validation
    )


def check_against_columns(spec: FitSpec, columns: list[str]) -> list[str]:
    """Fail fast, before queueing, on a target or field the dataset does not have."""
    if spec.target is not None and spec.target not in columns:
        shown = ", ".join(c for c in columns[:20])
        raise DataError(
            f"target field {spec.target!r} is not in the data; the data has: {shown}",
            detail={"field": spec.target},
        )
    exclude = (spec.target,) if spec.target else ()
    if spec.by:
        expand_features(spec.by, columns)  # a `by` field the data lacks fails here too
    time_field = spec.time_field or "_time"
    ordered = spec.split == "time" or spec.time_field or spec.lags or spec.rolling
    if ordered and time_field not in columns:
        raise DataError(
            f"time field {time_field!r} is not in the data; time-ordered splits and lags need it "
            "(name another with time_field=<field>, or fit with split=random)",
            detail={"field": time_field},
        )
    return expand_features(spec.features, columns, exclude=exclude)


def submit_fit(
    ctx: ServerContext, spec: FitSpec, dataset_id: str, *, user: str | None = None
) -> Job:
    """The bridge's side: check ``spec`` against the dataset, record the job, queue it."""
    dataset_id = ctx.datasets.resolve(dataset_id)  # a dataset's name reads as its id
    manifest = ctx.datasets.manifest(dataset_id)  # DatasetNotFound / DatasetIncomplete
    if manifest.rows == 0:
        raise DataError("the dataset has no rows; check the search or frame you sent")
    check_against_columns(spec, list(manifest.columns))
    job = ctx.jobs.create("fit", spec.to_dict(), model=spec.into, dataset_id=dataset_id, user=user)
    enqueue_fit(ctx.celery, dataset_id, job.id)
    return job


def run_fit(ctx: ServerContext, dataset_id: str, job_id: str) -> dict[str, Any]:
    """The worker's side: train the job's spec on the dataset; return ``{"run_id",
    "model", "version", ...}``."""
    telemetry = ctx.telemetry
    result, ran = run_once(
        ctx.jobs,
        job_id,
        lambda job: _fit(ctx, dataset_id, job_id, job.spec, user=job.user),
        telemetry=telemetry,
        limits=ctx.limits,
    )
    if ran and telemetry.enabled:
        telemetry.fit(job_id, result, ctx.jobs.get(job_id).to_dict().get("duration_s"))
        telemetry.flush()
    return result


def _fit(
    ctx: ServerContext,
    dataset_id: str,
    job_id: str,
    spec_dict: dict[str, Any],
    *,
    user: str | None = None,
) -> dict[str, Any]:
    spec = FitSpec.from_dict(spec_dict)
    previous = _previous_version(ctx, spec)  # partial_fit: the version it continues
    trained, manifest = train_on_dataset(ctx, dataset_id, job_id, spec, previous=previous)
    result: dict[str, Any] = {
        "metrics": trained.metrics,
        "split": trained.meta.split,
        "folds": trained.meta.folds,
        "rows": manifest.rows,
        "algorithm": spec.algorithm,
        "dataset_id": dataset_id,
    }
    if trained.warnings:  # fit-time warnings (groups of `by` left untrained, ...)
        result["warnings"] = trained.warnings
    if trained.forecast is not None:  # MLTK's fit answers with the series and its forecast
        result["forecast"] = _records(trained.forecast)
    if spec.into:
        continued = previous[2] if previous is not None else None
        registered = register_trained(
            ctx, job_id, trained, spec.into, manifest, user=user, continued_from=continued
        )
        result.update(
            model=registered.name,
            version=registered.version,
            run_id=registered.run_id,
            user=user,
        )
        if continued is not None:
            result["continued_from"] = continued
    return result


def train_on_dataset(
    ctx: ServerContext,
    dataset_id: str,
    job_id: str,
    spec: FitSpec,
    *,
    previous: tuple[Any, Any, int] | None = None,
) -> tuple[TrainedModel, Manifest]:
    """Read the fields ``spec`` uses from the dataset and train on them, reporting the
    job's progress from 2% to 90%; with ``previous`` (partial_fit: the pipeline, meta and
    number of the version to continue), continue that version's training instead."""
    from kepler.ml.training import train

    jobs = ctx.jobs

    def progress(fraction: float, message: str) -> None:
        # Reading takes the first 10%, registering the last 10%.
        jobs.progress(job_id, 0.1 + 0.8 * fraction, message)

    datasets = ctx.datasets
    manifest = datasets.manifest(dataset_id)
    jobs.progress(job_id, 0.02, f"reading {manifest.rows:,} rows")
    # Only the fields the fit uses (Splunk events carry many more: _raw, _time, host...),
    # one block per column: no consolidation copy of the whole frame.
    columns = _fields_used(spec, datasets.schema(dataset_id).names)
    frame = datasets.read_frame(dataset_id, columns=columns)
    if previous is None:
        jobs.progress(job_id, 0.1, "training")
        # The frame was read for this fit alone: train may reorder it to hold rows out.
        trained = train(
            frame, spec, progress=progress, consume=True, max_groups=ctx.settings.max_groups
        )
    else:
        from kepler.ml.partial import continue_training

        jobs.progress(job_id, 0.1, f"continuing {spec.into}@{previous[2]} (partial_fit)")
        trained = continue_training(frame, spec, *previous)
    del frame
    return trained, manifest


def register_trained(
    ctx: ServerContext,
    job_id: str,
    trained: TrainedModel,
    into: str,
    manifest: Manifest,
    *,
    user: str | None,
    tags: dict[str, str] | None = None,
    notes: dict[str, Any] | None = None,
    continued_from: int | None = None,
) -> RegisteredVersion:
    """Register ``trained`` as the next version of ``into`` with the dataset's lineage
    (and the version a partial_fit continued), unless the job ended (cancelled, out of
    time) while it trained."""
    jobs = ctx.jobs
    if jobs.get(job_id).finished:  # cancelled or out of time while it trained
        raise JobCancelled(f"job {job_id} ended while it trained; no version was registered")
    jobs.progress(job_id, 0.92, f"registering a new version of {into}")
    lineage: dict[str, Any] = {
        "dataset": manifest.to_dict(),
        "source": getattr(manifest, "source", None),
    }
    if continued_from is not None:
        lineage["continued_from"] = continued_from
    return ctx.models.register(
        trained, into, lineage=lineage, job_id=job_id, user=user, tags=tags, notes=notes
    )


def _forecaster(algorithm: str) -> bool:
    from kepler.core.errors import KeplerError
    from kepler.ml.registry import get_algorithm

    try:
        return get_algorithm(algorithm).task == "forecaster"
    except KeplerError:
        return False


def _records(frame: Any) -> list[dict[str, Any]]:
    """A forecaster's rows as JSON-ready records: NaN (no value) becomes null. Bounded by
    the forecasters' own row limits (kepler.ml.forecast)."""
    import numpy as np

    return [
        {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def _previous_version(ctx: ServerContext, spec: FitSpec) -> tuple[Any, Any, int] | None:
    """With ``partial_fit``: the pipeline, meta and number of ``spec.into``'s latest
    version; ``None`` when there is none yet (MLTK then fits from scratch) or no
    ``partial_fit``."""
    from kepler.core.errors import NotFound
    from kepler.core.refs import ModelRef

    if not spec.partial_fit or not spec.into:
        return None
    try:
        info = ctx.models.resolve(ModelRef(spec.into))
    except NotFound:
        return None
    pipeline, meta = ctx.models.load_version(info)
    return pipeline, meta, int(info.version)


def _fields_used(spec: FitSpec, names: list[str]) -> list[str] | None:
    """The target, the (expanded) features and `by` fields, in the dataset's order; ``None``
    (every field) when the spec names a field the data lacks, so that training reports it."""
    from kepler.core.errors import KeplerError as SpecError

    target = spec.target
    try:
        features = expand_features(spec.features, names, exclude=(target,) if target else ())
        by = expand_features(spec.by, names) if spec.by else []
    except SpecError:
        return None
    if target and target not in names:
        return None
    wanted = {*features, *by, *([target] if target else [])}
    if _forecaster(spec.algorithm) and "_time" in names:
        wanted.add("_time")  # MLTK's forecasters follow _time without being told
    if spec.split == "time" or spec.time_field or spec.lags or spec.rolling:  # time order
        wanted.add(spec.time_field or "_time")
    if spec.algorithm == "Imputer" and isinstance(spec.params.get("field"), str):
        wanted.add(spec.params["field"])  # strategy=field reads it, listed or not
    if spec.algorithm == "StateSpaceForecast" and isinstance(spec.params.get("specialdays"), str):
        wanted.add(spec.params["specialdays"])  # MLTK's regressor, listed or not
    return [n for n in names if n in wanted]
