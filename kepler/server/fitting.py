"""Run one fit job: read the dataset, train, register a new model version, record the result.

A plain function the Celery task calls; it owns no Celery state, so it is testable alone
and idempotent: a job already finished returns its stored result, and registration is
keyed by the job id, so a redelivered message never makes a second version.
"""

from __future__ import annotations

import logging
from typing import Any

from kepler.core.errors import JobCancelled
from kepler.core.spec import FitSpec
from kepler.server.jobs import JobStore, run_once
from kepler.server.liveness import JobLimits
from kepler.server.settings import ServerSettings

log = logging.getLogger(__name__)


def model_store(settings: ServerSettings) -> Any:
    from kepler.ml.store import ModelStore

    return ModelStore(settings.tracking_uri, settings.artifact_location, settings.experiment)


def dataset_store(settings: ServerSettings) -> Any:
    from kepler.server.datasets import DatasetStore

    return DatasetStore(settings.dataset_store)


def run_fit_job(dataset_id: str, job_id: str, settings: ServerSettings) -> dict[str, Any]:
    """Train the job's spec on the dataset; return ``{"run_id", "model", "version", ...}``."""
    from kepler.server.telemetry import Telemetry

    telemetry = Telemetry(settings.hec, component="worker")
    jobs = JobStore(settings.database_url, telemetry=telemetry)
    result, ran = run_once(
        jobs,
        job_id,
        lambda job: _fit(dataset_id, job_id, job.spec, jobs, settings, user=job.user),
        telemetry=telemetry,
        limits=JobLimits.from_settings(settings),
    )
    if ran and telemetry.enabled:
        telemetry.fit(job_id, result, jobs.get(job_id).to_dict().get("duration_s"))
        telemetry.flush()
    return result


def _fit(
    dataset_id: str,
    job_id: str,
    spec_dict: dict[str, Any],
    jobs: JobStore,
    settings: ServerSettings,
    *,
    user: str | None = None,
) -> dict[str, Any]:
    from kepler.ml.training import train

    spec = FitSpec.from_dict(spec_dict)

    def progress(fraction: float, message: str) -> None:
        # Reading takes the first 10%, registering the last 10%.
        jobs.progress(job_id, 0.1 + 0.8 * fraction, message)

    datasets = dataset_store(settings)
    manifest = datasets.manifest(dataset_id)
    jobs.progress(job_id, 0.02, f"reading {manifest.rows:,} rows")
    # Only the fields the fit uses (Splunk events carry many more: _raw, _time, host...),
    # one block per column: no consolidation copy of the whole frame.
    columns = _fields_used(spec, datasets.schema(dataset_id).names)
    frame = datasets.read_frame(dataset_id, columns=columns)
    jobs.progress(job_id, 0.1, "training")
    # The frame was read for this fit alone: train may reorder it to hold rows out.
    trained = train(frame, spec, progress=progress, consume=True)
    del frame
    result: dict[str, Any] = {
        "metrics": trained.metrics,
        "rows": manifest.rows,
        "algorithm": spec.algorithm,
        "dataset_id": dataset_id,
    }
    if spec.into:
        if jobs.get(job_id).finished:  # cancelled or out of time while it trained
            raise JobCancelled(f"job {job_id} ended while it trained; no version was registered")
        jobs.progress(job_id, 0.92, f"registering a new version of {spec.into}")
        lineage = {"dataset": manifest.to_dict(), "source": getattr(manifest, "source", None)}
        registered = model_store(settings).register(
            trained, spec.into, lineage=lineage, job_id=job_id, user=user
        )
        result.update(
            model=registered.name,
            version=registered.version,
            run_id=registered.run_id,
            user=user,
        )
    return result


def _fields_used(spec: FitSpec, names: list[str]) -> list[str] | None:
    """The target and the (expanded) features, in the dataset's order; ``None`` (every
    field) when the spec names a field the data lacks, so that training reports it."""
    from kepler.core.errors import KeplerError as SpecError
    from kepler.core.spec import expand_features

    target = spec.target
    try:
        features = expand_features(spec.features, names, exclude=(target,) if target else ())
    except SpecError:
        return None
    if target and target not in names:
        return None
    wanted = {*features, *([target] if target else [])}
    return [n for n in names if n in wanted]
