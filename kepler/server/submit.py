"""Accept a fit: check everything that can be checked before a worker spends time on it."""

from __future__ import annotations

from typing import Any

from kepler.core.errors import DataError, HecNotConfigured, InvalidSpec
from kepler.core.refs import ModelRef, validate_model_name
from kepler.core.spec import FitSpec, expand_features, parse
from kepler.server.jobs import Job, JobStore
from kepler.server.queue import enqueue_apply, enqueue_fit


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
    return FitSpec(algorithm=info.name, params=params, features=features, **parts)


def check_against_columns(spec: FitSpec, columns: list[str]) -> list[str]:
    """Fail fast, before queueing, on a target or field the dataset does not have."""
    if spec.target is not None and spec.target not in columns:
        shown = ", ".join(c for c in columns[:20])
        raise DataError(
            f"target field {spec.target!r} is not in the data; the data has: {shown}",
            detail={"field": spec.target},
        )
    exclude = (spec.target,) if spec.target else ()
    return expand_features(spec.features, columns, exclude=exclude)


def submit_fit(
    spec: FitSpec,
    dataset_id: str,
    *,
    datasets: Any,
    jobs: JobStore,
    celery: Any,
    user: str | None = None,
) -> Job:
    manifest = datasets.manifest(dataset_id)  # DatasetNotFound / DatasetIncomplete
    if manifest.rows == 0:
        raise DataError("the dataset has no rows; check the search or frame you sent")
    check_against_columns(spec, list(manifest.columns))
    job = jobs.create("fit", spec.to_dict(), model=spec.into, dataset_id=dataset_id, user=user)
    enqueue_fit(celery, dataset_id, job.id)
    return job


def submit_apply(
    request: dict[str, Any],
    *,
    datasets: Any,
    models: Any,
    jobs: JobStore,
    celery: Any,
    hec_ready: bool,
    user: str | None = None,
) -> Job:
    """Queue an async apply: the model version is pinned now, the dataset must be complete."""
    from kepler.server.scoring import NOT_CONFIGURED

    if not hec_ready:
        # The workers write with the deployment's KEPLER_HEC_* (a token never travels
        # through the broker or the jobs table): the bridge shares that configuration.
        raise HecNotConfigured(NOT_CONFIGURED + " (async=t writes from the workers)")
    manifest = datasets.manifest(request["dataset_id"])
    if manifest.rows == 0:
        raise DataError("the dataset has no rows; check the search or frame you sent")
    version = models.resolve(ModelRef.parse(request["model"]))
    spec = {
        "model": version.name,
        "version": version.version,
        "index": request["index"],
        "sourcetype": request.get("sourcetype"),
        "output_name": request.get("output_name"),
        "probabilities": request.get("probabilities"),
        "rows": manifest.rows,
    }
    job = jobs.create(
        "apply", spec, model=version.name, dataset_id=request["dataset_id"], user=user
    )
    enqueue_apply(celery, request["dataset_id"], job.id)
    return job
