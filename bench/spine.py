"""Section "spine": ``kp.fit`` and ``kp.apply`` through a real stack vs the same XGBoost
work in-process (measurements in :mod:`bench.spine_fit` and :mod:`bench.spine_apply`).

The fits run in rounds, each an in-process fit then ``kp.fit``, so that load from other
work on a shared machine falls on both sides alike; the headline compares the best of
each side, the run least disturbed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench.data import FEATURES, TARGET
from bench.report import Section, Table, percent, rate, seconds, share
from bench.spine_apply import Applied, apply
from bench.spine_fit import (
    ALGORITHM,
    HOLDOUT,
    MODEL,
    PHASES,
    POLL_S,
    WARMUP_ROWS,
    Baseline,
    EndToEnd,
    InProcess,
    anatomy,
    end_to_end,
    model_store,
    warm_up,
    xgb_params,
)

if TYPE_CHECKING:
    from bench.context import Context

FIT_TARGET = 0.20  # kp.fit's overhead over the in-process fit stays under this
APPLY_TARGET = 0.6  # kp.apply's rows/s over in-process predict's reaches this


def run(ctx: Context) -> Section:
    frame = ctx.dataset()
    params = xgb_params()
    section = Section("Spine: `kp.fit` and `kp.apply` vs in-process XGBoost")
    section.text(_workload(ctx, params))

    stack = ctx.stack()
    cold = warm_up(ctx, stack, frame, params)
    in_process = InProcess(frame, params)
    bases: list[Baseline] = []
    e2es: list[EndToEnd] = []
    for i in range(ctx.settings.fit_rounds):
        ctx.log(f"fit round {i + 1} of {ctx.settings.fit_rounds}")
        bases.append(in_process.fit(ctx))
        e2es.append(end_to_end(ctx, stack, frame, params))
    _fit_tables(section, bases, e2es, cold)
    pipeline, meta = model_store(stack).load(MODEL, e2es[-1].version)
    _anatomy_table(section, anatomy(ctx, frame, in_process, pipeline, meta))

    applied = apply(ctx, stack, frame, e2es[-1].version)
    _apply_tables(section, applied, ctx.rows)
    return section


def _fit_tables(section: Section, bases: list[Baseline], e2es: list[EndToEnd], cold: float) -> None:
    rounds = [f"round {i + 1}" for i in range(len(bases))]
    b = min(x.reading.wall_s for x in bases)
    e = min(x.reading.wall_s for x in e2es)
    overhead = (e - b) / b
    table = Table(["", *rounds, "best"], caption="fit: XGBoost end to end vs in-process")
    table.add(
        "in-process `XGBClassifier.fit`", *[seconds(x.reading.wall_s) for x in bases], seconds(b)
    )
    table.add("`kp.fit` through the stack", *[seconds(x.reading.wall_s) for x in e2es], seconds(e))
    table.add(
        "**overhead** (e2e − in-process) / in-process",
        *[
            percent((y.reading.wall_s - x.reading.wall_s) / x.reading.wall_s)
            for x, y in zip(bases, e2es, strict=True)
        ],
        f"**{percent(overhead)}** ({seconds(e - b)})",
    )
    table.add("other load during the in-process fit", *[share(x.reading.others) for x in bases], "")
    table.add("other load during `kp.fit`", *[share(x.reading.others) for x in e2es], "")
    section.table(table)
    met = "met" if overhead < FIT_TARGET else "**not met**"
    section.text(
        f"Target: overhead under {FIT_TARGET:.0%} (best against best): {percent(overhead)}, {met}."
    )

    parts = Table(
        ["phase of `kp.fit`", *[f"{r} (share)" for r in rounds]],
        caption="fit: where the end-to-end time goes",
    )
    by_run = [dict(x.phases) for x in e2es]
    for name in PHASES:
        parts.add(
            name,
            *[
                _phase_cell(d.get(name), x.reading.wall_s)
                for d, x in zip(by_run, e2es, strict=True)
            ],
        )
    parts.add("total", *[seconds(sum(d.values())) for d in by_run])
    section.table(parts)

    last = e2es[-1]
    notes = [
        "Phases come from the job record: its created, started and finished times and "
        f"each progress message with the time the worker wrote it, read every {POLL_S} s "
        "(— : the message was replaced within one read; its phase is counted in the one "
        "above). The pipeline fit includes the median imputer and the label encoding "
        "around XGBoost; the in-process fit has neither.",
        f"Uploaded {last.upload_bytes / 2**20:,.0f} MiB of Arrow IPC in {last.chunks} "
        f"request(s), stored as {last.stored_bytes / 2**20:,.0f} MiB of Parquet.",
    ]
    if last.mlflow_run_s is not None:
        notes.append(
            f"The MLflow run of round {len(e2es)} was open {last.mlflow_run_s:.2f} s (params, "
            "metrics, summary, the pickled pipeline, the registered version)."
        )
    notes.append(
        f"Before the rounds, two {WARMUP_ROWS:,}-row fits at once warmed both worker "
        "processes (each imports scikit-learn, XGBoost and MLflow on its first job): "
        f"{cold:.1f} s for the pair. The first fit after `kepler up` pays that cold start."
    )
    base = bases[-1].metrics
    same = all(abs(base[k] - last.metrics.get(k, float("nan"))) < 1e-9 for k in base)
    same = same and bases[-1].n_train == last.n_train
    notes.append(
        f"Same model on both sides: {bases[-1].n_train:,} training rows in-process, "
        f"{last.n_train:,} in the worker (the version's meta); holdout "
        + ", ".join(
            f"{k} {base[k]:.4f} in-process, {last.metrics.get(k, float('nan')):.4f} from Kepler"
            for k in base
        )
        + (" (identical)." if same else " (they differ: the comparison is suspect).")
    )
    section.text("\n".join(f"- {n}" for n in notes))


def _phase_cell(s: float | None, total: float) -> str:
    return "—" if s is None else f"{seconds(s)} ({s / total:.0%})"


def _anatomy_table(section: Section, steps: list[tuple[str, float]]) -> None:
    table = Table(["step", "wall time"], caption="fit: Kepler's steps around the fit, in-process")
    for name, s in steps:
        table.add(name, seconds(s))
    section.table(table)
    section.text(
        "Kepler's own functions for the steps that make up the phases above, each run once "
        "in the benchmark's process on this run's rows, without HTTP, the broker or the "
        "other processes."
    )


def _apply_tables(section: Section, a: Applied, rows: int) -> None:
    base = a.predict.median
    table = Table(
        ["", "median", "best", "rows/s (median)", "vs in-process predict", "other load (max)"],
        caption=f"apply: scoring {rows:,} rows",
    )
    for name, t in a.steps():
        table.add(
            name,
            seconds(t.median),
            seconds(t.best),
            rate(rows, t.median),
            f"{base / t.median:.2f}",
            share(t.others),
        )
    section.table(table)
    ratio = base / a.bridge.median
    met = "met" if ratio >= APPLY_TARGET else "**not met**"
    n = len(a.bridge.readings)
    section.text(
        f"Target: `kp.apply` at {APPLY_TARGET} or more of in-process rows/s: {ratio:.2f} "
        f"(medians; best against best {a.predict.best / a.bridge.best:.2f}), {met}. "
        "Each step ran once to warm up (the first `kp.apply` loads the version into the "
        f"bridge's cache), then {n} times. The bridge's predictions "
        + ("equal" if a.identical else "**differ from**")
        + " the in-process ones. The middle rows split the difference: Kepler's output "
        "mapping (conform the features, name the output column), then the SDK's Arrow "
        "round trip in 64 MiB requests and its joining of the result to the input frame; "
        "the rest is HTTP, the ASGI app and the version lookup in MLflow per request."
    )


def _workload(ctx: Context, params: dict[str, Any]) -> str:
    rows = ctx.rows
    shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
    n_holdout = round(rows * HOLDOUT)
    return f"""
Workload: the dataset above, {rows:,} rows; the model is `{ALGORITHM}` with `{shown}` on
both sides (`n_jobs`: every core).

- **fit, end to end**: `Client.fit(df, "{ALGORITHM}", target="{TARGET}",
  features=[f00..f19], into="{MODEL}", holdout={HOLDOUT}, ...)` against a real
  `LocalStack` (the bridge on uvicorn; one Celery worker, two prefork processes, on the
  SQLite broker; MLflow on SQLite with local artifacts), timed from the call to its
  result: Arrow upload in {_upload_mib()} MiB requests, queue, read back from Parquet, fit with
  holdout metrics, registration of a new version.
- **fit, in-process**: `xgboost.XGBClassifier(**same).fit(X, y)` on the same
  {rows - n_holdout:,} training rows the worker uses, as a DataFrame. Kepler holds out
  `round(n × {HOLDOUT})` = {n_holdout:,} rows with a stratified
  `sklearn.model_selection.train_test_split` seeded by `random_state`; the baseline takes
  its rows from Kepler's own split function (`kepler.ml.training._split`), so both train
  on identical rows (the row counts and holdout metrics below confirm it).
  It times the fit alone: no split, no scoring, no saving.
- {ctx.settings.fit_rounds} rounds, each an in-process fit then a `kp.fit` (a new
  version each time), so other work on the machine falls on both sides alike.
- **apply**: the {len(FEATURES)} feature columns of the same {rows:,} rows (no target),
  scored by `Client.apply(X, "{MODEL}@<version>")` through the bridge, against the
  registered version loaded with `ModelStore.load` from the stack's MLflow store
  (`sqlite:///<home>/mlflow.db`, `file://<home>/mlartifacts`) and its `pipeline.predict(X)`.
""".strip()


def _upload_mib() -> str:
    from kepler._settings import ClientSettings

    s = ClientSettings()
    return f"{min(s.upload_chunk_bytes, s.chunk_bytes) / 2**20:g}"
