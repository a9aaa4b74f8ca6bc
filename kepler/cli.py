"""The ``kepler`` command: run the embedded stack, a bridge or a worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kepler._version import __version__

if TYPE_CHECKING:
    from kepler.server.settings import ServerSettings

app = typer.Typer(
    help="Kepler: train, version and serve models on Splunk data.",
    no_args_is_help=True,
    add_completion=False,
)

Port = Annotated[int | None, typer.Option(help="port to listen on (KEPLER_PORT)")]
Host = Annotated[str | None, typer.Option(help="address to listen on (KEPLER_HOST)")]


def _server_settings(host: str | None = None, port: int | None = None) -> ServerSettings:
    from kepler.server.settings import ServerSettings

    overrides: dict[str, Any] = {"host": host, "port": port}
    return ServerSettings(**{k: v for k, v in overrides.items() if v is not None})


@app.command()
def version() -> None:
    """Print Kepler's version."""
    typer.echo(__version__)


@app.command()
def bridge(host: Host = None, port: Port = None) -> None:
    """Run the bridge (HTTPS with KEPLER_TLS_CERTFILE/KEPLER_TLS_KEYFILE)."""
    from kepler_bridge.serve import run_bridge

    run_bridge(_server_settings(host, port))


@app.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(help="parallel fits")] = None,
) -> None:
    """Run a Celery worker that trains models (broker from KEPLER_BROKER_URL)."""
    from kepler_workers.main import run_worker

    run_worker(concurrency)


@app.command()
def beat() -> None:
    """Run the beat: fire due schedules onto the workers' queue (state in KEPLER_DATABASE_URL)."""
    import logging
    import threading

    from kepler.server.beat import run_beat

    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run_beat(_server_settings(), stop)


schedule_app = typer.Typer(
    help="Scheduled scoring: search Splunk every N minutes, score, write via HEC.",
    no_args_is_help=True,
)
app.add_typer(schedule_app, name="schedule")


def _client() -> Any:
    from kepler._client import Client

    return Client()


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(1)


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
) -> None:
    """Add a schedule (through the bridge at KEPLER_URL)."""
    from kepler.core.errors import KeplerError

    try:
        sched = _client().schedule(
            name,
            search,
            model,
            every=every,
            earliest=earliest,
            latest=latest,
            index=index,
            sourcetype=sourcetype,
            start_now=now,
        )
    except KeplerError as exc:
        _fail(exc)
    typer.echo(f"schedule {sched['name']}: every {sched['every']}, model {sched['model']}")


@schedule_app.command("list")
def schedule_list() -> None:
    """List schedules with their next and last runs."""
    from kepler.core.errors import KeplerError

    try:
        frame = _client().schedules()
    except KeplerError as exc:
        _fail(exc)
    if frame.empty:
        typer.echo("no schedules")
        return
    cols = ["name", "every", "model", "search", "next_run_at", "last_run_at", "last_job_id"]
    shown = frame[cols].copy()
    for col in ("next_run_at", "last_run_at"):
        shown[col] = [
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(v)) if v == v and v else ""
            for v in shown[col]
        ]
    typer.echo(shown.to_string(index=False))


@schedule_app.command("remove")
def schedule_remove(name: str) -> None:
    """Remove a schedule (its past runs stay in the jobs list)."""
    from kepler.core.errors import KeplerError

    try:
        _client().unschedule(name)
    except KeplerError as exc:
        _fail(exc)
    typer.echo(f"removed schedule {name}")


@schedule_app.command("run-now")
def schedule_run_now(
    name: str,
    wait: Annotated[bool, typer.Option(help="wait for the run and print its result")] = False,
) -> None:
    """Queue one run of a schedule now."""
    from kepler.core.errors import KeplerError

    client = _client()
    try:
        job = client.run_schedule(name)
        typer.echo(f"queued job {job['id']}")
        if wait:
            while client.job(job["id"])["state"] not in ("succeeded", "failed"):
                time.sleep(0.5)
            done = client.job(job["id"])
            if done["state"] == "failed":
                _fail(RuntimeError((done.get("error") or {}).get("message", "failed")))
            res = done.get("result") or {}
            typer.echo(
                f"scored {res.get('rows', 0)} rows with {res.get('model')}@{res.get('version')}"
                f", {res.get('sent', 0)} events sent via HEC"
            )
    except KeplerError as exc:
        _fail(exc)


@app.command()
def up(host: Host = None, port: Port = None, workers: int = 1) -> None:
    """Run the embedded stack in the foreground: bridge, worker(s) and the MLflow store."""
    from kepler._home import token_path
    from kepler_bridge.serve import resolve_token, run_bridge

    settings = _server_settings(host, port)
    resolve_token(settings)  # generated and kept now, so its location can be printed
    env = dict(os.environ)
    env["KEPLER_HOME"] = str(settings.home)
    procs = [
        subprocess.Popen([sys.executable, "-m", "kepler", "worker"], env=env)
        for _ in range(max(1, workers))
    ]
    procs.append(subprocess.Popen([sys.executable, "-m", "kepler", "beat"], env=env))
    scheme = "https" if settings.tls else "http"
    url = f"{scheme}://{settings.host}:{settings.port}"
    where = (
        "from KEPLER_TOKEN"
        if settings.token is not None
        else f"in {token_path(settings.home)} (mode 0600)"
    )
    typer.echo(f"Kepler {__version__} embedded stack")
    typer.echo(f"  bridge:  {url}   (API docs: {url}/docs)")
    typer.echo(f"  token:   {where}")
    typer.echo(f"  MLflow:  {settings.tracking_uri}")
    typer.echo(
        f"           open its UI with: mlflow ui --backend-store-uri {settings.tracking_uri}"
    )
    typer.echo(f"  workers: {len(procs) - 1} (broker {settings.broker_url.split(':')[0]})")
    typer.echo("  beat:    scheduled scoring (`kepler schedule list`)")
    typer.echo("Press Ctrl+C to stop.")
    try:
        run_bridge(settings)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.time() + 20
        for p in procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
