"""AutoML jobs: accept (bridge), start, run trials in any worker, finalise.

* :func:`submit_automl` (bridge) checks everything that can be checked from the dataset's
  manifest and target column, then queues ``kepler.automl``.
* :func:`start_automl` (a worker) creates the Optuna study and MLflow parent run, records
  the deadline, and enqueues ``parallel`` trial tasks: the lanes.
* :func:`run_automl_trial` (any worker) runs a trial (several, when they are quick);
  while budget and ``max_trials`` allow it enqueues its lane's next task, else it closes
  the lane. Whoever closes the
  last lane finalises: leaderboard, child runs, the winner refitted on every training row,
  scored on the holdout and registered as a new version of the model.

A run with a ``seed`` goes in rounds instead, so that it repeats however many workers
take part and in whatever order they finish: a round's trials are drawn at once
(:func:`kepler.ml.automl.search.plan_round`) and cut into one run per lane; the worker
that finishes a round's last trial draws the next round, queues every lane's run but one
and evaluates that one itself; when the budget or ``max_trials`` is spent it finalises
instead. Lanes wait for a round's slowest run: the price of repeatability, paid only when
a seed is given.

Enqueuing stops once the budget is spent; a trial under way stops after its current
validation fold, so a run ends at most one fold after its budget (then refits the winner).
"""

from __future__ import annotations

import logging
import socket
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Protocol

from kepler.core.automl import ENGINE_TASK, AutoMLSpec
from kepler.core.errors import DataError, KeplerError
from kepler.server.automl_runs import AutoMLRuns, Round
from kepler.server.jobs import FINISHED, Job, JobStore, internal_error
from kepler.server.queue import AUTOML_FINALISE_TASK, AUTOML_TASK
from kepler.server.settings import ServerSettings

log = logging.getLogger(__name__)

# A run past its deadline with no trial started or told for this long (or twice its
# longest trial, if longer) lost the tasks that would finalise it: the beat has it
# finalised with the trials that finished.
STALE_AFTER_S = 300.0


class Enqueue(Protocol):
    """Queue a trial task: lane ``lane`` of job ``job_id``; ``trial``: a seeded round's
    drawn trial to evaluate (None: the lane asks for its own)."""

    def __call__(self, job_id: str, lane: int, trial: int | None = None) -> None: ...


TASK_SLICE_S = 2.0  # a trial task keeps running quick trials for about this long
ROUND_GROWTH = 4  # a seeded round holds up to this many trials per lane

# Prepared data per process, by job: every trial of a run in this process reuses it.
_prepared: OrderedDict[str, Any] = OrderedDict()
_PREPARED_KEEP = 2


def _spec(job: Job) -> AutoMLSpec:
    return AutoMLSpec.from_dict(job.spec)


def check_automl(spec: AutoMLSpec, dataset_id: str, datasets: Any) -> AutoMLSpec:
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
    _pool(spec, ENGINE_TASK[task])
    return AutoMLSpec.from_dict({**spec.to_dict(), "task": task, "metric": metric})


def _pool(spec: AutoMLSpec, engine_task: str) -> list[Any]:
    """The candidate algorithms the spec allows for ``engine_task`` (errors say why none)."""
    from kepler.ml.automl.space import candidates

    return candidates(
        engine_task,
        algorithms=spec.algorithms,
        interpretable=spec.interpretable,
        robust=spec.robust,
    )


def check_candidates(spec: AutoMLSpec) -> None:
    """What can be checked without data (the SDK's and Splunk's dry run)."""
    tasks = [spec.task] if spec.task else ["classification", "regression"]
    errors = []
    for task in tasks:
        try:
            _pool(spec, ENGINE_TASK[task])
        except KeplerError as exc:
            errors.append(exc)
    if len(errors) == len(tasks):
        raise errors[0]


def submit_automl(
    spec: AutoMLSpec,
    dataset_id: str,
    *,
    datasets: Any,
    jobs: JobStore,
    celery: Any,
    user: str | None = None,
) -> Job:
    settled = check_automl(spec, dataset_id, datasets)
    job = jobs.create(
        "automl", settled.to_dict(), model=spec.into, dataset_id=dataset_id, user=user
    )
    celery.send_task(AUTOML_TASK, args=[dataset_id, job.id], task_id=job.id)
    return job


def study_url(settings: ServerSettings, job_id: str) -> str:
    """Where the run's study lives: ``KEPLER_AUTOML_STORAGE`` (a database URL shared by
    every worker), else a journal file under the home for the embedded stack's SQLite
    (several processes writing one SQLite file through Optuna's RDB storage would lock)."""
    if settings.automl_storage:
        return settings.automl_storage
    if settings.database_url.startswith("sqlite"):
        return f"journal:{Path(settings.home) / 'automl' / f'{job_id}.journal'}"
    return settings.database_url


def start_automl(
    dataset_id: str, job_id: str, settings: ServerSettings, enqueue: Enqueue
) -> dict[str, Any]:
    from kepler.ml.automl import search, tracking
    from kepler.ml.automl.space import default_starts
    from kepler.server.fitting import model_store

    jobs = JobStore(settings.database_url)
    runs = AutoMLRuns(settings.database_url)
    job = jobs.get(job_id)
    spec = _spec(job)
    run = runs.get(job_id)
    if job.state in FINISHED or (run is not None and (run.finalised or spec.seed is None)):
        return {"state": job.state}  # a redelivered message: the run is under way
    if run is not None:  # redelivered, seeded: make sure round 0 was drawn and queued
        return _start_rounds(jobs, runs, run, job, spec, settings, enqueue)
    jobs.start(job_id, socket.gethostname())
    try:
        url = study_url(settings, job_id)
        assert spec.metric is not None
        pool = _pool(spec, ENGINE_TASK[spec.task or "classification"])
        search.create_study(search.storage(url), job_id, spec.metric, default_starts(pool))
        parent = tracking.start_parent(model_store(settings), spec.into or "", job_id, job.spec)
        run = runs.create(job_id, dataset_id, url, parent, spec.time_budget, spec.parallel)
    except KeplerError as exc:
        jobs.fail(job_id, exc.to_dict())
        return {"error": exc.to_dict()}
    jobs.progress(job_id, 0.01, f"searching for {spec.time_budget:g}s in {spec.parallel} lanes")
    if spec.seed is None:
        for lane in range(spec.parallel):
            enqueue(job_id, lane)
        return {"deadline": run.deadline}
    return _start_rounds(jobs, runs, run, job, spec, settings, enqueue)


def _start_rounds(
    jobs: JobStore,
    runs: AutoMLRuns,
    run: Any,
    job: Job,
    spec: AutoMLSpec,
    settings: ServerSettings,
    enqueue: Enqueue,
) -> dict[str, Any]:
    """Draw a seeded run's round 0 and queue one task per lane's run of it."""
    try:
        drawn = _next_round(job, spec, run, settings, runs, number=0, first=0, drawer=-1)
    except KeplerError as exc:
        _fail_once(jobs, runs, job.id, run.study, exc.to_dict())
        return {"error": exc.to_dict()}
    if drawn:
        for lane, part in enumerate(_slices(Round(0, drawn[0], len(drawn)), spec.parallel)):
            enqueue(job.id, lane, part.start)
    return {"deadline": run.deadline, "round": drawn}


def _round_size(spec: AutoMLSpec, number: int, first: int, deadline: float) -> int:
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


def _slices(current: Round, parallel: int) -> list[range]:
    """A round's trials cut into one contiguous run per lane (sizes differ by one at most)."""
    lanes = max(1, min(parallel, current.size))
    bounds = [current.first + i * current.size // lanes for i in range(lanes + 1)]
    return [range(bounds[i], bounds[i + 1]) for i in range(lanes)]


def _next_round(
    job: Job,
    spec: AutoMLSpec,
    run: Any,
    settings: ServerSettings,
    runs: AutoMLRuns,
    *,
    number: int,
    first: int,
    drawer: int,
) -> list[int] | None:
    """Decide round ``number`` of a seeded run as task ``drawer``: its trials' numbers,
    drawn ([]: the run is over), or None when another task decided it. A drawer that
    died half-way and was redelivered draws the trials still missing."""
    from kepler.ml.automl import search

    claimed = runs.claim_round(
        job.id, number, first, _round_size(spec, number, first, run.deadline), drawer
    )
    if claimed is None:
        return None
    if claimed.size == 0:
        return []
    store = search.storage(run.study)
    missing = claimed.first + claimed.size - search.asked(store, job.id)
    if missing <= 0:
        return list(claimed.trials)
    prepared = _load(run.dataset_id, job, settings)
    pool = _pool(spec, prepared.engine_task)
    drawn = search.plan_round(
        store,
        job.id,
        spec,
        pool,
        n_features=len(prepared.features),
        round_no=number,
        size=missing,
    )
    if drawn != list(claimed.trials)[-missing:]:  # only round drawers ask: never happens
        raise RuntimeError(f"round {number} drew trials {drawn}, not those of {claimed.trials}")
    return list(claimed.trials)


def _load(run_dataset: str, job: Job, settings: ServerSettings) -> Any:
    from kepler.ml.automl.data import prepare
    from kepler.server.fitting import dataset_store

    cached = _prepared.get(job.id)
    if cached is not None:
        return cached
    spec = _spec(job)
    frame = dataset_store(settings).read_frame(run_dataset)
    assert spec.task is not None and spec.metric is not None
    prepared = prepare(frame, spec, spec.task, spec.metric)
    _prepared[job.id] = prepared
    while len(_prepared) > _PREPARED_KEEP:
        _prepared.popitem(last=False)
    return prepared


def run_automl_trial(
    job_id: str,
    lane: int,
    settings: ServerSettings,
    enqueue: Enqueue,
    trial: int | None = None,
) -> dict[str, Any]:
    """One trial task: lane ``lane``'s own trials (:func:`_run_lane`) or, with ``trial``,
    the lane's run of a seeded round that begins there (:func:`_run_drawn`). A failure
    fails the job, once, whichever task meets it."""
    jobs = JobStore(settings.database_url)
    runs = AutoMLRuns(settings.database_url)
    run = runs.get(job_id)
    job = jobs.get(job_id)
    if run is None or run.finalised or job.state in FINISHED:
        return {"skipped": True}
    try:
        if trial is None:
            return _run_lane(jobs, runs, run, job, lane, settings, enqueue)
        return _run_drawn(jobs, runs, run, job, lane, trial, settings, enqueue)
    except KeplerError as exc:
        _fail_once(jobs, runs, job_id, run.study, exc.to_dict())
        return {"error": exc.to_dict()}
    except Exception:
        log.exception("automl job %s: a task of lane %s crashed", job_id, lane)
        _fail_once(jobs, runs, job_id, run.study, internal_error(job_id))
        raise


def _run_lane(
    jobs: JobStore,
    runs: AutoMLRuns,
    run: Any,
    job: Job,
    lane: int,
    settings: ServerSettings,
    enqueue: Enqueue,
) -> dict[str, Any]:
    """Trials of lane ``lane`` for about :data:`TASK_SLICE_S`, then the lane's next task
    or its end (the task that closes the last lane finalises).

    Several quick trials share one task so that dispatch through the broker does not
    dominate when a trial takes a fraction of a second; the study (and its seeded
    sampler) is reloaded before each, so a serial run stays repeatable however the
    trials fall into tasks.
    """
    from kepler.ml.automl import search

    job_id = job.id
    spec = _spec(job)
    deadline = run.deadline
    store = search.storage(run.study)
    task_start = time.time()
    ran = 0
    while (
        time.time() < deadline
        and (ran == 0 or time.time() - task_start < TASK_SLICE_S)
        and runs.claim_trial(job_id, spec.max_trials)
    ):
        prepared = _load(run.dataset_id, job, settings)
        pool = _pool(spec, prepared.engine_task)
        study = search.load_study(store, job_id, seed=spec.seed, lane=lane)
        search.run_trial(study, prepared, spec, pool, deadline=deadline)
        ran += 1
        _report(jobs, job_id, study, spec, run.started_at, deadline)
    now = runs.get(job_id)  # budget left and, with max_trials, trials left (read only)
    assert now is not None
    if time.time() < deadline and (spec.max_trials is None or now.trials_claimed < spec.max_trials):
        enqueue(job_id, lane)
        return {"lane": lane, "trials": ran, "next": True}
    if runs.close_lane(job_id) and runs.claim_finalise(job_id):
        return finalise_automl(job_id, settings)
    return {"lane": lane, "trials": ran, "next": False}


def _run_drawn(
    jobs: JobStore,
    runs: AutoMLRuns,
    run: Any,
    job: Job,
    lane: int,
    start: int,
    settings: ServerSettings,
    enqueue: Enqueue,
) -> dict[str, Any]:
    """Evaluate the lane's run of a seeded round, the one that begins at trial ``start``.
    Whoever finishes a round's last trial decides the next round: draws it, queues every
    lane's run but the first and goes on with that one here, or, with the budget or
    ``max_trials`` spent, finalises. A redelivered task skips the trials already told."""
    from kepler.ml.automl import search

    job_id = job.id
    spec = _spec(job)
    ran = 0
    store = search.storage(run.study)
    while True:
        current = runs.round_of(job_id, start)
        if current is None:
            raise RuntimeError(f"trial {start} belongs to no round of job {job_id}")
        part = next(p for p in _slices(current, spec.parallel) if start in p)
        prepared = _load(run.dataset_id, job, settings)
        study = search.load_study(store, job_id, seed=spec.seed, before=current.first)
        for number in part:
            ran += search.run_planned(study, number, prepared, spec, deadline=run.deadline)
            _report(jobs, job_id, study, spec, run.started_at, run.deadline)
        if not search.all_finished(study, current.trials):
            return {"lane": lane, "trials": ran, "next": False}  # others still at it
        drawn = _next_round(
            job,
            spec,
            run,
            settings,
            runs,
            number=current.number + 1,
            first=current.first + current.size,
            drawer=part.start,
        )
        if drawn is None:  # another worker decided the next round
            return {"lane": lane, "trials": ran, "next": False}
        if not drawn:
            break
        parts = _slices(Round(current.number + 1, drawn[0], len(drawn)), spec.parallel)
        for other, later in enumerate(parts[1:], start=1):
            enqueue(job_id, other, later.start)
        start = parts[0].start
    if runs.claim_finalise(job_id):
        return finalise_automl(job_id, settings)
    return {"lane": lane, "trials": ran, "next": False}


def _fail_once(
    jobs: JobStore, runs: AutoMLRuns, job_id: str, study: str, error: dict[str, Any]
) -> None:
    """Fail the job, once: whoever claims the finalising; its study goes with it."""
    if runs.claim_finalise(job_id):
        jobs.fail(job_id, error)
        _discard_study(study)


def _discard_study(url: str) -> None:
    """Remove a finished run's journal file (its trials live on in the job's result and
    in MLflow); a study in a database stays there."""
    from kepler.ml.automl import search

    search.discard_storage(url)


def _report(
    jobs: JobStore, job_id: str, study: Any, spec: AutoMLSpec, t0: float, deadline: float
) -> None:
    from kepler.ml.automl import search

    assert spec.metric is not None
    n = search.counts(study)
    rows = search.leaderboard(study, spec.metric)
    best = next((r for r in rows if r["feasible"]), None)
    done = n["complete"] + n["pruned"] + n["failed"]
    text = f"{done} trials done ({n['pruned']} pruned)"
    if best is not None:
        text += f", best so far {spec.metric}={best['score']:.4g} ({best['algorithm']})"
    fraction = 0.05 + 0.85 * min(1.0, (time.time() - t0) / max(deadline - t0, 1e-9))
    if spec.max_trials:
        fraction = max(fraction, 0.05 + 0.85 * min(1.0, done / spec.max_trials))
    jobs.progress(job_id, fraction, text)


def finalise_automl(job_id: str, settings: ServerSettings) -> dict[str, Any]:
    """Leaderboard, child runs, the winner refitted and registered; the job's result."""
    from kepler.ml.automl import search, tracking
    from kepler.server.fitting import dataset_store, model_store

    jobs = JobStore(settings.database_url)
    runs = AutoMLRuns(settings.database_url)
    run = runs.get(job_id)
    job = jobs.get(job_id)
    assert run is not None
    spec = _spec(job)
    assert spec.metric is not None and spec.into is not None
    store = model_store(settings)
    study = search.load_study(search.storage(run.study), job_id, seed=spec.seed)
    search.fail_unfinished(study, "its worker stopped before the trial finished")
    rows = search.leaderboard(study, spec.metric)
    n = search.counts(study)
    try:
        if run.parent_run_id:
            tracking.log_trials(store, run.parent_run_id, rows)
        best = search.winner(rows, spec)
        jobs.progress(job_id, 0.92, f"refitting {best['algorithm']} on every training row")
        prepared = _load(run.dataset_id, job, settings)
        trained = search.refit(best, prepared, spec)
        manifest = dataset_store(settings).manifest(run.dataset_id)
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
            _discard_study(run.study)
            raise
        jobs.fail(job_id, exc.to_dict())
        _discard_study(run.study)
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
    _discard_study(run.study)
    return result


def _quiet_since(run: Any) -> tuple[float, float]:
    """When the run last showed life (its deadline, or the latest trial start or end)
    and how long it may stay quiet: :data:`STALE_AFTER_S`, or twice its longest trial."""
    from kepler.ml.automl import search

    last, longest = run.deadline, 0.0
    for t in search.trials(search.storage(run.study), run.job_id):
        for when in (t.datetime_start, t.datetime_complete):
            if when is not None:
                last = max(last, when.timestamp())
        if t.datetime_start and t.datetime_complete:
            longest = max(longest, (t.datetime_complete - t.datetime_start).total_seconds())
    return last, max(STALE_AFTER_S, 2 * longest)


def stale(run: Any, now: float) -> bool:
    if run.finalised:
        return False
    last, grace = _quiet_since(run)
    return now - last > grace


def sweep(now: float, settings: ServerSettings, celery: Any) -> list[str]:
    """The beat's check: queue the finalising of every stale run (its trial tasks were
    lost for good: a worker gone without redelivery, a broker that dropped a message).
    Returns their job ids."""
    runs = AutoMLRuns(settings.database_url)
    queued = []
    for run in runs.overdue(now - STALE_AFTER_S):
        try:
            if stale(run, now):
                celery.send_task(AUTOML_FINALISE_TASK, args=[run.job_id])
                queued.append(run.job_id)
        except Exception:  # one unreadable study must not stop the others
            log.exception("automl job %s: could not check whether it is stale", run.job_id)
    return queued


def finalise_stale(job_id: str, settings: ServerSettings) -> dict[str, Any]:
    """Finalise a run found stale (checked again: it may have moved since): leaderboard,
    winner and registration from the trials that finished; trials left running are
    marked failed with the reason."""
    runs = AutoMLRuns(settings.database_url)
    run = runs.get(job_id)
    if run is None or not stale(run, time.time()):
        return {"skipped": True}
    if JobStore(settings.database_url).get(job_id).state in FINISHED:
        runs.claim_finalise(job_id)  # ended some other way: nothing to finalise, stop looking
        return {"skipped": True}
    if not runs.claim_finalise(job_id):
        return {"skipped": True}
    log.warning("automl job %s: no trial for too long after its deadline; finalising", job_id)
    return finalise_automl(job_id, settings)
