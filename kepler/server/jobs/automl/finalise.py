"""Finalise an AutoML run: leaderboard, child runs, the winner refitted on every
training row, scored on the holdout and registered as a new version of the model."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from kepler.core.errors import KeplerError
from kepler.server.jobs.automl.common import discard_study, load, spec_of
from kepler.server.jobs.runner import internal_error

if TYPE_CHECKING:
    from kepler.server.context import ServerContext

log = logging.getLogger("kepler.server.jobs.automl")


def finalise_automl(ctx: ServerContext, job_id: str) -> dict[str, Any]:
    """Leaderboard, child runs, the winner refitted and registered; the job's result."""
    from kepler.ml.automl import search, tracking

    jobs, runs = ctx.jobs, ctx.automl_runs
    run = runs.get(job_id)
    job = jobs.get(job_id)
    assert run is not None
    spec = spec_of(job)
    assert spec.metric is not None and spec.into is not None
    store = ctx.models
    study = search.load_study(ctx.studies.get(run.study), job_id, seed=spec.seed)
    search.fail_unfinished(study, "its worker stopped before the trial finished")
    rows = search.leaderboard(study, spec.metric)
    n = search.counts(study)
    try:
        if run.parent_run_id:
            tracking.log_trials(store, run.parent_run_id, rows)
        best = search.winner(rows, spec)
        jobs.progress(job_id, 0.92, f"refitting {best['algorithm']} on every training row")
        prepared = load(ctx, run.dataset_id, job)
        trained = search.refit(best, prepared, spec)
        manifest = ctx.datasets.manifest(run.dataset_id)
        lineage = {"dataset": manifest.to_dict(), "source": getattr(manifest, "source", None)}
        jobs.progress(job_id, 0.96, f"registering a new version of {spec.into}")
        registered = store.register(
            trained,
            spec.into,
            lineage=lineage,
            job_id=job_id,
            parent_run_id=run.parent_run_id,
            user=job.user,
        )
    except Exception as exc:
        if run.parent_run_id:
            tracking.finish_parent(store, run.parent_run_id, rows, n, spec.metric, failed=True)
        if not isinstance(exc, KeplerError):
            log.exception("automl job %s: finalising crashed", job_id)
            jobs.fail(job_id, internal_error(job_id))
            discard_study(ctx, run.study)
            raise
        jobs.fail(job_id, exc.to_dict())
        discard_study(ctx, run.study)
        return {"error": exc.to_dict()}
    if run.parent_run_id:
        tracking.finish_parent(store, run.parent_run_id, rows, n, spec.metric)
    workers = sorted({str(r["worker"]) for r in rows if r.get("worker")})
    result = {
        "model": registered.name,
        "version": registered.version,
        "run_id": registered.run_id,
        "user": job.user,
        "parent_run_id": run.parent_run_id,
        "algorithm": best["algorithm"],
        "params": best["params"],
        "task": spec.task,
        "metric": spec.metric,
        "best_cv_score": best["score"],
        "metrics": trained.metrics,
        "rows": manifest.rows,
        "dataset_id": run.dataset_id,
        "counts": n,
        "workers": workers,
        "leaderboard": rows,
        "elapsed_s": round(time.time() - run.started_at, 3),
    }
    jobs.succeed(job_id, result)
    discard_study(ctx, run.study)
    return result
