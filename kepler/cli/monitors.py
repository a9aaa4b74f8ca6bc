"""``kepler monitor add|list|remove|run-now``: drift and live-metric monitors through the
bridge."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from kepler.cli._app import app
from kepler.cli._output import JsonOut, client, emit_json, kepler_errors
from kepler.cli._recurring import add_commands

PANEL = "Jobs and schedules"  # where `kepler --help` lists these commands

monitor_app = typer.Typer(
    help="Monitors: every N minutes, drift (and live metrics) of a search's events via HEC.",
    no_args_is_help=True,
)
app.add_typer(monitor_app, name="monitor", rich_help_panel=PANEL)


@monitor_app.command("add")
def monitor_add(
    name: Annotated[str, typer.Argument(help="a name for the monitor")],
    search: Annotated[str, typer.Option(help="the SPL search, e.g. 'index=sensors'")],
    model: Annotated[str, typer.Option(help="pump (latest), pump@3 or pump:production")],
    every: Annotated[str, typer.Option(help="interval: 30s, 5m, 1h, 1d")] = "1h",
    label: Annotated[
        str | None, typer.Option(help="the events' true-value field: live metrics too")
    ] = None,
    method: Annotated[
        str, typer.Option(help="auto, psi, ks, wasserstein, jensenshannon or chi2")
    ] = "auto",
    threshold: Annotated[
        float | None, typer.Option(help="drift threshold (default: the method's)")
    ] = None,
    index: Annotated[str | None, typer.Option(help="metrics index for the metric events")] = None,
    now: Annotated[bool, typer.Option("--now", help="first run at once")] = False,
    json_out: JsonOut = False,
) -> None:
    """Add a monitor (through the bridge at KEPLER_URL)."""
    with kepler_errors():
        mon = client().monitor(
            name,
            search,
            model,
            every=every,
            label=label,
            method=method,
            threshold=threshold,
            index=index,
            start_now=now,
        )
    if json_out:
        emit_json(mon)
        return
    extra = f", label {mon['label']}" if mon.get("label") else ""
    typer.echo(
        f"monitor {mon['name']}: every {mon['every']}, model {mon['model']}, "
        f"method {mon['method']}{extra}"
    )
    _say_alert(
        mon.get("alert") or {},
        made="made in Splunk, disabled: enable it and add an "
        "alert action in Settings > Searches, reports, and alerts",
    )


def _say_alert(alert: dict[str, Any], *, made: str) -> None:
    """The monitor's saved search: done, or (on stderr) why not and what to do by hand."""
    if not alert:
        return
    if alert.get("done"):
        typer.echo(f"saved search {alert['name']} {made}")
        return
    typer.echo(f"warning: {alert.get('reason')}", err=True)
    if alert.get("how"):
        typer.echo(f"  {alert['how']}:" if alert.get("stanza") else f"  {alert['how']}", err=True)
    if alert.get("stanza"):
        typer.echo(alert["stanza"], err=True, nl=False)


def _describe(res: dict[str, Any]) -> list[str]:
    drifted = ", ".join(res.get("drifted") or []) or "none"
    lines = [
        f"{res.get('rows', 0)} events against {res.get('model')}@{res.get('version')}: "
        f"drifted {drifted}; {res.get('sent', 0)} events sent via HEC"
    ]
    for key, value in (res.get("metrics") or {}).items():
        lines.append(f"  {key}: {value:g}" if isinstance(value, float) else f"  {key}: {value}")
    return lines + [f"  note: {note}" for note in res.get("notes") or []]


add_commands(
    monitor_app,
    "monitor",
    columns=["name", "every", "model", "method", "label", "search", "next_run_at", "saved_search"],
    listing=lambda c: c.monitors(),
    remove=lambda c, name: c.remove_monitor(name),
    run=lambda c, name: c.run_monitor(name),
    describe=_describe,
    removed=lambda answer: _say_alert(answer.get("alert") or {}, made="removed from Splunk"),
)
