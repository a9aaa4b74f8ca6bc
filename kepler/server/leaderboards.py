"""An AutoML run's leaderboard, found by the run's job id or by the model it fed.

The run store (:class:`~kepler.server.stores.automl_runs.AutoMLRuns`) says which runs
went into a model; a finished run's trials are in its job's result (its study is gone by
then); a run still going is read from its study, so a dashboard shows it as it grows.
One row per trial that finished, best first: rank, trial, algorithm, parameters, the
search's score, fit seconds, prediction latency, model size and status (``complete``,
or ``infeasible`` when it broke a constraint), the trial's metrics beside them.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from kepler.core.errors import DataError, InvalidSpec, JobNotFound
from kepler.core.refs import ModelRef

if TYPE_CHECKING:
    from kepler.server.context import ServerContext
    from kepler.server.stores.automl_runs import AutoMLRun
    from kepler.server.stores.jobs import Job

JOB_ID = re.compile(r"[0-9a-f]{32}")
ANY = "*"


def leaderboard(ctx: ServerContext, ref: str) -> dict[str, Any]:
    """``ref``: an AutoML job's id, or a model (``pump``, ``pump@3``, ``pump:production``):
    its newest run, or the run that made that version; ``*``: the newest run of any model."""
    run, job = _find(ctx, ref.strip())
    answer: dict[str, Any] = {
        "job_id": job.id,
        "state": job.state,
        "model": job.model,
        "version": None,
        "metric": job.spec.get("metric"),
        "trials": [],
    }
    result = job.result or {}
    if job.state == "succeeded":
        answer.update(version=result.get("version"), metric=result.get("metric"))
        rows = list(result.get("leaderboard") or [])
        winner = result.get("version")
    elif job.finished:
        raise DataError(
            f"AutoML job {job.id} {job.state} ({(job.error or {}).get('message', 'no message')})"
            "; its trials were not kept: run the search again",
            detail={"job_id": job.id, "state": job.state},
        )
    else:
        rows = _live(ctx, run, job)
        winner = None
    answer["trials"] = [_trial(r, winner) for r in rows]
    return answer


def _find(ctx: ServerContext, ref: str) -> tuple[AutoMLRun, Job]:
    if not ref:
        raise InvalidSpec("name an AutoML job id or a model, e.g. | kepler leaderboard pump")
    if ref == ANY:
        for run in ctx.automl_runs.of_model(None, limit=1):
            return run, ctx.jobs.get(run.job_id)
        raise JobNotFound("no AutoML run yet: | kepler automl ... into <model> makes one")
    if JOB_ID.fullmatch(ref):
        by_id = ctx.automl_runs.get(ref)
        if by_id is not None:
            return by_id, ctx.jobs.get(ref)
    model = ModelRef.parse(ref)
    version = model.version
    if model.alias is not None:
        version = ctx.models.resolve(model).version
    for run in ctx.automl_runs.of_model(model.name):
        try:
            job = ctx.jobs.get(run.job_id)
        except JobNotFound:
            continue
        if version is None or (job.result or {}).get("version") == version:
            return run, job
    which = f"{model.name} version {version}" if version is not None else model.name
    raise JobNotFound(
        f"no AutoML run made {which}; AutoML jobs are listed by | kepler jobs "
        "(kind=automl), and a model fitted without AutoML has no leaderboard",
        detail={"ref": ref},
    )


def _live(ctx: ServerContext, run: AutoMLRun, job: Job) -> list[dict[str, Any]]:
    """The trials finished so far, read from the running search's study."""
    from kepler.ml.automl import search

    metric = job.spec.get("metric")
    try:
        study = search.load_study(ctx.studies.get(run.study), job.id, seed=job.spec.get("seed"))
        return search.leaderboard(study, metric) if metric else []
    except Exception:
        return []  # not started yet, or already being finalised: no rows for now


def _trial(row: dict[str, Any], winner: Any) -> dict[str, Any]:
    params = row.get("params") or {}
    out: dict[str, Any] = {
        "rank": row.get("rank"),
        "trial": row.get("trial"),
        "algorithm": row.get("algorithm"),
        "params": json.dumps(params, sort_keys=True, default=str),
        "score": row.get("score"),
        "fit_seconds": row.get("fit_seconds"),
        "latency_ms_per_row": row.get("latency_ms_per_row"),
        "model_mb": row.get("model_mb"),
        "status": "complete" if row.get("feasible", True) else "infeasible",
        "violations": list(row.get("violations") or []),
        "worker": row.get("worker"),
        "metrics": dict(row.get("metrics") or {}),
        "version": winner if row.get("rank") == 1 else None,
    }
    return out
