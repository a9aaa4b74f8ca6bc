"""Celery tasks: translate ids to a plain function call and back, nothing more."""

from __future__ import annotations

from typing import Any

from kepler.server.automl import AUTOML_TASK, AUTOML_TRIAL_TASK, run_automl_trial, start_automl
from kepler.server.fitting import run_fit_job
from kepler.server.queue import FIT_TASK
from kepler_workers.app import app, settings


@app.task(name=FIT_TASK, acks_late=True)
def fit(dataset_id: str, job_id: str) -> dict[str, Any]:
    """Train the spec held by job ``job_id`` on dataset ``dataset_id``."""
    return run_fit_job(dataset_id, job_id, settings())


def _enqueue_trial(job_id: str, lane: int) -> None:
    app.send_task(AUTOML_TRIAL_TASK, args=[job_id, lane])


@app.task(name=AUTOML_TASK, acks_late=True)
def automl(dataset_id: str, job_id: str) -> dict[str, Any]:
    """Start AutoML job ``job_id``: its study, its parent run, one trial task per lane."""
    return start_automl(dataset_id, job_id, settings(), _enqueue_trial)


@app.task(name=AUTOML_TRIAL_TASK, acks_late=True)
def automl_trial(job_id: str, lane: int) -> dict[str, Any]:
    """One trial of AutoML job ``job_id`` (any worker takes it), then the lane's next."""
    return run_automl_trial(job_id, lane, settings(), _enqueue_trial)
