"""``kepler fit|apply|automl`` on a CSV or Parquet file, through the SDK's client."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from kepler.cli._app import app
from kepler.cli._output import JsonOut, client, emit_json, fail, fields, kepler_errors, table
from kepler.cli._wait import DEFAULT_TIMEOUT_S, Timeout, wait_for_job

PANEL = "Files: fit, apply, automl"  # where `kepler --help` lists these commands

FORMATS = (".csv", ".parquet")

DataFile = Annotated[
    Path,
    typer.Argument(
        exists=True, dir_okay=False, readable=True, help="the rows: a .csv or .parquet file"
    ),
]


def read_frame(path: Path) -> Any:
    """A DataFrame from ``path`` (CSV or Parquet by its suffix)."""
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        fail(f"{path} is neither .csv nor .parquet; convert it, or rename it if it is one", 2)
    try:
        frame = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    except Exception as exc:  # pandas and pyarrow raise many kinds on a damaged file
        fail(f"cannot read {path} as {suffix[1:]}: {exc}", 2)
    if frame.empty:
        fail(f"{path} has no rows", 2)
    return frame


@app.command("fit", rich_help_panel=PANEL)
def fit(
    data: DataFile,
    spec: Annotated[
        str,
        typer.Argument(
            help='the fit line, e.g. "RandomForestClassifier failure from temp into pump"'
        ),
    ],
    timeout: Timeout = DEFAULT_TIMEOUT_S,
    json_out: JsonOut = False,
) -> None:
    """Train a model on a file's rows, as `| kepler fit ...` does in Splunk."""
    from kepler.core.spec import FitSpec, parse

    frame = read_frame(data)
    c = client()
    with kepler_errors():
        parsed = parse(spec if spec.split()[:1] == ["fit"] else f"fit {spec}", allow_unknown=True)
        if not isinstance(parsed, FitSpec):
            fail(
                f"{spec!r} is not a fit line; "
                "usage: <Algorithm> <target> from <fields> into <model>",
                2,
            )
        started = c.fit(
            frame,
            parsed.algorithm,
            target=parsed.target,
            features=list(parsed.features) or None,
            into=parsed.into,
            as_=parsed.output_name,
            probabilities=parsed.probabilities,
            holdout=parsed.holdout,
            by=list(parsed.by),
            partial_fit=parsed.partial_fit,
            split=parsed.split,
            time_field=parsed.time_field,
            kfold_cv=parsed.kfold_cv or None,
            gap=parsed.gap or None,
            lags=list(parsed.lags) or None,
            rolling=list(parsed.rolling) or None,
            wait=False,
            progress=False,
            **parsed.params,
        )
        wait_for_job(c, started.job_id, timeout, show="fit")
        result = c.wait(started.job_id, progress=False)  # finished: answers at once
    if json_out:
        emit_json({**result.to_dict(), "ref": result.ref})
        return
    fields(
        [
            ("job", result.job_id),
            ("model", result.ref or "(not registered: add `into <name>`)"),
            ("rows", result.rows),
            ("split", result.split),
            ("seconds", result.duration_s),
        ]
    )
    table(_metric_rows(result.metrics), ["metric", "value"], empty="")
    if result.folds:
        table(result.folds, list(result.folds[0]), empty="")


@app.command("automl", rich_help_panel=PANEL)
def automl(
    data: DataFile,
    spec: Annotated[
        str,
        typer.Argument(help='the automl line, e.g. "failure from * into pump time_budget=2m"'),
    ],
    timeout: Timeout = DEFAULT_TIMEOUT_S,
    json_out: JsonOut = False,
) -> None:
    """Search algorithms and parameters on a file's rows; register the best model."""
    from kepler.core.automl import AutoMLSpec
    from kepler.core.spec import parse

    frame = read_frame(data)
    c = client()
    with kepler_errors():
        line = spec if spec.split()[:1] == ["automl"] else f"automl {spec}"
        parsed = parse(line)
        if not isinstance(parsed, AutoMLSpec):
            fail(f"{spec!r} is not an automl line; usage: <target> from <fields> into <model>", 2)
        if not parsed.into:
            fail("name the model to register: add `into <name>` to the automl line", 2)
        if parsed.robust:
            fail("robust= is not available from the CLI yet; leave it out", 2)
        started = c.automl(
            frame,
            target=parsed.target,
            into=parsed.into,
            features=list(parsed.features),
            time_budget=parsed.time_budget,
            metric=parsed.metric,
            task=parsed.task,
            algorithms=list(parsed.algorithms) or None,
            seed=parsed.seed,
            max_trials=parsed.max_trials,
            parallel=parsed.parallel,
            cv=parsed.cv,
            holdout=parsed.holdout,
            max_latency_ms_per_row=parsed.max_latency_ms_per_row,
            max_model_mb=parsed.max_model_mb,
            max_false_positive_rate=parsed.max_false_positive_rate,
            interpretable=parsed.interpretable,
            use_case=parsed.use_case,
            split=parsed.split,
            time_field=parsed.time_field,
            wait=False,
            progress=False,
        )
        # The search's own budget, plus time to finalise, never past --timeout.
        wait_for_job(c, started.job_id, timeout, show="automl")
        result = c.automl_result(started.job_id, progress=False)
    board = result.leaderboard.to_dict("records")
    if json_out:
        out = {k: v for k, v in result.to_dict().items() if k != "leaderboard"}
        emit_json({**out, "ref": result.ref, "leaderboard": board})
        return
    fields(
        [
            ("job", result.job_id),
            ("model", result.ref),
            ("winner", f"{result.algorithm} {result.params}"),
            (f"cv {result.metric}", result.best_cv_score),
            ("trials", result.counts),
            ("seconds", result.duration_s),
        ]
    )
    table(_metric_rows(result.metrics), ["metric", "value"], empty="")
    metric = result.metric or ""
    cols = ["rank", "algorithm", *([metric] if metric in result.leaderboard else []), "fit_seconds"]
    table(board[:10], cols, empty="")


@app.command("apply", rich_help_panel=PANEL)
def apply(
    data: DataFile,
    model: Annotated[str, typer.Argument(help="pump (latest), pump@3 or pump:production")],
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", dir_okay=False, help="write the scored rows to .csv or .parquet"
        ),
    ] = None,
    json_out: JsonOut = False,
) -> None:
    """Score a file's rows with a model: to --output, else CSV (or --json records) on stdout."""
    if output is not None and output.suffix.lower() not in FORMATS:
        fail(f"--output {output} must end in .csv or .parquet", 2)
    frame = read_frame(data)
    with kepler_errors():
        scored = client().apply(frame, model)
    if output is None:
        if json_out:
            emit_json(scored.to_dict("records"))
        else:
            typer.echo(scored.to_csv(index=False), nl=False)
        return
    if output.suffix.lower() == ".csv":
        scored.to_csv(output, index=False)
    else:
        scored.to_parquet(output, index=False)
    added = [c for c in scored.columns if c not in frame.columns]
    summary = {"model": model, "rows": len(scored), "output": str(output), "columns": added}
    if json_out:
        emit_json(summary)
        return
    typer.echo(f"scored {len(scored)} rows with {model} into {output} (added {', '.join(added)})")


def _metric_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"metric": k, "value": v} for k, v in sorted(metrics.items())]
