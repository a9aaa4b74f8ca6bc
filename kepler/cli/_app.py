"""The root ``kepler`` Typer app, and ``--version``; each verb family adds itself to it."""

from __future__ import annotations

from typing import Annotated

import typer

from kepler._version import __version__

PANEL = "Check"  # where `kepler --help` lists these commands

app = typer.Typer(
    help="Kepler: train, version and serve models on Splunk data.",
    no_args_is_help=True,
    # `kepler --install-completion` installs completion for the current shell.
    add_completion=True,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print Kepler's version."
        ),
    ] = False,
) -> None:
    """Kepler: train, version and serve models on Splunk data."""


@app.command("version", rich_help_panel=PANEL)
def version_command() -> None:
    """Print Kepler's version."""
    typer.echo(__version__)
