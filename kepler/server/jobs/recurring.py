"""The steps every recurring run shares: freezing its spec, firing it as a job and running
it once (:class:`RunKind`), and searching Splunk over its interval a page at a time
(:func:`search_pages`) or, for a run that needs every row at once, as one frame
(:func:`search_frame`).

Schedules (:mod:`kepler.server.jobs.score`, :mod:`kepler.server.jobs.retrain`) and monitors
(:mod:`kepler.server.jobs.monitor`) each freeze their own spec and consume the pages their
own way; what they hold is a page, never the whole interval.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kepler.server.jobs.runner import run_once
from kepler.server.stores.jobs import Job
from kepler.server.stores.recurring import Recurring, RecurringStore

if TYPE_CHECKING:
    import pandas as pd

    from kepler.hec import HecSettings
    from kepler.server.context import ServerContext
    from kepler.splunk.settings import SplunkSettings


@dataclass(frozen=True)
class Run:
    """One run as its step sees it: the process's context, the job and its frozen spec,
    and where Splunk and HEC are."""

    ctx: ServerContext
    job_id: str
    spec: dict[str, Any]
    splunk: SplunkSettings
    hec: HecSettings


Step = Callable[[Run], dict[str, Any]]  # a run's body: what it did, the job's result

PAGE_ROWS = 50_000  # rows a run holds at once


@dataclass(frozen=True)
class RunKind:
    """One kind of recurring run: its job ``kind``, the ``noun`` of what fires it (the
    spec's ``<noun>`` and ``<noun>_id``, the job's user ``<noun>:<name>``), how it is
    queued, and ``own``, the fields of the row its spec adds to the shared ones."""

    kind: str
    noun: str
    what: str  # how messages name a run: "monitor run"
    enqueue: Callable[[Any, str], None]
    own: Callable[[Any], dict[str, Any]]
    step: Step

    def spec(self, item: Recurring, *, trigger: str) -> dict[str, Any]:
        """What a run needs, frozen when it fires: a run queued before its row was removed
        or changed still does what it was fired to do."""
        earliest, latest = item.window
        return {
            self.noun: item.name,
            f"{self.noun}_id": item.id,
            "search": item.search,
            "earliest": earliest,
            "latest": latest,
            "model": item.model,
            "index": item.index,
            "trigger": trigger,
            **self.own(item),
        }

    def fire(
        self,
        ctx: ServerContext,
        store: RecurringStore[Any],
        item: Recurring,
        *,
        trigger: str,
        user: str | None = None,
    ) -> Job:
        """Record a run of ``item`` as a job and queue it; a run the broker refused is
        recorded as failed, not left queued forever. The job's user is whoever ran it now
        (``user``), else the row itself (``<noun>:<name>``) for the beat's runs."""
        job = ctx.jobs.create(
            self.kind,
            self.spec(item, trigger=trigger),
            model=item.model,
            user=user or f"{self.noun}:{item.name}",
        )
        store.ran(item.id, job.id, job.created_at)
        try:
            self.enqueue(ctx.celery, job.id)
        except Exception as exc:
            ctx.jobs.fail(
                job.id,
                {
                    "code": "internal",
                    "status": 500,
                    "message": f"the run of {self.noun} {item.name!r} could not be queued: "
                    f"the broker did not take it ({type(exc).__name__}); check "
                    "KEPLER_BROKER_URL",
                },
            )
            raise
        return job

    def run(
        self,
        ctx: ServerContext,
        job_id: str,
        *,
        splunk: SplunkSettings | None = None,
        hec: HecSettings | None = None,
    ) -> dict[str, Any]:
        """The worker's side: run job ``job_id`` once with ``step``; ``splunk`` and ``hec``
        default to the process's settings (``KEPLER_SPLUNK_*``, ``KEPLER_HEC_*``)."""
        s = ctx.settings
        result, ran = run_once(
            ctx.jobs,
            job_id,
            lambda job: self.step(Run(ctx, job_id, job.spec, splunk or s.splunk, hec or s.hec)),
            telemetry=ctx.telemetry,
            what=self.what,
            limits=ctx.limits,
        )
        if ran:
            ctx.telemetry.flush()
        return result


def search_pages(run: Run, *, page_rows: int = PAGE_ROWS) -> Iterator[pd.DataFrame]:
    """The run's search over its frozen window, a typed page of at most ``page_rows`` rows
    at a time (the progress message says how far it got)."""
    from kepler.splunk.search import splunk_pages

    spec = _searching(run)
    yield from splunk_pages(
        spec["search"],
        earliest=spec["earliest"],
        latest=spec["latest"],
        settings=run.splunk,
        page_rows=page_rows,
    )


def search_frame(run: Run, max_rows: int, setting: str) -> pd.DataFrame:
    """The run's search over its frozen window as one frame, typed over all its rows: for
    a run that needs every row at once (a fit). More than ``max_rows`` rows (the value of
    ``setting``) fail the run before they fill the worker's memory."""
    from kepler.core.errors import DataError
    from kepler.splunk.search import from_splunk

    spec = _searching(run)
    try:
        frame: pd.DataFrame = from_splunk(
            spec["search"],
            earliest=spec["earliest"],
            latest=spec["latest"],
            settings=run.splunk,
            progress=False,
            max_rows=max_rows,
        )
    except DataError as exc:
        if "max_rows" not in exc.detail:
            raise
        raise DataError(
            f"the run's search returned more than {max_rows:,} rows in its window, the most "
            f"one run holds ({setting}); narrow the search or "
            "aggregate it, shorten the schedule's window, or raise the setting",
            detail={"max_rows": max_rows, "setting": setting},
        ) from None
    return frame


def _searching(run: Run) -> dict[str, Any]:
    spec = run.spec
    run.ctx.jobs.progress(
        run.job_id, 0.05, f"searching Splunk ({spec['earliest']} to {spec['latest']})"
    )
    return spec
