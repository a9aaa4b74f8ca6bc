"""An AutoML run's lanes (no seed): the worker's start, and the trial tasks any worker runs.

:func:`start_automl` creates the Optuna study and MLflow parent run, records the deadline
and enqueues ``parallel`` trial tasks: the lanes. :func:`run_automl_trial` runs a trial
(several, when they are quick); while budget and ``max_trials`` allow it enqueues its
lane's next task, else it closes the lane, and whoever closes the last lane finalises. A
seeded run's trial tasks go to :mod:`~kepler.server.jobs.automl.rounds` instead.
"""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kepler.core.automl import ENGINE_TASK
from kepler.core.errors import KeplerError
from kepler.server.jobs.automl.common import fail_once, load, pool, report, spec_of
from kepler.server.jobs.automl.finalise import finalise_automl
from kepler.server.jobs.automl.rounds import run_drawn, start_rounds
from kepler.server.jobs.runner import internal_error
from kepler.server.queue import enqueue_trial
from kepler.server.settings import ServerSettings
from kepler.server.stores.automl_runs import AutoMLRun
from kepler.server.stores.jobs import FINISHED, Job

if TYPE_CHECKING:
    from kepler.server.context import ServerContext

log = logging.getLogger("kepler.server.jobs.automl")

TASK_SLICE_S = 2.0  # a trial task keeps running quick trials for about this long


def study_url(settings: ServerSettings, job_id: str) -> str:
    """Where the run's study lives: ``KEPLER_AUTOML_STORAGE`` (a database URL shared by
    every worker), else a journal file under the home for the embedded stack's SQLite
    (several processes writing one SQLite file through Optuna's RDB storage would lock)."""
    if settings.automl_storage:
        return settings.automl_storage
    if settings.database_url.startswith("sqlite"):
        return f"journal:{Path(settings.home) / 'automl' / f'{job_id}.journal'}"
    return settings.database_url


def start_automl(ctx: ServerContext, dataset_id: str, job_id: str) -> dict[str, Any]:
    from kepler.ml.automl import search, tracking
    from kepler.ml.automl.space import default_starts

    jobs, runs = ctx.jobs, ctx.automl_runs
    job = jobs.get(job_id)
    spec = spec_of(job)
    run = runs.get(job_id)
    if job.state in FINISHED or (run is not None and (run.finalised or spec.seed is None)):
        return {"state": job.state}  # a redelivered message: the run is under way
    if run is not None:  # redelivered, seeded: make sure round 0 was drawn and queued
        return start_rounds(ctx, run, job, spec)
    jobs.start(job_id, socket.gethostname())
    try:
        url = study_url(ctx.settings, job_id)
        assert spec.metric is not None
        candidates = pool(spec, ENGINE_TASK[spec.task or "classification"])
        search.create_study(ctx.studies.get(url), job_id, spec.metric, default_starts(candidates))
        parent = tracking.start_parent(ctx.models, spec.into or "", job_id, job.spec)
        run = runs.create(job_id, dataset_id, url, parent, spec.time_budget, spec.parallel)
    except KeplerError as exc:
        jobs.fail(job_id, exc.to_dict())
        return {"error": exc.to_dict()}
    jobs.progress(job_id, 0.01, f"searching for {spec.time_budget:g}s in {spec.parallel} lanes")
    if spec.seed is None:
        for lane in range(spec.parallel):
            enqueue_trial(ctx.celery, job_id, lane)
        return {"deadline": run.deadline}
    return start_rounds(ctx, run, job, spec)


def run_automl_trial(
    ctx: ServerContext, job_id: str, lane: int, trial: int | None = None
) -> dict[str, Any]:
    """One trial task: lane ``lane``'s own trials (:func:`_run_lane`) or, with ``trial``,
    the lane's run of a seeded round that begins there
    (:func:`~kepler.server.jobs.automl.rounds.run_drawn`). A failure
    fails the job, once, whichever task meets it."""
    jobs, runs = ctx.jobs, ctx.automl_runs
    run = runs.get(job_id)
    job = jobs.get(job_id)
    if run is None or run.finalised or job.state in FINISHED:
        return {"skipped": True}
    try:
        if trial is None:
            return _run_lane(ctx, run, job, lane)
        return run_drawn(ctx, run, job, lane, trial)
    except KeplerError as exc:
        fail_once(ctx, job_id, run.study, exc.to_dict())
        return {"error": exc.to_dict()}
    except Exception:
        log.exception("automl job %s: a task of lane %s crashed", job_id, lane)
        fail_once(ctx, job_id, run.study, internal_error(job_id))
        raise


def _run_lane(ctx: ServerContext, run: AutoMLRun, job: Job, lane: int) -> dict[str, Any]:
    """Trials of lane ``lane`` for about :data:`TASK_SLICE_S`, then the lane's next task
    or its end (the task that closes the last lane finalises).

    Several quick trials share one task so that dispatch through the broker does not
    dominate when a trial takes a fraction of a second; the study (and its seeded
    sampler) is reloaded before each, so a serial run stays repeatable however the
    trials fall into tasks.
    """
    from kepler.ml.automl import search

    jobs, runs = ctx.jobs, ctx.automl_runs
    job_id = job.id
    spec = spec_of(job)
    deadline = run.deadline
    store = ctx.studies.get(run.study)
    task_start = time.time()
    ran = 0
    while (
        time.time() < deadline
        and (ran == 0 or time.time() - task_start < TASK_SLICE_S)
        and runs.claim_trial(job_id, spec.max_trials)
    ):
        prepared = load(ctx, run.dataset_id, job)
        candidates = pool(spec, prepared.engine_task)
        study = search.load_study(store, job_id, seed=spec.seed, lane=lane)
        search.run_trial(study, prepared, spec, candidates, deadline=deadline)
        ran += 1
        report(jobs, job_id, study, spec, run.started_at, deadline)
    now = runs.get(job_id)  # budget left and, with max_trials, trials left (read only)
    assert now is not None
    if time.time() < deadline and (spec.max_trials is None or now.trials_claimed < spec.max_trials):
        enqueue_trial(ctx.celery, job_id, lane)
        return {"lane": lane, "trials": ran, "next": True}
    if runs.close_lane(job_id) and runs.claim_finalise(job_id):
        return finalise_automl(ctx, job_id)
    return {"lane": lane, "trials": ran, "next": False}
