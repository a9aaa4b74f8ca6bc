"""``kepler models`` and ``kepler model show|alias|unalias|reproduce|delete``: the registry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from kepler.cli._app import app
from kepler.cli._output import JsonOut, client, emit_json, fail, fields, kepler_errors, table
from kepler.cli._wait import DEFAULT_TIMEOUT_S, Timeout, wait_for_job

PANEL = "Models"  # where `kepler --help` lists these commands

# The keys of each model in `kepler models --json`.
MODEL_KEYS = ("name", "latest_version", "versions", "aliases", "algorithm", "task", "updated")

model_app = typer.Typer(
    help="One model: describe it, move its aliases, reproduce a version, delete it.",
    no_args_is_help=True,
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
            ("reproduces", _reproduces(view.reproduces)),
            ("reproductions", _reproductions(view.name, view.reproductions)),
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


@model_app.command("register")
def model_register(
    path: Annotated[str, typer.Argument(help="a skops file (skops.io.dump of a fitted model)")],
    into: Annotated[str, typer.Option(help="the model it becomes the next version of")],
    features: Annotated[str, typer.Option(help="the fields it reads, in order: a,b,c")],
    target: Annotated[str | None, typer.Option(help="the field it predicts")] = None,
    requirement: Annotated[
        list[str] | None, typer.Option(help="a pip line it needs (repeat for more)")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            readable=True,
            help="rows it was trained on (.csv or .parquet): the version's drift baseline "
            "and its features' types, sent in the same request",
        ),
    ] = None,
    json_out: JsonOut = False,
) -> None:
    """Register a model fitted elsewhere, saved with skops (never a pickle)."""
    from kepler._register import feature_types, frame_body
    from kepler.cli.files import read_frame
    from kepler.core import wire

    frame = read_frame(data) if data is not None else None
    with kepler_errors():
        try:
            payload = Path(path).read_bytes()
        except OSError as exc:
            fail(f"cannot read {path}: {exc.strerror}", code=2)
        names = [f.strip() for f in features.split(",") if f.strip()]
        request = wire.ModelRegister(
            features=names,
            target=target,
            feature_types=feature_types(frame, names) if frame is not None else {},
            requirements=list(requirement or []),
        )
        answer = client().register_body(into, frame_body(request, payload, frame))
    if json_out:
        emit_json(dict(answer))
        return
    typer.echo(f"registered {answer['name']}@{answer['version']} ({answer['algorithm']})")


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


@model_app.command("reproduce")
def model_reproduce(
    ref: Annotated[str, typer.Argument(help="the version to reproduce: pump@3")],
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="go ahead when package versions differ (recorded on the new version)"
        ),
    ] = False,
    timeout: Timeout = DEFAULT_TIMEOUT_S,
    json_out: JsonOut = False,
) -> None:
    """Retrain a version from its stored dataset, spec, seed and split into a new version,
    and compare metric by metric. Exit 0 when every item matches (exactly, or within the
    stated tolerance), 1 when one differs or the version cannot be reproduced."""
    c = client()
    with kepler_errors():
        started = c.reproduce(ref, force=force, wait=False)
        wait_for_job(c, started.job_id, timeout, show="reproduce")
        result = c.reproduction(started.job_id, progress=False)  # finished: answers at once
    if json_out:
        emit_json({**result.to_dict(), "ref": result.ref})
    else:
        rule = result.rule or {}
        fields(
            [
                ("reproduces", result.reproduces),
                ("new version", result.ref),
                ("verdict", result.verdict),
                ("rule", f"{rule.get('text') or rule.get('kind')}: {rule.get('why', '')}"),
                ("forced", _differences(result.package_differences) if result.forced else "no"),
                ("job", result.job_id),
                ("seconds", result.duration_s),
            ]
        )
        typer.echo("")
        rows = [{**r, "match": "yes" if r.get("match") else "NO"} for r in result.comparison]
        columns = ["item", "original", "reproduced", "difference", "rule", "tolerance", "match"]
        table(rows, columns, empty="nothing to compare", colours={"match": {"NO": "red"}})
    if not result.matched:
        raise typer.Exit(1)


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


def _differences(differences: list[dict[str, Any]]) -> str:
    return "; ".join(
        f"{d.get('package')} recorded {d.get('recorded')}, installed {d.get('installed')}"
        for d in differences
    )


def _reproduces(found: dict[str, Any] | None) -> str | None:
    if not found:
        return None
    forced = f" (forced: {_differences(found.get('package_differences') or [])})"
    return f"{found.get('of')}, {found.get('verdict')}{forced if found.get('forced') else ''}"


def _reproductions(name: str, found: list[dict[str, Any]]) -> str | None:
    shown = [
        f"{name}@{r.get('version')} {r.get('verdict')}{' (forced)' if r.get('forced') else ''}"
        for r in found
    ]
    return ", ".join(shown) or None


def _metric_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"metric": k, "value": v} for k, v in sorted(metrics.items())]
