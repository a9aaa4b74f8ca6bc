"""What ``kepler schedule`` and ``kepler monitor`` share: ``list`` (rows with their slots),
``remove`` and ``run-now`` (queue one run, optionally wait for it), made for each by
:func:`add_commands`; each declares its own ``add``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated, Any

import typer

from kepler.cli._output import JsonOut, client, emit_json, fail, kepler_errors, table
from kepler.cli._wait import DEFAULT_TIMEOUT_S, Timeout, wait_for_job

Describe = Callable[[dict[str, Any]], list[str]]


def add_commands(
    app: typer.Typer,
    noun: str,
    *,
    columns: list[str],
    listing: Callable[[Any], Any],
    remove: Callable[[Any, str], Any],
    run: Callable[[Any, str], dict[str, Any]],
    describe: Describe,
    removed: Callable[[Any], None] | None = None,
) -> None:
    """``list``, ``remove`` and ``run-now`` for ``noun`` ("schedule"): ``listing(client)``
    answers the rows as a frame, ``remove(client, name)`` removes one, ``run(client,
    name)`` queues a run and answers its job; ``describe(result)`` says what a run did;
    ``removed(answer)``, when given, tells what else the removal did."""

    @app.command("list", help=f"List {noun}s with their next and last runs.")
    def list_all(json_out: JsonOut = False) -> None:
        with kepler_errors():
            frame = listing(client())
        list_rows(frame, columns, empty=f"no {noun}s", json_out=json_out)

    @app.command("remove", help=f"Remove a {noun} (its past runs stay in the jobs list).")
    def remove_one(name: str) -> None:
        with kepler_errors():
            answer = remove(client(), name)
        typer.echo(f"removed {noun} {name}")
        if removed is not None:
            removed(answer if isinstance(answer, dict) else {})

    @app.command(
        "run-now",
        help=f"Queue one run of a {noun} now; with --wait, wait --timeout seconds at most.",
    )
    def run_one(
        name: str,
        wait: Annotated[bool, typer.Option(help="wait for the run and print its result")] = False,
        timeout: Timeout = DEFAULT_TIMEOUT_S,
        json_out: JsonOut = False,
    ) -> None:
        run_now(
            lambda c: run(c, name), wait=wait, timeout=timeout, json_out=json_out, describe=describe
        )


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
    describe: Describe,
    removed: Callable[[Any], None] | None = None,
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
