"""Celery tasks: translate ids to a plain function call and back, nothing more. Each
calls one job function with the process's context (``kepler_workers.app.context``)."""

from __future__ import annotations

from typing import Any

from kepler.server.jobs.apply import run_apply
from kepler.server.jobs.automl import finalise_stale, run_automl_trial, start_automl
from kepler.server.jobs.fit import run_fit
from kepler.server.jobs.monitor import run_monitor
from kepler.server.jobs.reproduce import run_reproduce
from kepler.server.jobs.retrain import run_retrain
from kepler.server.jobs.score import run_score
from kepler.server.queue import (
    APPLY_TASK,
    AUTOML_FINALISE_TASK,
    AUTOML_TASK,
    AUTOML_TRIAL_TASK,
    FIT_TASK,
    MONITOR_TASK,
    REPRODUCE_TASK,
    RETRAIN_TASK,
    SCORE_TASK,
)
from kepler_workers.app import app, context


@app.task(name=FIT_TASK, acks_late=True)
def fit(dataset_id: str, job_id: str) -> dict[str, Any]:
    """Train the spec held by job ``job_id`` on dataset ``dataset_id``."""
    return run_fit(context(), dataset_id, job_id)


@app.task(name=REPRODUCE_TASK, acks_late=True)
def reproduce(dataset_id: str, job_id: str) -> dict[str, Any]:
    """Retrain the version job ``job_id`` reproduces on its dataset ``dataset_id``."""
    return run_reproduce(context(), dataset_id, job_id)


@app.task(name=AUTOML_TASK, acks_late=True)
def automl(dataset_id: str, job_id: str) -> dict[str, Any]:
    """Start AutoML job ``job_id``: its study, its parent run, one trial task per lane."""
    return start_automl(context(), dataset_id, job_id)


@app.task(name=AUTOML_TRIAL_TASK, acks_late=True)
def automl_trial(job_id: str, lane: int, trial: int | None = None) -> dict[str, Any]:
    """Trials of AutoML job ``job_id`` (any worker takes them): the lane's own, or drawn
    trial ``trial`` of a seeded round; then the lane's next."""
    return run_automl_trial(context(), job_id, lane, trial)


@app.task(name=AUTOML_FINALISE_TASK, acks_late=True)
def automl_finalise(job_id: str) -> dict[str, Any]:
    """Finalise AutoML job ``job_id``, found stale by the beat, with the trials it has."""
    return finalise_stale(context(), job_id)


@app.task(name=APPLY_TASK, acks_late=True)
def apply(dataset_id: str, job_id: str) -> dict[str, Any]:
    """Score dataset ``dataset_id`` with job ``job_id``'s pinned model; write the rows to HEC."""
    return run_apply(context(), dataset_id, job_id)


@app.task(name=SCORE_TASK, acks_late=True)
def score(job_id: str) -> dict[str, Any]:
    """Run the scheduled scoring job ``job_id`` (search, score, write via HEC)."""
    return run_score(context(), job_id)


@app.task(name=MONITOR_TASK, acks_late=True)
def monitor(job_id: str) -> dict[str, Any]:
    """Run monitor job ``job_id`` (search, drift and live metrics, metric events via HEC)."""
    return run_monitor(context(), job_id)


@app.task(name=RETRAIN_TASK, acks_late=True)
def retrain(job_id: str) -> dict[str, Any]:
    """Run retrain job ``job_id`` (search, fit a new version, promote it if the gate passes)."""
    return run_retrain(context(), job_id)
