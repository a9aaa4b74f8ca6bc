"""The steps every recurring run shares: firing it as a job (:func:`fire`) and searching
Splunk over its interval a page at a time (:func:`search_pages`).

Schedules (:mod:`kepler.server.jobs.score`, :mod:`kepler.server.jobs.retrain`) and monitors
(:mod:`kepler.server.jobs.monitor`) each freeze their own spec and consume the pages their
own way; what they hold is a page, never the whole interval.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from kepler.server.stores.jobs import Job
from kepler.server.stores.recurring import Recurring, RecurringStore

if TYPE_CHECKING:
    import pandas as pd

    from kepler.server.context import ServerContext
    from kepler.splunk.settings import SplunkSettings

PAGE_ROWS = 50_000  # rows a run holds at once


def base_spec(item: Recurring, *, trigger: str) -> dict[str, Any]:
    """What every run needs, frozen when it fires: the search, its window, the model."""
    earliest, latest = item.window
    return {
        "search": item.search,
        "earliest": earliest,
        "latest": latest,
        "model": item.model,
        "index": item.index,
        "trigger": trigger,
    }


def fire(
    ctx: ServerContext,
    store: RecurringStore[Any],
    item: Recurring,
    *,
    kind: str,
    spec: dict[str, Any],
    enqueue: Callable[[Any, str], None],
    user: str | None = None,
) -> Job:
    """Record a run of ``item`` as a ``kind`` job and queue it; a run the broker refused
    is recorded as failed, not left queued forever. The job's user is whoever ran it now
    (``user``), else the item itself (``<noun>:<name>``) for the beat's runs."""
    noun = store.noun
    job = ctx.jobs.create(kind, spec, model=item.model, user=user or f"{noun}:{item.name}")
    store.ran(item.id, job.id, job.created_at)
    try:
        enqueue(ctx.celery, job.id)
    except Exception as exc:
        ctx.jobs.fail(
            job.id,
            {
                "code": "internal",
                "status": 500,
                "message": f"the run of {noun} {item.name!r} could not be queued: the "
                f"broker did not take it ({type(exc).__name__}); check KEPLER_BROKER_URL",
            },
        )
        raise
    return job


def search_pages(
    ctx: ServerContext,
    job_id: str,
    spec: dict[str, Any],
    splunk: SplunkSettings,
    *,
    page_rows: int = PAGE_ROWS,
) -> Iterator[pd.DataFrame]:
    """The run's search over its frozen window, a typed page of at most ``page_rows`` rows
    at a time (the progress message says how far it got)."""
    from kepler.splunk.search import splunk_pages

    ctx.jobs.progress(job_id, 0.05, f"searching Splunk ({spec['earliest']} to {spec['latest']})")
    yield from splunk_pages(
        spec["search"],
        earliest=spec["earliest"],
        latest=spec["latest"],
        settings=splunk,
        page_rows=page_rows,
    )


def search_frame(
    ctx: ServerContext, job_id: str, spec: dict[str, Any], splunk: SplunkSettings
) -> pd.DataFrame:
    """The run's search over its frozen window as one frame, typed over all its rows: for
    a run that needs every row at once (a fit)."""
    from kepler.splunk.search import from_splunk

    ctx.jobs.progress(job_id, 0.05, f"searching Splunk ({spec['earliest']} to {spec['latest']})")
    frame: pd.DataFrame = from_splunk(
        spec["search"],
        earliest=spec["earliest"],
        latest=spec["latest"],
        settings=splunk,
        progress=False,
    )
    return frame
