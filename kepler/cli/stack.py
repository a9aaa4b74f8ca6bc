"""The stack's parts: ``kepler up`` (the embedded stack), ``bridge``, ``worker``, ``beat``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kepler._version import __version__
from kepler.cli._app import app

PANEL = "Run the stack"  # where `kepler --help` lists these commands

if TYPE_CHECKING:
    from kepler.server.settings import ServerSettings

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


@app.command(rich_help_panel=PANEL)
def bridge(host: Host = None, port: Port = None) -> None:
    """Run the bridge (HTTPS with KEPLER_TLS_CERTFILE/KEPLER_TLS_KEYFILE)."""
    from kepler_bridge.serve import run_bridge

    run_bridge(_server_settings(host, port))


@app.command(rich_help_panel=PANEL)
def worker(
    concurrency: Annotated[int | None, typer.Option(help="parallel fits")] = None,
) -> None:
    """Run a Celery worker that trains models (broker from KEPLER_BROKER_URL)."""
    _server_settings()  # refuse bad settings (a placeholder token) before Celery starts
    from kepler_workers.main import run_worker

    run_worker(concurrency)


@app.command(rich_help_panel=PANEL)
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


@app.command(rich_help_panel=PANEL)
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
