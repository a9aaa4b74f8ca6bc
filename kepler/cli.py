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
    from pydantic import ValidationError

    from kepler.server.settings import ServerSettings

    overrides: dict[str, Any] = {"host": host, "port": port}
    try:
        return ServerSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        # One line per problem, never a traceback (nor the values: a token is one).
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            typer.echo(f"error: {where + ': ' if where else ''}{err['msg']}", err=True)
        raise typer.Exit(2) from None


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
    _server_settings()  # refuse bad settings (a placeholder token) before Celery starts
    from kepler_workers.main import run_worker

    run_worker(concurrency)


@app.command()
def beat(
    check: bool = typer.Option(
        False, "--check", help="Exit 0 if this host's beat ticked in the last 30 s, else 1."
    ),
) -> None:
    """Run the beat: fire due schedules onto the workers' queue (state in KEPLER_DATABASE_URL)."""
    import logging
    import threading

    from kepler.server.beat import healthy, run_beat

    if check:  # the container's health check
        if not healthy(_server_settings()):
            typer.echo("the beat has not ticked in the last 30 s", err=True)
            raise typer.Exit(1)
        return

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
    from kepler.core.wire import JobView

    client = _client()
    try:
        job = JobView.from_dict(client.run_schedule(name))
        typer.echo(f"queued job {job.id}")
        if wait:
            while not job.finished:
                time.sleep(0.5)
                job = JobView.from_dict(client.job(job.id))
            if not job.succeeded:
                _fail(RuntimeError((job.error or {}).get("message", "failed")))
            res = job.outcome
            typer.echo(
                f"scored {res.get('rows', 0)} rows with {res.get('model')}@{res.get('version')}"
                f", {res.get('sent', 0)} events sent via HEC"
            )
    except KeplerError as exc:
        _fail(exc)


job_app = typer.Typer(
    help="Jobs: fits, AutoML searches, applies, scheduled runs.", no_args_is_help=True
)
app.add_typer(job_app, name="job")


@job_app.command("list")
def job_list(
    limit: Annotated[int, typer.Option(help="the newest N jobs", min=1, max=1000)] = 20,
) -> None:
    """List the newest jobs with their state and progress."""
    from kepler.core.errors import KeplerError

    try:
        frame = _client().jobs(limit)
    except KeplerError as exc:
        _fail(exc)
    if frame.empty:
        typer.echo("no jobs")
        return
    frame["progress"] = [f"{round(100 * float(p or 0))}%" for p in frame["progress"]]
    cols = ["id", "kind", "state", "progress", "model", "user", "message"]
    typer.echo(frame[[c for c in cols if c in frame]].to_string(index=False))


@job_app.command("cancel")
def job_cancel(
    job_id: Annotated[str, typer.Argument(help="the job's id (kepler job list)")],
) -> None:
    """Cancel a queued or running job (its worker stops it within seconds)."""
    from kepler.core.errors import KeplerError

    try:
        job = _client().cancel(job_id)
    except KeplerError as exc:
        _fail(exc)
    typer.echo(f"job {job['id']}: {job['state']} ({job['message']})")


@app.command()
def up(host: Host = None, port: Port = None, workers: int = 1) -> None:
    """Run the embedded stack in the foreground: bridge, worker(s) and the MLflow store."""
    from kepler._home import USER_TOKEN_FILE, stack_url, token_path
    from kepler._stack import stop_processes
    from kepler_bridge.serve import resolve_token, resolve_user_token, run_bridge

    settings = _server_settings(host, port)
    resolve_token(settings)  # generated and kept now, so its location can be printed
    resolve_user_token(settings)
    env = dict(os.environ)
    env["KEPLER_HOME"] = str(settings.home)
    # SIGTERM (systemd, docker stop, kill) stops the stack as Ctrl+C does: the bridge
    # shuts down, then every child below (kepler._stack.stop_processes); exit status 0.
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    # Each child in a session of its own, so that its whole group (a worker's pool
    # processes too) can be killed when it does not stop in time.
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "kepler", "worker"], env=env, start_new_session=True
        )
        for _ in range(max(1, workers))
    ]
    procs.append(
        subprocess.Popen([sys.executable, "-m", "kepler", "beat"], env=env, start_new_session=True)
    )
    url = stack_url(settings.host, settings.port, tls=settings.tls)
    where = (
        "from KEPLER_TOKEN"
        if settings.token is not None
        else f"in {token_path(settings.home)} (mode 0600)"
    )
    typer.echo(f"Kepler {__version__} embedded stack")
    typer.echo(f"  bridge:  {url}")
    # No interactive docs page: every route but /health wants the token, which a browser
    # does not send; the OpenAPI document answers a client that does.
    typer.echo(f"  API:     {url}/openapi.json (with the token; docs/openapi.json in the repo)")
    typer.echo(f"  token:   {where}")
    user_where = (
        "from KEPLER_USER_TOKEN"
        if settings.user_token is not None
        else f"in {token_path(settings.home, USER_TOKEN_FILE)} (mode 0600)"
    )
    typer.echo(f"  user token (fit/apply, no deletions; Splunk's kepler_user): {user_where}")
    if not settings.tls and not _loopback(settings.host):
        typer.echo(
            f"  warning: plain HTTP on {settings.host}: Splunk's setup page accepts http:// "
            "only for localhost, 127.0.0.1 or [::1]; set KEPLER_TLS_CERTFILE and "
            "KEPLER_TLS_KEYFILE, or put a TLS proxy in front (docs/deploy.md)",
            err=True,
        )
    typer.echo(f"  MLflow:  {settings.tracking_uri}")
    typer.echo(
        f"           open its UI with: mlflow ui --backend-store-uri {settings.tracking_uri}"
    )
    typer.echo(f"  workers: {len(procs) - 1} (broker {settings.broker_url.split(':')[0]})")
    typer.echo("  beat:    scheduled scoring (`kepler schedule list`)")
    typer.echo("Press Ctrl+C to stop.")
    try:
        run_bridge(settings)
    except _Stopped:
        pass
    finally:
        # A second signal while the children stop must not cut the stop short.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        typer.echo("stopping the workers and the beat", err=True)
        stop_processes(procs, UP_STOP_TIMEOUT_S)


UP_STOP_TIMEOUT_S = 20.0  # what `kepler up` gives its children before it kills them


class _Stopped(Exception):
    """SIGTERM reached `kepler up` (raised by its handler, caught in `up`)."""


def _stop_on_sigterm(*_: object) -> None:
    # While uvicorn serves, its own handler takes SIGTERM and shuts the bridge down, then
    # raises the signal again once its handler is gone: this one ends `up` there (or at
    # once, before the bridge started), and `up`'s finally stops the children.
    raise _Stopped


def _loopback(host: str) -> bool:
    import ipaddress

    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name
        return False


deploy_app = typer.Typer(
    help="Deploy to Google Cloud Run (settings: KEPLER_DEPLOY_*, see docs/deploy.md).",
    no_args_is_help=True,
)
app.add_typer(deploy_app, name="deploy")

Project = Annotated[str | None, typer.Option(help="Google Cloud project (KEPLER_DEPLOY_PROJECT)")]
Region = Annotated[str | None, typer.Option(help="Cloud Run region (KEPLER_DEPLOY_REGION)")]
Image = Annotated[
    str | None, typer.Option(help="container image built from packaging/ (KEPLER_DEPLOY_IMAGE)")
]
DryRun = Annotated[
    bool,
    typer.Option(
        "--dry-run", help="print the resource as YAML for `gcloud run ... replace`; send nothing"
    ),
]


def _deploy(
    what: Any, project: str | None, region: str | None, image: str | None, dry_run: bool, *args: Any
) -> None:
    from kepler.core.errors import KeplerError

    try:
        from kepler.deploy.settings import DeploySettings

        overrides: dict[str, Any] = {"project": project, "region": region, "image": image}
        settings = DeploySettings(**{k: v for k, v in overrides.items() if v is not None})
        result = what(settings, *args, dry_run=dry_run)
    except KeplerError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    if isinstance(result, str):
        typer.echo(result, nl=False)
        return
    where = f" at {result.uri}" if result.uri else ""
    typer.echo(f"{result.action} {result.name}{where}")


@deploy_app.command("bridge")
def deploy_bridge(
    project: Project = None, region: Region = None, image: Image = None, dry_run: DryRun = False
) -> None:
    """Create or update the bridge's Cloud Run service."""
    from kepler.deploy import deploy_bridge as run

    _deploy(run, project, region, image, dry_run)


@deploy_app.command("workers")
def deploy_workers(
    project: Project = None, region: Region = None, image: Image = None, dry_run: DryRun = False
) -> None:
    """Create or update the Celery workers' Cloud Run worker pool."""
    from kepler.deploy import deploy_workers as run

    _deploy(run, project, region, image, dry_run)


@deploy_app.command("model")
def deploy_model(
    model: Annotated[str, typer.Argument(help="name or name@version (default: the latest)")],
    project: Project = None,
    region: Region = None,
    image: Image = None,
    dry_run: DryRun = False,
) -> None:
    """Create or update a serving service for one model version, sized from the model."""
    from kepler.deploy import deploy_model as run

    _deploy(run, project, region, image, dry_run, model)


@app.command()
def undeploy(
    model: Annotated[str, typer.Argument(help="name@version whose service to delete")],
    project: Project = None,
    region: Region = None,
    dry_run: DryRun = False,
) -> None:
    """Delete the Cloud Run service `kepler deploy model` created for a model version."""
    from kepler.deploy import undeploy_model as run

    _deploy(run, project, region, None, dry_run, model)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
