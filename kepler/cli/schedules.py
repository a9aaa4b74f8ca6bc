"""``kepler schedule add|list|remove|run-now``: scheduled scoring through the bridge."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from kepler.cli._app import app
from kepler.cli._output import JsonOut, client, emit_json, fail, kepler_errors, table
from kepler.cli._wait import DEFAULT_TIMEOUT_S, Timeout, wait_for_job

PANEL = "Jobs and schedules"  # where `kepler --help` lists these commands

schedule_app = typer.Typer(
    help="Scheduled scoring: search Splunk every N minutes, score, write via HEC.",
    no_args_is_help=True,
)
app.add_typer(schedule_app, name="schedule", rich_help_panel=PANEL)


@schedule_app.command("add")
def schedule_add(
    name: Annotated[str, typer.Argument(help="a name for the schedule")],
    search: Annotated[str, typer.Option(help="the SPL search, e.g. 'index=sensors'")],
    model: Annotated[str, typer.Option(help="pump (latest), pump@3 or pump:production")],
    every: Annotated[str, typer.Option(help="interval: 30s, 5m, 1h, 1d")] = "5m",
    earliest: Annotated[str | None, typer.Option(help="default: -<every>")] = None,
    latest: Annotated[str | None, typer.Option(help="default: now")] = None,
    index: Annotated[str | None, typer.Option(help="HEC index for the scores")] = None,
    sourcetype: Annotated[str | None, typer.Option(help="default: kepler:score")] = None,
    now: Annotated[bool, typer.Option("--now", help="first run at once")] = False,
    shadow: Annotated[
        str | None,
        typer.Option(help="a challenger (pump@5) scored alongside; agreement as kepler:shadow"),
    ] = None,
    json_out: JsonOut = False,
) -> None:
    """Add a schedule (through the bridge at KEPLER_URL)."""
    with kepler_errors():
        sched = client().schedule(
            name,
            search,
            model,
            every=every,
            earliest=earliest,
            latest=latest,
            index=index,
            sourcetype=sourcetype,
            start_now=now,
            shadow=shadow,
        )
    if json_out:
        emit_json(sched)
        return
    shadowed = f", shadow {sched['shadow']}" if sched.get("shadow") else ""
    typer.echo(
        f"schedule {sched['name']}: every {sched['every']}, model {sched['model']}{shadowed}"
    )


@schedule_app.command("list")
def schedule_list(json_out: JsonOut = False) -> None:
    """List schedules with their next and last runs."""
    with kepler_errors():
        frame = client().schedules()
    rows = frame.to_dict("records")
    if json_out:
        emit_json(rows)
        return
    for row in rows:
        for col in ("next_run_at", "last_run_at"):
            v = row.get(col)
            row[col] = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(v)) if v == v and v else ""
    cols = ["name", "every", "model", "search", "next_run_at", "last_run_at", "last_job_id"]
    table(rows, cols, empty="no schedules")


@schedule_app.command("remove")
def schedule_remove(name: str) -> None:
    """Remove a schedule (its past runs stay in the jobs list)."""
    with kepler_errors():
        client().unschedule(name)
    typer.echo(f"removed schedule {name}")


@schedule_app.command("run-now")
def schedule_run_now(
    name: str,
    wait: Annotated[bool, typer.Option(help="wait for the run and print its result")] = False,
    timeout: Timeout = DEFAULT_TIMEOUT_S,
    json_out: JsonOut = False,
) -> None:
    """Queue one run of a schedule now; with --wait, wait --timeout seconds at most."""
    from kepler.core.wire import JobView

    c = client()
    with kepler_errors():
        job = JobView.from_dict(c.run_schedule(name))
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
        res = job.outcome
        typer.echo(
            f"scored {res.get('rows', 0)} rows with {res.get('model')}@{res.get('version')}"
            f", {res.get('sent', 0)} events sent via HEC"
        )
