"""``kepler schedule add|list|remove|run-now``: scheduled scoring through the bridge."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from kepler.cli._app import app
from kepler.cli._output import JsonOut, client, emit_json, kepler_errors
from kepler.cli._recurring import add_commands

PANEL = "Jobs and schedules"  # where `kepler --help` lists these commands

schedule_app = typer.Typer(
    help="Scheduled scoring: search Splunk every N minutes, score, write via HEC (or, with "
    "--retrain, fit a new version and promote it behind a gate).",
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
    retrain: Annotated[
        bool, typer.Option("--retrain", help="fit a new version each interval instead of scoring")
    ] = False,
    gate: Annotated[
        str | None,
        typer.Option(help='with --retrain: when to promote, e.g. "f1>=production.f1-0.01"'),
    ] = None,
    alias: Annotated[
        str | None, typer.Option(help="with --retrain: the alias a passing version moves")
    ] = None,
    spec: Annotated[
        str | None,
        typer.Option(help="with --retrain: a fit line (default: the model's version's spec)"),
    ] = None,
    json_out: JsonOut = False,
) -> None:
    """Add a schedule (through the bridge at KEPLER_URL).

    With --retrain, each run fits a new version on the interval's events and moves --alias
    to it when it passes --gate."""
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
            **({"retrain": True, "gate": gate, "alias": alias, "spec": spec} if retrain else {}),
        )
    if json_out:
        emit_json(sched)
        return
    shadowed = f", shadow {sched['shadow']}" if sched.get("shadow") else ""
    typer.echo(
        f"schedule {sched['name']}: every {sched['every']}, model {sched['model']}{shadowed}"
    )
    if sched.get("retrain"):
        typer.echo(
            f"  retrains; moves {sched['alias']} when it passes: {sched['gate'] or 'always'}"
        )


def _describe(res: dict[str, Any]) -> list[str]:
    if "decision" in res:  # a retraining run
        moved = "promoted to" if res.get("promoted") else "did not move"
        lines = [
            f"fitted {res.get('model')}@{res.get('version')} on {res.get('rows', 0)} rows: "
            f"{moved} {res.get('alias')} ({res.get('decision')})"
        ]
        return lines + [f"  {why}" for why in res.get("reasons") or []]
    return [
        f"scored {res.get('rows', 0)} rows with {res.get('model')}@{res.get('version')}"
        f", {res.get('sent', 0)} events sent via HEC"
    ]


add_commands(
    schedule_app,
    "schedule",
    columns=["name", "every", "model", "search", "next_run_at", "last_run_at", "last_job_id"],
    listing=lambda c: c.schedules(),
    remove=lambda c, name: c.unschedule(name),
    run=lambda c, name: c.run_schedule(name),
    describe=_describe,
)
