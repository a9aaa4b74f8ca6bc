"""Accept an AutoML run (the bridge): refuse what the manifest and the target column
already show is wrong, settle task and metric, record the job and queue its start."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kepler.core.automl import ENGINE_TASK, AutoMLSpec
from kepler.core.errors import DataError, KeplerError
from kepler.server.datasets import DatasetStore
from kepler.server.jobs.automl.common import pool
from kepler.server.queue import enqueue_automl
from kepler.server.stores.jobs import Job

if TYPE_CHECKING:
    from kepler.server.context import ServerContext


def check_automl(spec: AutoMLSpec, dataset_id: str, datasets: DatasetStore) -> AutoMLSpec:
    """Refuse bad input from the manifest and the target column alone; return the spec
    with its task and metric settled."""
    from kepler.ml.automl.data import check

    manifest = datasets.manifest(dataset_id)  # DatasetNotFound / DatasetIncomplete
    if manifest.rows == 0:
        raise DataError("the dataset has no rows; check the search or frame you sent")
    columns = [str(c) for c in manifest.columns]
    if spec.target not in columns:
        shown = ", ".join(columns[:20])
        raise DataError(
            f"target field {spec.target!r} is not in the data; the data has: {shown}",
            detail={"field": spec.target},
        )
    target = datasets.read_table(dataset_id, columns=[spec.target]).column(0).to_pandas()
    task, metric, _ = check(spec, target, columns, manifest.rows)
    pool(spec, ENGINE_TASK[task])
    return AutoMLSpec.from_dict({**spec.to_dict(), "task": task, "metric": metric})


def check_candidates(spec: AutoMLSpec) -> None:
    """What can be checked without data (the SDK's and Splunk's dry run)."""
    tasks = [spec.task] if spec.task else ["classification", "regression"]
    errors = []
    for task in tasks:
        try:
            pool(spec, ENGINE_TASK[task])
        except KeplerError as exc:
            errors.append(exc)
    if len(errors) == len(tasks):
        raise errors[0]


def submit_automl(
    ctx: ServerContext, spec: AutoMLSpec, dataset_id: str, *, user: str | None = None
) -> Job:
    settled = check_automl(spec, dataset_id, ctx.datasets)
    job = ctx.jobs.create(
        "automl", settled.to_dict(), model=spec.into, dataset_id=dataset_id, user=user
    )
    enqueue_automl(ctx.celery, dataset_id, job.id)
    return job
