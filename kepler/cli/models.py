"""``kepler models`` and ``kepler model show|alias|unalias|delete``: the registry."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from kepler.cli._app import app
from kepler.cli._output import JsonOut, client, emit_json, fail, fields, kepler_errors, table

PANEL = "Models"  # where `kepler --help` lists these commands

# The keys of each model in `kepler models --json`.
MODEL_KEYS = ("name", "latest_version", "versions", "aliases", "algorithm", "task", "updated")

model_app = typer.Typer(
    help="One model: describe it, move its aliases, delete it.", no_args_is_help=True
)
app.add_typer(model_app, name="model", rich_help_panel=PANEL)

Ref = Annotated[str, typer.Argument(help="pump (latest), pump@3 or pump:production")]


@app.command("models", rich_help_panel=PANEL)
def models(json_out: JsonOut = False) -> None:
    """List registered models: latest version, aliases, algorithm, last update."""
    with kepler_errors():
        answer = client().model_list()
    rows = [{k: r.get(k) for k in MODEL_KEYS} for r in answer]
    if json_out:
        emit_json(rows)
        return
    for r in rows:
        r["aliases"] = {a: f"@{v}" for a, v in sorted((r["aliases"] or {}).items())}
        r["latest"] = r["latest_version"]
    cols = ["name", "latest", "aliases", "algorithm", "task", "updated"]
    table(rows, cols, empty='no models yet: train one with `kepler fit <file> "<spec>"`')


@model_app.command("show")
def model_show(ref: Ref, json_out: JsonOut = False) -> None:
    """Describe one version: metrics, parameters, features, aliases, lineage, versions."""
    from kepler.core.wire import ModelView

    with kepler_errors():
        view = ModelView.from_dict(client().summary(ref))
    if json_out:
        emit_json(view.to_dict())
        return
    fields(
        [
            ("model", view.ref),
            ("aliases", view.aliases),
            ("algorithm", view.algorithm),
            ("task", view.task),
            ("target", view.target),
            ("features", view.features),
            ("params", view.params),
            ("rows", f"{view.n_train} trained, {view.n_holdout} held out"),
            ("created", f"{view.created or ''} by {view.user or 'unknown'}"),
            ("run_id", view.run_id),
            ("lineage", view.lineage),
            ("kepler", view.kepler_version),
        ]
    )
    typer.echo("")
    table(_metric_rows(view.metrics), ["metric", "value"], empty="no metrics")
    if view.groups:
        typer.echo("")
        keys = [k for k in view.groups[0] if k.startswith("metric.")][:2]
        columns = ["group", "rows", "holdout_rows", "status", *keys, "reason"]
        table(view.groups[:50], [c for c in columns if any(c in g for g in view.groups)], empty="")
        if len(view.groups) > 50:
            typer.echo(f"... and {len(view.groups) - 50} more groups (--json lists them all)")
    explained = view.explained
    if explained:
        typer.echo("")
        key = "coefficient" if "coefficient" in explained[0] else "importance"
        table(explained[:15], ["feature", key], empty="")
    typer.echo("")
    table(view.versions, ["version", "aliases", "created", "user"], empty="no versions")


@model_app.command("alias")
def model_alias(
    ref: Annotated[str, typer.Argument(help="the version to point at: pump@3")],
    alias: Annotated[str, typer.Argument(help="the alias: production, staging, ...")],
    json_out: JsonOut = False,
) -> None:
    """Point an alias at a version (admin token): `kepler model alias pump@3 production`."""
    from kepler.core.refs import ModelRef

    with kepler_errors():
        parsed = ModelRef.parse(ref)
        if parsed.version is None:
            fail(
                f"name the version to alias, as in {parsed.name}@3 (`kepler model show "
                f"{parsed.name}` lists them)",
                code=2,
            )
        client().set_alias(parsed.name, alias, parsed.version)
    out = {"model": parsed.name, "alias": alias, "version": parsed.version}
    if json_out:
        emit_json(out)
        return
    typer.echo(f"{parsed.name}:{alias} -> {parsed.name}@{parsed.version}")


@model_app.command("unalias")
def model_unalias(
    name: Annotated[str, typer.Argument(help="the model's name")],
    alias: Annotated[str, typer.Argument(help="the alias to remove")],
    json_out: JsonOut = False,
) -> None:
    """Remove an alias (admin token); the version it pointed at stays."""
    with kepler_errors():
        client().delete_alias(name, alias)
    if json_out:
        emit_json({"model": name, "alias": alias, "removed": True})
        return
    typer.echo(f"removed alias {name}:{alias}")


@model_app.command("delete")
def model_delete(
    name: Annotated[str, typer.Argument(help="the model's name (every version goes)")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
    json_out: JsonOut = False,
) -> None:
    """Delete a model with every version (admin token); asks first unless --yes."""
    from kepler.core.refs import model_to_delete

    c = client()
    with kepler_errors():
        model_to_delete(name)  # pump@3 is refused, never widened to the whole model
        versions = [v["version"] for v in c.summary(name)["versions"]]
        if not yes and not _confirmed(
            f"delete model {name} and its {len(versions)} version(s) {versions}?"
        ):
            fail(f"nothing deleted; answer y, or pass --yes to delete {name} unasked")
        c.delete_model(name)
    if json_out:
        emit_json({"deleted": name, "versions": versions})
        return
    typer.echo(f"deleted model {name} ({len(versions)} version(s))")


def _confirmed(question: str) -> bool:
    """Ask on stderr, read one line of stdin: stdout stays clean for --json. No answer
    (stdin closed) is a no."""
    import sys

    typer.echo(f"{question} [y/N]: ", err=True, nl=False)
    try:
        answer = sys.stdin.readline()
    except KeyboardInterrupt:
        answer = ""
    return answer.strip().lower() in ("y", "yes")


def _metric_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"metric": k, "value": v} for k, v in sorted(metrics.items())]
