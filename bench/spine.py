"""Section "spine": ``kp.fit`` and ``kp.apply`` through a real stack vs the same XGBoost
work in-process.

* fit: ``Client.fit`` end to end (Arrow upload, queue, worker fit with holdout metrics,
  MLflow registration) against ``xgboost.XGBClassifier.fit`` with the same parameters on
  the same 80 % of the rows the worker trains on; the worker's time is broken down from
  the job's progress messages, each stamped by the worker when written.
* apply: ``Client.apply`` through the bridge (Arrow) against the loaded pipeline's
  ``predict`` on the same frame, with two steps in between that say where the difference
  goes: Kepler's scoring function alone, and the SDK plus the bridge's scoring code with
  the HTTP server taken out (an ``httpx.MockTransport``).
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pandas as pd

from bench.data import FEATURES, TARGET
from bench.machine import CpuMeter, Reading
from bench.report import Section, Table, percent, rate, seconds, share

if TYPE_CHECKING:
    from bench.run import Context

MODEL = "bench_spine"
ALGORITHM = "XGBoostClassifier"
HOLDOUT = 0.2  # Kepler's default, passed explicitly
FIT_TARGET = 0.20  # overhead of kp.fit over the in-process fit
APPLY_TARGET = 0.6  # kp.apply rows/s over in-process predict rows/s
POLL_S = 0.2  # how often the timeline reads the job record
WARMUP_ROWS = 5_000


def xgb_params() -> dict[str, Any]:
    """The XGBoost parameters both sides use (``n_jobs``: every core of this machine)."""
    return {
        "n_estimators": 200,
        "max_depth": 8,
        "learning_rate": 0.1,
        "tree_method": "hist",
        "n_jobs": os.cpu_count() or 1,
        "random_state": 0,
    }


def run(ctx: Context) -> Section:
    frame = ctx.dataset()
    params = xgb_params()
    section = Section("Spine: `kp.fit` and `kp.apply` vs in-process XGBoost")
    section.text(_workload(ctx.rows, params))

    base = _baseline_fit(ctx, frame, params)
    stack = ctx.stack()
    cold = _warm_up(ctx, stack, frame, params)
    e2e = _e2e_fit(ctx, stack, frame, params)
    _fit_tables(section, base, e2e, cold)

    applied = _apply(ctx, stack, frame, e2e.version)
    _apply_tables(section, applied, ctx.rows)
    return section


# ------------------------------------------------------------------------------ fit


@dataclass
class Baseline:
    reading: Reading
    n_train: int
    metrics: dict[str, float]


def kepler_split(y: np.ndarray, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and holdout row positions exactly as ``kepler.ml.training`` draws them for
    a classifier: a stratified ``train_test_split`` of ``round(n * holdout)`` rows, seeded
    by ``random_state``, each side sorted back into row order."""
    from sklearn.model_selection import train_test_split

    n = len(y)
    n_holdout = min(max(1, round(n * holdout)), n - 1)
    train, test = train_test_split(np.arange(n), test_size=n_holdout, random_state=seed, stratify=y)
    return np.sort(train), np.sort(test)


def _baseline_fit(ctx: Context, frame: pd.DataFrame, params: dict[str, Any]) -> Baseline:
    from sklearn import metrics as skm
    from xgboost import XGBClassifier

    y = frame[TARGET].to_numpy()
    train, test = kepler_split(y, HOLDOUT, params["random_state"])
    X_train, y_train = frame[FEATURES].iloc[train], y[train]
    ctx.log(f"in-process XGBClassifier.fit on {len(train):,} rows")
    model = XGBClassifier(**params)
    with CpuMeter() as meter:
        model.fit(X_train, y_train)
    assert meter.reading is not None
    ctx.log(f"  {meter.reading.wall_s:.1f} s")
    X_test, y_test = frame[FEATURES].iloc[test], y[test]
    proba = model.predict_proba(X_test)[:, 1]
    metrics = {
        "accuracy": float(skm.accuracy_score(y_test, proba > 0.5)),
        "roc_auc": float(skm.roc_auc_score(y_test, proba)),
    }
    return Baseline(meter.reading, len(train), metrics)


@dataclass
class EndToEnd:
    reading: Reading
    version: int
    metrics: dict[str, float]
    phases: list[tuple[str, float]]
    n_train: int
    upload_bytes: int
    stored_bytes: int
    mlflow_run_s: float | None
    duration_s: float | None


class _Timeline(threading.Thread):
    """Reads a job's record every ``POLL_S`` and keeps each distinct progress message with
    the time the worker wrote it (``updated_at``): exact times for every message that
    lived longer than one poll."""

    def __init__(self, stack: Any, job_id: str) -> None:
        super().__init__(daemon=True)
        self._client = stack.client()
        self._job_id = job_id
        self._done = threading.Event()
        self.events: list[tuple[float, str, str]] = []  # (written at, state, message)

    def run(self) -> None:
        seen: set[tuple[float, str]] = set()
        while not self._done.is_set():
            job = self._client.job(self._job_id)
            key = (job["updated_at"], job["message"])
            if key not in seen:
                seen.add(key)
                self.events.append((job["updated_at"], job["state"], job["message"]))
            if job["state"] in ("succeeded", "failed"):
                return
            self._done.wait(POLL_S)

    def stop(self) -> None:
        self._done.set()
        self.join()
        self._client.close()

    def first(self, *prefixes: str) -> float | None:
        times = [
            t for t, state, msg in self.events if state == "running" and msg.startswith(prefixes)
        ]
        return min(times) if times else None


def _phases(
    t0: float, t_end: float, job: dict[str, Any], timeline: _Timeline
) -> list[tuple[str, float]]:
    marks: list[tuple[str, float | None]] = [
        ("SDK: check spec, to Arrow, upload chunks, submit job", t0),
        ("queue: broker delivery to a worker process", job["created_at"]),
        ("worker: read the dataset (Parquet to pandas)", job["started_at"]),
        (
            "worker: target, features, holdout split",
            timeline.first("training", "checking", "reading the", "splitting"),
        ),
        ("worker: fit the pipeline (imputer + XGBoost)", timeline.first("fitting")),
        ("worker: holdout metrics and importances", timeline.first("scoring", "explaining")),
        ("worker: register the version in MLflow", timeline.first("registering")),
        ("SDK: notice the finished job (poll every 0.25 s)", job["finished_at"]),
    ]
    known = [(name, t) for name, t in marks if t is not None]
    ends = [t for _, t in known[1:]] + [t_end]
    # A message overwritten within one poll is never seen: its phase joins the one before.
    return [(name, end - start) for (name, start), end in zip(known, ends, strict=True)]


def _warm_up(ctx: Context, stack: Any, frame: pd.DataFrame, params: dict[str, Any]) -> float:
    """Two small fits at once, so both worker processes import the ML libraries before
    the measured fit; returns the wall time of the pair (the cold start)."""
    ctx.log(f"warm-up: two fits of {WARMUP_ROWS:,} rows, one per worker process")
    small = frame.iloc[:WARMUP_ROWS]
    warm = {**params, "n_estimators": 10}
    t0 = time.perf_counter()
    with stack.client() as client:
        jobs = [
            client.fit(
                small,
                ALGORITHM,
                target=TARGET,
                features=FEATURES,
                into=f"bench_warmup_{i}",
                holdout=HOLDOUT,
                progress=False,
                wait=False,
                **warm,
            ).job_id
            for i in range(2)
        ]
        for job_id in jobs:
            client.wait(job_id, progress=False)
    cold = time.perf_counter() - t0
    ctx.log(f"  {cold:.1f} s")
    return cold


def _e2e_fit(ctx: Context, stack: Any, frame: pd.DataFrame, params: dict[str, Any]) -> EndToEnd:
    ctx.log(f"kp.fit through the stack on {len(frame):,} rows")
    with stack.client(timeout=900) as client, CpuMeter() as meter:
        t0 = time.time()
        # fit(wait=True) is exactly fit(wait=False) followed by wait(job_id); split here
        # only to learn the job id for the timeline.
        submitted = client.fit(
            frame,
            ALGORITHM,
            target=TARGET,
            features=FEATURES,
            into=MODEL,
            holdout=HOLDOUT,
            progress=False,
            wait=False,
            **params,
        )
        timeline = _Timeline(stack, submitted.job_id)
        timeline.start()
        try:
            result = client.wait(submitted.job_id, progress=False)
            t_end = time.time()
        finally:
            timeline.stop()
    assert meter.reading is not None and result.version is not None
    ctx.log(f"  {meter.reading.wall_s:.1f} s, version {result.version}")
    with stack.client() as client:
        job = client.job(result.job_id)
    manifest = httpx.get(
        f"{stack.url}/v1/datasets/{job['result']['dataset_id']}",
        headers={"Authorization": f"Bearer {stack.token}"},
    ).json()
    n_train, run_s = _registered(stack, result.version, result.run_id)
    return EndToEnd(
        reading=meter.reading,
        version=result.version,
        metrics=result.metrics,
        phases=_phases(t0, t_end, job, timeline),
        n_train=n_train,
        upload_bytes=int(manifest["bytes"]),
        stored_bytes=int(manifest["stored_bytes"]),
        mlflow_run_s=run_s,
        duration_s=result.duration_s,
    )


def _store(stack: Any) -> Any:
    from kepler.ml.store import ModelStore

    return ModelStore(
        f"sqlite:///{stack.home / 'mlflow.db'}", (stack.home / "mlartifacts").as_uri()
    )


def _registered(stack: Any, version: int, run_id: str | None) -> tuple[int, float | None]:
    """Rows the worker trained on (from the version's meta) and how long its MLflow run
    was open (from ``create_run`` to terminated: the registration)."""
    store = _store(stack)
    _, meta = store.load(MODEL, version)
    run_s = None
    if run_id:
        info = store.client.get_run(run_id).info
        if info.end_time and info.start_time:
            run_s = (info.end_time - info.start_time) / 1000
    return int(meta.n_train), run_s


def _fit_tables(section: Section, base: Baseline, e2e: EndToEnd, cold: float) -> None:
    b, e = base.reading.wall_s, e2e.reading.wall_s
    overhead = (e - b) / b
    table = Table(
        ["", "wall time", "rows trained on", "other load"],
        caption="fit: XGBoost end to end vs in-process",
    )
    table.add(
        "in-process `XGBClassifier.fit`",
        seconds(b),
        f"{base.n_train:,}",
        share(base.reading.others),
    )
    table.add(
        "`kp.fit` through the stack", seconds(e), f"{e2e.n_train:,}", share(e2e.reading.others)
    )
    table.add(
        "**overhead** (e2e − in-process) / in-process",
        f"**{percent(overhead)}** ({seconds(e - b)})",
        "",
        "",
    )
    section.table(table)
    met = "met" if overhead < FIT_TARGET else "**not met**"
    section.text(f"Target: overhead under {FIT_TARGET:.0%}: {met}.")

    parts = Table(
        ["phase of `kp.fit`", "wall time", "share"], caption="fit: where the end-to-end time goes"
    )
    for name, s in e2e.phases:
        parts.add(name, seconds(s), f"{s / e:.1%}")
    parts.add("total", seconds(sum(s for _, s in e2e.phases)), "")
    section.table(parts)
    upload_mib = e2e.upload_bytes / 2**20
    notes = [
        f"Phases come from the job record: its created, started and finished times and "
        f"each progress message with the time the worker wrote it, read every {POLL_S} s; "
        "a message replaced within one read joins the phase before it. The fit phase "
        "includes the pipeline's median imputer and the label encoding around XGBoost.",
        f"Uploaded {upload_mib:,.0f} MiB of Arrow IPC, stored as "
        f"{e2e.stored_bytes / 2**20:,.0f} MiB of Parquet.",
    ]
    if e2e.mlflow_run_s is not None:
        notes.append(
            f"The MLflow run was open {e2e.mlflow_run_s:.2f} s (params, metrics, summary, "
            "the pickled pipeline, the registered version)."
        )
    if e2e.duration_s is not None:
        notes.append(f"The job's own duration (started to finished): {e2e.duration_s:.2f} s.")
    notes.append(
        f"Before the measured fit, two {WARMUP_ROWS:,}-row fits warmed both worker "
        f"processes (they import scikit-learn, XGBoost and MLflow on their first job): "
        f"{cold:.1f} s for the pair. A first fit after `kepler up` pays that cold start."
    )
    same = _same_metrics(base.metrics, e2e.metrics)
    notes.append(
        "Same model on both sides: holdout "
        + ", ".join(
            f"{k} {base.metrics[k]:.4f} in-process vs {e2e.metrics.get(k, float('nan')):.4f} "
            "from Kepler"
            for k in base.metrics
        )
        + (" (identical)." if same else " (they differ: the comparison is suspect).")
    )
    section.text("\n".join(f"- {n}" for n in notes))


def _same_metrics(a: dict[str, float], b: dict[str, float]) -> bool:
    return all(k in b and abs(a[k] - b[k]) < 1e-9 for k in a)


# ---------------------------------------------------------------------------- apply


@dataclass
class Timed:
    readings: list[Reading] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(r.wall_s for r in self.readings)

    @property
    def best(self) -> float:
        return min(r.wall_s for r in self.readings)

    @property
    def others(self) -> float | None:
        shares = [r.others for r in self.readings if r.others is not None]
        return max(shares) if shares else None


def _time(ctx: Context, what: str, fn: Callable[[], Any], repeats: int) -> tuple[Timed, Any]:
    ctx.log(f"{what}: warm-up + {repeats} timed")
    out = fn()
    timed = Timed()
    for _ in range(repeats):
        with CpuMeter() as meter:
            out = fn()
        assert meter.reading is not None
        timed.readings.append(meter.reading)
    ctx.log(f"  median {timed.median:.2f} s")
    return timed, out


@dataclass
class Applied:
    predict: Timed
    predict_frame: Timed
    no_http: Timed
    bridge: Timed
    identical: bool


def _apply(ctx: Context, stack: Any, frame: pd.DataFrame, version: int) -> Applied:
    from kepler.ml.outputs import predict_frame

    X = frame[FEATURES].copy()  # new rows to score: the features only
    ref = f"{MODEL}@{version}"
    pipeline, meta = _store(stack).load(MODEL, version)
    n = ctx.settings.repeats
    predict, expected = _time(ctx, "in-process pipeline.predict", lambda: pipeline.predict(X), n)
    in_kepler, _ = _time(
        ctx, "in-process predict_frame", lambda: predict_frame(pipeline, meta, X), n
    )
    with stack.client(transport=_in_process_bridge(pipeline, meta)) as mock:
        no_http, _ = _time(ctx, "SDK + bridge scoring without HTTP", lambda: mock.apply(X, ref), n)
    with stack.client(timeout=900) as client:
        bridge, scored = _time(ctx, "kp.apply through the bridge", lambda: client.apply(X, ref), n)
    column = scored[f"predicted({TARGET})"].to_numpy()
    return Applied(predict, in_kepler, no_http, bridge, bool(np.array_equal(column, expected)))


def _in_process_bridge(pipeline: Any, meta: Any) -> Any:
    """An httpx transport answering ``/apply`` with the bridge's own scoring code, with
    the model already loaded: what the bridge does per request, minus HTTP and ASGI."""
    from kepler.server.scoring import read_body, score_table, write_body

    def handle(request: httpx.Request) -> httpx.Response:
        table = read_body("arrow", request.content)
        scored = score_table(pipeline, meta, table, include_input=False)
        return httpx.Response(200, content=write_body("arrow", scored))

    return httpx.MockTransport(handle)


def _apply_tables(section: Section, a: Applied, rows: int) -> None:
    base = a.predict.median
    table = Table(
        ["", "median", "best", "rows/s (median)", "vs in-process predict", "other load (max)"],
        caption=f"apply: scoring {rows:,} rows",
    )
    steps = [
        ("in-process `pipeline.predict` (loaded with `ModelStore.load`)", a.predict),
        ("in-process `kepler.ml.outputs.predict_frame`", a.predict_frame),
        ("SDK + bridge scoring code, no HTTP (`httpx.MockTransport`)", a.no_http),
        ("`kp.apply` through the bridge (Arrow)", a.bridge),
    ]
    for name, t in steps:
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
    section.text(
        f"Target: `kp.apply` at least {APPLY_TARGET} of in-process rows/s: "
        f"{ratio:.2f} (best of {len(a.bridge.readings)}: "
        f"{a.predict.best / a.bridge.best:.2f}): {met}. "
        "Each step ran once to warm up (the first `kp.apply` loads the version into the "
        f"bridge's cache), then {len(a.bridge.readings)} times. The bridge's predictions "
        + ("equal" if a.identical else "**differ from**")
        + " the in-process ones. The middle rows split the difference: Kepler's output "
        "mapping (conform the features, name the output), then the SDK's Arrow "
        "round trip in 64 MiB requests and its joining of the result to the input "
        "frame; the rest is HTTP, the ASGI app and resolving the version in MLflow "
        "on each request."
    )


def _workload(rows: int, params: dict[str, Any]) -> str:
    shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
    n_holdout = round(rows * HOLDOUT)
    return f"""
Workload: the dataset above, {rows:,} rows; the model is `{ALGORITHM}` with `{shown}`
on both sides (`n_jobs` = every core).

- **fit, end to end**: `Client.fit(df, "{ALGORITHM}", target="{TARGET}",
  features=[f00..f19], into="{MODEL}", holdout={HOLDOUT}, ...)` against a real
  `LocalStack` (the bridge on uvicorn, one Celery worker with two prefork processes on the
  SQLite broker, MLflow on SQLite with local artifacts): upload as Arrow in 64 MiB
  requests, queue, read back from Parquet, fit with holdout metrics, register a version.
- **fit, in-process**: `xgboost.XGBClassifier(**same).fit` on the same
  {rows - n_holdout:,} training rows the worker uses. Kepler holds out
  `round(n × {HOLDOUT})` = {n_holdout:,} rows with a stratified
  `sklearn.model_selection.train_test_split` seeded by `random_state`; the baseline
  draws the same split, so both fit on identical rows (the holdout metrics below confirm
  it). The baseline times the fit alone: no split, no scoring, no saving.
- **apply**: the {len(FEATURES)} feature columns of the same {rows:,} rows (no target),
  scored by `Client.apply(X, "{MODEL}@<version>")` through the bridge, against the
  registered version loaded with `ModelStore.load` from the stack's MLflow store and its
  `pipeline.predict(X)`.
""".strip()
