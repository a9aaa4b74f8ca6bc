"""A seeded AutoML run goes in rounds, so that it repeats however many workers take part.

A round's trials are drawn at once (:func:`kepler.ml.automl.search.plan_round`) and cut
into one run per lane; the worker that finishes a round's last trial draws the next round,
queues every lane's run but one and evaluates that one itself; when the budget or
``max_trials`` is spent it finalises instead.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from kepler.core.automl import AutoMLSpec
from kepler.core.errors import KeplerError
from kepler.server.jobs.automl.common import fail_once, load, pool, report, spec_of
from kepler.server.jobs.automl.finalise import finalise_automl
from kepler.server.queue import enqueue_trial
from kepler.server.stores.automl_runs import AutoMLRun, Round
from kepler.server.stores.jobs import Job

if TYPE_CHECKING:
    from kepler.server.context import ServerContext

ROUND_GROWTH = 4  # a seeded round holds up to this many trials per lane


def start_rounds(ctx: ServerContext, run: AutoMLRun, job: Job, spec: AutoMLSpec) -> dict[str, Any]:
    """Draw a seeded run's round 0 and queue one task per lane's run of it."""
    try:
        drawn = next_round(ctx, job, spec, run, number=0, first=0, drawer=-1)
    except KeplerError as exc:
        fail_once(ctx, job.id, run.study, exc.to_dict())
        return {"error": exc.to_dict()}
    if drawn:
        for lane, part in enumerate(slices(Round(0, drawn[0], len(drawn)), spec.parallel)):
            enqueue_trial(ctx.celery, job.id, lane, part.start)
    return {"deadline": run.deadline, "round": drawn}


def round_size(spec: AutoMLSpec, number: int, first: int, deadline: float) -> int:
    """How many trials round ``number`` (from trial ``first``) holds; 0: the run is over.

    Round 0 gives each lane one trial; later rounds up to :data:`ROUND_GROWTH` each, a
    schedule fixed in advance (so a seeded run draws the same rounds every time) that
    spreads the broker's dispatch and the wait for a round's slowest lane over more
    trials once the sampler has something to learn from."""
    if time.time() >= deadline:
        return 0
    size = spec.parallel * min(number + 1, ROUND_GROWTH)
    if spec.max_trials is not None:
        size = min(size, spec.max_trials - first)
    return max(size, 0)


def slices(current: Round, parallel: int) -> list[range]:
    """A round's trials cut into one contiguous run per lane (sizes differ by one at most)."""
    lanes = max(1, min(parallel, current.size))
    bounds = [current.first + i * current.size // lanes for i in range(lanes + 1)]
    return [range(bounds[i], bounds[i + 1]) for i in range(lanes)]


def next_round(
    ctx: ServerContext,
    job: Job,
    spec: AutoMLSpec,
    run: AutoMLRun,
    *,
    number: int,
    first: int,
    drawer: int,
) -> list[int] | None:
    """Decide round ``number`` of a seeded run as task ``drawer``: its trials' numbers,
    drawn ([]: the run is over), or None when another task decided it. A drawer that
    died half-way and was redelivered draws the trials still missing."""
    from kepler.ml.automl import search

    claimed = ctx.automl_runs.claim_round(
        job.id, number, first, round_size(spec, number, first, run.deadline), drawer
    )
    if claimed is None:
        return None
    if claimed.size == 0:
        return []
    store = ctx.studies.get(run.study)
    missing = claimed.first + claimed.size - search.asked(store, job.id)
    if missing <= 0:
        return list(claimed.trials)
    prepared = load(ctx, run.dataset_id, job)
    candidates = pool(spec, prepared.engine_task)
    drawn = search.plan_round(
        store,
        job.id,
        spec,
        candidates,
        n_features=len(prepared.features),
        round_no=number,
        size=missing,
    )
    if drawn != list(claimed.trials)[-missing:]:  # only round drawers ask: never happens
        raise RuntimeError(f"round {number} drew trials {drawn}, not those of {claimed.trials}")
    return list(claimed.trials)


def run_drawn(
    ctx: ServerContext, run: AutoMLRun, job: Job, lane: int, start: int
) -> dict[str, Any]:
    """Evaluate the lane's run of a seeded round, the one that begins at trial ``start``.
    Whoever finishes a round's last trial decides the next round: draws it, queues every
    lane's run but the first and goes on with that one here, or, with the budget or
    ``max_trials`` spent, finalises. A redelivered task skips the trials already told."""
    from kepler.ml.automl import search

    job_id = job.id
    jobs, runs = ctx.jobs, ctx.automl_runs
    spec = spec_of(job)
    ran = 0
    store = ctx.studies.get(run.study)
    while True:
        current = runs.round_of(job_id, start)
        if current is None:
            raise RuntimeError(f"trial {start} belongs to no round of job {job_id}")
        part = next(p for p in slices(current, spec.parallel) if start in p)
        prepared = load(ctx, run.dataset_id, job)
        study = search.load_study(store, job_id, seed=spec.seed, before=current.first)
        for number in part:
            ran += search.run_planned(study, number, prepared, spec, deadline=run.deadline)
            report(jobs, job_id, study, spec, run.started_at, run.deadline)
        if not search.all_finished(study, current.trials):
            return {"lane": lane, "trials": ran, "next": False}  # others still at it
        drawn = next_round(
            ctx,
            job,
            spec,
            run,
            number=current.number + 1,
            first=current.first + current.size,
            drawer=part.start,
        )
        if drawn is None:  # another worker decided the next round
            return {"lane": lane, "trials": ran, "next": False}
        if not drawn:
            break
        parts = slices(Round(current.number + 1, drawn[0], len(drawn)), spec.parallel)
        for other, later in enumerate(parts[1:], start=1):
            enqueue_trial(ctx.celery, job_id, other, later.start)
        start = parts[0].start
    if runs.claim_finalise(job_id):
        return finalise_automl(ctx, job_id)
    return {"lane": lane, "trials": ran, "next": False}
