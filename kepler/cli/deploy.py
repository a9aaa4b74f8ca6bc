"""``kepler deploy`` and ``kepler undeploy``: Google Cloud Run (extra ``deploy``)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from kepler.cli._app import app

PANEL = "Deploy"  # where `kepler --help` lists these commands

deploy_app = typer.Typer(
    help="Deploy to Google Cloud Run (settings: KEPLER_DEPLOY_*, see docs/deploy.md).",
    no_args_is_help=True,
)
app.add_typer(deploy_app, name="deploy", rich_help_panel=PANEL)

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


@app.command(rich_help_panel=PANEL)
def undeploy(
    model: Annotated[str, typer.Argument(help="name@version whose service to delete")],
    project: Project = None,
    region: Region = None,
    dry_run: DryRun = False,
) -> None:
    """Delete the Cloud Run service `kepler deploy model` created for a model version."""
    from kepler.deploy import undeploy_model as run

    _deploy(run, project, region, None, dry_run, model)
