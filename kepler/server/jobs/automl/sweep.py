"""The beat's watch over AutoML runs that lost their tasks (a worker gone without
redelivery, a broker that dropped a message): such a run is finalised with the trials
that finished (:func:`sweep`, then :func:`finalise_stale` in a worker)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from kepler.server.jobs.automl.finalise import finalise_automl
from kepler.server.queue import enqueue_finalise
from kepler.server.stores.automl_runs import AutoMLRun
from kepler.server.stores.jobs import FINISHED

if TYPE_CHECKING:
    from kepler.ml.automl.search import Storages
    from kepler.server.context import ServerContext

log = logging.getLogger("kepler.server.jobs.automl")

# A run past its deadline with no trial started or told for this long (or twice its
# longest trial, if longer) lost the tasks that would finalise it: the beat has it
# finalised with the trials that finished.
STALE_AFTER_S = 300.0


def quiet_since(run: AutoMLRun, studies: Storages) -> tuple[float, float]:
    """When the run last showed life (its deadline, or the latest trial start or end)
    and how long it may stay quiet: :data:`STALE_AFTER_S`, or twice its longest trial."""
    from kepler.ml.automl import search

    last, longest = run.deadline, 0.0
    for t in search.trials(studies.get(run.study), run.job_id):
        for when in (t.datetime_start, t.datetime_complete):
            if when is not None:
                last = max(last, when.timestamp())
        if t.datetime_start and t.datetime_complete:
            longest = max(longest, (t.datetime_complete - t.datetime_start).total_seconds())
    return last, max(STALE_AFTER_S, 2 * longest)


def stale(run: AutoMLRun, now: float, studies: Storages) -> bool:
    if run.finalised:
        return False
    last, grace = quiet_since(run, studies)
    return now - last > grace


def sweep(ctx: ServerContext, now: float) -> list[str]:
    """The beat's check: queue the finalising of every stale run (its trial tasks were
    lost for good: a worker gone without redelivery, a broker that dropped a message).
    Returns their job ids."""
    runs = ctx.automl_runs
    queued = []
    for run in runs.overdue(now - STALE_AFTER_S):
        try:
            if stale(run, now, ctx.studies):
                enqueue_finalise(ctx.celery, run.job_id)
                queued.append(run.job_id)
        except Exception:  # one unreadable study must not stop the others
            log.exception("automl job %s: could not check whether it is stale", run.job_id)
    return queued


def finalise_stale(ctx: ServerContext, job_id: str) -> dict[str, Any]:
    """Finalise a run found stale (checked again: it may have moved since): leaderboard,
    winner and registration from the trials that finished; trials left running are
    marked failed with the reason."""
    runs = ctx.automl_runs
    run = runs.get(job_id)
    if run is None or not stale(run, time.time(), ctx.studies):
        return {"skipped": True}
    if ctx.jobs.get(job_id).state in FINISHED:
        runs.claim_finalise(job_id)  # ended some other way: nothing to finalise, stop looking
        return {"skipped": True}
    if not runs.claim_finalise(job_id):
        return {"skipped": True}
    log.warning("automl job %s: no trial for too long after its deadline; finalising", job_id)
    return finalise_automl(ctx, job_id)
