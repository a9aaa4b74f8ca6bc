"""What ``kepler schedule`` and ``kepler monitor`` share: listing rows with their slots,
and queueing one run now (optionally waiting for it)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import typer

from kepler.cli._output import client, emit_json, fail, kepler_errors, table
from kepler.cli._wait import wait_for_job


def list_rows(frame: Any, columns: list[str], *, empty: str, json_out: bool) -> None:
    """The rows of ``frame`` (schedules or monitors) as a table, times as local clock."""
    rows = frame.to_dict("records")
    if json_out:
        emit_json(rows)
        return
    for row in rows:
        for col in ("next_run_at", "last_run_at"):
            v = row.get(col)
            row[col] = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(v)) if v == v and v else ""
    table(rows, columns, empty=empty)


def run_now(
    start: Callable[[Any], dict[str, Any]],
    *,
    wait: bool,
    timeout: float,
    json_out: bool,
    describe: Callable[[dict[str, Any]], list[str]],
) -> None:
    """Queue one run (``start(client)`` answers its job); with ``wait``, wait ``timeout``
    seconds at most and print ``describe(result)``'s lines."""
    from kepler.core.wire import JobView

    c = client()
    with kepler_errors():
        job = JobView.from_dict(start(c))
        if not json_out:
            typer.echo(f"queued job {job.id}")
        if wait:
            job = wait_for_job(c, job.id, timeout)
    if json_out:
        emit_json(job.to_dict())
    if not wait:
        return
    if not job.succeeded:
        fail(f"job {job.id} {job.state}: {(job.error or {}).get('message', 'no message')}")
    if not json_out:
        for line in describe(job.outcome):
            typer.echo(line)
