"""``kepler jobs`` and ``kepler job show|cancel``: fits, AutoML searches, applies, runs."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from kepler.cli._app import app
from kepler.cli._output import (
    JsonOut,
    age,
    client,
    emit_json,
    fail,
    fields,
    kepler_errors,
    style,
    table,
)
from kepler.cli._wait import DEFAULT_TIMEOUT_S, Timeout, wait_for_job

PANEL = "Jobs and schedules"  # where `kepler --help` lists these commands

STATES = ("queued", "running", "succeeded", "failed", "cancelled")
# The keys of each job in `kepler jobs --json`, in this order in the table too.
JOB_KEYS = ("id", "state", "kind", "model", "user", "progress", "message", "created_at", "age_s")
STATE_COLOURS = {"succeeded": "green", "failed": "red", "cancelled": "yellow", "running": "cyan"}

job_app = typer.Typer(
    help="Jobs: fits, AutoML searches, applies, scheduled runs.", no_args_is_help=True
)
app.add_typer(job_app, name="job", rich_help_panel=PANEL)

Limit = Annotated[int, typer.Option(help="the newest N jobs", min=1, max=1000)]
State = Annotated[
    str | None, typer.Option("--state", help=f"only jobs in this state: {', '.join(STATES)}")
]


@app.command("jobs", rich_help_panel=PANEL)
def jobs(state: State = None, limit: Limit = 20, json_out: JsonOut = False) -> None:
    """List recent jobs: state, kind, model, user, progress, age."""
    if state is not None and state not in STATES:
        fail(f"--state {state!r} is not a job state; use one of {', '.join(STATES)}", code=2)
    with kepler_errors():
        frame = client().jobs(limit, state=state)
    rows = [_row(r) for r in frame.to_dict("records")]
    if json_out:
        emit_json(rows)
        return
    for r in rows:
        r["progress"] = f"{round(100 * float(r['progress'] or 0))}%"
        r["age"] = age(r["created_at"])
    cols = ["id", "state", "kind", "model", "user", "progress", "age", "message"]
    table(rows, cols, empty="no jobs", colours={"state": STATE_COLOURS})


@job_app.command("list", hidden=True)
def job_list(state: State = None, limit: Limit = 20, json_out: JsonOut = False) -> None:
    """The same as `kepler jobs`."""
    jobs(state, limit, json_out)


@job_app.command("show")
def job_show(
    job_id: Annotated[str, typer.Argument(help="the job's id (kepler jobs)")],
    wait: Annotated[bool, typer.Option("--wait", help="wait until the job finishes")] = False,
    timeout: Timeout = DEFAULT_TIMEOUT_S,
    json_out: JsonOut = False,
) -> None:
    """One job: its state, progress, result or error. With --wait, wait for it to finish
    (--timeout seconds at most); exit 1 unless it succeeded."""
    from kepler.core.wire import JobView

    c = client()
    with kepler_errors():
        job = wait_for_job(c, job_id, timeout) if wait else JobView.from_dict(c.job(job_id))
    if json_out:
        emit_json(job.to_dict())
    else:
        pairs: list[tuple[str, Any]] = [
            ("id", job.id),
            ("kind", job.kind),
            ("state", style(job.state, STATE_COLOURS.get(job.state, "white"))),
            ("progress", f"{job.percent}%"),
            ("message", job.message),
            ("model", job.model),
            ("user", job.user),
            ("worker", job.worker),
            ("age", age(job.created_at)),
            ("duration_s", job.duration_s),
        ]
        res = job.outcome
        shown = ("model", "version", "rows", "drifted", "metrics", "notes")  # notes: a monitor run
        pairs += [(k, res[k]) for k in shown if k in res]
        pairs = [(k, v) for k, v in dict(pairs).items()]
        if job.error:
            pairs.append(("error", job.error.get("message")))
        fields(pairs)
    if wait and not job.succeeded:
        fail(f"job {job.id} {job.state}: {(job.error or {}).get('message', 'no message')}")


@job_app.command("cancel")
def job_cancel(
    job_id: Annotated[str, typer.Argument(help="the job's id (kepler jobs)")],
    json_out: JsonOut = False,
) -> None:
    """Cancel a queued or running job (its worker stops it within seconds)."""
    with kepler_errors():
        job = client().cancel(job_id)
    if json_out:
        emit_json(job)
        return
    typer.echo(f"job {job['id']}: {job['state']} ({job['message']})")


def _row(job: dict[str, Any]) -> dict[str, Any]:
    out = {k: job.get(k) for k in JOB_KEYS if k != "age_s"}
    out["progress"] = float(out["progress"] or 0)
    created = out["created_at"] = _epoch(out["created_at"])
    out["age_s"] = round(time.time() - created, 3) if created is not None else None
    return out


def _epoch(value: Any) -> float | None:
    """Epoch seconds from what ``kp.jobs()`` holds: a UTC datetime (NaT: none) or seconds;
    ``--json`` keeps the bridge's epoch seconds."""
    if value is None or value != value:  # None, NaN or NaT
        return None
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    return float(value)
