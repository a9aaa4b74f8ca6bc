"""Scheduled scoring jobs: fired by the beat or the bridge (:func:`fire`), run by a worker
(:func:`run_score`): search Splunk, score with the model, write scores via HEC.

The schedules themselves are :mod:`kepler.server.stores.schedules`. The job row holds a
snapshot of the schedule as it fired (search, time range, model reference, index), so a
run queued before a schedule was removed or changed still does what it was fired to do.
Each event carries ``kepler_job`` and ``kepler_row``: a run redelivered after a worker
died mid-send can be told apart in Splunk (``| dedup kepler_job kepler_row``).

Scoring and delivery are :mod:`kepler.server.scoring`'s two steps, as for every apply; the
model comes from the process's model cache (``ctx.cache``). A run owns its sender (its
counts are its own) and flushes it once, at its end.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from kepler.core.errors import HecRejected
from kepler.core.refs import ModelRef
from kepler.server.jobs import recurring
from kepler.server.jobs.recurring import Run, RunKind
from kepler.server.queue import enqueue_score
from kepler.server.scoring.shadow import Shadow, summarize
from kepler.server.stores.jobs import Job
from kepler.server.stores.schedules import Schedule

if TYPE_CHECKING:
    from kepler.server.context import ServerContext

log = logging.getLogger(__name__)

SCORE_KIND = "score"
SCORE_ROWS = 50_000  # rows scored and sent per piece


def _own(sched: Schedule) -> dict[str, Any]:
    """What a scoring run's spec holds beside every recurring run's."""
    return {"sourcetype": sched.sourcetype, "shadow": sched.shadow}


def fire(ctx: ServerContext, sched: Schedule, *, trigger: str, user: str | None = None) -> Job:
    """Record a run of ``sched`` as a job and queue it (a retraining schedule's run is a
    retrain job, :mod:`kepler.server.jobs.retrain`)."""
    if sched.retrain:
        from kepler.server.jobs.retrain import RETRAIN

        return RETRAIN.fire(ctx, ctx.schedules, sched, trigger=trigger, user=user)
    return SCORE.fire(ctx, ctx.schedules, sched, trigger=trigger, user=user)


def _score(run: Run) -> dict[str, Any]:
    from kepler.hec import HecSender
    from kepler.server.scoring import deliver

    ctx, job_id, spec, jobs = run.ctx, run.job_id, run.spec, run.ctx.jobs
    started = time.time()
    # The version is pinned before the search runs: one version scores the whole run.
    info, model = ctx.cache.fetch(ModelRef.parse(spec["model"]))
    result: dict[str, Any] = {
        "schedule": spec["schedule"],
        "model": info.name,
        "version": info.version,
        "rows": 0,
        "sent": 0,
        "rejected": 0,
        "spooled": 0,
    }
    base = {
        "kepler_model": info.name,
        "kepler_version": info.version,
        "kepler_schedule": spec["schedule"],
        "kepler_job": job_id,
    }
    shadow = None
    if spec.get("shadow"):  # a challenger scores every piece too: kepler:shadow events
        shadow = Shadow(
            ctx.cache,
            ctx.telemetry,
            (info.name, info.version),
            ModelRef.parse(str(spec["shadow"])),
            user=jobs.get(job_id).user,
            context={"mode": "schedule", "job": job_id, "schedule": spec["schedule"]},
        )
        shadow.pin()
    # HEC is checked before Splunk is searched: a run that could not deliver does not search.
    # The run has a sender of its own (its own disk-queue slot), so its counts are its own.
    with HecSender(run.hec) as hec:
        for piece in recurring.search_pages(run, page_rows=SCORE_ROWS):
            start = result["rows"]
            result["rows"] += len(piece)
            jobs.progress(
                job_id, 0.5, f"scoring rows {start:,} to {start + len(piece):,} (a page at a time)"
            )
            deliver(
                hec,
                _scored_rows(model, piece, {**base, "kepler_row": start}, shadow),
                index=spec.get("index"),
                sourcetype=spec.get("sourcetype"),
                source=f"kepler:schedule:{spec['schedule']}",
                host_field="host",
                default_time=started,  # a row without a time (or NaT): the run's start
                wait=False,  # the run's own sender is flushed once, below
            )
        report = hec.flush()
    result.update(
        sent=report.delivered,
        rejected=report.rejected,
        spooled=report.spooled,
        duration_s=round(time.time() - started, 3),
    )
    if report.last_error:
        result["hec_error"] = report.last_error
    if shadow is not None:
        result["shadow"] = summarize(shadow.events)
    if report.rejected:
        # Splunk refused data (an index the token may not write, a bad field): the run is
        # failed so that an alert on failed runs sees it; the counts stay in the error.
        raise HecRejected(
            f"HEC refused {report.rejected:,} of {result['rows']:,} score events "
            f"({report.last_error or 'no reason given'}); check the schedule's index and "
            "the HEC token's allowed indexes",
            detail={k: v for k, v in result.items() if k != "schedule"},
        )
    return result


def _scored_rows(
    model: Any, piece: Any, base: dict[str, Any], shadow: Shadow | None = None
) -> list[dict[str, Any]]:
    """The piece's rows (Splunk's ``_`` fields too: ``_time`` is the event's time), their
    scores, ``base`` and ``kepler_row`` (counted from ``base["kepler_row"]``); with
    ``shadow``, its challenger scores the piece too."""
    import pyarrow as pa

    from kepler.server.scoring import ScoreOptions, score

    meta = model[1]
    wanted = list(meta.features)
    if shadow is not None:  # the challenger may read fields the champion does not
        wanted += [f for f in shadow.features if f not in wanted]
    features = [c for c in wanted if c in piece.columns]
    table = pa.Table.from_pandas(piece[features], preserve_index=False)
    if not features:  # none of the model's fields came: every row is all missing
        table = pa.table({"_": pa.nulls(len(piece))}).drop_columns(["_"])
    scored = score(model, table, ScoreOptions(include_input=False), shadow=shadow).to_pandas()
    first = base["kepler_row"]
    return [
        {**row, **out, **base, "kepler_row": first + i}
        for i, (row, out) in enumerate(
            zip(piece.to_dict("records"), scored.to_dict("records"), strict=True)
        )
    ]


SCORE = RunKind(SCORE_KIND, "schedule", "scheduled job", enqueue_score, _own, step=_score)
# The worker's side: run job ``job_id`` (``splunk``, ``hec``: default, the process's settings).
run_score = SCORE.run
