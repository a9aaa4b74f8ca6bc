"""``kepler monitor add|list|remove|run-now``: drift and live-metric monitors through the
bridge."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from kepler.cli._app import app
from kepler.cli._output import JsonOut, client, emit_json, kepler_errors
from kepler.cli._recurring import list_rows, run_now
from kepler.cli._wait import DEFAULT_TIMEOUT_S, Timeout

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


@monitor_app.command("list")
def monitor_list(json_out: JsonOut = False) -> None:
    """List monitors with their next and last runs."""
    with kepler_errors():
        frame = client().monitors()
    cols = ["name", "every", "model", "method", "label", "search", "next_run_at", "last_job_id"]
    list_rows(frame, cols, empty="no monitors", json_out=json_out)


@monitor_app.command("remove")
def monitor_remove(name: str) -> None:
    """Remove a monitor (its past runs stay in the jobs list)."""
    with kepler_errors():
        client().remove_monitor(name)
    typer.echo(f"removed monitor {name}")


@monitor_app.command("run-now")
def monitor_run_now(
    name: str,
    wait: Annotated[bool, typer.Option(help="wait for the run and print its result")] = False,
    timeout: Timeout = DEFAULT_TIMEOUT_S,
    json_out: JsonOut = False,
) -> None:
    """Queue one run of a monitor now; with --wait, wait --timeout seconds at most."""
    run_now(
        lambda c: c.run_monitor(name),
        wait=wait,
        timeout=timeout,
        json_out=json_out,
        describe=_describe,
    )


def _describe(res: dict[str, Any]) -> list[str]:
    drifted = ", ".join(res.get("drifted") or []) or "none"
    lines = [
        f"{res.get('rows', 0)} events against {res.get('model')}@{res.get('version')}: "
        f"drifted {drifted}; {res.get('sent', 0)} events sent via HEC"
    ]
    for key, value in (res.get("metrics") or {}).items():
        lines.append(f"  {key}: {value:g}" if isinstance(value, float) else f"  {key}: {value}")
    return lines + [f"  note: {note}" for note in res.get("notes") or []]
